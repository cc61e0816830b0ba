//! The tokio glue: a task per published stream that drains its frames
//! channel through the [`Segmenter`], writes each segment to the
//! [`SegmentSink`], then the playlists that name it.
//!
//! Storage never stalls ingest: the frame loop only cuts segments and hands
//! them to a writer (a second future of the same task) through a bounded
//! queue of [`HlsConfig::write_queue`] segments; it never awaits the sink.
//! The frames channel is typically an RTMP hub subscriber that is dropped
//! when full, so a stalling sink must not back it up. When the queue is
//! full the OLDEST pending segment is dropped (a `warn` log,
//! [`PackagerStats::dropped_segments`],
//! [`HlsPublisher::dropped_segments_total`]); the writer owns the playlist,
//! so a dropped segment is never named, and the next written one carries an
//! `EXT-X-DISCONTINUITY`. The writer keeps the order: segment, then the
//! playlist naming it. When the frames channel ends the writer drains the
//! queue, then writes the playlist with `EXT-X-ENDLIST`.
//!
//! Republish: [`HlsPublisher`] keeps each stream's playlist state in memory,
//! keyed by [`StreamId`], across runs. A second run for the same stream
//! continues the same playlist (media sequence, segment numbering) after an
//! `EXT-X-DISCONTINUITY` and drops the previous `EXT-X-ENDLIST`. Segment
//! names carry a token of the publisher's creation time, so a restarted
//! process never reuses the name of a segment that caches hold as immutable.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use streamly_core::domain::StreamId;
use streamly_core::media::MediaFrame;
use streamly_core::ports::{SegmentPath, SegmentSink};
use time::OffsetDateTime;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::cleanup::{PendingDeletes, StreamMap, schedule_expiry};
use crate::error::{HlsError, MuxError};
use crate::playlist::{DEFAULT_WINDOW, LivePlaylist, PlaylistEntry, Variant, render_master};
use crate::segmenter::{DEFAULT_SEGMENT_DURATION, Segment, Segmenter};
use crate::write_queue::{Job, WriteQueue};

/// File name of the media playlist inside a stream's directory.
pub const MEDIA_PLAYLIST: &str = "index.m3u8";
/// File name of the multivariant playlist inside a stream's directory.
pub const MASTER_PLAYLIST: &str = "master.m3u8";

/// How streams are packaged.
#[derive(Debug, Clone)]
pub struct HlsConfig {
    /// Target segment duration: segments are cut at the first keyframe at
    /// or after it. Default 2 s.
    pub segment_duration: Duration,
    /// Segments listed in the live playlist. Default 6.
    pub playlist_window: usize,
    /// How long a segment that left the playlist stays readable, for
    /// players that fetched the playlist just before. Default 30 s.
    pub delete_grace: Duration,
    /// Finished segments waiting for the sink, at most. When a slow sink
    /// lets more pile up, the oldest pending one is dropped rather than
    /// stalling ingest (see the module docs). Default 4.
    pub write_queue: usize,
    /// How long an ended stream's final window (with `EXT-X-ENDLIST`) stays
    /// playable as a VOD before its segments and playlists are deleted and
    /// its playlist state forgotten. A republish before then continues the
    /// playlist instead. Default 10 min.
    pub ended_retention: Duration,
}

impl Default for HlsConfig {
    fn default() -> Self {
        Self {
            segment_duration: DEFAULT_SEGMENT_DURATION,
            playlist_window: DEFAULT_WINDOW,
            delete_grace: Duration::from_secs(30),
            write_queue: 4,
            ended_retention: Duration::from_secs(600),
        }
    }
}

/// What one packager run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PackagerStats {
    /// Segments written and listed.
    pub segments: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Frames the muxer refused (see [`MuxError`](crate::MuxError)).
    pub dropped_frames: u64,
    /// Segments the sink failed to store (left out of the playlist).
    pub failed_writes: u64,
    /// Segments dropped unwritten because the sink fell behind by more than
    /// [`HlsConfig::write_queue`] segments (left out of the playlist).
    pub dropped_segments: u64,
}

/// Per-stream state that outlives a publish.
#[derive(Debug)]
pub(crate) struct StreamState {
    pub(crate) playlist: LivePlaylist,
    token: String,
    pub(crate) runs: u64,
    peak_bandwidth: u64,
    total_bytes: u64,
    total_secs: f64,
    master: Option<String>,
    window: usize,
    target: Duration,
}

impl StreamState {
    fn new(config: &HlsConfig) -> Self {
        Self {
            playlist: LivePlaylist::live(config.playlist_window, config.segment_duration),
            token: new_token(),
            runs: 0,
            peak_bandwidth: 0,
            total_bytes: 0,
            total_secs: 0.0,
            master: None,
            window: config.playlist_window,
            target: config.segment_duration,
        }
    }

    /// Back to a new stream's state (after its files were deleted).
    pub(crate) fn reset(&mut self) {
        let mut token = new_token();
        if token == self.token {
            token.push('x');
        }
        *self = Self {
            token,
            ..Self::new(&HlsConfig {
                playlist_window: self.window,
                segment_duration: self.target,
                ..HlsConfig::default()
            })
        };
    }
}

/// Segment names carry it: milliseconds since the epoch, in hex.
fn new_token() -> String {
    format!(
        "{:x}",
        OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000
    )
}

/// Packages streams into HLS on a [`SegmentSink`], remembering each
/// stream's playlist across publishes (see the module docs).
pub struct HlsPublisher {
    sink: Arc<dyn SegmentSink>,
    config: HlsConfig,
    // A std mutex around the map only (lookups, never across await). Each
    // stream's state has its own tokio mutex, held for a whole run: it is
    // what serializes a republish behind the end of the previous run.
    streams: StreamMap,
    pending_deletes: PendingDeletes,
    dropped_segments: AtomicU64,
    ingest_bytes: AtomicU64,
}

impl std::fmt::Debug for HlsPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HlsPublisher")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl HlsPublisher {
    /// A publisher writing to `sink`.
    pub fn new(sink: Arc<dyn SegmentSink>, config: HlsConfig) -> Self {
        Self {
            sink,
            config,
            streams: StreamMap::default(),
            pending_deletes: PendingDeletes::default(),
            dropped_segments: AtomicU64::new(0),
            ingest_bytes: AtomicU64::new(0),
        }
    }

    /// Media payload bytes (video and audio frames) every packager run has
    /// received, counted in the frame loop, for an ingest metric.
    pub fn ingest_bytes_total(&self) -> u64 {
        self.ingest_bytes.load(Ordering::Relaxed)
    }

    /// Segments dropped unwritten, over every stream, because the sink fell
    /// behind (see [`HlsConfig::write_queue`]).
    pub fn dropped_segments_total(&self) -> u64 {
        self.dropped_segments.load(Ordering::Relaxed)
    }

    /// The sink segments and playlists go to (serve it with [`crate::router`]).
    pub fn sink(&self) -> &Arc<dyn SegmentSink> {
        &self.sink
    }

    /// The configuration.
    pub fn config(&self) -> &HlsConfig {
        &self.config
    }

    /// Forgets a stream's playlist state: its next publish starts a new
    /// playlist. Does not delete anything from the sink. (Ended streams are
    /// forgotten, and their files deleted, after
    /// [`HlsConfig::ended_retention`] anyway.)
    pub fn forget(&self, stream_id: &StreamId) {
        self.streams
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(stream_id);
    }

    /// Spawns [`run`](Self::run) on the current tokio runtime.
    pub fn spawn(
        self: &Arc<Self>,
        stream_id: StreamId,
        frames: mpsc::Receiver<MediaFrame>,
    ) -> JoinHandle<Result<PackagerStats, HlsError>> {
        let this = Arc::clone(self);
        tokio::spawn(async move { this.run(stream_id, frames).await })
    }

    fn state(&self, stream_id: &StreamId) -> Arc<tokio::sync::Mutex<StreamState>> {
        let mut streams = self.streams.lock().unwrap_or_else(|p| p.into_inner());
        streams
            .entry(stream_id.clone())
            .or_insert_with(|| Arc::new(tokio::sync::Mutex::new(StreamState::new(&self.config))))
            .clone()
    }

    /// Streams whose playlist state is kept (live, or ended and within
    /// [`HlsConfig::ended_retention`]).
    pub fn stream_count(&self) -> usize {
        self.streams.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Segments that left a live window and wait out
    /// [`HlsConfig::delete_grace`] before deletion.
    pub fn pending_deletes(&self) -> usize {
        self.pending_deletes.len()
    }

    /// Deletes now the segments waiting out their grace period, which the
    /// timers of a stopping runtime would otherwise leave behind. Call it
    /// after the last run ended. Ended streams' final windows are kept (see
    /// [`HlsConfig::ended_retention`]).
    pub async fn shutdown(&self) {
        self.pending_deletes.flush(&*self.sink).await;
    }

    /// Packages one publish of `stream_id`: consumes `frames` until the
    /// channel closes, then closes the last segment and writes the playlist
    /// with `EXT-X-ENDLIST`. Segment write failures are logged and the
    /// segment left out; only a failure to write the final playlist is an
    /// error.
    pub async fn run(
        &self,
        stream_id: StreamId,
        mut frames: mpsc::Receiver<MediaFrame>,
    ) -> Result<PackagerStats, HlsError> {
        let state = self.state(&stream_id);
        let mut state = state.lock().await;
        if state.runs > 0 {
            state.playlist.mark_discontinuity();
        }
        state.runs += 1;
        let mut run = Run {
            publisher: self,
            stream_id: &stream_id,
            stats: PackagerStats::default(),
        };
        let queue = WriteQueue::new(self.config.write_queue);
        let ingest = async {
            let mut segmenter = Segmenter::new(self.config.segment_duration);
            let mut anchor = None;
            let mut dropped_frames = 0;
            let enqueue = |segmenter: &Segmenter, segment: Segment, anchor: Option<(u32, OffsetDateTime)>| {
                let job = Job::new(segmenter, segment, anchor);
                if let Some(old) = queue.push(job) {
                    self.dropped_segments.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        stream = %stream_id,
                        start_ms = old.segment.start_ms,
                        "the segment sink fell behind; dropped the oldest pending segment"
                    );
                }
            };
            while let Some(frame) = frames.recv().await {
                let payload = match &frame {
                    MediaFrame::Video(v) => v.data.len(),
                    MediaFrame::Audio(a) => a.data.len(),
                    _ => 0,
                };
                self.ingest_bytes.fetch_add(payload as u64, Ordering::Relaxed);
                if let (None, Some(ts)) = (anchor, frame.dts()) {
                    anchor = Some((ts, OffsetDateTime::now_utc()));
                }
                match segmenter.push(&frame) {
                    Ok(Some(segment)) => enqueue(&segmenter, segment, anchor),
                    Ok(None) => {}
                    Err(e @ MuxError::AdtsUnrepresentable { .. }) => {
                        dropped_frames += 1;
                        tracing::warn!(stream = %stream_id, error = %e, "audio dropped for this stream");
                    }
                    Err(e) => {
                        dropped_frames += 1;
                        tracing::debug!(stream = %stream_id, error = %e, "frame dropped");
                    }
                }
                dropped_frames += segmenter.take_refused();
            }
            if let Some(segment) = segmenter.finish() {
                enqueue(&segmenter, segment, anchor);
            }
            queue.close();
            dropped_frames
        };
        let writer = async {
            while let Some((job, gap)) = queue.pop().await {
                if gap {
                    state.playlist.mark_discontinuity();
                }
                run.publish(&mut state, job).await;
            }
        };
        let (dropped_frames, ()) = tokio::join!(ingest, writer);
        run.stats.dropped_frames = dropped_frames;
        run.stats.dropped_segments = queue.dropped();
        state.playlist.end();
        let text = state.playlist.render();
        self.sink
            .put(&self.path(&stream_id, MEDIA_PLAYLIST), Bytes::from(text))
            .await
            .map_err(|source| HlsError::Sink {
                stream_id: stream_id.clone(),
                source,
            })?;
        schedule_expiry(
            &self.streams,
            &self.sink,
            stream_id.clone(),
            state.runs,
            self.config.ended_retention,
        );
        tracing::info!(stream = %stream_id, segments = run.stats.segments, "HLS packager ended");
        Ok(run.stats)
    }

    fn path(&self, stream_id: &StreamId, file: &str) -> SegmentPath {
        stream_path(stream_id, file)
    }
}

/// `{stream_id}/{file}`.
pub(crate) fn stream_path(stream_id: &StreamId, file: &str) -> SegmentPath {
    // A stream id and our own file names always make a valid path.
    SegmentPath::parse(&format!("{stream_id}/{file}")).unwrap_or_else(|_| unreachable_path())
}

#[cold]
fn unreachable_path() -> SegmentPath {
    // StreamId is [A-Za-z0-9_-]{1,64} and file names are ours; this cannot
    // fail, but a panic in a packager is not worth the risk either.
    SegmentPath::parse("invalid/invalid").unwrap_or_else(|_| unreachable_path())
}

/// One run's bookkeeping.
struct Run<'a> {
    publisher: &'a HlsPublisher,
    stream_id: &'a StreamId,
    stats: PackagerStats,
}

impl Run<'_> {
    /// Writes the segment, then the playlist naming it, then (if it
    /// changed) the multivariant playlist; schedules deletion of the
    /// segments that left the window.
    async fn publish(&mut self, state: &mut StreamState, job: Job) {
        let Job {
            segment,
            program_date_time,
            codecs,
            resolution,
        } = job;
        let p = self.publisher;
        let file = format!("{}_{}.ts", state.token, state.playlist.next_sequence());
        let path = p.path(self.stream_id, &file);
        let len = segment.data.len() as u64;
        if let Err(e) = p.sink.put(&path, segment.data).await {
            tracing::warn!(stream = %self.stream_id, error = %e, "segment write failed; left out");
            self.stats.failed_writes += 1;
            state.playlist.mark_discontinuity();
            return;
        }
        if segment.discontinuity {
            state.playlist.mark_discontinuity();
        }
        let removed = state.playlist.push(PlaylistEntry {
            uri: file,
            duration: segment.duration,
            discontinuity: false,
            program_date_time,
        });
        self.stats.segments += 1;
        self.stats.bytes += len;
        let text = state.playlist.render();
        if let Err(e) = p
            .sink
            .put(&p.path(self.stream_id, MEDIA_PLAYLIST), Bytes::from(text))
            .await
        {
            tracing::warn!(stream = %self.stream_id, error = %e, "playlist write failed");
        }
        self.update_master(state, codecs, resolution, len, segment.duration)
            .await;
        for old in removed {
            let path = p.path(self.stream_id, &old.uri);
            p.pending_deletes.schedule(&p.sink, path, p.config.delete_grace);
        }
    }

    async fn update_master(
        &self,
        state: &mut StreamState,
        codecs: Vec<String>,
        resolution: Option<(u32, u32)>,
        len: u64,
        duration: Duration,
    ) {
        let secs = duration.as_secs_f64();
        // A segment much shorter than the target (the last one of a
        // publish) says little about the peak rate: a keyframe and a few
        // frames over a fraction of a second. Count the others only, unless
        // nothing else is known yet.
        let representative =
            duration * 2 >= self.publisher.config.segment_duration || state.peak_bandwidth == 0;
        if secs > 0.0 && representative {
            state.peak_bandwidth = state.peak_bandwidth.max((len as f64 * 8.0 / secs).ceil() as u64);
        }
        state.total_bytes += len;
        state.total_secs += secs;
        let text = render_master(&[Variant {
            uri: MEDIA_PLAYLIST.into(),
            bandwidth: state.peak_bandwidth,
            average_bandwidth: (state.total_secs > 0.0)
                .then(|| (state.total_bytes as f64 * 8.0 / state.total_secs) as u64)
                .filter(|_| state.master.is_none()),
            resolution,
            codecs,
        }]);
        if state.master.as_deref() == Some(text.as_str()) {
            return;
        }
        let p = self.publisher;
        match p
            .sink
            .put(
                &p.path(self.stream_id, MASTER_PLAYLIST),
                Bytes::from(text.clone()),
            )
            .await
        {
            Ok(()) => state.master = Some(text),
            Err(e) => tracing::warn!(stream = %self.stream_id, error = %e, "master playlist write failed"),
        }
    }
}

/// Packages one publish with a fresh [`HlsPublisher`] (no memory of earlier
/// publishes: use a shared `HlsPublisher` for republish continuity).
pub async fn run_packager(
    stream_id: StreamId,
    frames: mpsc::Receiver<MediaFrame>,
    sink: Arc<dyn SegmentSink>,
    config: HlsConfig,
) -> Result<PackagerStats, HlsError> {
    HlsPublisher::new(sink, config).run(stream_id, frames).await
}
