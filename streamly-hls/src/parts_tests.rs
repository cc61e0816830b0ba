use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use streamly_core::media::{AacConfig, AudioFrame, AvcConfig, MediaFrame, VideoFrame};

use super::*;

/// An x264 AVCDecoderConfigurationRecord (320x240 High).
const AVC_RECORD: &[u8] = &[
    0x01, 0x64, 0x00, 0x0d, 0xff, 0xe1, 0x00, 0x19, 0x67, 0x64, 0x00, 0x0d, 0xac, 0xd9, 0x41, 0x41, 0xfb,
    0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0x20, 0xf1, 0x42, 0x99, 0x60, 0x01,
    0x00, 0x04, 0x68, 0xef, 0xbc, 0xb0,
];

fn configs(video: bool, audio: bool) -> Vec<MediaFrame> {
    let mut out = Vec::new();
    if video {
        let avc = AvcConfig::parse(Bytes::from_static(AVC_RECORD)).unwrap_or_else(|_| unreachable!());
        out.push(MediaFrame::VideoConfig(Arc::new(avc)));
    }
    if audio {
        let aac = AacConfig::parse(Bytes::from_static(&[0x12, 0x10])).unwrap_or_else(|_| unreachable!());
        out.push(MediaFrame::AudioConfig(Arc::new(aac)));
    }
    out
}

fn video(dts: u32, keyframe: bool) -> MediaFrame {
    MediaFrame::Video(VideoFrame {
        dts,
        composition_offset: 0,
        keyframe,
        data: Bytes::from_static(&[0, 0, 0, 2, 0x41, 0x88]),
    })
}

fn audio(dts: u32) -> MediaFrame {
    MediaFrame::Audio(AudioFrame {
        dts,
        data: Bytes::from_static(&[0x21; 10]),
    })
}

fn parts_of(s: &mut PartSegmenter, frames: &[MediaFrame]) -> (Vec<Part>, usize) {
    let mut events = Vec::new();
    for f in frames {
        s.push(f, &mut events).unwrap_or_else(|e| panic!("{e}"));
    }
    s.finish(&mut events);
    let inits = events.iter().filter(|e| matches!(e, PartEvent::Init(_))).count();
    let parts = events
        .into_iter()
        .filter_map(|e| match e {
            PartEvent::Part(p) => Some(p),
            PartEvent::Init(_) => None,
        })
        .collect();
    (parts, inits)
}

/// Every part but a segment's last lasts 0.85–1.0 × PART-TARGET; each
/// segment starts independent and, but the last, lasts about `gop_ms`.
fn check_parts(parts: &[Part], target: Duration, gop_ms: u64) {
    let target = target.as_secs_f64();
    for p in parts.iter().filter(|p| !p.ends_segment) {
        let d = p.duration.as_secs_f64();
        assert!(
            d <= target + 1e-9 && d >= 0.85 * target,
            "part {d} s, target {target} s"
        );
    }
    let mut segment = Duration::ZERO;
    let last = parts.len().saturating_sub(1);
    for (i, p) in parts.iter().enumerate() {
        if p.starts_segment {
            assert!(p.independent);
            segment = Duration::ZERO;
        }
        segment += p.duration;
        assert!(p.data.len() > 8, "a moof and an mdat");
        if p.ends_segment && i < last {
            assert!(
                segment.as_millis().abs_diff(u128::from(gop_ms)) <= 40,
                "segment {segment:?}"
            );
        }
    }
}

#[test]
fn parts_at_25_fps_are_six_frames_and_segments_follow_the_gop() {
    let mut s = PartSegmenter::new(Duration::from_secs(1), Duration::from_millis(250));
    let mut frames = configs(true, true);
    for i in 0..250u32 {
        frames.push(video(i * 40, i % 50 == 0));
        frames.push(audio(i * 40 + 3));
    }
    let (parts, inits) = parts_of(&mut s, &frames);
    assert_eq!(inits, 1);
    assert_eq!(s.part_target(), Some(Duration::from_millis(242)));
    assert_eq!(s.target_duration(), 2);
    check_parts(&parts, Duration::from_millis(242), 2000);
    assert_eq!(parts.iter().filter(|p| p.ends_segment).count(), 5);
    assert_eq!(parts.iter().filter(|p| p.starts_segment).count(), 5);
}

#[test]
fn parts_at_30_fps_with_millisecond_jitter_stay_within_the_target() {
    let mut s = PartSegmenter::new(Duration::from_secs(1), Duration::from_millis(250));
    let mut frames = configs(true, false);
    for i in 0..300u32 {
        // 33.33 ms, rounded to whole milliseconds as RTMP carries them.
        let dts = (f64::from(i) * 1000.0 / 30.0).round() as u32;
        frames.push(video(dts, i % 60 == 0));
    }
    let (parts, _) = parts_of(&mut s, &frames);
    let target = s.part_target().unwrap_or_default();
    assert!(
        (Duration::from_millis(230)..=Duration::from_millis(250)).contains(&target),
        "{target:?}"
    );
    check_parts(&parts, target, 2000);
}

#[test]
fn audio_only_is_cut_on_audio_time() {
    let mut s = PartSegmenter::new(Duration::from_secs(1), Duration::from_millis(250));
    let mut frames = configs(false, true);
    for i in 0..430u32 {
        frames.push(audio((f64::from(i) * 1024.0 * 1000.0 / 44_100.0).round() as u32));
    }
    let (parts, _) = parts_of(&mut s, &frames);
    let target = s.part_target().unwrap_or_default();
    assert!(parts.iter().all(|p| p.independent));
    check_parts(&parts, target, 1000);
}

#[test]
fn a_new_configuration_starts_a_segment_with_a_new_init_at_the_next_keyframe() {
    let mut s = PartSegmenter::new(Duration::from_secs(1), Duration::from_millis(250));
    let mut frames = configs(true, false);
    for i in 0..30u32 {
        frames.push(video(i * 40, i == 0));
    }
    frames.extend(configs(true, true).into_iter().skip(1)); // audio appears
    for i in 30..60u32 {
        frames.push(video(i * 40, i == 40));
    }
    let (parts, inits) = parts_of(&mut s, &frames);
    assert_eq!(inits, 2);
    let starts: Vec<i64> = parts
        .iter()
        .filter(|p| p.starts_segment)
        .map(|p| p.start_ms)
        .collect();
    assert_eq!(starts, [0, 1600]);
}

#[test]
fn a_gop_too_long_for_the_target_duration_is_cut_before_it_outgrows_it() {
    let mut s = PartSegmenter::new(Duration::from_secs(1), Duration::from_millis(250));
    let mut frames = configs(true, false);
    for i in 0..250u32 {
        frames.push(video(i * 40, i % 150 == 0)); // 6 s GOP
    }
    let (parts, _) = parts_of(&mut s, &frames);
    let mut segment = Duration::ZERO;
    for p in &parts {
        if p.starts_segment {
            segment = Duration::ZERO;
        }
        segment += p.duration;
        // Rounded EXTINF within TARGETDURATION (2).
        assert!(segment < Duration::from_millis(2500), "{segment:?}");
    }
    assert!(parts.iter().any(|p| p.starts_segment && !p.independent));
}

#[test]
fn frames_before_the_first_keyframe_are_dropped() {
    let mut s = PartSegmenter::new(Duration::from_secs(1), Duration::from_millis(250));
    let mut frames = configs(true, true);
    frames.extend([
        video(0, false),
        audio(10),
        video(40, true),
        audio(50),
        video(80, false),
    ]);
    let (parts, _) = parts_of(&mut s, &frames);
    assert_eq!(parts.len(), 1);
    assert_eq!(parts[0].start_ms, 40);
    // After the headers: the two video frames, then the audio frame.
    let mut tail = [0, 0, 0, 2, 0x41, 0x88].repeat(2);
    tail.extend([0x21; 10]);
    assert!(parts[0].data.ends_with(&tail));
}
