//! RTMP → HLS: a packager per published stream.
//!
//! [`Ingest`] listens to the RTMP [`StreamHub`]'s events; for each stream that
//! starts it subscribes and hands the frames to the [`HlsPublisher`], which
//! writes segments until the publisher leaves, then the final playlist with
//! `EXT-X-ENDLIST`. It also counts ingested bytes for `/metrics`.

use std::sync::Arc;

use streamly_core::media::MediaFrame;
use streamly_hls::HlsPublisher;
use streamly_rtmp::{StreamEvent, StreamHub};
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Starts an HLS packager for every stream the RTMP server grants.
#[derive(Debug)]
pub struct Ingest {
    hub: StreamHub,
    publisher: Arc<HlsPublisher>,
}

fn payload_len(frame: &MediaFrame) -> usize {
    match frame {
        MediaFrame::Video(v) => v.data.len(),
        MediaFrame::Audio(a) => a.data.len(),
        _ => 0,
    }
}

impl Ingest {
    /// Glue between this hub and this publisher.
    pub fn new(hub: StreamHub, publisher: Arc<HlsPublisher>) -> Self {
        Self { hub, publisher }
    }

    /// Runs until `shutdown` is cancelled, then waits for every running
    /// packager to finish (they finish when the RTMP server, stopping on the
    /// same token, ends their publishes), so each live playlist is closed.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut events = self.hub.events();
        let mut packagers = JoinSet::new();
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                Some(done) = packagers.join_next(), if !packagers.is_empty() => log_packager(done),
                event = events.recv() => match event {
                    Ok(StreamEvent::Started { stream_id, .. }) => {
                        let Some(frames) = self.hub.subscribe(&stream_id) else {
                            continue; // already ended
                        };
                        metrics::counter!("streamly_ingest_publishes_total").increment(1);
                        if let Some(mut counted) = self.hub.subscribe(&stream_id) {
                            let id = stream_id.to_string();
                            tokio::spawn(async move {
                                let bytes = metrics::counter!("streamly_ingest_bytes_total");
                                while let Some(frame) = counted.recv().await {
                                    bytes.increment(payload_len(&frame) as u64);
                                }
                                tracing::debug!(stream_id = %id, "ingest byte counter done");
                            });
                        }
                        let publisher = Arc::clone(&self.publisher);
                        packagers.spawn(async move {
                            let result = publisher.run(stream_id.clone(), frames).await;
                            (stream_id, result)
                        });
                    }
                    Ok(_) => {}
                    Err(RecvError::Lagged(n)) => {
                        tracing::warn!(missed = n, "ingest fell behind the RTMP hub's events");
                    }
                    Err(RecvError::Closed) => break,
                },
            }
        }
        while let Some(done) = packagers.join_next().await {
            log_packager(done);
        }
        tracing::info!("ingest stopped: every playlist is closed");
    }
}

type PackagerOutcome = (
    streamly_core::domain::StreamId,
    Result<streamly_hls::PackagerStats, streamly_hls::HlsError>,
);

fn log_packager(done: Result<PackagerOutcome, tokio::task::JoinError>) {
    match done {
        Ok((stream_id, Ok(stats))) => {
            tracing::info!(%stream_id, segments = stats.segments, bytes = stats.bytes, "packager finished");
        }
        Ok((stream_id, Err(e))) => tracing::error!(%stream_id, error = %e, "packager failed"),
        Err(e) => tracing::error!(error = %e, "packager task panicked"),
    }
}
