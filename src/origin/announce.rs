//! [`OriginAnnouncer`]: this ingest node's leases, kept while it serves a
//! stream's window.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use streamly_core::domain::StreamId;
use streamly_hls::HlsPublisher;
use streamly_rtmp::{StreamEvent, StreamHub};
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use super::{OriginDirectory, OriginLease};

/// Claims a lease for every stream this node ingests, refreshes it every
/// third of the TTL while the node still serves the stream's window (live,
/// or ended and kept for late viewers), then releases it.
pub struct OriginAnnouncer {
    directory: Arc<dyn OriginDirectory>,
    lease: OriginLease,
    ttl: Duration,
    hub: StreamHub,
    publisher: Arc<HlsPublisher>,
}

impl std::fmt::Debug for OriginAnnouncer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OriginAnnouncer")
            .field("lease", &self.lease)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl OriginAnnouncer {
    /// Leases naming `lease` (this node), for the streams of `hub` whose
    /// windows `publisher` holds.
    pub fn new(
        directory: Arc<dyn OriginDirectory>,
        lease: OriginLease,
        ttl: Duration,
        hub: StreamHub,
        publisher: Arc<HlsPublisher>,
    ) -> Self {
        Self {
            directory,
            lease,
            ttl,
            hub,
            publisher,
        }
    }

    /// Runs until `shutdown`, then releases every lease it holds (the
    /// streams' playlists have ended by then, or end with this node).
    pub async fn run(self, shutdown: CancellationToken) {
        let mut events = self.hub.events();
        let mut held: HashSet<StreamId> = HashSet::new();
        let mut refresh = tokio::time::interval(self.ttl / 3);
        refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                event = events.recv() => match event {
                    Ok(StreamEvent::Started { stream_id, .. }) => {
                        self.claim(&stream_id).await;
                        held.insert(stream_id);
                    }
                    Ok(_) => {}
                    Err(RecvError::Lagged(_)) => {
                        for stream_id in self.hub.live_streams() {
                            if held.insert(stream_id.clone()) {
                                self.claim(&stream_id).await;
                            }
                        }
                    }
                    Err(RecvError::Closed) => break,
                },
                _ = refresh.tick() => self.refresh(&mut held).await,
            }
        }
        for stream_id in held {
            self.release(&stream_id).await;
        }
    }

    async fn refresh(&self, held: &mut HashSet<StreamId>) {
        let mut gone = Vec::new();
        for stream_id in held.iter() {
            if self.hub.is_live(stream_id) || self.publisher.window(stream_id).is_some() {
                self.claim(stream_id).await;
            } else {
                gone.push(stream_id.clone());
            }
        }
        for stream_id in gone {
            held.remove(&stream_id);
            self.release(&stream_id).await;
        }
    }

    async fn claim(&self, stream_id: &StreamId) {
        if let Err(e) = self.directory.claim(stream_id, &self.lease, self.ttl).await {
            // Viewers on other nodes miss the stream until the next refresh.
            tracing::warn!(stream_id = %stream_id, error = %e, "could not claim the stream's origin lease");
        }
    }

    async fn release(&self, stream_id: &StreamId) {
        if let Err(e) = self.directory.release(stream_id, &self.lease.node_id).await {
            tracing::warn!(stream_id = %stream_id, error = %e, "could not release the stream's origin lease (it expires)");
        }
    }
}
