//! [`StreamHealth`]: what a live stream's ingest looks like, computed from
//! the frames as they pass, for the streamer's dashboard.
//!
//! A sans-IO accumulator: the caller feeds it every [`MediaFrame`] with the
//! time it arrived ([`StreamHealth::observe`]) and asks for a
//! [`HealthReport`] at some time ([`StreamHealth::snapshot`]). It reads no
//! clock and copies no payload: per frame it adds the payload length to a
//! per-second bucket and updates a few counters, O(1) and without
//! allocating. Configuration frames keep an `Arc` of the parsed record.
//!
//! ## Figures
//!
//! - **Bitrates** (video and audio, kbit/s): payload bytes by arrival time,
//!   in a ring of [`WINDOW_SECS`] one-second buckets counted from the
//!   publish start. The 1 s figure is the last complete second; the 10 s
//!   figure is the complete seconds of the last ten (fewer while the
//!   publish is younger). Arrival time, not media time: a publisher whose
//!   uplink cannot keep up shows a lower figure than its encoder's.
//! - **Frame rate**: video frames in the 10 s window over the span of
//!   their decode timestamps (media time, so a burst on connect does not
//!   count double).
//! - **Keyframe interval**: decode-time distance between the last two
//!   keyframes.
//! - **Timestamp jumps**: a frame whose decode time goes back, or forward
//!   by more than [`JUMP_MS`], from the previous frame of its track.
//! - **Dropped**: frames the ingest dropped (malformed tags) and slow
//!   subscribers cut off, as told by the caller.
//!
//! ## Warnings
//!
//! See [`HealthWarningCode`]; the limits come from [`HealthThresholds`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::{AacConfig, AvcConfig, MediaFrame, StreamMetadata};

/// Seconds in the long bitrate window (and the ring's size).
pub const WINDOW_SECS: u64 = 10;

/// A decode-time step larger than this (ms), or any step back, is a jump.
pub const JUMP_MS: i64 = 1000;

/// When a [`HealthReport`] raises a warning.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HealthThresholds {
    /// A keyframe interval above this warns (players and the HLS
    /// segmenter need a keyframe at each segment start). Default 4 s:
    /// twice the default 2 s HLS segment.
    pub max_keyframe_interval: Duration,
    /// How long after the publish start a missing track warns. Default 5 s.
    pub track_grace: Duration,
    /// The 10 s video bitrate below this fraction of the declared one
    /// (`onMetaData` `videodatarate`) warns. Default 0.5.
    pub bitrate_low: f64,
    /// The 10 s video bitrate above this multiple of the declared one
    /// warns. Default 2.0.
    pub bitrate_high: f64,
}

impl Default for HealthThresholds {
    fn default() -> Self {
        Self {
            max_keyframe_interval: Duration::from_secs(4),
            track_grace: Duration::from_secs(5),
            bitrate_low: 0.5,
            bitrate_high: 2.0,
        }
    }
}

impl HealthThresholds {
    /// The defaults, with the keyframe limit at twice `segment_duration`.
    pub fn for_segment(segment_duration: Duration) -> Self {
        Self {
            max_keyframe_interval: segment_duration * 2,
            ..Self::default()
        }
    }
}

/// One second of arrivals.
#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    /// The second (since the publish start) plus one; 0 for an unused bucket.
    tag: u64,
    video_bytes: u64,
    audio_bytes: u64,
    video_frames: u64,
    /// Unwrapped decode times of the first and last video frame.
    first_video_ms: i64,
    last_video_ms: i64,
}

/// One track's decode clock, unwrapped to a monotonic-ish `i64`.
#[derive(Debug, Clone, Copy, Default)]
struct TrackClock {
    last_dts: Option<u32>,
    /// Unwrapped decode time of the last frame, ms.
    time_ms: i64,
    frames: u64,
}

impl TrackClock {
    /// Advances to `dts`; whether the step was a jump.
    fn advance(&mut self, dts: u32) -> bool {
        self.frames += 1;
        let Some(last) = self.last_dts.replace(dts) else {
            self.time_ms = i64::from(dts);
            return false;
        };
        // Wrapping difference: 32-bit RTMP timestamps wrap after ~49.7 days.
        let step = i64::from(dts.wrapping_sub(last) as i32);
        self.time_ms += step;
        !(0..=JUMP_MS).contains(&step)
    }
}

/// A live stream's health, accumulated frame by frame. See the module docs.
#[derive(Debug, Clone)]
pub struct StreamHealth {
    started: Instant,
    buckets: [Bucket; WINDOW_SECS as usize],
    video_config: Option<Arc<AvcConfig>>,
    audio_config: Option<Arc<AacConfig>>,
    metadata: Option<Arc<StreamMetadata>>,
    video: TrackClock,
    audio: TrackClock,
    last_keyframe_ms: Option<i64>,
    keyframe_interval_ms: Option<i64>,
    timestamp_jumps: u64,
    last_jump: Option<Instant>,
    dropped_frames: u64,
    last_drop: Option<Instant>,
    dropped_subscribers: u64,
}

impl StreamHealth {
    /// A publish that started at `started`.
    pub fn new(started: Instant) -> Self {
        Self {
            started,
            buckets: [Bucket::default(); WINDOW_SECS as usize],
            video_config: None,
            audio_config: None,
            metadata: None,
            video: TrackClock::default(),
            audio: TrackClock::default(),
            last_keyframe_ms: None,
            keyframe_interval_ms: None,
            timestamp_jumps: 0,
            last_jump: None,
            dropped_frames: 0,
            last_drop: None,
            dropped_subscribers: 0,
        }
    }

    /// The bucket of the second `now` falls in, cleared if it held an older one.
    fn bucket(&mut self, now: Instant) -> &mut Bucket {
        let second = now.saturating_duration_since(self.started).as_secs();
        let bucket = &mut self.buckets[(second % WINDOW_SECS) as usize];
        if bucket.tag != second + 1 {
            *bucket = Bucket {
                tag: second + 1,
                ..Bucket::default()
            };
        }
        bucket
    }

    /// Takes one frame into account, arrived at `now`. O(1), no allocation.
    pub fn observe(&mut self, frame: &MediaFrame, now: Instant) {
        match frame {
            MediaFrame::VideoConfig(c) => self.video_config = Some(Arc::clone(c)),
            MediaFrame::AudioConfig(c) => self.audio_config = Some(Arc::clone(c)),
            MediaFrame::Metadata(m) => self.metadata = Some(Arc::clone(m)),
            MediaFrame::Video(v) => {
                if self.video.advance(v.dts) {
                    self.jumped(now);
                }
                let time = self.video.time_ms;
                if v.keyframe
                    && let Some(last) = self.last_keyframe_ms.replace(time)
                {
                    self.keyframe_interval_ms = Some(time - last);
                }
                let len = v.data.len() as u64;
                let bucket = self.bucket(now);
                if bucket.video_frames == 0 {
                    bucket.first_video_ms = time;
                }
                bucket.last_video_ms = time;
                bucket.video_frames += 1;
                bucket.video_bytes += len;
            }
            MediaFrame::Audio(a) => {
                if self.audio.advance(a.dts) {
                    self.jumped(now);
                }
                let len = a.data.len() as u64;
                self.bucket(now).audio_bytes += len;
            }
        }
    }

    fn jumped(&mut self, now: Instant) {
        self.timestamp_jumps += 1;
        self.last_jump = Some(now);
    }

    /// Counts a frame the ingest dropped (a malformed tag), at `now`.
    pub fn dropped_frame(&mut self, now: Instant) {
        self.dropped_frames += 1;
        self.last_drop = Some(now);
    }

    /// Counts a subscriber cut off for being too slow.
    pub fn dropped_subscriber(&mut self) {
        self.dropped_subscribers += 1;
    }

    /// The complete seconds of the last `len` (fewer while the publish is
    /// younger): the buckets still holding one of them, and how many seconds.
    fn window(&self, now: Instant, len: u64) -> (impl Iterator<Item = &Bucket>, u64) {
        let current = now.saturating_duration_since(self.started).as_secs();
        let first = current.saturating_sub(len);
        // Tags are second + 1: complete seconds are tags first+1 ..= current.
        let buckets = self
            .buckets
            .iter()
            .filter(move |b| b.tag > first && b.tag <= current);
        (buckets, current - first)
    }

    /// Video and audio kbit/s over the last `len` complete seconds.
    fn bitrates(&self, now: Instant, len: u64) -> (Option<f64>, Option<f64>) {
        let (buckets, secs) = self.window(now, len);
        if secs == 0 {
            return (None, None);
        }
        let (video, audio) = buckets.fold((0, 0), |(v, a), b| (v + b.video_bytes, a + b.audio_bytes));
        let kbps = |bytes: u64| Some(bytes as f64 * 8.0 / 1000.0 / secs as f64);
        (kbps(video), kbps(audio))
    }

    /// Frames per second over the 10 s window, by decode time.
    fn fps(&self, now: Instant) -> Option<f64> {
        let (buckets, _) = self.window(now, WINDOW_SECS);
        let mut frames = 0;
        let (mut first, mut last) = (i64::MAX, i64::MIN);
        for b in buckets.filter(|b| b.video_frames > 0) {
            frames += b.video_frames;
            first = first.min(b.first_video_ms);
            last = last.max(b.last_video_ms);
        }
        (frames >= 2 && last > first).then(|| (frames - 1) as f64 * 1000.0 / (last - first) as f64)
    }

    /// The report at `now`.
    pub fn snapshot(&self, now: Instant, limits: &HealthThresholds) -> HealthReport {
        let uptime = now.saturating_duration_since(self.started);
        let (video_10s, audio_10s) = self.bitrates(now, WINDOW_SECS);
        let (video_1s, audio_1s) = self.bitrates(now, 1);
        let has_video = self.video_config.is_some() || self.video.frames > 0;
        let has_audio = self.audio_config.is_some() || self.audio.frames > 0;
        let video = has_video.then(|| {
            let c = self.video_config.as_deref();
            VideoHealth {
                codec: "h264",
                codec_string: c.map(AvcConfig::codec_string),
                profile: c.map(|c| avc_profile_name(c.profile, c.compatibility)),
                level: c.map(|c| format!("{}.{}", c.level / 10, c.level % 10)),
                width: c.and_then(|c| c.dimensions).map(|d| d.0),
                height: c.and_then(|c| c.dimensions).map(|d| d.1),
                fps: self.fps(now).map(round2),
                bitrate_kbps: video_10s.map(round1),
                bitrate_1s_kbps: video_1s.map(round1),
                keyframe_interval_s: self.keyframe_interval_ms.map(|ms| round2(ms as f64 / 1000.0)),
                frames: self.video.frames,
            }
        });
        let audio = has_audio.then(|| {
            let c = self.audio_config.as_deref();
            AudioHealth {
                codec: "aac",
                codec_string: c.map(AacConfig::codec_string),
                profile: c.map(|c| aac_profile_name(c.object_type)),
                sample_rate: c.map(|c| c.sample_rate),
                channels: c.and_then(|c| channel_count(c.channel_config)),
                bitrate_kbps: audio_10s.map(round1),
                bitrate_1s_kbps: audio_1s.map(round1),
                frames: self.audio.frames,
            }
        });
        let meta = self.metadata.as_deref();
        let declared_video_kbps = meta.and_then(|m| m.video_data_rate).filter(|r| *r > 0.0);
        let mut report = HealthReport {
            video,
            audio,
            uptime_s: round1(uptime.as_secs_f64()),
            encoder: meta.and_then(|m| m.encoder.clone()),
            declared_video_kbps,
            declared_audio_kbps: meta.and_then(|m| m.audio_data_rate).filter(|r| *r > 0.0),
            timestamp_jumps: self.timestamp_jumps,
            dropped_frames: self.dropped_frames,
            dropped_subscribers: self.dropped_subscribers,
            warnings: Vec::new(),
        };
        self.warn(&mut report, now, limits);
        report
    }

    fn warn(&self, report: &mut HealthReport, now: Instant, limits: &HealthThresholds) {
        let uptime = now.saturating_duration_since(self.started);
        let recent = |at: Option<Instant>| {
            at.is_some_and(|t| now.saturating_duration_since(t) < Duration::from_secs(WINDOW_SECS))
        };
        let w = &mut report.warnings;
        if report.video.is_none() && uptime >= limits.track_grace {
            w.push(HealthWarning::new(
                HealthWarningCode::NoVideo,
                "No video is arriving: check the encoder's video source and that it sends H.264.".into(),
            ));
        }
        if report.audio.is_none() && uptime >= limits.track_grace {
            w.push(HealthWarning::new(
                HealthWarningCode::NoAudio,
                "No audio is arriving: check the encoder's audio source and that it sends AAC.".into(),
            ));
        }
        let limit_ms = limits.max_keyframe_interval.as_millis() as i64;
        // The last interval, or the one still open (a 6 s GOP shows before its end).
        let open = self.last_keyframe_ms.map(|k| self.video.time_ms - k);
        let longest = self.keyframe_interval_ms.max(open);
        let since_start =
            (self.video.frames > 0 && self.last_keyframe_ms.is_none()).then_some(uptime.as_millis() as i64);
        if let Some(ms) = longest.max(since_start).filter(|ms| *ms > limit_ms) {
            w.push(HealthWarning::new(
                HealthWarningCode::KeyframeInterval,
                format!(
                    "Keyframe interval is {:.1} s, over {:.1} s: set the encoder's keyframe interval to {:.0} s.",
                    ms as f64 / 1000.0,
                    limit_ms as f64 / 1000.0,
                    limits.max_keyframe_interval.as_secs_f64() / 2.0,
                ),
            ));
        }
        // Over a full 10 s window only: a young publish's figure is noisy.
        if let (Some(declared), Some(measured)) = (report.declared_video_kbps, report.video.as_ref())
            && uptime.as_secs() >= WINDOW_SECS
            && let Some(kbps) = measured.bitrate_kbps
            && (kbps < declared * limits.bitrate_low || kbps > declared * limits.bitrate_high)
        {
            w.push(HealthWarning::new(
                HealthWarningCode::BitrateMismatch,
                format!(
                    "Video arrives at {kbps:.0} kbit/s but the encoder declared {declared:.0} kbit/s: \
                     the uplink may be too slow, or the encoder's rate control is off."
                ),
            ));
        }
        if recent(self.last_jump) {
            w.push(HealthWarning::new(
                HealthWarningCode::TimestampJumps,
                format!(
                    "Timestamps jumped ({} so far): the encoder may be dropping frames or restarting.",
                    self.timestamp_jumps
                ),
            ));
        }
        if recent(self.last_drop) {
            w.push(HealthWarning::new(
                HealthWarningCode::DroppedFrames,
                format!(
                    "{} malformed frame(s) were dropped: check the encoder's output.",
                    self.dropped_frames
                ),
            ));
        }
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// The H.264 profile name for `profile_idc` (ITU-T H.264 Annex A), as
/// ffprobe prints it; constraint_set1 marks Constrained Baseline.
fn avc_profile_name(profile: u8, compatibility: u8) -> &'static str {
    match profile {
        66 if compatibility & 0x40 != 0 => "Constrained Baseline",
        66 => "Baseline",
        77 => "Main",
        88 => "Extended",
        100 => "High",
        110 => "High 10",
        122 => "High 4:2:2",
        244 => "High 4:4:4 Predictive",
        44 => "CAVLC 4:4:4",
        _ => "unknown",
    }
}

/// The AAC audio object type's name (ISO/IEC 14496-3 §1.5.1.1).
fn aac_profile_name(object_type: u8) -> &'static str {
    match object_type {
        1 => "Main",
        2 => "LC",
        3 => "SSR",
        4 => "LTP",
        5 => "HE-AAC",
        29 => "HE-AACv2",
        _ => "unknown",
    }
}

/// Channels of a `channelConfiguration` (0: defined in-band, unknown here).
fn channel_count(config: u8) -> Option<u8> {
    match config {
        0 => None,
        7 => Some(8),
        n => Some(n),
    }
}

/// A live stream's health at one moment. Absent figures are `None`
/// (`null` in JSON).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct HealthReport {
    /// The video track; `None` when no video arrived.
    pub video: Option<VideoHealth>,
    /// The audio track; `None` when no audio arrived.
    pub audio: Option<AudioHealth>,
    /// Seconds since the publish started.
    pub uptime_s: f64,
    /// The encoder's name from `onMetaData`.
    pub encoder: Option<String>,
    /// `onMetaData` `videodatarate`, kbit/s (absent or 0: `None`).
    pub declared_video_kbps: Option<f64>,
    /// `onMetaData` `audiodatarate`, kbit/s (absent or 0: `None`).
    pub declared_audio_kbps: Option<f64>,
    /// Timestamp jumps since the publish started (see the module docs).
    pub timestamp_jumps: u64,
    /// Frames the ingest dropped (malformed tags).
    pub dropped_frames: u64,
    /// Subscribers (packagers, recorders) cut off for being too slow.
    pub dropped_subscribers: u64,
    /// What the streamer should fix, most important first.
    pub warnings: Vec<HealthWarning>,
}

/// The video track of a [`HealthReport`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct VideoHealth {
    /// Always `h264` (the only video codec carried).
    pub codec: &'static str,
    /// RFC 6381 codec string (`avc1.64001f`), once the configuration arrived.
    pub codec_string: Option<String>,
    /// H.264 profile name (`High`, `Main`, `Constrained Baseline`, …).
    pub profile: Option<&'static str>,
    /// H.264 level (`3.1`).
    pub level: Option<String>,
    /// Picture width from the SPS (after cropping).
    pub width: Option<u32>,
    /// Picture height from the SPS (after cropping).
    pub height: Option<u32>,
    /// Frames per second over the last 10 s, by decode time.
    pub fps: Option<f64>,
    /// kbit/s over the last 10 complete seconds (fewer at the start).
    pub bitrate_kbps: Option<f64>,
    /// kbit/s over the last complete second.
    pub bitrate_1s_kbps: Option<f64>,
    /// Seconds between the last two keyframes.
    pub keyframe_interval_s: Option<f64>,
    /// Video frames since the publish started.
    pub frames: u64,
}

/// The audio track of a [`HealthReport`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct AudioHealth {
    /// Always `aac` (the only audio codec carried).
    pub codec: &'static str,
    /// RFC 6381 codec string (`mp4a.40.2`).
    pub codec_string: Option<String>,
    /// AAC object type name (`LC`, `HE-AAC`, …).
    pub profile: Option<&'static str>,
    /// Sampling rate, Hz.
    pub sample_rate: Option<u32>,
    /// Channels (`None` when the configuration defines them in-band).
    pub channels: Option<u8>,
    /// kbit/s over the last 10 complete seconds (fewer at the start).
    pub bitrate_kbps: Option<f64>,
    /// kbit/s over the last complete second.
    pub bitrate_1s_kbps: Option<f64>,
    /// Audio frames since the publish started.
    pub frames: u64,
}

/// Something the streamer can act on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HealthWarning {
    /// What kind of problem.
    pub code: HealthWarningCode,
    /// A sentence for the streamer, with the figures.
    pub message: String,
}

impl HealthWarning {
    fn new(code: HealthWarningCode, message: String) -> Self {
        Self { code, message }
    }
}

/// The kinds of [`HealthWarning`], serialized in `snake_case`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum HealthWarningCode {
    /// No video frame [`HealthThresholds::track_grace`] after the start.
    NoVideo,
    /// No audio frame [`HealthThresholds::track_grace`] after the start.
    NoAudio,
    /// The keyframe interval (or the time since the last keyframe) is over
    /// [`HealthThresholds::max_keyframe_interval`].
    KeyframeInterval,
    /// The 10 s video bitrate is far from the declared one.
    BitrateMismatch,
    /// A timestamp jump in the last 10 s.
    TimestampJumps,
    /// A malformed frame was dropped in the last 10 s.
    DroppedFrames,
}

impl HealthWarningCode {
    /// The `snake_case` name, as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoVideo => "no_video",
            Self::NoAudio => "no_audio",
            Self::KeyframeInterval => "keyframe_interval",
            Self::BitrateMismatch => "bitrate_mismatch",
            Self::TimestampJumps => "timestamp_jumps",
            Self::DroppedFrames => "dropped_frames",
        }
    }
}

#[cfg(test)]
mod tests;
