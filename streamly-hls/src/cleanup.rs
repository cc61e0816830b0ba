//! What the packager deletes, and when (see [`HlsConfig`](crate::HlsConfig)):
//!
//! - a segment that left the live window: after
//!   [`delete_grace`](crate::HlsConfig::delete_grace), or at once on
//!   [`HlsPublisher::shutdown`](crate::HlsPublisher::shutdown) (a timer
//!   dropped with the runtime would leave the file behind for good);
//! - an ended stream (its final window stays playable as a VOD, with
//!   `EXT-X-ENDLIST`): after
//!   [`ended_retention`](crate::HlsConfig::ended_retention) its segments and
//!   playlists are deleted and its playlist state is forgotten, unless it
//!   was republished meanwhile. A shutdown keeps ended windows (the
//!   playlists on disk stay valid); a later process does not know them.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use streamly_core::domain::StreamId;
use streamly_core::ports::{SegmentPath, SegmentSink};

use crate::packager::{MASTER_PLAYLIST, MEDIA_PLAYLIST, StreamState, stream_path};

/// Each stream's playlist state, shared with the expiry timers.
pub(crate) type StreamMap = Arc<Mutex<HashMap<StreamId, Arc<tokio::sync::Mutex<StreamState>>>>>;

/// Segments waiting out their grace period before deletion.
#[derive(Clone, Default)]
pub(crate) struct PendingDeletes {
    paths: Arc<Mutex<HashSet<SegmentPath>>>,
}

impl PendingDeletes {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<SegmentPath>> {
        self.paths.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Deletes `path` from `sink` after `grace`, or at [`flush`](Self::flush).
    pub(crate) fn schedule(&self, sink: &Arc<dyn SegmentSink>, path: SegmentPath, grace: Duration) {
        self.lock().insert(path.clone());
        let (sink, this) = (Arc::clone(sink), self.clone());
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            // Whoever takes it out of the set deletes it.
            if this.lock().remove(&path) {
                delete(&*sink, &path).await;
            }
        });
    }

    /// Deletes every pending segment now.
    pub(crate) async fn flush(&self, sink: &dyn SegmentSink) {
        let paths: Vec<SegmentPath> = self.lock().drain().collect();
        for path in &paths {
            delete(sink, path).await;
        }
    }

    /// How many segments wait for deletion.
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}

async fn delete(sink: &dyn SegmentSink, path: &SegmentPath) {
    if let Err(e) = sink.delete(path).await {
        tracing::warn!(%path, error = %e, "deleting an expired segment failed");
    }
}

/// After `retention`, deletes what the ended run `run` of `stream_id` left
/// (its final window and playlists) and forgets its state; does nothing if
/// the stream was republished meanwhile.
pub(crate) fn schedule_expiry(
    streams: &StreamMap,
    sink: &Arc<dyn SegmentSink>,
    stream_id: StreamId,
    run: u64,
    retention: Duration,
) {
    let (streams, sink) = (Arc::clone(streams), Arc::clone(sink));
    tokio::spawn(async move {
        tokio::time::sleep(retention).await;
        let state = streams
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&stream_id)
            .cloned();
        let Some(state) = state else { return };
        let mut state = state.lock().await;
        if state.runs != run || !state.playlist.is_ended() {
            return; // republished
        }
        let files = state
            .playlist
            .entries()
            .map(|e| e.uri.clone())
            .chain([MEDIA_PLAYLIST.to_owned(), MASTER_PLAYLIST.to_owned()]);
        for file in files {
            delete(&*sink, &stream_path(&stream_id, &file)).await;
        }
        // A run that already holds this state (it waits on the lock) starts
        // afresh: a new playlist, a new token for new segment names.
        state.reset();
        streams
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&stream_id);
        tracing::info!(stream = %stream_id, "ended stream expired: final window deleted");
    });
}
