//! `ViewerAnalyticsStore`: the viewer samples and hashed playback sessions
//! of each broadcast, written by every node that serves it.

use async_trait::async_trait;
use time::OffsetDateTime;

use super::StoreError;
use crate::domain::{BroadcastAnalytics, BroadcastKey, SessionHash, StreamId, ViewerSample};

/// Viewer analytics storage. Several nodes write samples for one broadcast
/// (one row per node and period, summed on read) and add sessions to it
/// (inserted or ignored), so no write needs to read another node's.
#[async_trait]
pub trait ViewerAnalyticsStore: Send + Sync {
    /// Stores one node's sample of a period, replacing that node's earlier
    /// sample of the same period. Returns `false` (and stores nothing) when
    /// the broadcast already holds
    /// [`MAX_SAMPLES_PER_BROADCAST`](crate::domain::MAX_SAMPLES_PER_BROADCAST)
    /// rows.
    async fn record_sample(
        &self,
        broadcast: &BroadcastKey,
        sample: &ViewerSample,
    ) -> Result<bool, StoreError>;

    /// Adds playback sessions to the broadcast, ignoring those it has;
    /// stops at
    /// [`MAX_SESSIONS_PER_BROADCAST`](crate::domain::MAX_SESSIONS_PER_BROADCAST).
    /// Returns how many were new.
    async fn add_sessions(
        &self,
        broadcast: &BroadcastKey,
        sessions: &[SessionHash],
    ) -> Result<u64, StoreError>;

    /// The broadcast's periods (every node's samples summed per period,
    /// oldest first) and unique sessions; no points when nothing was
    /// recorded.
    async fn get(&self, broadcast: &BroadcastKey) -> Result<BroadcastAnalytics, StoreError>;

    /// The stream's most recently started broadcast with samples, if any.
    async fn latest(&self, stream: &StreamId) -> Result<Option<BroadcastKey>, StoreError>;

    /// Deletes a broadcast's samples and sessions (nothing to delete is no
    /// error).
    async fn delete(&self, broadcast: &BroadcastKey) -> Result<(), StoreError>;

    /// Deletes up to `limit` broadcasts whose last sample is older than
    /// `before` (retention), with the sessions of broadcasts started before
    /// it that have no sample. Returns how many broadcasts went.
    async fn delete_expired(&self, before: OffsetDateTime, limit: u32) -> Result<u64, StoreError>;
}
