//! [`StreamHealth`] against synthetic streams on a deterministic clock.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::*;
use crate::media::avc::tests::RECORD;
use crate::media::{AudioFrame, VideoFrame};

fn video_config() -> MediaFrame {
    MediaFrame::VideoConfig(Arc::new(AvcConfig::parse(Bytes::from_static(RECORD)).unwrap()))
}

fn audio_config() -> MediaFrame {
    // AAC LC, 44.1 kHz, stereo.
    MediaFrame::AudioConfig(Arc::new(
        AacConfig::parse(Bytes::from_static(&[0x12, 0x10])).unwrap(),
    ))
}

fn video(dts: u32, keyframe: bool, len: usize) -> MediaFrame {
    MediaFrame::Video(VideoFrame {
        dts,
        composition_offset: 0,
        keyframe,
        data: Bytes::from(vec![0; len]),
    })
}

fn audio(dts: u32, len: usize) -> MediaFrame {
    MediaFrame::Audio(AudioFrame {
        dts,
        data: Bytes::from(vec![0; len]),
    })
}

fn metadata(video_kbps: f64, encoder: &str) -> MediaFrame {
    MediaFrame::Metadata(Arc::new(StreamMetadata {
        video_data_rate: Some(video_kbps),
        encoder: Some(encoder.into()),
        ..StreamMetadata::default()
    }))
}

/// A publish fed in real time: 25 fps video of `video_bytes` per frame with
/// a keyframe every `gop` frames, and 43 audio frames/s of `audio_bytes`.
struct Feed {
    t0: Instant,
    health: StreamHealth,
}

impl Feed {
    fn new() -> Self {
        let t0 = Instant::now();
        Self {
            t0,
            health: StreamHealth::new(t0),
        }
    }

    fn at(&self, ms: u64) -> Instant {
        self.t0 + Duration::from_millis(ms)
    }

    fn config(&mut self, frames: &[MediaFrame]) {
        for f in frames {
            self.health.observe(f, self.t0);
        }
    }

    /// Feeds media from `from_ms` to `to_ms` (arrival = media time).
    fn run(
        &mut self,
        from_ms: u64,
        to_ms: u64,
        video_bytes: Option<(usize, u64)>,
        audio_bytes: Option<usize>,
    ) {
        let mut events: Vec<(u64, MediaFrame)> = Vec::new();
        if let Some((len, gop)) = video_bytes {
            let mut n = from_ms / 40;
            while n * 40 < to_ms {
                events.push((n * 40, video(n as u32 * 40, n.is_multiple_of(gop), len)));
                n += 1;
            }
        }
        if let Some(len) = audio_bytes {
            // 1024 samples at 44.1 kHz: ~23.2 ms.
            let mut n = (from_ms as f64 / 23.22).ceil() as u64;
            while ((n as f64) * 23.22) < to_ms as f64 {
                let t = (n as f64 * 23.22) as u64;
                events.push((t, audio(t as u32, len)));
                n += 1;
            }
        }
        events.sort_by_key(|e| e.0);
        for (t, f) in events {
            self.health.observe(&f, self.at(t));
        }
    }

    fn report(&self, ms: u64) -> HealthReport {
        self.health.snapshot(self.at(ms), &HealthThresholds::default())
    }
}

fn codes(r: &HealthReport) -> Vec<&'static str> {
    r.warnings.iter().map(|w| w.code.as_str()).collect()
}

#[test]
fn steady_stream_figures() {
    let mut f = Feed::new();
    f.config(&[metadata(300.0, "Lavf59"), video_config(), audio_config()]);
    // 1500 bytes/frame × 25 = 300 kbit/s; 186 bytes × 43.07 ≈ 64 kbit/s.
    f.run(0, 12_000, Some((1500, 50)), Some(186));
    let r = f.report(12_000);
    let v = r.video.as_ref().unwrap();
    assert_eq!((v.width, v.height), (Some(320), Some(240)));
    assert_eq!(v.profile, Some("High"));
    assert_eq!(v.codec_string.as_deref(), Some("avc1.64000d"));
    assert_eq!(v.level.as_deref(), Some("1.3"));
    assert_eq!(v.fps, Some(25.0));
    assert_eq!(v.keyframe_interval_s, Some(2.0));
    assert_eq!(v.bitrate_kbps, Some(300.0));
    assert_eq!(v.bitrate_1s_kbps, Some(300.0));
    let a = r.audio.as_ref().unwrap();
    assert_eq!(
        (a.sample_rate, a.channels, a.profile),
        (Some(44100), Some(2), Some("LC"))
    );
    let kbps = a.bitrate_kbps.unwrap();
    assert!((63.0..=65.0).contains(&kbps), "{kbps}");
    assert_eq!(r.encoder.as_deref(), Some("Lavf59"));
    assert_eq!(r.declared_video_kbps, Some(300.0));
    assert_eq!(r.uptime_s, 12.0);
    assert_eq!(r.timestamp_jumps, 0);
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
}

#[test]
fn young_publish_averages_over_its_complete_seconds() {
    let mut f = Feed::new();
    f.config(&[video_config()]);
    f.run(0, 3_500, Some((1500, 50)), None);
    let v = f.report(3_500).video.unwrap();
    // Seconds 0, 1, 2 are complete.
    assert_eq!(v.bitrate_kbps, Some(300.0));
    // Nothing complete yet: no figure.
    let mut g = Feed::new();
    g.run(0, 500, Some((1500, 50)), None);
    assert_eq!(g.report(500).video.unwrap().bitrate_kbps, None);
}

#[test]
fn a_stalled_publish_drops_to_zero() {
    let mut f = Feed::new();
    f.run(0, 5_000, Some((1500, 50)), Some(186));
    // Nothing for 20 s: every bucket in the window is stale.
    let r = f.report(25_000);
    assert_eq!(r.video.unwrap().bitrate_kbps, Some(0.0));
    assert_eq!(r.audio.unwrap().bitrate_1s_kbps, Some(0.0));
}

#[test]
fn six_second_gop_warns_before_and_after_its_second_keyframe() {
    let mut f = Feed::new();
    f.config(&[video_config(), audio_config()]);
    f.run(0, 3_900, Some((1500, 150)), Some(186));
    assert!(f.report(3_900).warnings.is_empty());
    // The open interval passes 4 s before the second keyframe.
    f.run(3_900, 4_500, Some((1500, 150)), Some(186));
    let r = f.report(4_500);
    assert_eq!(codes(&r), ["keyframe_interval"]);
    assert_eq!(r.video.unwrap().keyframe_interval_s, None);
    f.run(4_500, 7_000, Some((1500, 150)), Some(186));
    let r = f.report(7_000);
    assert_eq!(r.video.as_ref().unwrap().keyframe_interval_s, Some(6.0));
    assert_eq!(codes(&r), ["keyframe_interval"]);
    assert!(
        r.warnings[0].message.contains("6.0 s"),
        "{}",
        r.warnings[0].message
    );
}

#[test]
fn keyframe_limit_follows_the_segment_duration() {
    let mut f = Feed::new();
    f.run(0, 3_000, Some((1500, 50)), Some(186));
    let tight = HealthThresholds::for_segment(Duration::from_millis(500));
    let r = f.health.snapshot(f.at(3_000), &tight);
    assert_eq!(codes(&r), ["keyframe_interval"]);
}

#[test]
fn audio_only_warns_no_video_after_the_grace() {
    let mut f = Feed::new();
    f.config(&[audio_config()]);
    f.run(0, 6_000, None, Some(186));
    assert!(f.report(4_000).warnings.is_empty());
    let r = f.report(6_000);
    assert!(r.video.is_none());
    assert!(r.audio.is_some());
    assert_eq!(codes(&r), ["no_video"]);
}

#[test]
fn video_only_warns_no_audio() {
    let mut f = Feed::new();
    f.config(&[video_config()]);
    f.run(0, 6_000, Some((1500, 50)), None);
    let r = f.report(6_000);
    assert!(r.audio.is_none());
    assert_eq!(codes(&r), ["no_audio"]);
}

#[test]
fn nothing_at_all_warns_both() {
    let f = Feed::new();
    assert_eq!(codes(&f.report(5_000)), ["no_video", "no_audio"]);
}

#[test]
fn bitrate_far_from_declared_warns_over_a_full_window() {
    let mut f = Feed::new();
    f.config(&[metadata(1000.0, "obs"), video_config(), audio_config()]);
    f.run(0, 12_000, Some((1500, 50)), Some(186));
    // Not before the window is full.
    assert!(
        f.health
            .snapshot(f.at(9_000), &HealthThresholds::default())
            .warnings
            .is_empty()
    );
    let r = f.report(12_000);
    assert_eq!(codes(&r), ["bitrate_mismatch"]);
    assert!(
        r.warnings[0].message.contains("300 kbit/s"),
        "{}",
        r.warnings[0].message
    );
    // Declared 100: 300 is over 200 %.
    let mut g = Feed::new();
    g.config(&[metadata(100.0, "obs"), video_config(), audio_config()]);
    g.run(0, 12_000, Some((1500, 50)), Some(186));
    assert_eq!(codes(&g.report(12_000)), ["bitrate_mismatch"]);
    // Declared 0 (ffmpeg without a target bitrate): no figure, no warning.
    let mut h = Feed::new();
    h.config(&[metadata(0.0, "obs"), video_config(), audio_config()]);
    h.run(0, 12_000, Some((1500, 50)), Some(186));
    let r = h.report(12_000);
    assert_eq!(r.declared_video_kbps, None);
    assert!(r.warnings.is_empty());
}

#[test]
fn timestamp_jumps_are_counted_and_warn_while_recent() {
    let mut f = Feed::new();
    f.config(&[video_config(), audio_config()]);
    f.run(0, 2_000, Some((1500, 50)), Some(186));
    // Video jumps back ~1.5 s, then forward 1.5 s.
    f.health.observe(&video(500, false, 10), f.at(2_000));
    f.health.observe(&video(2_000, false, 10), f.at(2_040));
    let r = f.report(3_000);
    assert_eq!(r.timestamp_jumps, 2);
    assert_eq!(codes(&r), ["timestamp_jumps"]);
    assert!(
        f.report(13_000)
            .warnings
            .iter()
            .all(|w| w.code != HealthWarningCode::TimestampJumps)
    );
}

#[test]
fn wrapping_timestamps_are_no_jump() {
    let mut h = StreamHealth::new(Instant::now());
    let t = Instant::now();
    h.observe(&video(u32::MAX - 39, true, 10), t);
    h.observe(&video(0, false, 10), t);
    h.observe(&video(40, false, 10), t);
    let r = h.snapshot(t, &HealthThresholds::default());
    assert_eq!(r.timestamp_jumps, 0);
}

#[test]
fn dropped_frames_and_subscribers() {
    let mut f = Feed::new();
    f.config(&[video_config(), audio_config()]);
    f.run(0, 1_000, Some((1500, 50)), Some(186));
    f.health.dropped_frame(f.at(1_000));
    f.health.dropped_subscriber();
    let r = f.report(1_500);
    assert_eq!((r.dropped_frames, r.dropped_subscribers), (1, 1));
    assert_eq!(codes(&r), ["dropped_frames"]);
}

#[test]
fn serializes_as_the_api_shape() {
    let mut f = Feed::new();
    f.config(&[video_config()]);
    f.run(0, 6_000, Some((1500, 50)), None);
    let json = serde_json::to_value(f.report(6_000)).unwrap();
    assert_eq!(json["video"]["width"], 320);
    assert_eq!(json["video"]["codec"], "h264");
    assert!(json["audio"].is_null());
    assert_eq!(json["warnings"][0]["code"], "no_audio");
    assert!(json["encoder"].is_null());
}

#[test]
fn profile_names() {
    assert_eq!(avc_profile_name(66, 0xc0), "Constrained Baseline");
    assert_eq!(avc_profile_name(66, 0x80), "Baseline");
    assert_eq!(avc_profile_name(77, 0), "Main");
    assert_eq!(aac_profile_name(5), "HE-AAC");
    assert_eq!(channel_count(0), None);
    assert_eq!(channel_count(7), Some(8));
}
