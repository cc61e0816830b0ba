//! One publish of one stream: the task that owns its segmenters, its
//! [`LiveWindow`] and its timers, and publishes a [`Snapshot`] per change.
//!
//! The frame loop never waits on storage: persistence to the
//! [`SegmentSink`] (when one is configured) goes through a bounded
//! [`WriteQueue`] drained by a second future of the same task. Segments
//! that leave the window are deleted from the sink after
//! [`HlsConfig::delete_grace`] by one timer (the front of a deadline
//! queue), owned here: no task per file.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use streamly_core::domain::StreamId;
use streamly_core::media::MediaFrame;
use streamly_core::ports::{SegmentPath, SegmentSink};
use time::OffsetDateTime;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::config::HlsConfig;
use crate::error::MuxError;
use crate::parts::{PartEvent, PartSegmenter};
use crate::publisher::{Counters, PackagerStats};
use crate::recording::{RecordTo, Recorder};
use crate::segmenter::Segmenter;
use crate::window::{
    Evicted, LiveWindow, MASTER_PLAYLIST, MEDIA_PLAYLIST, Snapshot, TS_PLAYLIST, segment_name,
};
use crate::write_queue::{Job, Kind, WriteQueue};

/// What a run needs from its publisher.
pub(crate) struct RunContext<'a> {
    pub(crate) stream_id: &'a StreamId,
    pub(crate) config: &'a HlsConfig,
    pub(crate) sink: Option<&'a Arc<dyn SegmentSink>>,
    pub(crate) counters: &'a Counters,
    pub(crate) snapshots: &'a watch::Sender<Arc<Snapshot>>,
    /// Record this publish too (only with a sink).
    pub(crate) record: Option<RecordTo>,
}

/// The state of one run, driven by [`run`].
struct StreamTask<'a> {
    ctx: RunContext<'a>,
    window: LiveWindow,
    parts: PartSegmenter,
    ts: Option<Segmenter>,
    events: Vec<PartEvent>,
    /// First frame's timestamp and wall-clock arrival.
    anchor: Option<(i64, OffsetDateTime)>,
    /// Sink files to delete, by deadline.
    deletions: VecDeque<(Instant, String)>,
    stats: PackagerStats,
    queue: &'a WriteQueue,
    /// The recording, when this publish is recorded.
    recorder: Option<Recorder<'a>>,
}

/// Packages one publish until `frames` closes; returns the stats and the
/// final window.
pub(crate) async fn run(
    ctx: RunContext<'_>,
    token: String,
    mut frames: mpsc::Receiver<MediaFrame>,
) -> (PackagerStats, LiveWindow) {
    let mut ctx = ctx;
    let config = ctx.config;
    // The recording's own queue (empty and idle when not recording).
    let recording_queue = WriteQueue::new(config.write_queue);
    let recorder = match (ctx.record.take(), ctx.sink) {
        (Some(to), Some(_)) => Some(Recorder::new(to, &recording_queue)),
        _ => None,
    };
    let recording = recorder.is_some();
    let parts = PartSegmenter::new(config.ll_segment_duration, config.part_target);
    let mut window = LiveWindow::new(
        token,
        config.playlist_window,
        parts.target_duration(),
        config.segment_duration,
    );
    window.offload_stored(config.serve_old_segments_from_sink && ctx.sink.is_some());
    let queue = WriteQueue::new(config.write_queue);
    let stream = ctx.stream_id.to_string();
    let sink = ctx.sink.cloned();
    let mut task = StreamTask {
        ts: config.ts.then(|| Segmenter::new(config.segment_duration)),
        ctx,
        window,
        parts,
        events: Vec::new(),
        anchor: None,
        deletions: VecDeque::new(),
        stats: PackagerStats::default(),
        queue: &queue,
        recorder,
    };
    let ingest = async {
        // One timer for the deletions, reset only when the earliest one
        // changes: a timer made per frame would be registered with the
        // runtime's timer wheel and taken off it again for every frame
        // (tens a second per stream) once the window is full.
        let timer = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(timer);
        let mut armed: Option<Instant> = None;
        loop {
            let deadline = task.deletions.front().map(|(at, _)| *at);
            if let Some(at) = deadline
                && armed != Some(at)
            {
                timer.as_mut().reset(at);
                armed = Some(at);
            }
            tokio::select! {
                frame = frames.recv() => match frame {
                    Some(frame) => task.frame(&frame),
                    None => break,
                },
                () = &mut timer, if deadline.is_some() => {
                    armed = None;
                    task.delete_due(Instant::now());
                }
            }
        }
        task.finish();
        queue.close();
        recording_queue.close();
        task
    };
    let writer = async {
        match &sink {
            Some(sink) => queue.drain_into(&**sink, &stream, Kind::Live).await,
            None => 0,
        }
    };
    let recording_writer = async {
        match &sink {
            Some(sink) if recording => {
                recording_queue
                    .drain_into(&**sink, &stream, Kind::Recording)
                    .await
            }
            _ => 0,
        }
    };
    let (task, failed, recording_failed) = tokio::join!(ingest, writer, recording_writer);
    let mut stats = task.stats;
    stats.failed_writes = failed + recording_failed;
    stats.dropped_segments = queue.dropped();
    (stats, task.window)
}

impl StreamTask<'_> {
    fn frame(&mut self, frame: &MediaFrame) {
        let payload = match frame {
            MediaFrame::Video(v) => v.data.len(),
            MediaFrame::Audio(a) => a.data.len(),
            _ => 0,
        };
        self.ctx
            .counters
            .ingest_bytes
            .fetch_add(payload as u64, Ordering::Relaxed);
        if let (None, Some(ts)) = (self.anchor, frame.dts()) {
            self.anchor = Some((i64::from(ts), OffsetDateTime::now_utc()));
        }
        let mut changed = false;
        if let Err(e) = self.parts.push(frame, &mut self.events) {
            self.refused(&e);
        }
        changed |= self.drain_parts();
        if let Some(ts) = &mut self.ts {
            match ts.push(frame) {
                Ok(Some(segment)) => {
                    self.ts_segment(segment);
                    changed = true;
                }
                Ok(None) => {}
                // Counted once, by the fMP4 path.
                Err(_) => {}
            }
        }
        if changed {
            self.publish();
        }
    }

    fn refused(&mut self, e: &MuxError) {
        self.stats.dropped_frames += 1;
        tracing::debug!(stream = %self.ctx.stream_id, error = %e, "frame dropped");
    }

    /// Moves the segmenter's events into the window; whether anything changed.
    fn drain_parts(&mut self) -> bool {
        if self.events.is_empty() {
            return false;
        }
        if let Some(target) = self.parts.part_target() {
            self.window.set_part_target(target);
        }
        let mut codecs = Vec::new();
        let mut resolution = None;
        if let Some(v) = self.parts.video_config() {
            codecs.push(v.codec_string());
            resolution = v.dimensions;
        }
        if let Some(a) = self.parts.audio_config() {
            codecs.push(a.codec_string());
        }
        self.window.set_codecs(codecs, resolution);
        for event in std::mem::take(&mut self.events) {
            match event {
                PartEvent::Init(data) => {
                    let name = self.window.push_init(data.clone());
                    if let (Some(r), Some(init)) = (&mut self.recorder, self.window.current_init()) {
                        r.init(init.generation, data.clone());
                    }
                    self.persist(Job::Segment, &name, data);
                }
                PartEvent::Part(part) => {
                    let start = self.wall_clock(part.start_ms);
                    if part.ends_segment {
                        self.note_stored();
                    }
                    let (segment, evicted) = self.window.push_part(part, start);
                    if let Some(segment) = segment {
                        self.stats.segments += 1;
                        self.stats.bytes += segment.len as u64;
                        if self.ctx.sink.is_some() {
                            let name = segment_name(self.window.token(), segment.msn);
                            // Just completed: its bytes are in memory.
                            let data = segment.concatenated().unwrap_or_default();
                            if let Some(r) = &mut self.recorder {
                                r.segment(segment.msn, segment.duration, data.clone());
                            }
                            self.persist(Job::Segment, &name, data);
                            if let Some(text) = self.window.plain_playlist() {
                                self.persist(Job::Playlist, MEDIA_PLAYLIST, text);
                            }
                        }
                    }
                    self.evict(evicted);
                }
            }
        }
        if let Some(master) = self.window.update_master() {
            self.persist(Job::Playlist, MASTER_PLAYLIST, master);
        }
        true
    }

    /// Tells the window which of its segments (fMP4 and TS) the sink took
    /// since the last segment: their bytes may leave memory.
    fn note_stored(&mut self) {
        for path in self.queue.take_stored() {
            if let Some(msn) = fmp4_segment_number(self.window.token(), &path) {
                self.window.mark_stored(msn);
            } else if let Some((_, file)) = path.as_str().rsplit_once('/')
                && file.ends_with(".ts")
            {
                self.window.mark_stored_ts(file);
            }
        }
    }

    fn ts_segment(&mut self, segment: crate::Segment) {
        self.note_stored();
        let start = self.wall_clock(segment.start_ms);
        let data = segment.data.clone();
        let (name, evicted) =
            self.window
                .push_ts(segment.data, segment.duration, segment.discontinuity, start);
        self.persist(Job::Segment, &name, data);
        if let Some(text) = self.window.ts_playlist() {
            self.persist(Job::Playlist, TS_PLAYLIST, text);
        }
        self.evict(evicted);
    }

    fn wall_clock(&self, ts_ms: i64) -> Option<OffsetDateTime> {
        // Hostile timestamps can put it out of range: then no date.
        let (ts0, t0) = self.anchor?;
        t0.checked_add(time::Duration::milliseconds(ts_ms.checked_sub(ts0)?))
    }

    fn publish(&mut self) {
        let snapshot = Arc::new(self.window.snapshot());
        self.ctx.snapshots.send_replace(snapshot);
    }

    fn persist(&mut self, job: fn(SegmentPath, Bytes) -> Job, file: &str, data: Bytes) {
        if self.ctx.sink.is_none() {
            return;
        }
        let Ok(path) = stream_path(self.ctx.stream_id, file) else {
            return;
        };
        if let Some(dropped) = self.queue.push(job(path, data)) {
            self.ctx.counters.dropped_segments.fetch_add(1, Ordering::Relaxed);
            if let Some(msn) = fmp4_segment_number(self.window.token(), &dropped) {
                self.window.mark_unpersisted(msn);
            }
            tracing::warn!(
                stream = %self.ctx.stream_id,
                %dropped,
                "the segment sink fell behind; dropped the oldest pending segment"
            );
        }
    }

    fn evict(&mut self, evicted: Evicted) {
        if self.ctx.sink.is_none() {
            return;
        }
        let at = Instant::now() + self.ctx.config.delete_grace;
        self.deletions.extend(evicted.files.into_iter().map(|f| (at, f)));
    }

    fn delete_due(&mut self, now: Instant) {
        while let Some((at, _)) = self.deletions.front()
            && *at <= now
        {
            if let Some((_, file)) = self.deletions.pop_front()
                && let Ok(path) = stream_path(self.ctx.stream_id, &file)
            {
                self.queue.push(Job::Delete(path));
            }
        }
    }

    /// The publisher left: close the last segments, end the playlists,
    /// publish the final snapshot and persist the final playlists. Files
    /// still waiting out their grace are deleted now: the final window is
    /// what stays.
    fn finish(&mut self) {
        self.parts.finish(&mut self.events);
        self.drain_parts();
        if let Some(segment) = self.ts.as_mut().and_then(Segmenter::finish) {
            self.ts_segment(segment);
        }
        self.window.end();
        if let Some(r) = &mut self.recorder {
            r.finish();
        }
        self.publish();
        if let Some(text) = self.window.plain_playlist() {
            self.persist(Job::Playlist, MEDIA_PLAYLIST, text);
        }
        if let Some(text) = self.window.ts_playlist() {
            self.persist(Job::Playlist, TS_PLAYLIST, text);
        }
        self.delete_due(Instant::now() + self.ctx.config.delete_grace);
    }
}

/// The number of the fMP4 segment at `path`, if it is one of this publish's.
fn fmp4_segment_number(token: &str, path: &SegmentPath) -> Option<u64> {
    let file = path.as_str().rsplit_once('/')?.1;
    file.strip_prefix(token)?
        .strip_prefix('_')?
        .strip_suffix(".m4s")?
        .parse()
        .ok()
}

/// `{stream_id}/{file}`.
pub(crate) fn stream_path(
    stream_id: &StreamId,
    file: &str,
) -> Result<SegmentPath, streamly_core::domain::ValidationError> {
    SegmentPath::parse(&format!("{stream_id}/{file}"))
}
