//! Cutting the media timeline into segments: each video segment starts with
//! a keyframe and is cut at the first keyframe at or after the target
//! duration; audio-only streams are cut on time (RFC 8216 §3, §6.2.4).
//!
//! Segments are bounded. `EXT-X-TARGETDURATION` must not change during a
//! live stream (RFC 8216 §6.2.1) and every `EXTINF`, rounded, must not
//! exceed it (§4.3.3.1); the playlist sets it once, to the target rounded
//! up to whole seconds (`T`). So when no keyframe comes in time (a GOP
//! longer than the target), the segmenter cuts anyway, at a frame that is
//! not a keyframe, before the segment reaches `T` s + 499 ms; the same
//! happens when a segment reaches [`MAX_SEGMENT_BYTES`]. Such a segment is
//! marked [`Segment::forced_cut`] (it does not start at a random access
//! point), and the segment after it is cut at the next keyframe, even if
//! short, so segments realign on keyframes. Only a gap in the timestamps
//! themselves (nothing arrives for longer than `T`) can still make a
//! segment longer.

use std::mem;
use std::time::Duration;

use bytes::Bytes;
use streamly_core::media::MediaFrame;

use crate::error::MuxError;
use crate::timestamp::TimestampUnwrapper;
use crate::ts::TsMuxer;

/// The default target segment duration.
pub const DEFAULT_SEGMENT_DURATION: Duration = Duration::from_secs(2);

/// The most bytes a segment buffers before it is cut, keyframe or not.
pub const MAX_SEGMENT_BYTES: usize = 64 * 1024 * 1024;

/// A forced cut happens at the last frame before the segment would reach
/// its limit, looking ahead by the largest gap between frames seen so far,
/// at least this...
const MIN_CUT_MARGIN_MS: i64 = 50;
/// ...and at most this (a bigger gap is a jump in the timestamps).
const MAX_CUT_MARGIN_MS: i64 = 1000;

/// One finished MPEG-TS segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// The segment's bytes: PAT, PMT, then PES packets, in 188-byte packets.
    pub data: Bytes,
    /// Unwrapped timestamp of the first frame, milliseconds.
    pub start_ms: i64,
    /// From this segment's first frame to the next one's.
    pub duration: Duration,
    /// The program changed (a stream appeared) since the previous segment:
    /// the playlist should mark a discontinuity.
    pub discontinuity: bool,
    /// Whether the segment carries video.
    pub has_video: bool,
    /// Whether the segment carries audio.
    pub has_audio: bool,
    /// It was cut before a keyframe came (too long or too large): a video
    /// segment that does not start with a keyframe. See the module docs.
    pub forced_cut: bool,
}

#[derive(Debug, Clone, Copy)]
struct Open {
    start_ms: i64,
    last_ms: i64,
    has_video: bool,
    has_audio: bool,
    discontinuity: bool,
    forced: bool,
}

/// Frames in, finished segments out. Sans-IO: no clock, no files.
///
/// Frames of a stream whose configuration arrived after the current segment
/// started are held back until the next cut (they cannot be announced in a
/// PMT already written); video frames before the first keyframe are dropped.
/// A stream that announces video but sends only audio goes audio-only after
/// one target duration of waiting, and switches to video (with a
/// discontinuity) at the first keyframe.
#[derive(Debug)]
pub struct Segmenter {
    muxer: TsMuxer,
    target_ms: i64,
    /// The longest a segment may last: its `EXTINF`, rounded, stays within
    /// the target rounded up.
    limit_ms: i64,
    max_bytes: usize,
    clock: TimestampUnwrapper,
    open: Option<Open>,
    buf: Vec<u8>,
    /// Buffers handed back with [`Segmenter::recycle`], reused before
    /// allocating.
    spare: Vec<Vec<u8>>,
    /// The size of the largest segment so far: the next buffer's capacity.
    capacity_hint: usize,
    /// A stream appeared that the open segment does not carry.
    program_changed: bool,
    /// When audio started waiting for the first keyframe.
    waiting_since: Option<i64>,
    last_video_ms: Option<i64>,
    last_audio_ms: Option<i64>,
    frame_interval_ms: i64,
    /// The previous frame's timestamp, any track.
    last_frame_ms: Option<i64>,
    /// The largest gap between two consecutive frames (any track) so far,
    /// capped: how far ahead of the next frame a forced cut must look.
    max_gap_ms: i64,
    segments: u64,
    /// Frames refused by the muxer right after they closed a segment (the
    /// closed segment is returned, so the error is counted here instead).
    refused: u64,
}

impl Segmenter {
    /// A segmenter aiming at `target` per segment.
    pub fn new(target: Duration) -> Self {
        let target_ms = i64::try_from(target.as_millis()).unwrap_or(i64::MAX / 2).max(1);
        let whole_secs = target_ms.saturating_add(999) / 1000;
        Self {
            muxer: TsMuxer::new(),
            target_ms,
            limit_ms: whole_secs.saturating_mul(1000).saturating_add(499),
            max_bytes: MAX_SEGMENT_BYTES,
            clock: TimestampUnwrapper::new(),
            open: None,
            buf: Vec::new(),
            spare: Vec::new(),
            capacity_hint: 64 * 1024,
            program_changed: false,
            waiting_since: None,
            last_video_ms: None,
            last_audio_ms: None,
            frame_interval_ms: 0,
            last_frame_ms: None,
            max_gap_ms: MIN_CUT_MARGIN_MS,
            segments: 0,
            refused: 0,
        }
    }

    /// Lowers the size at which a segment is cut, keyframe or not (default
    /// [`MAX_SEGMENT_BYTES`]).
    pub fn with_max_segment_bytes(mut self, max: usize) -> Self {
        self.max_bytes = max.max(1);
        self
    }

    /// The muxer, for its codec configuration.
    pub fn muxer(&self) -> &TsMuxer {
        &self.muxer
    }

    /// Feeds one frame. Returns the segment this frame closed, if any (the
    /// frame itself then starts the next one). A frame the muxer refuses is
    /// dropped and reported as an error; the segmenter stays usable. If
    /// that frame had closed a segment, the segment is returned anyway and
    /// the refusal logged and counted in [`take_refused`](Self::take_refused).
    pub fn push(&mut self, frame: &MediaFrame) -> Result<Option<Segment>, MuxError> {
        match frame {
            MediaFrame::VideoConfig(config) => {
                self.muxer.set_video_config(config.clone());
                if self.open.is_some_and(|o| !o.has_video) {
                    self.program_changed = true;
                }
                Ok(None)
            }
            MediaFrame::AudioConfig(config) => {
                // Refuse a configuration ADTS cannot carry up front: the
                // stream then goes on without audio (its frames are refused
                // as NoAudioConfig) instead of announcing an audio track
                // that stays empty.
                crate::ts::adts_header(config, 7 + 1)?;
                self.muxer.set_audio_config(config.clone());
                if self.open.is_some_and(|o| !o.has_audio) {
                    self.program_changed = true;
                }
                Ok(None)
            }
            MediaFrame::Metadata(_) => Ok(None),
            MediaFrame::Video(v) => {
                if self.muxer.video_config().is_none() {
                    return Err(MuxError::NoVideoConfig);
                }
                let ts = self.clock.unwrap(v.dts);
                self.observe_gap(ts);
                if let Some(prev) = self.last_video_ms.replace(ts)
                    && ts > prev
                {
                    self.frame_interval_ms = ts - prev;
                }
                let closed = match self.open {
                    None if !v.keyframe => return Ok(None),
                    None => {
                        self.start(ts, true);
                        None
                    }
                    Some(open) => {
                        // An audio-only segment (video came late) ends at
                        // the first keyframe, with a discontinuity.
                        let due = ts - open.start_ms >= self.target_ms || !open.has_video;
                        // No keyframe in time: cut before the segment would
                        // outgrow the target duration or the size cap.
                        let too_long = self.cut_now(ts, open.start_ms);
                        let too_big = self.buf.len() >= self.max_bytes;
                        if v.keyframe && (due || self.program_changed || open.forced) {
                            self.program_changed |= !open.has_video;
                            let closed = self.close(ts);
                            self.start(ts, true);
                            closed
                        } else if open.has_video && (too_long || too_big) && ts > open.start_ms {
                            self.force_cut(ts)
                        } else if !open.has_video {
                            return Ok(None);
                        } else {
                            None
                        }
                    }
                };
                if let Err(e) = self.muxer.write_video(&mut self.buf, v, ts) {
                    return self.refuse(closed, e);
                }
                self.touch(ts);
                Ok(closed)
            }
            MediaFrame::Audio(a) => {
                if self.muxer.audio_config().is_none() {
                    return Err(MuxError::NoAudioConfig);
                }
                let ts = self.clock.unwrap(a.dts);
                self.observe_gap(ts);
                if self.last_video_ms.is_none()
                    && let Some(prev) = self.last_audio_ms
                    && ts > prev
                {
                    self.frame_interval_ms = ts - prev;
                }
                self.last_audio_ms = Some(ts);
                let mut random_access = false;
                let closed = match self.open {
                    // Wait for the first keyframe when there is video, but
                    // not forever: a publisher may announce video and send
                    // none. After a target duration of audio and no video
                    // frame at all, go audio-only.
                    None if self.muxer.video_config().is_some()
                        && (self.last_video_ms.is_some()
                            || ts - *self.waiting_since.get_or_insert(ts) < self.target_ms) =>
                    {
                        return Ok(None);
                    }
                    None => {
                        self.start(ts, false);
                        random_access = true;
                        None
                    }
                    Some(open) if !open.has_video && ts - open.start_ms >= self.target_ms => {
                        let closed = self.close(ts);
                        self.start(ts, false);
                        random_access = true;
                        closed
                    }
                    Some(open) if !open.has_audio => return Ok(None),
                    // Video late or stalled: audio bounds the segment too.
                    // A forced cut, to a segment that keeps the video track.
                    Some(open) if open.has_video && self.cut_now(ts, open.start_ms) => self.force_cut(ts),
                    Some(_) => None,
                };
                if let Err(e) = self.muxer.write_audio(&mut self.buf, a, ts, random_access) {
                    return self.refuse(closed, e);
                }
                self.touch(ts);
                Ok(closed)
            }
        }
    }

    /// Frames refused since the last call that closed a segment before
    /// being refused (see [`push`](Self::push)); resets the count.
    pub fn take_refused(&mut self) -> u64 {
        mem::take(&mut self.refused)
    }

    /// The frame was refused: never lose the segment it closed.
    fn refuse(&mut self, closed: Option<Segment>, e: MuxError) -> Result<Option<Segment>, MuxError> {
        match closed {
            Some(segment) => {
                self.refused += 1;
                tracing::debug!(error = %e, "frame refused after closing a segment; segment kept");
                Ok(Some(segment))
            }
            None => Err(e),
        }
    }

    /// Hands back a segment's buffer once its bytes have been written out
    /// (`Vec::from(segment.data)` reclaims it without copying when nothing
    /// else holds it). The next segments are written into it instead of
    /// fresh memory, which spares the page faults of a new allocation.
    pub fn recycle(&mut self, mut buf: Vec<u8>) {
        if self.spare.len() < 4 && buf.capacity() >= self.capacity_hint / 2 {
            buf.clear();
            self.spare.push(buf);
        }
    }

    /// Closes the open segment at the end of the stream, if there is one.
    pub fn finish(&mut self) -> Option<Segment> {
        let open = self.open?;
        let end = open.last_ms + self.frame_interval_ms;
        self.close(end)
    }

    fn start(&mut self, ts: i64, with_video: bool) {
        let has_video = with_video && self.muxer.video_config().is_some();
        let has_audio = self.muxer.audio_config().is_some();
        self.muxer.write_tables(&mut self.buf, has_video, has_audio);
        self.open = Some(Open {
            start_ms: ts,
            last_ms: ts,
            has_video,
            has_audio,
            discontinuity: self.program_changed && self.segments > 0,
            forced: false,
        });
        self.program_changed = false;
    }

    fn observe_gap(&mut self, ts: i64) {
        if let Some(prev) = self.last_frame_ms.replace(ts) {
            let gap = (ts - prev).clamp(0, MAX_CUT_MARGIN_MS);
            self.max_gap_ms = self.max_gap_ms.max(gap);
        }
    }

    /// Whether the next frame could push a segment started at `start_ms`
    /// past its limit: then cut at this one.
    fn cut_now(&self, ts: i64, start_ms: i64) -> bool {
        ts - start_ms + self.max_gap_ms > self.limit_ms
    }

    /// Cuts a video segment without a keyframe (see the module docs).
    fn force_cut(&mut self, ts: i64) -> Option<Segment> {
        let closed = self.close(ts);
        self.start(ts, true);
        if let Some(open) = &mut self.open {
            open.forced = true;
        }
        closed
    }

    fn touch(&mut self, ts: i64) {
        if let Some(open) = &mut self.open {
            open.last_ms = open.last_ms.max(ts);
        }
    }

    fn close(&mut self, end_ms: i64) -> Option<Segment> {
        let open = self.open.take()?;
        let mut duration_ms = end_ms - open.start_ms;
        if duration_ms <= 0 {
            // The timeline jumped back: fall back to what the segment spans.
            duration_ms = open.last_ms - open.start_ms + self.frame_interval_ms;
        }
        self.capacity_hint = self.capacity_hint.max(self.buf.len() + self.buf.len() / 8);
        let next = self
            .spare
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(self.capacity_hint));
        let data = mem::replace(&mut self.buf, next);
        self.segments += 1;
        Some(Segment {
            data: Bytes::from(data),
            start_ms: open.start_ms,
            duration: Duration::from_millis(u64::try_from(duration_ms).unwrap_or(0)),
            discontinuity: open.discontinuity,
            has_video: open.has_video,
            has_audio: open.has_audio,
            forced_cut: open.forced,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use streamly_core::media::{AacConfig, AudioFrame, AvcConfig, VideoFrame};

    /// An x264 AVCDecoderConfigurationRecord (320x240 High).
    const AVC_RECORD: &[u8] = &[
        0x01, 0x64, 0x00, 0x0d, 0xff, 0xe1, 0x00, 0x19, 0x67, 0x64, 0x00, 0x0d, 0xac, 0xd9, 0x41, 0x41, 0xfb,
        0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0x20, 0xf1, 0x42, 0x99, 0x60, 0x01,
        0x00, 0x04, 0x68, 0xef, 0xbc, 0xb0,
    ];

    fn audio(dts: u32) -> MediaFrame {
        MediaFrame::Audio(AudioFrame {
            dts,
            data: Bytes::from_static(&[0x21; 100]),
        })
    }

    #[test]
    fn a_refused_frame_does_not_lose_the_segment_it_closed() {
        let mut s = Segmenter::new(Duration::from_secs(2));
        let avc = AvcConfig::parse(Bytes::from_static(AVC_RECORD)).expect("avc");
        s.push(&MediaFrame::VideoConfig(Arc::new(avc))).expect("config");
        let frame = |dts: u32, keyframe: bool, data: &'static [u8]| {
            MediaFrame::Video(VideoFrame {
                dts,
                composition_offset: 0,
                keyframe,
                data: Bytes::from_static(data),
            })
        };
        for i in 0..50u32 {
            let f = frame(i * 40, i == 0, &[0, 0, 0, 2, 0x41, 0x88]);
            assert!(s.push(&f).expect("good frame").is_none());
        }
        // A keyframe due to cut, with a NAL length past its end.
        let bad = frame(2000, true, &[0, 0, 0, 9, 0x65]);
        let closed = s
            .push(&bad)
            .expect("the closed segment is returned")
            .expect("a cut");
        assert_eq!(closed.duration, Duration::from_millis(2000));
        assert!(closed.data.len() > 50 * 188 / 2);
        assert_eq!(s.take_refused(), 1);
        assert_eq!(s.take_refused(), 0);
        // Without a cut, a refused frame is still an error.
        assert!(s.push(&frame(2040, false, &[0, 0, 0, 9])).is_err());
    }

    fn video(dts: u32, keyframe: bool) -> MediaFrame {
        MediaFrame::Video(VideoFrame {
            dts,
            composition_offset: 0,
            keyframe,
            data: Bytes::from_static(&[0, 0, 0, 2, 0x41, 0x88, 0, 0, 0, 2, 0x41, 0x88]),
        })
    }

    fn video_segmenter(target: Duration) -> Segmenter {
        let mut s = Segmenter::new(target);
        let avc = AvcConfig::parse(Bytes::from_static(AVC_RECORD)).expect("avc");
        s.push(&MediaFrame::VideoConfig(Arc::new(avc))).expect("config");
        s
    }

    #[test]
    fn without_keyframes_segments_are_cut_within_the_target_duration() {
        let mut s = video_segmenter(Duration::from_secs(2));
        let mut segments = Vec::new();
        // One keyframe every 10 s, 25 fps, for 20 s.
        for i in 0..500u32 {
            segments.extend(s.push(&video(i * 40, i % 250 == 0)).expect("frame"));
        }
        segments.extend(s.finish());
        assert!(segments.len() >= 8, "{}", segments.len());
        for seg in &segments {
            // EXTINF rounds to at most TARGETDURATION (2).
            assert!(seg.duration < Duration::from_millis(2500), "{:?}", seg.duration);
        }
        assert!(!segments[0].forced_cut);
        assert!(segments[1].forced_cut);
        // Realigned on the keyframe at 10 s.
        assert!(
            segments
                .iter()
                .any(|seg| seg.start_ms == 10_000 && !seg.forced_cut)
        );
    }

    #[test]
    fn a_segment_is_cut_at_the_size_cap() {
        let mut s = video_segmenter(Duration::from_secs(2)).with_max_segment_bytes(10 * 188);
        let mut segments = Vec::new();
        for i in 0..40u32 {
            segments.extend(s.push(&video(i * 40, i == 0)).expect("frame"));
        }
        assert!(segments.len() >= 3, "{}", segments.len());
        for seg in &segments {
            assert!(seg.data.len() <= 12 * 188, "{}", seg.data.len());
        }
        assert!(segments[1].forced_cut);
    }

    #[test]
    fn announced_video_that_never_comes_goes_audio_only_then_switches() {
        let mut s = Segmenter::new(Duration::from_secs(2));
        let avc = AvcConfig::parse(Bytes::from_static(AVC_RECORD)).expect("avc");
        let aac = AacConfig::parse(Bytes::from_static(&[0x12, 0x10])).expect("aac");
        s.push(&MediaFrame::VideoConfig(Arc::new(avc))).expect("config");
        s.push(&MediaFrame::AudioConfig(Arc::new(aac))).expect("config");
        let mut segments = Vec::new();
        for i in 0..300u32 {
            segments.extend(s.push(&audio(i * 23)).expect("audio"));
        }
        // 0–2 s waited; then audio-only segments every ~2 s (2–4, 4–6 s).
        assert_eq!(segments.len(), 2);
        assert!(segments.iter().all(|s| !s.has_video && s.has_audio));
        assert_eq!(segments[0].start_ms, 2001);
        let key = MediaFrame::Video(VideoFrame {
            dts: 300 * 23,
            composition_offset: 0,
            keyframe: true,
            data: Bytes::from_static(&[0, 0, 0, 2, 0x65, 0x88]),
        });
        let closed = s
            .push(&key)
            .expect("keyframe")
            .expect("the keyframe cuts at once");
        assert!(!closed.has_video);
        s.push(&audio(300 * 23 + 10)).expect("audio");
        let last = s.finish().expect("open segment");
        assert!(last.has_video && last.has_audio && last.discontinuity);
    }
}
