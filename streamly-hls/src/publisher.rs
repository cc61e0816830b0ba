//! [`HlsPublisher`]: the live streams' windows, by stream id. Each publish
//! runs as one task ([`HlsPublisher::run`]) that owns its window and
//! publishes snapshots through a `watch` channel; the HTTP side
//! ([`router`](crate::router)) reads the newest snapshot, or waits on the
//! channel for a blocking playlist reload.
//!
//! Lifecycle of a stream's window:
//!
//! - **Live** while its publish runs. A republish starts a new window (a
//!   new token, so new file names) and replaces the old one at once.
//! - **Ended** when the publisher leaves: the final window, with
//!   `EXT-X-ENDLIST`, stays served for [`HlsConfig::ended_retention`].
//! - **Gone** after that, or at once through [`HlsPublisher::remove`] (the
//!   stream was deleted): `404`, and its persisted files are deleted by the
//!   next [`HlsPublisher::sweep`] (or at the end of its run).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use streamly_core::domain::StreamId;
use streamly_core::media::MediaFrame;
use streamly_core::ports::SegmentSink;
use time::OffsetDateTime;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::config::HlsConfig;
use crate::error::HlsError;
use crate::recording::RecordTo;
use crate::stream::{self, RunContext, stream_path};
use crate::window::{LiveWindow, Snapshot};

/// What one publish did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PackagerStats {
    /// fMP4 segments completed.
    pub segments: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Frames the muxer refused (see [`MuxError`](crate::MuxError)).
    pub dropped_frames: u64,
    /// Sink writes that failed (logged).
    pub failed_writes: u64,
    /// Segments dropped unwritten because the sink fell behind by more than
    /// [`HlsConfig::write_queue`] segments.
    pub dropped_segments: u64,
}

/// Counters over every run, for metrics.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) ingest_bytes: AtomicU64,
    pub(crate) dropped_segments: AtomicU64,
}

/// One stream's window as the HTTP side sees it.
#[derive(Debug, Clone)]
pub struct StreamWindow {
    /// The newest snapshot, and the channel that announces the next.
    pub snapshots: watch::Receiver<Arc<Snapshot>>,
    /// Blocking requests waiting on this stream now.
    pub(crate) waiting: Arc<AtomicUsize>,
}

#[derive(Debug)]
struct Entry {
    run: u64,
    snapshots: watch::Receiver<Arc<Snapshot>>,
    waiting: Arc<AtomicUsize>,
    /// When the publish ended, and the files it left in the sink.
    ended: Option<(Instant, Vec<String>)>,
    /// Set by [`HlsPublisher::remove`] while the run is live: the run
    /// deletes its files when it ends.
    removed: Arc<AtomicBool>,
}

#[derive(Debug, Default)]
struct Registry {
    streams: HashMap<StreamId, Entry>,
    /// Persisted files of windows that are gone, for [`HlsPublisher::sweep`].
    doomed: Vec<(StreamId, Vec<String>)>,
    runs: u64,
}

/// The live windows of every stream (see the module docs).
pub struct HlsPublisher {
    config: HlsConfig,
    sink: Option<Arc<dyn SegmentSink>>,
    // A std mutex: lookups and inserts only, never held across an await.
    registry: Mutex<Registry>,
    counters: Counters,
}

impl std::fmt::Debug for HlsPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HlsPublisher")
            .field("config", &self.config)
            .field("persisted", &self.sink.is_some())
            .finish_non_exhaustive()
    }
}

impl HlsPublisher {
    /// A publisher keeping its windows in memory only.
    pub fn new(config: HlsConfig) -> Self {
        Self {
            config,
            sink: None,
            registry: Mutex::new(Registry::default()),
            counters: Counters::default(),
        }
    }

    /// Also persists every segment, init segment and (plain, non-LL)
    /// playlist to `sink`, for recordings and for nodes that serve from
    /// shared storage. Writes go behind a drop-oldest queue.
    pub fn persist_to(mut self, sink: Arc<dyn SegmentSink>) -> Self {
        self.sink = Some(sink);
        self
    }

    /// The configuration.
    pub fn config(&self) -> &HlsConfig {
        &self.config
    }

    /// The sink segments are persisted to, if any.
    pub fn sink(&self) -> Option<&Arc<dyn SegmentSink>> {
        self.sink.as_ref()
    }

    /// Media payload bytes (video and audio frames) every run has received.
    pub fn ingest_bytes_total(&self) -> u64 {
        self.counters.ingest_bytes.load(Ordering::Relaxed)
    }

    /// Segments dropped unwritten, over every stream, because the sink fell
    /// behind (see [`HlsConfig::write_queue`]).
    pub fn dropped_segments_total(&self) -> u64 {
        self.counters.dropped_segments.load(Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The window of `stream_id`, if it is live or ended within its
    /// retention.
    pub fn window(&self, stream_id: &StreamId) -> Option<StreamWindow> {
        let mut registry = self.lock();
        let expired = registry
            .streams
            .get(stream_id)
            .and_then(|e| e.ended.as_ref())
            .is_some_and(|(at, _)| at.elapsed() >= self.config.ended_retention);
        if expired {
            registry.expire(stream_id);
            return None;
        }
        registry.streams.get(stream_id).map(|e| StreamWindow {
            snapshots: e.snapshots.clone(),
            waiting: Arc::clone(&e.waiting),
        })
    }

    /// Streams with a window (live, or ended within retention).
    pub fn stream_count(&self) -> usize {
        self.lock().streams.len()
    }

    /// Drops a stream's window now (the stream was deleted): its URLs answer
    /// `404` from now on. A live run keeps packaging until its frames end
    /// (disconnect the publisher too), then deletes its persisted files; an
    /// ended window's files are deleted by the next [`sweep`](Self::sweep).
    /// Returns whether there was a window.
    pub fn remove(&self, stream_id: &StreamId) -> bool {
        let mut registry = self.lock();
        let live = registry.streams.get(stream_id).is_some_and(|e| e.ended.is_none());
        if live && let Some(e) = registry.streams.remove(stream_id) {
            e.removed.store(true, Ordering::Relaxed);
            return true;
        }
        registry.expire(stream_id)
    }

    /// Forgets ended windows past their retention and deletes the persisted
    /// files of every window that is gone. Call it periodically (the
    /// platform's ingest loop does, every second).
    pub async fn sweep(&self) {
        let doomed = {
            let mut registry = self.lock();
            let expired: Vec<StreamId> = registry
                .streams
                .iter()
                .filter(|(_, e)| {
                    e.ended
                        .as_ref()
                        .is_some_and(|(at, _)| at.elapsed() >= self.config.ended_retention)
                })
                .map(|(id, _)| id.clone())
                .collect();
            for id in &expired {
                registry.expire(id);
                tracing::info!(stream = %id, "ended stream expired: its window is dropped");
            }
            std::mem::take(&mut registry.doomed)
        };
        if let Some(sink) = &self.sink {
            for (id, files) in doomed {
                delete_files(&**sink, &id, &files).await;
            }
        }
    }

    /// Spawns [`run`](Self::run) on the current tokio runtime. The window
    /// is registered before this returns (its URLs exist at once, without
    /// media until the first part).
    pub fn spawn(
        self: &Arc<Self>,
        stream_id: StreamId,
        frames: mpsc::Receiver<MediaFrame>,
    ) -> JoinHandle<PackagerStats> {
        let this = Arc::clone(self);
        let opened = self.open(&stream_id);
        tokio::spawn(async move { this.package(stream_id, opened, frames, None).await })
    }

    /// Packages one publish of `stream_id`: consumes `frames` until the
    /// channel closes, serving the live window meanwhile; then ends the
    /// playlists (`EXT-X-ENDLIST`). The ended window stays served for
    /// [`HlsConfig::ended_retention`].
    pub async fn run(&self, stream_id: StreamId, frames: mpsc::Receiver<MediaFrame>) -> PackagerStats {
        self.run_recorded(stream_id, frames, None).await
    }

    /// [`run`](Self::run), also recording the publish to `record` (see
    /// [`crate::recording`]) when this publisher has a sink: its segments
    /// are kept in the recording's folder, apart from the live window's
    /// files, with a VOD playlist. Without `record` it costs nothing more
    /// than `run`.
    pub async fn run_recorded(
        &self,
        stream_id: StreamId,
        frames: mpsc::Receiver<MediaFrame>,
        record: Option<RecordTo>,
    ) -> PackagerStats {
        let opened = self.open(&stream_id);
        self.package(stream_id, opened, frames, record).await
    }

    /// Registers a new window for `stream_id`, replacing an older one.
    fn open(&self, stream_id: &StreamId) -> Opened {
        let token = new_token();
        let first = Arc::new(LiveWindow::new(token.clone(), 1, 1, self.config.segment_duration).snapshot());
        let (tx, rx) = watch::channel(first);
        let removed = Arc::new(AtomicBool::new(false));
        let mut registry = self.lock();
        registry.runs += 1;
        let run = registry.runs;
        let entry = Entry {
            run,
            snapshots: rx,
            waiting: Arc::new(AtomicUsize::new(0)),
            ended: None,
            removed: Arc::clone(&removed),
        };
        if let Some(old) = registry.streams.insert(stream_id.clone(), entry)
            && let Some((_, files)) = old.ended
        {
            registry.doomed.push((stream_id.clone(), files));
        }
        Opened {
            token,
            tx,
            removed,
            run,
        }
    }

    async fn package(
        &self,
        stream_id: StreamId,
        opened: Opened,
        frames: mpsc::Receiver<MediaFrame>,
        record: Option<RecordTo>,
    ) -> PackagerStats {
        let Opened {
            token,
            tx,
            removed,
            run,
        } = opened;
        tracing::info!(stream = %stream_id, "HLS packager started");
        let ctx = RunContext {
            stream_id: &stream_id,
            config: &self.config,
            sink: self.sink.as_ref(),
            counters: &self.counters,
            snapshots: &tx,
            record,
        };
        let (stats, window) = stream::run(ctx, token, frames).await;
        let files = window.files();
        let superseded = {
            let mut registry = self.lock();
            match registry.streams.get_mut(&stream_id) {
                Some(e) if e.run == run => {
                    e.ended = Some((Instant::now(), files.clone()));
                    false
                }
                _ => true,
            }
        };
        if (removed.load(Ordering::Relaxed) || superseded)
            && let Some(sink) = &self.sink
        {
            // Deleted, or republished before this run ended: nothing names
            // these files any more.
            delete_files(&**sink, &stream_id, &files).await;
        }
        tracing::info!(stream = %stream_id, segments = stats.segments, "HLS packager ended");
        stats
    }

    /// Cleans up what an earlier process left in the sink: each stream's
    /// playlists that lack `EXT-X-ENDLIST` get it (that publish is over),
    /// and files no playlist names are removed. Call it once at start,
    /// before any publish. Returns how many files were removed.
    pub async fn recover(&self) -> Result<usize, HlsError> {
        self.recover_except(&[]).await
    }

    /// [`recover`](Self::recover), leaving alone the files of `live`: streams
    /// another node sharing the sink is publishing right now.
    pub async fn recover_except(&self, live: &[StreamId]) -> Result<usize, HlsError> {
        let Some(sink) = &self.sink else { return Ok(0) };
        crate::recovery::recover(&**sink, live).await
    }
}

/// A registered window, before its run starts.
struct Opened {
    token: String,
    tx: watch::Sender<Arc<Snapshot>>,
    removed: Arc<AtomicBool>,
    run: u64,
}

impl Registry {
    /// Drops an ended window; its files are swept. Whether there was one.
    fn expire(&mut self, stream_id: &StreamId) -> bool {
        match self.streams.remove(stream_id) {
            Some(e) => {
                if let Some((_, files)) = e.ended {
                    self.doomed.push((stream_id.clone(), files));
                }
                true
            }
            None => false,
        }
    }
}

async fn delete_files(sink: &dyn SegmentSink, stream_id: &StreamId, files: &[String]) {
    for file in files {
        let Ok(path) = stream_path(stream_id, file) else {
            continue;
        };
        if let Err(e) = sink.delete(&path).await {
            tracing::warn!(%path, error = %e, "deleting a file of a finished window failed");
        }
    }
}

/// Media file names carry it: milliseconds since the epoch, in hex, plus a
/// process-wide counter, so neither a republish nor a restarted process
/// reuses a name that caches hold as immutable.
fn new_token() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let ms = OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
    format!("{ms:x}{:x}", COUNTER.fetch_add(1, Ordering::Relaxed) % 16)
}
