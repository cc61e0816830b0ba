//! Zero heap allocations per frame in steady state, measured with a
//! counting global allocator. Alone in its binary: the count is global.
#![allow(clippy::unwrap_used)]

mod common;

use std::alloc::System;
use std::time::Duration;

use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use streamly_core::media::MediaFrame;
use streamly_hls::Segmenter;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// The fixture replayed `rounds` times on one continuous timeline.
fn replay(rounds: u32) -> Vec<MediaFrame> {
    let frames = common::frames(common::fixture());
    let mut out = Vec::new();
    for r in 0..rounds {
        let shift = r * 10_000;
        for f in &frames {
            out.push(match f {
                MediaFrame::Video(v) => {
                    let mut v = v.clone();
                    v.dts += shift;
                    MediaFrame::Video(v)
                }
                MediaFrame::Audio(a) => {
                    let mut a = a.clone();
                    a.dts += shift;
                    MediaFrame::Audio(a)
                }
                other if r == 0 => other.clone(),
                _ => continue,
            });
        }
    }
    out
}

#[test]
fn no_allocation_per_frame_in_steady_state() {
    let frames = replay(4);
    let mut segmenter = Segmenter::new(Duration::from_secs(2));
    // Warm up: the first round grows the buffers.
    let warm = frames.len() / 4;
    for f in &frames[..warm] {
        if let Some(segment) = segmenter.push(f).unwrap() {
            segmenter.recycle(Vec::from(segment.data));
        }
    }
    let (mut frames_checked, mut segments, mut per_segment) = (0, 0, 0);
    for f in &frames[warm..] {
        let region = Region::new(GLOBAL);
        let closed = segmenter.push(f).unwrap();
        let allocations = region.change().allocations + region.change().reallocations;
        match closed {
            None => {
                assert_eq!(allocations, 0, "frame {frames_checked} allocated");
                frames_checked += 1;
            }
            Some(segment) => {
                segments += 1;
                per_segment = per_segment.max(allocations);
                // Written out: hand the buffer back, as examples/remux does.
                segmenter.recycle(Vec::from(segment.data));
            }
        }
    }
    assert!(frames_checked > 1500, "{frames_checked} frames checked");
    assert_eq!(segments, 15);
    // With recycled buffers, only the `Bytes` header that hands a segment out.
    assert!(per_segment <= 1, "{per_segment} allocations per segment");
}
