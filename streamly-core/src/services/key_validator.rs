//! The [`StreamKeyValidator`] backed by a [`StreamStore`].

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;

use crate::domain::StreamId;
use crate::ports::{PublishDecision, PublishRequest, RejectReason, StreamKeyValidator, ValidatorError};
use crate::services::{StreamError, Streams};

/// Grants a publish when the key's SHA-256 matches a stored stream (compared
/// in constant time), marks the stream live, and marks it offline when the
/// publish ends.
///
/// One publisher per stream is enforced by the RTMP server's hub on each
/// ingest node; across several ingest nodes it is not (yet): both would be
/// granted, and the first to leave marks the stream offline.
#[derive(Debug, Clone)]
pub struct StoreKeyValidator {
    streams: Streams,
    apps: Arc<HashSet<String>>,
}

impl StoreKeyValidator {
    /// A validator accepting the given RTMP application names.
    pub fn new(streams: Streams, apps: impl IntoIterator<Item = String>) -> Self {
        Self {
            streams,
            apps: Arc::new(apps.into_iter().collect()),
        }
    }
}

fn unavailable(e: StreamError) -> ValidatorError {
    ValidatorError::unavailable(e)
}

#[async_trait]
impl StreamKeyValidator for StoreKeyValidator {
    async fn validate(&self, request: &PublishRequest) -> Result<PublishDecision, ValidatorError> {
        if !self.apps.contains(&request.app) {
            return Ok(PublishDecision::Reject(RejectReason::UnknownApp));
        }
        let hash = request.key.hash();
        let found = self
            .streams
            .store()
            .find_by_key_hash(&hash)
            .await
            .map_err(|e| unavailable(e.into()))?;
        // `StreamKeyHash`'s equality is constant-time; checking again guards
        // against a store whose lookup is looser than exact equality.
        let Some(stream) = found.filter(|s| s.key_hash == hash) else {
            return Ok(PublishDecision::Reject(RejectReason::UnknownKey));
        };
        if stream.is_live() {
            // Already marked live: a publisher on this node (the RTMP hub
            // refuses the duplicate after this grant), one on another ingest
            // node (not refused: see docs/operations.md), or a mark left by a
            // crash. Keep the original start time either way.
            tracing::warn!(stream_id = %stream.id, "publish granted for a stream already marked live");
        } else {
            self.streams.go_live(&stream.id).await.map_err(unavailable)?;
        }
        Ok(PublishDecision::Grant(stream.id))
    }

    async fn publish_ended(&self, stream: &StreamId) -> Result<(), ValidatorError> {
        match self.streams.go_offline(stream).await {
            // Deleted while live: nothing left to mark.
            Ok(()) | Err(StreamError::NotFound) => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }
}
