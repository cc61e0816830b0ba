//! `StreamHealth::observe` allocates nothing per frame in steady state (its
//! windows are a fixed ring), measured with a counting global allocator.
//! One test in this binary: nothing else allocates while it measures.
#![allow(clippy::unwrap_used)]

use std::alloc::System;
use std::time::{Duration, Instant};

use bytes::Bytes;
use cap::Cap;
use streamly_core::media::{AudioFrame, HealthThresholds, MediaFrame, StreamHealth, VideoFrame};

#[global_allocator]
static ALLOCATOR: Cap<System> = Cap::new(System, usize::MAX);

#[test]
fn observe_allocates_nothing_per_frame() {
    let t0 = Instant::now();
    // 60 s of 25 fps video (GOP 2 s) and ~43 audio frames/s, built beforehand.
    let payload = Bytes::from(vec![0u8; 1500]);
    let mut frames = Vec::new();
    for i in 0..1500u32 {
        let video = MediaFrame::Video(VideoFrame {
            dts: i * 40,
            composition_offset: 0,
            keyframe: i % 50 == 0,
            data: payload.clone(),
        });
        frames.push((t0 + Duration::from_millis(u64::from(i) * 40), video));
        let audio = MediaFrame::Audio(AudioFrame {
            dts: i * 40 + 3,
            data: payload.slice(..186),
        });
        frames.push((t0 + Duration::from_millis(u64::from(i) * 40 + 3), audio));
    }
    let mut health = StreamHealth::new(t0);
    for (at, frame) in &frames[..100] {
        health.observe(frame, *at);
    }
    let before = ALLOCATOR.total_allocated();
    for (at, frame) in &frames[100..] {
        health.observe(frame, *at);
    }
    let allocated = ALLOCATOR.total_allocated() - before;
    assert_eq!(
        allocated,
        0,
        "{allocated} bytes allocated over {} frames",
        frames.len() - 100
    );
    // The figures are still right at the end.
    let report = health.snapshot(t0 + Duration::from_secs(60), &HealthThresholds::default());
    let video = report.video.unwrap();
    assert_eq!(video.fps, Some(25.0));
    assert_eq!(video.bitrate_kbps, Some(300.0));
}
