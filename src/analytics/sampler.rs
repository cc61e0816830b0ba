//! [`ViewerSampler`]: every sampling period, this node's sample of each
//! live stream it serves, into the [`ViewerAnalyticsStore`].
//!
//! Periods are aligned to the clock (a 10 s period starts at :00, :10, …)
//! so every node's samples of a period share their start and sum on read.
//! A stream is sampled when it is live (its `live_since` names the
//! broadcast) and this node played it, has chat clients in its room, or
//! ingests it (a live stream nobody watches samples 0).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use streamly_chat::ChatHub;
use streamly_core::domain::{BroadcastKey, NodeId, SessionHash, StreamId, ViewerSample, now_utc};
use streamly_core::ports::{StoreError, StreamStore, ViewerAnalyticsStore};
use streamly_rtmp::StreamHub;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use super::sessions::{MAX_SESSIONS_PER_STREAM, PlaybackSessions};

/// How often expired analytics are swept (with a retention).
const RETENTION_SWEEP: Duration = Duration::from_secs(3600);
/// Broadcasts deleted per store call during a sweep.
const SWEEP_BATCH: u32 = 100;

/// See the module docs. Run it with [`run`](Self::run).
pub struct ViewerSampler {
    store: Arc<dyn ViewerAnalyticsStore>,
    streams: Arc<dyn StreamStore>,
    node: NodeId,
    period: Duration,
    sessions: Option<PlaybackSessions>,
    chat: Option<ChatHub>,
    ingest: Option<StreamHub>,
    retention: Option<Duration>,
    /// Sessions already written, per broadcast this node samples (bounded
    /// per broadcast; broadcasts not sampled in a period are forgotten).
    written: HashMap<BroadcastKey, HashSet<SessionHash>>,
}

impl std::fmt::Debug for ViewerSampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ViewerSampler")
            .field("node", &self.node)
            .field("period", &self.period)
            .finish_non_exhaustive()
    }
}

impl ViewerSampler {
    /// Samples for `node` every `period` into `store`, reading broadcasts
    /// from `streams`. Add the sources this node has.
    pub fn new(
        store: Arc<dyn ViewerAnalyticsStore>,
        streams: Arc<dyn StreamStore>,
        node: NodeId,
        period: Duration,
    ) -> Self {
        Self {
            store,
            streams,
            node,
            period: period.max(Duration::from_millis(100)),
            sessions: None,
            chat: None,
            ingest: None,
            retention: None,
            written: HashMap::new(),
        }
    }

    /// Counts the playback sessions these HLS routes noted.
    pub fn playback(mut self, sessions: PlaybackSessions) -> Self {
        self.sessions = Some(sessions);
        self
    }

    /// Counts this node's chat clients of each room.
    pub fn chat(mut self, chat: ChatHub) -> Self {
        self.chat = Some(chat);
        self
    }

    /// Samples every stream this hub ingests, watched or not.
    pub fn ingest(mut self, hub: StreamHub) -> Self {
        self.ingest = Some(hub);
        self
    }

    /// Deletes the analytics of broadcasts whose last sample is older than
    /// `retention` (hourly); `None`: kept.
    pub fn with_retention(mut self, retention: Option<Duration>) -> Self {
        self.retention = retention;
        self
    }

    /// Samples at the end of every period until `shutdown` is cancelled.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let mut last_sweep: Option<tokio::time::Instant> = None;
        loop {
            let (start, wait) = period_bounds(now_utc(), self.period);
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
            self.sample(start).await;
            if let Some(retention) = self.retention
                && last_sweep.is_none_or(|at| at.elapsed() >= RETENTION_SWEEP)
            {
                last_sweep = Some(tokio::time::Instant::now());
                self.sweep(now_utc() - retention).await;
            }
        }
    }

    /// Writes the samples of the period that started at `start`.
    async fn sample(&mut self, start: OffsetDateTime) {
        let mut sessions = self
            .sessions
            .as_ref()
            .map(PlaybackSessions::take)
            .unwrap_or_default();
        let mut chat: HashMap<StreamId, u32> = HashMap::new();
        if let Some(hub) = &self.chat {
            for (room, _) in hub.rooms() {
                let local = hub.local_viewers(&room);
                if let (Ok(id), true) = (StreamId::parse(room.as_str()), local > 0) {
                    chat.insert(id, u32::try_from(local).unwrap_or(u32::MAX));
                }
            }
        }
        let mut streams: HashSet<StreamId> = sessions.keys().chain(chat.keys()).cloned().collect();
        if let Some(hub) = &self.ingest {
            streams.extend(hub.live_streams());
        }
        let mut playing = 0usize;
        let mut sampled = HashSet::new();
        for id in streams {
            let seen = sessions.remove(&id).unwrap_or_default();
            let key = match self.streams.get(&id).await {
                Ok(s) => match s.live_since {
                    Some(since) => BroadcastKey::new(id, since),
                    None => continue,
                },
                Err(StoreError::NotFound) => continue,
                Err(e) => {
                    tracing::warn!(stream_id = %id, error = %e, "viewer sample skipped: cannot read the stream");
                    metrics::counter!("streamly_analytics_write_errors_total").increment(1);
                    continue;
                }
            };
            playing += seen.len();
            let sample = ViewerSample {
                node: self.node.clone(),
                at: start,
                period_ms: u32::try_from(self.period.as_millis()).unwrap_or(u32::MAX),
                playback: u32::try_from(seen.len()).unwrap_or(u32::MAX),
                chat: chat.get(&key.stream_id).copied().unwrap_or(0),
            };
            self.write(&key, &sample, seen).await;
            sampled.insert(key);
        }
        self.written.retain(|k, _| sampled.contains(k));
        metrics::gauge!("streamly_playback_sessions").set(playing as f64);
    }

    /// Stores one sample and the sessions not written yet.
    async fn write(&mut self, key: &BroadcastKey, sample: &ViewerSample, seen: HashSet<SessionHash>) {
        match self.store.record_sample(key, sample).await {
            Ok(true) => metrics::counter!("streamly_analytics_samples_total").increment(1),
            Ok(false) => metrics::counter!("streamly_analytics_samples_dropped_total").increment(1),
            Err(e) => {
                tracing::warn!(stream_id = %key.stream_id, error = %e, "viewer sample not stored");
                metrics::counter!("streamly_analytics_write_errors_total").increment(1);
            }
        }
        let written = self.written.entry(key.clone()).or_default();
        let new: Vec<SessionHash> = seen.into_iter().filter(|s| !written.contains(s)).collect();
        if new.is_empty() {
            return;
        }
        match self.store.add_sessions(key, &new).await {
            Ok(_) => {
                for s in new {
                    if written.len() >= MAX_SESSIONS_PER_STREAM {
                        break; // the store ignores repeats: only a cost
                    }
                    written.insert(s);
                }
            }
            Err(e) => {
                tracing::warn!(stream_id = %key.stream_id, error = %e, "playback sessions not stored");
                metrics::counter!("streamly_analytics_write_errors_total").increment(1);
            }
        }
    }

    /// Deletes the analytics whose last sample is before `before`.
    async fn sweep(&self, before: OffsetDateTime) {
        let mut deleted = 0;
        loop {
            match self.store.delete_expired(before, SWEEP_BATCH).await {
                Ok(n) => {
                    deleted += n;
                    if n < u64::from(SWEEP_BATCH) {
                        break;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "deleting expired viewer analytics failed");
                    break;
                }
            }
        }
        if deleted > 0 {
            tracing::info!(deleted, "expired viewer analytics deleted");
        }
    }
}

/// The start of the current period of length `period` (aligned to the
/// Unix epoch) and how long until it ends.
fn period_bounds(now: OffsetDateTime, period: Duration) -> (OffsetDateTime, Duration) {
    let period_us = i128::try_from(period.as_micros()).unwrap_or(i128::MAX).max(1);
    let now_us = now.unix_timestamp_nanos() / 1_000;
    let start_us = now_us - now_us.rem_euclid(period_us);
    let start = OffsetDateTime::from_unix_timestamp_nanos(start_us * 1_000).unwrap_or(now);
    let left = u64::try_from(start_us + period_us - now_us).unwrap_or(0);
    (start, Duration::from_micros(left))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn periods_are_aligned_to_the_clock() {
        let t = OffsetDateTime::from_unix_timestamp(1_790_000_007).unwrap() + Duration::from_millis(250);
        let (start, left) = period_bounds(t, Duration::from_secs(10));
        assert_eq!(start, OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap());
        assert_eq!(left, Duration::from_millis(2_750));
        let (start, left) = period_bounds(start, Duration::from_secs(10));
        assert_eq!(
            (start.unix_timestamp(), left),
            (1_790_000_000, Duration::from_secs(10))
        );
    }
}
