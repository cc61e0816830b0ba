//! Writing fMP4 fragment headers allocates nothing per frame in steady
//! state: the `FragmentWriter` reuses one buffer, and samples are never
//! copied. Measured with a counting global allocator; alone in its binary
//! (the count is global, so the tests here run one after the other under a
//! lock).
#![allow(clippy::unwrap_used)]

mod common;

use std::alloc::System;
use std::sync::Mutex;

use bytes::Bytes;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use streamly_hls::fmp4::{FragmentWriter, TrackFragment};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// One counted region at a time: the tests share the global count.
static SERIAL: Mutex<()> = Mutex::new(());

/// Fragments written per test: the fixture's 5 GOPs, 40 times over, on one
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

#[test]
fn sent_headers_leave_the_buffer_to_be_reused() {
    let _serial = SERIAL.lock().unwrap();
    // The header is sent (then dropped) before the next fragment is written.
    let (frames, fragments, total, _) = write_all(drop);
    assert_eq!(fragments, 190);
    assert!(frames > 25_000, "{frames} frames");
    assert_eq!(total, 0, "{total} allocations for {fragments} fragments");
}

#[test]
fn held_headers_cost_a_new_buffer_every_few_fragments() {
    let _serial = SERIAL.lock().unwrap();
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
