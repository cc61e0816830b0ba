//! [`LeaseReaper`]: streams left "live" by a node that died.

use std::sync::Arc;
use std::time::Duration;

use streamly_core::ports::{SegmentSink, StreamStore};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use super::OriginDirectory;

/// Every TTL, marks offline each stream the store says is live that has
/// been live for more than one TTL (a new publish claims its lease within
/// a moment) and that no node holds a lease for; with the nodes' shared
/// segment sink, it also ends that stream's persisted playlists.
pub struct LeaseReaper {
    directory: Arc<dyn OriginDirectory>,
    streams: Arc<dyn StreamStore>,
    ttl: Duration,
    segments: Option<Arc<dyn SegmentSink>>,
}

impl std::fmt::Debug for LeaseReaper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaseReaper")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl LeaseReaper {
    /// A reaper over `streams` with leases of `ttl` in `directory`.
    pub fn new(directory: Arc<dyn OriginDirectory>, streams: Arc<dyn StreamStore>, ttl: Duration) -> Self {
        Self {
            directory,
            streams,
            ttl,
            segments: None,
        }
    }

    /// Also ends the persisted playlists of the streams it marks offline,
    /// in `sink` (the one the ingest nodes persist to).
    pub fn ending_playlists_in(mut self, sink: Arc<dyn SegmentSink>) -> Self {
        self.segments = Some(sink);
        self
    }

    /// Runs until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(self.ttl);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = tick.tick() => {
                    if let Err(e) = self.reap().await {
                        tracing::warn!(error = %e, "origin lease sweep failed; retrying next period");
                    }
                }
            }
        }
    }

    /// One sweep; how many streams it marked offline.
    pub async fn reap(&self) -> Result<usize, String> {
        let live = self.streams.list_live().await.map_err(|e| e.to_string())?;
        let settled = OffsetDateTime::now_utc() - self.ttl;
        let mut reaped = 0;
        for stream in live {
            if stream.live_since.is_none_or(|since| since > settled) {
                continue;
            }
            if self
                .directory
                .lookup(&stream.id)
                .await
                .map_err(|e| e.to_string())?
                .is_some()
            {
                continue;
            }
            self.streams
                .set_live(&stream.id, None)
                .await
                .map_err(|e| e.to_string())?;
            tracing::warn!(
                stream_id = %stream.id,
                "stream marked offline: no ingest node holds its lease (the node stopped without ending it)"
            );
            if let Some(sink) = &self.segments {
                match streamly_hls::end_persisted_playlists(&**sink, &stream.id).await {
                    Ok(ended) => {
                        tracing::info!(stream_id = %stream.id, ended, "ended its persisted playlists")
                    }
                    Err(e) => {
                        tracing::warn!(stream_id = %stream.id, error = %e, "could not end its persisted playlists")
                    }
                }
            }
            reaped += 1;
        }
        Ok(reaped)
    }
}
