//! Viewer analytics: who watches each broadcast, sampled per node and kept
//! in a [`ViewerAnalyticsStore`](streamly_core::ports::ViewerAnalyticsStore).
//! See `docs/analytics.md`.
//!
//! - [`sessions`]: the playback sessions this node served during the
//!   current period, read from the `session` query parameter of playlist
//!   requests (middleware on the HLS routes);
//! - [`sampler`]: every period, writes this node's sample of each live
//!   stream it serves (playback sessions, chat connections) and the new
//!   sessions, and applies the retention.

pub mod sampler;
pub mod sessions;

use std::time::Duration;

pub use sampler::ViewerSampler;
pub use sessions::{MAX_SESSIONS_PER_STREAM, MAX_TRACKED_STREAMS, PlaybackSessions, track_playback};

/// Shortest sampling period accepted.
pub const MIN_SAMPLE_PERIOD: Duration = Duration::from_secs(1);
/// Longest sampling period accepted.
pub const MAX_SAMPLE_PERIOD: Duration = Duration::from_secs(300);

/// Viewer analytics settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct AnalyticsConfig {
    /// How long one sample covers (default 10 s; kept within 1 s to 300 s).
    /// A player must load a playlist at least this often to be counted in
    /// every period: LL-HLS players do several times a second, others
    /// every target duration.
    pub sample_period: Duration,
}

impl Default for AnalyticsConfig {
    fn default() -> Self {
        Self {
            sample_period: Duration::from_secs(10),
        }
    }
}

impl AnalyticsConfig {
    /// The period, within [`MIN_SAMPLE_PERIOD`] and [`MAX_SAMPLE_PERIOD`].
    pub fn period(&self) -> Duration {
        self.sample_period.clamp(MIN_SAMPLE_PERIOD, MAX_SAMPLE_PERIOD)
    }
}
