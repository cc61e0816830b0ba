//! `StreamKeyValidator`: the RTMP server asks it whether a publish may go on.

use async_trait::async_trait;
use thiserror::Error;

use crate::auth::StreamKey;
use crate::domain::StreamId;

/// A publish attempt as the RTMP server saw it.
#[derive(Debug, Clone)]
pub struct PublishRequest {
    /// The RTMP application name (`live` in `rtmp://host/live/<key>`).
    pub app: String,
    /// The key the client presented (query string already stripped).
    pub key: StreamKey,
}

/// Why a publish was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RejectReason {
    /// No stream has this key.
    UnknownKey,
    /// The application name is not served here.
    UnknownApp,
    /// The stream already has a publisher.
    AlreadyLive,
}

impl std::fmt::Display for RejectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::UnknownKey => "unknown stream key",
            Self::UnknownApp => "unknown application",
            Self::AlreadyLive => "stream already has a publisher",
        })
    }
}

/// The validator's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishDecision {
    /// Publish under this stream id.
    Grant(StreamId),
    /// Refuse, for this reason.
    Reject(RejectReason),
}

/// What a validator call can fail with. The RTMP server treats any error as a
/// rejection.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ValidatorError {
    /// The backing store or remote endpoint failed or could not be reached.
    #[error("validator unavailable: {source}")]
    Unavailable {
        /// The underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl ValidatorError {
    /// Wraps an underlying error as [`ValidatorError::Unavailable`].
    pub fn unavailable(source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Unavailable {
            source: Box::new(source),
        }
    }
}

/// Decides whether a publisher may go live, and hears when it stops.
#[async_trait]
pub trait StreamKeyValidator: Send + Sync {
    /// Called when a client asks to publish.
    async fn validate(&self, request: &PublishRequest) -> Result<PublishDecision, ValidatorError>;

    /// Called once when a granted publish ends (clean unpublish, disconnect,
    /// timeout or shutdown), so the stream can go offline.
    async fn publish_ended(&self, stream: &StreamId) -> Result<(), ValidatorError>;
}
