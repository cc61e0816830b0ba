//! Heap allocations per media message in steady state, from RTMP chunk
//! bytes to media frames: the chunk decoder, the session and the FLV tag
//! parsers are all inside the counted region. The fixture's messages are
//! chunked at 4096 bytes (what ffmpeg and OBS announce), audio interleaved
//! into multi-chunk video as encoders do. Measured with a counting global
//! allocator; alone in its binary (the count is global) and one `#[test]`
//! (tests in one binary run in parallel).
#![allow(clippy::unwrap_used)]

mod common;

use std::alloc::System;
use std::collections::VecDeque;

use bytes::BytesMut;
use common::*;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use streamly_core::media::{FlvTagKind, MediaFrame, parse_audio_tag, parse_video_tag};
use streamly_rtmp::chunk::RtmpMessage;
use streamly_rtmp::{IngestSession, SessionConfig, SessionEvent};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const CHUNK_SIZE: u32 = 4096;

/// One media message's chunk bytes and whether it spans several chunks.
struct Wire {
    bytes: Vec<u8>,
    multi: bool,
}

/// The fixture's media messages replayed `rounds` times on one timeline
/// (sequence headers only in the first round), each encoded to chunks.
fn wire(p: &mut Publisher, rounds: u32) -> Vec<Wire> {
    let tags = fixture_tags();
    let mut out = Vec::new();
    for r in 0..rounds {
        for t in &tags {
            let (csid, type_id) = match t.kind {
                FlvTagKind::Audio => (4, 8),
                FlvTagKind::Video => (6, 9),
                FlvTagKind::Script => continue,
            };
            if r > 0 && t.body.get(1) == Some(&0) {
                continue;
            }
            let msg = RtmpMessage {
                csid,
                timestamp: t.timestamp + r * 10_000,
                type_id,
                stream_id: 1,
                payload: t.body.clone(),
            };
            let chunks = p.enc.encode_chunks(&msg).unwrap();
            out.push(Wire {
                multi: chunks.len() > 1,
                bytes: chunks.concat(),
            });
        }
    }
    out
}

/// A publishing session, past the handshake and commands, chunk size 4096.
fn publishing(p: &mut Publisher) -> IngestSession {
    let config = SessionConfig {
        // Acknowledgements (one small message per window) stay out of the
        // counted region: they are per 2.5 MB, not per message.
        window_ack_size: u32::MAX,
        ..SessionConfig::default()
    };
    let mut s = IngestSession::new(config, 7, std::time::Instant::now());
    let mut bytes = c0c1();
    bytes.extend(c2());
    bytes.extend(p.publish_commands("live", KEY));
    bytes.extend(p.set_chunk_size(CHUNK_SIZE));
    s.handle_input(&bytes, std::time::Instant::now()).unwrap();
    while s.poll_event().is_some() {}
    s.accept_publish();
    let _ = s.take_output();
    s
}

/// Drains the session's events into media frames, kept in `held` (a
/// stand-in for the hub's GOP cache: the last `cap` frames stay alive).
fn frames(s: &mut IngestSession, held: &mut VecDeque<MediaFrame>, cap: usize) -> usize {
    let mut n = 0;
    while let Some(event) = s.poll_event() {
        let frame = match event {
            SessionEvent::Video { timestamp, body } => parse_video_tag(timestamp, &body),
            SessionEvent::Audio { timestamp, body } => parse_audio_tag(timestamp, &body),
            _ => continue,
        };
        if let Some(f) = frame.unwrap() {
            if held.len() == cap {
                held.pop_front();
            }
            held.push_back(f);
        }
        n += 1;
    }
    n
}

#[test]
fn allocations_per_message_from_chunk_bytes() {
    // 1. Per message: each message's chunk bytes appended to the session's
    //    input (reserved once up front, so appending never allocates) and
    //    processed into frames inside its own counted region.
    let mut p = Publisher::new();
    let mut s = publishing(&mut p);
    let messages = wire(&mut p, 4);
    let total: usize = messages.iter().map(|w| w.bytes.len()).sum();
    s.input_buffer().reserve(total);
    let mut held = VecDeque::with_capacity(256);
    let warm = messages.len() / 4;
    for w in &messages[..warm] {
        s.input_buffer().extend_from_slice(&w.bytes);
        s.process_input(std::time::Instant::now()).unwrap();
        frames(&mut s, &mut held, 256);
    }
    let (mut single, mut multi, mut worst_single, mut worst_multi) = (0u64, 0u64, 0, 0);
    for w in &messages[warm..] {
        let region = Region::new(GLOBAL);
        s.input_buffer().extend_from_slice(&w.bytes);
        s.process_input(std::time::Instant::now()).unwrap();
        let n = frames(&mut s, &mut held, 256);
        let stats = region.change();
        let allocations = stats.allocations + stats.reallocations;
        assert_eq!(n, 1, "one frame per message");
        if w.multi {
            multi += 1;
            worst_multi = worst_multi.max(allocations);
        } else {
            single += 1;
            worst_single = worst_single.max(allocations);
        }
    }
    eprintln!(
        "per message: {single} single-chunk (worst {worst_single} allocations), \
         {multi} multi-chunk (worst {worst_multi})"
    );
    assert!(single > 1000 && multi > 10, "{single} single, {multi} multi");
    assert_eq!(worst_single, 0, "a single-chunk message allocated");
    // Its buffer, allocated once at the declared length, and the reference
    // count `Bytes` allocates when the tag parser first slices a buffer
    // that was built as a `Vec`.
    assert!(
        worst_multi <= 2,
        "a multi-chunk message allocated {worst_multi} times"
    );

    // 2. As the glue reads: 1448-byte reads (one TCP segment) into 64 KiB
    //    blocks reserved when less than 16 KiB is free, frames held as a GOP
    //    cache would. Each block costs its buffer and its shared header.
    let mut p = Publisher::new();
    let mut s = publishing(&mut p);
    let messages = wire(&mut p, 4);
    let (warm, steady) = messages.split_at(messages.len() / 4);
    let multi_steady = steady.iter().filter(|w| w.multi).count();
    let warm: Vec<u8> = warm.iter().flat_map(|w| w.bytes.clone()).collect();
    let steady: Vec<u8> = steady.iter().flat_map(|w| w.bytes.clone()).collect();
    let mut held = VecDeque::with_capacity(256);
    let read = |s: &mut IngestSession, held: &mut VecDeque<MediaFrame>, data: &[u8]| {
        let mut blocks = 0;
        let mut n = 0;
        for piece in data.chunks(1448) {
            let input: &mut BytesMut = s.input_buffer();
            if input.capacity() - input.len() < 16 * 1024 {
                input.reserve(64 * 1024);
                blocks += 1;
            }
            input.extend_from_slice(piece);
            s.process_input(std::time::Instant::now()).unwrap();
            n += frames(s, held, 256);
        }
        (blocks, n)
    };
    read(&mut s, &mut held, &warm);
    let region = Region::new(GLOBAL);
    let (blocks, n) = read(&mut s, &mut held, &steady);
    let stats = region.change();
    let allocations = stats.allocations + stats.reallocations;
    eprintln!(
        "as read: {} bytes, {n} messages ({multi_steady} multi-chunk), {blocks} blocks: \
         {allocations} allocations, {:.3} per message",
        steady.len(),
        allocations as f64 / n as f64
    );
    assert!(
        allocations <= 2 * multi_steady + 2 * blocks,
        "{allocations} allocations for {multi_steady} multi-chunk messages and {blocks} blocks"
    );
}
