//! Cutting the media timeline into low-latency parts and segments, as fMP4
//! fragments (RFC 8216bis §4.4.4.9, Apple's LL-HLS spec). Sans-IO: frames
//! in, [`PartEvent`]s out, no clock and no files.
//!
//! - **Segments** start at a keyframe: the first keyframe at or after
//!   [`HlsConfig::ll_segment_duration`](crate::HlsConfig::ll_segment_duration),
//!   so they follow the GOP. `EXT-X-TARGETDURATION` is fixed up front to
//!   twice that, rounded up ([`PartSegmenter::target_duration`]); a GOP too
//!   long for it is cut anyway before the rounded `EXTINF` would exceed it
//!   (a *forced* cut: that segment's first part is not independent).
//! - **Parts** are a whole number of frames: once the frame interval is
//!   known (from the first frames), the configured part target is rounded
//!   down to `n` frame intervals and `PART-TARGET` is declared as that
//!   plus 2 ms of timestamp jitter. A part is closed at the frame that
//!   would make it outlast `PART-TARGET`, so every part but a segment's
//!   last lasts 0.85–1.0 × `PART-TARGET` (iOS rejects jitter).
//! - **One copy per part, none per viewer.** The fMP4 writer hands out the
//!   `moof` + `mdat` header and the frames' payloads stay the ingested
//!   [`Bytes`]; when a part closes they are laid out once, contiguously, in
//!   [`Part::data`] (from a reused arena), and every viewer is served that.
//!   Measured (`docs/performance.md`, LL-HLS): served as ~170 separate
//!   chunks, a 2 s segment took 11 `writev`s per response (hyper writes at
//!   most 16 buffers per call) and lagged nginx; the copy costs ≈ 25 ms per
//!   10 minutes of 720p. It also lets the ingest side's message buffers go
//!   at once instead of being pinned for the window's 20 s. Video is
//!   timed at 90 kHz (durations from the next frame's timestamp, the
//!   composition offset kept as is, so B-frames keep their order), audio
//!   at its sample rate (1,024 samples per AAC frame, re-anchored on the
//!   RTMP timestamps when they jump by more than two frames).
//! - A part is closed when the frame after it arrives (its last sample's
//!   duration needs that frame); [`PartSegmenter::finish`] closes the last.
//!
//! A video stream waits for its first keyframe: frames before it, audio
//! included, are dropped. A new decoder configuration takes effect at the
//! next keyframe, which starts a segment with a new init segment
//! ([`PartEvent::Init`]) and a discontinuity. Without video configuration
//! the stream is audio-only: parts and segments are cut on audio time.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use streamly_core::media::{AacConfig, AudioFrame, AvcConfig, MediaFrame, VideoFrame};

use crate::error::MuxError;
use crate::fmp4::{AUDIO_TRACK_ID, Fmp4Sample, FragmentWriter, TrackFragment, VIDEO_TRACK_ID, init_segment};
use crate::timestamp::TimestampUnwrapper;

/// AAC frames carry 1,024 samples (AAC-LC and the core of HE-AAC).
const AAC_FRAME_SAMPLES: u32 = 1024;
/// Declared `PART-TARGET` above `n` frame intervals: RTMP timestamps are
/// whole milliseconds, so a span of frames is off by up to 1 ms.
const PART_JITTER_MS: f64 = 2.0;
/// Parts are laid out in arenas of at least this size (several parts per
/// allocation; an arena is freed when its last part leaves the window).
const PART_ARENA: usize = 64 * 1024;
/// The longest the first segment may grow without a keyframe.
const MAX_SEGMENT_MS: i64 = 10_000;

/// What the segmenter produced.
#[derive(Debug, Clone)]
pub enum PartEvent {
    /// A new init segment (`EXT-X-MAP`): the first one, or a changed
    /// decoder configuration. The next part starts a segment after a
    /// discontinuity.
    Init(Bytes),
    /// A finished part.
    Part(Part),
}

/// One finished part: an fMP4 fragment (`moof` + `mdat`).
#[derive(Debug, Clone)]
pub struct Part {
    /// The fragment's bytes: the `moof` and `mdat` headers, then every
    /// sample's payload.
    pub data: Bytes,
    /// Unwrapped timestamp of its first frame, milliseconds.
    pub start_ms: i64,
    /// From its first frame to the next part's first frame.
    pub duration: Duration,
    /// It starts with a keyframe (`INDEPENDENT=YES`); audio-only parts
    /// always are.
    pub independent: bool,
    /// The first part of a segment.
    pub starts_segment: bool,
    /// The last part of its segment: the segment is complete.
    pub ends_segment: bool,
}

#[derive(Debug, Clone, Copy)]
struct Open {
    segment_start_ms: i64,
    part_start_ms: i64,
    part_independent: bool,
    part_starts_segment: bool,
}

/// Frames in, parts out (see the module docs).
#[derive(Debug)]
pub struct PartSegmenter {
    segment_min_ms: i64,
    /// Whole seconds, fixed: `EXT-X-TARGETDURATION`.
    target_duration: u64,
    configured_part_ms: f64,
    /// Decided from the first frames: `n` frame intervals + jitter.
    part_target_ms: Option<f64>,
    video: Option<Arc<AvcConfig>>,
    audio: Option<Arc<AacConfig>>,
    /// A configuration arrived that the current init segment lacks.
    config_changed: bool,
    init_written: bool,
    clock: TimestampUnwrapper,
    open: Option<Open>,
    videos: Vec<(i64, VideoFrame)>,
    audios: Vec<(i64, AudioFrame)>,
    /// The audio timeline in samples: where the next audio frame starts.
    audio_cursor: Option<u64>,
    first_video_ms: Option<i64>,
    video_frames: u64,
    last_video_ms: Option<i64>,
    writer: FragmentWriter,
    /// Where finished parts are laid out (see the module docs).
    arena: BytesMut,
    sequence: u32,
    samples: Vec<Fmp4Sample>,
    audio_samples: Vec<Fmp4Sample>,
}

impl PartSegmenter {
    /// Segments of at least `segment_min` (cut at the next keyframe), parts
    /// aimed at `part_target`.
    pub fn new(segment_min: Duration, part_target: Duration) -> Self {
        let segment_min_ms = i64::try_from(segment_min.as_millis())
            .unwrap_or(MAX_SEGMENT_MS)
            .clamp(1, MAX_SEGMENT_MS);
        Self {
            segment_min_ms,
            target_duration: (2 * segment_min_ms as u64).div_ceil(1000).max(1),
            configured_part_ms: (part_target.as_secs_f64() * 1000.0).clamp(10.0, 5000.0),
            part_target_ms: None,
            video: None,
            audio: None,
            config_changed: false,
            init_written: false,
            clock: TimestampUnwrapper::new(),
            open: None,
            videos: Vec::new(),
            audios: Vec::new(),
            audio_cursor: None,
            first_video_ms: None,
            video_frames: 0,
            last_video_ms: None,
            writer: FragmentWriter::new(),
            arena: BytesMut::new(),
            sequence: 0,
            samples: Vec::new(),
            audio_samples: Vec::new(),
        }
    }

    /// `EXT-X-TARGETDURATION`, whole seconds: no segment's rounded
    /// duration exceeds it.
    pub fn target_duration(&self) -> u64 {
        self.target_duration
    }

    /// `PART-TARGET`, once the first part is closed.
    pub fn part_target(&self) -> Option<Duration> {
        self.part_target_ms
            .map(|ms| Duration::from_micros((ms * 1000.0).ceil() as u64))
    }

    /// The video configuration in use, if any.
    pub fn video_config(&self) -> Option<&Arc<AvcConfig>> {
        self.video.as_ref()
    }

    /// The audio configuration in use, if any.
    pub fn audio_config(&self) -> Option<&Arc<AacConfig>> {
        self.audio.as_ref()
    }

    /// Feeds one frame; pushes what it finished onto `out` (a new init
    /// segment, a finished part).
    pub fn push(&mut self, frame: &MediaFrame, out: &mut Vec<PartEvent>) -> Result<(), MuxError> {
        match frame {
            MediaFrame::VideoConfig(config) => {
                if self.video.as_deref() != Some(&**config) {
                    self.video = Some(Arc::clone(config));
                    self.config_changed = true;
                }
                Ok(())
            }
            MediaFrame::AudioConfig(config) => {
                if self.audio.as_deref() != Some(&**config) {
                    if config.sample_rate == 0 {
                        return Err(MuxError::AdtsUnrepresentable {
                            reason: "sample rate 0",
                        });
                    }
                    self.audio = Some(Arc::clone(config));
                    self.audio_cursor = None;
                    self.config_changed = true;
                }
                Ok(())
            }
            MediaFrame::Metadata(_) => Ok(()),
            MediaFrame::Video(v) => {
                if self.video.is_none() {
                    return Err(MuxError::NoVideoConfig);
                }
                let ts = self.clock.unwrap(v.dts);
                self.push_video(ts, v, out);
                Ok(())
            }
            MediaFrame::Audio(a) => {
                if self.audio.is_none() {
                    return Err(MuxError::NoAudioConfig);
                }
                let ts = self.clock.unwrap(a.dts);
                self.push_audio(ts, a, out);
                Ok(())
            }
        }
    }

    /// Closes the last part at the end of the stream.
    pub fn finish(&mut self, out: &mut Vec<PartEvent>) {
        let Some(open) = self.open else { return };
        let end = match (self.last_video_ms, self.audios.last()) {
            (Some(last), _) if !self.videos.is_empty() => last + self.frame_interval_ms().round() as i64,
            (_, Some((ts, _))) => *ts + self.audio_frame_ms().round() as i64,
            _ => open.part_start_ms,
        };
        self.close_part(end, true, out);
        self.open = None;
    }

    fn push_video(&mut self, ts: i64, frame: &VideoFrame, out: &mut Vec<PartEvent>) {
        self.first_video_ms.get_or_insert(ts);
        self.video_frames += 1;
        let interval = self.frame_interval_ms();
        match self.open {
            None => {
                if !frame.keyframe {
                    return;
                }
                self.start_segment(ts, true, out);
            }
            Some(open) => {
                let segment_due = ts - open.segment_start_ms >= self.segment_min_ms;
                let limit = self.target_duration as i64 * 1000 + 499;
                let too_long = ts - open.segment_start_ms + interval.round() as i64 > limit;
                if frame.keyframe && (segment_due || self.config_changed) {
                    self.close_part(ts, true, out);
                    self.start_segment(ts, true, out);
                } else if too_long && ts > open.segment_start_ms {
                    self.close_part(ts, true, out);
                    self.start_segment(ts, false, out);
                } else if self.part_due(ts, open.part_start_ms, interval) {
                    self.close_part(ts, false, out);
                    self.start_part(ts, frame.keyframe, false);
                }
            }
        }
        self.last_video_ms = Some(ts);
        self.videos.push((ts, frame.clone()));
    }

    fn push_audio(&mut self, ts: i64, frame: &AudioFrame, out: &mut Vec<PartEvent>) {
        if self.video.is_some() {
            // Audio rides along the video's parts; before the first
            // keyframe there is nothing to ride on.
            if self.open.is_none() {
                return;
            }
        } else {
            let interval = self.audio_frame_ms();
            match self.open {
                None => self.start_segment(ts, true, out),
                Some(open) => {
                    if ts - open.segment_start_ms >= self.segment_min_ms || self.config_changed {
                        self.close_part(ts, true, out);
                        self.start_segment(ts, true, out);
                    } else if self.part_due(ts, open.part_start_ms, interval) {
                        self.close_part(ts, false, out);
                        self.start_part(ts, true, false);
                    }
                }
            }
        }
        self.audios.push((ts, frame.clone()));
    }

    /// Whether the frame at `ts` must start a new part: with it, the part
    /// could outlast `PART-TARGET` by the next frame.
    fn part_due(&mut self, ts: i64, part_start_ms: i64, interval: f64) -> bool {
        let target = *self.part_target_ms.get_or_insert_with(|| {
            let n = (self.configured_part_ms / interval).floor().max(1.0);
            n * interval + PART_JITTER_MS
        });
        (ts - part_start_ms) as f64 + interval > target
    }

    /// The video frame interval: the mean over the frames so far (25 fps
    /// until two frames are known).
    fn frame_interval_ms(&self) -> f64 {
        match (self.first_video_ms, self.last_video_ms) {
            (Some(first), Some(last)) if self.video_frames > 1 && last > first => {
                (last - first) as f64 / (self.video_frames - 1) as f64
            }
            _ if self.video.is_none() => self.audio_frame_ms(),
            _ => 40.0,
        }
    }

    fn audio_frame_ms(&self) -> f64 {
        let rate = self.audio.as_ref().map_or(44_100, |a| a.sample_rate.max(1));
        f64::from(AAC_FRAME_SAMPLES) * 1000.0 / f64::from(rate)
    }

    fn start_segment(&mut self, ts: i64, independent: bool, out: &mut Vec<PartEvent>) {
        if self.config_changed || !self.init_written {
            out.push(PartEvent::Init(init_segment(
                self.video.as_deref(),
                self.audio.as_deref(),
            )));
            self.config_changed = false;
            self.init_written = true;
        }
        self.open = Some(Open {
            segment_start_ms: ts,
            part_start_ms: ts,
            part_independent: independent,
            part_starts_segment: true,
        });
    }

    fn start_part(&mut self, ts: i64, independent: bool, starts_segment: bool) {
        if let Some(open) = &mut self.open {
            open.part_start_ms = ts;
            open.part_independent = independent;
            open.part_starts_segment = starts_segment;
        }
    }

    /// Closes the open part at `end_ms` (the next part's first frame).
    fn close_part(&mut self, end_ms: i64, ends_segment: bool, out: &mut Vec<PartEvent>) {
        let Some(open) = self.open else { return };
        if self.videos.is_empty() && self.audios.is_empty() {
            return;
        }
        self.samples.clear();
        self.audio_samples.clear();
        let video_base = self.video_samples(end_ms);
        let audio_base = self.audio_samples();
        self.sequence = self.sequence.wrapping_add(1);
        // A track without samples is left out of the fragment by the writer.
        let tracks = [
            TrackFragment {
                track_id: VIDEO_TRACK_ID,
                base_media_decode_time: video_base.unwrap_or(0),
                samples: &self.samples,
            },
            TrackFragment {
                track_id: AUDIO_TRACK_ID,
                base_media_decode_time: audio_base.unwrap_or(0),
                samples: &self.audio_samples,
            },
        ];
        let header = self.writer.write(self.sequence, &tracks);
        let payloads = self.samples.iter().chain(&self.audio_samples);
        let len = header.len() + payloads.clone().map(|s| s.data.len()).sum::<usize>();
        if self.arena.capacity() < len {
            // The old arena stays alive as long as parts laid out in it.
            self.arena = BytesMut::with_capacity(len.max(PART_ARENA));
        }
        self.arena.extend_from_slice(&header);
        for s in payloads {
            self.arena.extend_from_slice(&s.data);
        }
        let data = self.arena.split().freeze();
        self.videos.clear();
        self.audios.clear();
        let duration_ms = u64::try_from(end_ms - open.part_start_ms).unwrap_or(0);
        out.push(PartEvent::Part(Part {
            data,
            start_ms: open.part_start_ms,
            duration: Duration::from_millis(duration_ms),
            independent: open.part_independent,
            starts_segment: open.part_starts_segment,
            ends_segment,
        }));
    }

    /// The open part's video samples into `self.samples`; returns the
    /// track's base decode time (90 kHz), if it has samples.
    fn video_samples(&mut self, end_ms: i64) -> Option<u64> {
        let first = self.videos.first()?.0;
        for (i, (ts, frame)) in self.videos.iter().enumerate() {
            let next = self.videos.get(i + 1).map_or(end_ms, |(t, _)| *t);
            self.samples.push(Fmp4Sample {
                duration: ms_to_ticks(next - ts, 90),
                composition_offset: frame.composition_offset.saturating_mul(90),
                keyframe: frame.keyframe,
                data: frame.data.clone(),
            });
        }
        Some(u64::try_from(first.max(0)).unwrap_or(0) * 90)
    }

    /// The open part's audio samples into `self.audio_samples`; returns
    /// the track's base decode time (sample rate ticks), if it has samples.
    fn audio_samples(&mut self) -> Option<u64> {
        let rate = u64::from(self.audio.as_ref()?.sample_rate.max(1));
        let (first_ts, _) = self.audios.first()?;
        let at = |ts: i64| u64::try_from(ts.max(0)).unwrap_or(0) * rate / 1000;
        let frame = u64::from(AAC_FRAME_SAMPLES);
        // Follow the sample count, unless the timestamps moved away from it
        // by more than two frames (a gap, a jump): then re-anchor.
        let cursor = match self.audio_cursor {
            Some(c) if at(*first_ts).abs_diff(c) <= 2 * frame => c,
            _ => at(*first_ts),
        };
        let base = cursor;
        let mut t = cursor;
        for (i, (_, a)) in self.audios.iter().enumerate() {
            let mut duration = frame;
            if let Some((next_ts, _)) = self.audios.get(i + 1) {
                let next = at(*next_ts);
                if next > t + 3 * frame {
                    duration = next - t; // a gap: this frame lasts until the next
                }
            }
            self.audio_samples.push(Fmp4Sample {
                duration: u32::try_from(duration).unwrap_or(u32::MAX),
                composition_offset: 0,
                keyframe: true,
                data: a.data.clone(),
            });
            t += duration;
        }
        self.audio_cursor = Some(t);
        Some(base)
    }
}

fn ms_to_ticks(ms: i64, per_ms: i64) -> u32 {
    u32::try_from(ms.max(0).saturating_mul(per_ms)).unwrap_or(u32::MAX)
}

#[cfg(test)]
#[path = "parts_tests.rs"]
mod tests;
