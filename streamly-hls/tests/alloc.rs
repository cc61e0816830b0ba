//! Zero heap allocations per frame in steady state, from the FLV tag (what
//! RTMP carries) to MPEG-TS bytes: `FlvTag::to_frame` and
//! `Segmenter::push` are both inside the counted region. Measured with a
//! counting global allocator. Alone in its binary: the count is global.
#![allow(clippy::unwrap_used)]

mod common;

use std::alloc::System;
use std::time::Duration;

use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use streamly_core::media::{FlvReader, FlvTag, FlvTagKind};
use streamly_hls::Segmenter;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// The fixture's tags replayed `rounds` times on one continuous timeline
/// (sequence headers and metadata only in the first round).
fn replay(rounds: u32) -> Vec<FlvTag> {
    let tags: Vec<FlvTag> = FlvReader::new(common::fixture())
        .unwrap()
        .map(|t| t.unwrap())
        .collect();
    let mut out = Vec::new();
    for r in 0..rounds {
        for t in &tags {
            // AVC/AAC sequence headers: packet type 0 in byte 1.
            let header = match t.kind {
                FlvTagKind::Video | FlvTagKind::Audio => t.body.get(1) == Some(&0),
                FlvTagKind::Script => true,
            };
            if r > 0 && header {
                continue;
            }
            let mut t = t.clone();
            t.timestamp += r * 10_000;
            out.push(t);
        }
    }
    out
}

#[test]
fn no_allocation_per_frame_in_steady_state() {
    let tags = replay(4);
    let mut segmenter = Segmenter::new(Duration::from_secs(2));
    // Warm up: the first round grows the buffers.
    let warm = tags.len() / 4;
    for t in &tags[..warm] {
        if let Some(frame) = t.to_frame().unwrap()
            && let Some(segment) = segmenter.push(&frame).unwrap()
        {
            segmenter.recycle(Vec::from(segment.data));
        }
    }
    let (mut frames_checked, mut segments, mut per_segment) = (0, 0, 0);
    for t in &tags[warm..] {
        let region = Region::new(GLOBAL);
        // (An end-of-sequence tag has no frame.)
        let closed = match t.to_frame().unwrap() {
            Some(frame) => segmenter.push(&frame).unwrap(),
            None => None,
        };
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
