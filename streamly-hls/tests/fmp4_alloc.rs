//! Writing fMP4 fragment headers allocates nothing per frame in steady
//! state: the `FragmentWriter` reuses one buffer, and samples are never
//! copied; and the `PartSegmenter` (frames to LL-HLS parts) allocates
//! nothing per frame, a bounded few per part. Measured with a counting
//! global allocator. The count is global, so the binary has one `#[test]`
//! running the checks in turn: with several tests, the harness's own
//! allocations (reporting one test, starting the next) land in another
//! test's counted region.
#![allow(clippy::unwrap_used)]

mod common;

use std::alloc::System;
use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use streamly_core::media::{FlvReader, FlvTag, FlvTagKind};
use streamly_hls::fmp4::{FragmentWriter, TrackFragment};
use streamly_hls::{DEFAULT_PART_TARGET, Part, PartEvent, PartSegmenter};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Fragments written per check: the fixture's 5 GOPs, 40 times over, on one
/// continuous timeline.
const ROUNDS: u64 = 40;
/// Fragments written before counting: the first ones size the buffer.
const WARM_UP: usize = 10;

/// Writes every GOP `ROUNDS` times, handing each header to `sent`; returns
/// (frames after warm-up, fragments after warm-up, allocations after warm-up,
/// most allocations in one fragment).
fn write_all(mut sent: impl FnMut(Bytes)) -> (usize, usize, u64, u64) {
    let (_, _, gops) = common::gops(&common::frames(common::fixture()));
    let mut writer = FragmentWriter::new();
    let (mut frames, mut fragments, mut total, mut most) = (0, 0, 0, 0);
    let mut sequence = 0u32;
    for round in 0..ROUNDS {
        for gop in &gops {
            // Shift the timeline by 10 s per round, as a long publish would.
            let [mut video, mut audio]: [TrackFragment<'_>; 2] = gop.tracks();
            video.base_media_decode_time += round * 10 * 90_000;
            audio.base_media_decode_time += round * 10 * 44_100;
            sequence += 1;

            let region = Region::new(GLOBAL);
            let header = writer.write(sequence, &[video, audio]);
            let stats = region.change();
            if sequence as usize > WARM_UP {
                let allocations = (stats.allocations + stats.reallocations) as u64;
                total += allocations;
                most = most.max(allocations);
                frames += gop.video.len() + gop.audio.len();
                fragments += 1;
            }
            sent(header);
        }
    }
    (frames, fragments, total, most)
}

fn sent_headers_leave_the_buffer_to_be_reused() {
    // The header is sent (then dropped) before the next fragment is written.
    let (frames, fragments, total, _) = write_all(drop);
    assert_eq!(fragments, 190);
    assert!(frames > 25_000, "{frames} frames");
    assert_eq!(total, 0, "{total} allocations for {fragments} fragments");
}

fn held_headers_cost_a_new_buffer_every_few_fragments() {
    // A segment window keeps every header alive (reserved up front: the
    // Vec's growth is not the writer's).
    let mut held = Vec::with_capacity(1024);
    let (_, fragments, total, most) = write_all(|h| held.push(h));
    eprintln!("held headers: {total} allocations in {fragments} fragments, at most {most} in one");
    // When the buffer is full a new one is allocated (the memory and the
    // shared header of `bytes`), and it holds several headers.
    assert!(most <= 2, "{most} allocations in one fragment");
    assert!(
        total <= fragments as u64 / 2,
        "{total} allocations for {fragments} fragments"
    );
    assert_eq!(held.len(), 200);
}

/// The fixture's tags replayed `rounds` times on one continuous timeline
/// (sequence headers and metadata only in the first round), as a long
/// publish sends them.
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

/// Frames to LL-HLS parts (the live path's `PartSegmenter`, defaults: 1 s
/// segments, 250 ms parts), from the FLV tag on: `FlvTag::to_frame` and
/// `PartSegmenter::push` are inside the counted region. A frame that closes
/// no part allocates nothing; one that closes a part allocates a bounded
/// few (the part's chunk list, the `tracks` list of the fragment, now and
/// then a new header buffer), while the window holds the parts of the last
/// ten segments, as the live window does.
fn part_segmenter_allocates_nothing_per_frame() {
    let tags = replay(6);
    let mut segmenter = PartSegmenter::new(Duration::from_secs(1), DEFAULT_PART_TARGET);
    let mut events: Vec<PartEvent> = Vec::with_capacity(8);
    // The window: every part of the last ten segments (reserved up front,
    // its growth is not the segmenter's).
    const HELD_SEGMENTS: usize = 10;
    let mut held: VecDeque<Part> = VecDeque::with_capacity(1024);
    let mut segments_held = 0;
    let mut keep = |events: &mut Vec<PartEvent>, held: &mut VecDeque<Part>| {
        for event in events.drain(..) {
            if let PartEvent::Part(part) = event {
                let ends = part.ends_segment;
                held.push_back(part);
                if ends {
                    segments_held += 1;
                    while segments_held > HELD_SEGMENTS {
                        // Drop the oldest segment's parts.
                        while let Some(p) = held.pop_front() {
                            if p.ends_segment {
                                break;
                            }
                        }
                        segments_held -= 1;
                    }
                }
            }
        }
    };
    // Warm up: the first two rounds grow the buffers.
    let warm = tags.len() / 3;
    for t in &tags[..warm] {
        if let Some(frame) = t.to_frame().unwrap() {
            segmenter.push(&frame, &mut events).unwrap();
        }
        keep(&mut events, &mut held);
    }
    let (mut frames, mut parts, mut part_allocations, mut most) = (0usize, 0usize, 0usize, 0usize);
    for t in &tags[warm..] {
        let region = Region::new(GLOBAL);
        if let Some(frame) = t.to_frame().unwrap() {
            segmenter.push(&frame, &mut events).unwrap();
        }
        let stats = region.change();
        let allocations = stats.allocations + stats.reallocations;
        let closed = events.iter().filter(|e| matches!(e, PartEvent::Part(_))).count();
        match closed {
            0 => {
                assert_eq!(
                    allocations, 0,
                    "frame {frames} (tag at {} ms) allocated",
                    t.timestamp
                );
                frames += 1;
            }
            n => {
                parts += n;
                part_allocations += allocations;
                most = most.max(allocations / n);
            }
        }
        keep(&mut events, &mut held);
    }
    eprintln!(
        "PartSegmenter: {frames} frames closing no part allocated nothing; \
         {parts} parts: {part_allocations} allocations, at most {most} for one"
    );
    assert!(frames > 2000, "{frames} frames checked");
    // 4 rounds of 10 s in 250 ms parts (a segment's last may be shorter).
    assert!((150..=210).contains(&parts), "{parts} parts");
    // Now and then a new part arena (64 KiB: memory and shared header) and
    // a new 16 KiB header buffer: at most 2 + 2 for one part, and far
    // fewer than one per part on average.
    assert!(most <= 4, "{most} allocations for one part");
    assert!(
        part_allocations <= parts,
        "{part_allocations} allocations for {parts} parts"
    );
}

#[test]
fn steady_state_allocations() {
    sent_headers_leave_the_buffer_to_be_reused();
    held_headers_cost_a_new_buffer_every_few_fragments();
    part_segmenter_allocates_nothing_per_frame();
}
