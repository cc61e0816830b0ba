//! The RTMP ingest byte path: chunk bytes → messages (`ChunkDecoder`), and
//! chunk bytes → media frames (`IngestSession` + the FLV tag parsers).
//!
//! Input: the fixture's audio and video messages (`testdata/av.flv`, or the
//! file named by `STREAMLY_BENCH_FLV`) chunked at 4096 bytes (what ffmpeg
//! and OBS announce) and at the default 128, fed in 1448-byte reads (one
//! TCP segment) as the glue does. Throughput is in chunk stream bytes.

use std::hint::black_box;
use std::path::PathBuf;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use streamly::core::media::{FlvReader, FlvTagKind};
use streamly::rtmp::chunk::{ChunkDecoder, ChunkEncoder, ChunkLimits, RtmpMessage, TYPE_SET_CHUNK_SIZE};

fn input() -> PathBuf {
    std::env::var_os("STREAMLY_BENCH_FLV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/av.flv")))
}

/// The fixture's media messages as one chunk stream at `chunk_size`.
fn chunk_bytes(chunk_size: u32) -> Vec<u8> {
    let data = Bytes::from(std::fs::read(input()).expect("bench input"));
    let mut enc = ChunkEncoder::new();
    let mut out = Vec::new();
    let scs = RtmpMessage {
        csid: 2,
        timestamp: 0,
        type_id: TYPE_SET_CHUNK_SIZE,
        stream_id: 0,
        payload: Bytes::copy_from_slice(&chunk_size.to_be_bytes()),
    };
    enc.encode(&scs, &mut out).expect("encodes");
    enc.set_chunk_size(chunk_size);
    for tag in FlvReader::new(data).expect("FLV") {
        let tag = tag.expect("tag");
        let (csid, type_id) = match tag.kind {
            FlvTagKind::Audio => (4, 8),
            FlvTagKind::Video => (6, 9),
            FlvTagKind::Script => continue,
        };
        let msg = RtmpMessage {
            csid,
            timestamp: tag.timestamp,
            type_id,
            stream_id: 1,
            payload: tag.body,
        };
        enc.encode(&msg, &mut out).expect("encodes");
    }
    out
}

/// Decodes `bytes` in 1448-byte reads; returns the payload bytes seen.
fn decode(bytes: &[u8]) -> usize {
    let mut dec = ChunkDecoder::new(ChunkLimits::default());
    let mut n = 0;
    for read in bytes.chunks(1448) {
        dec.push(read);
        while let Ok(Some(m)) = dec.next_message() {
            n += black_box(m.payload).len();
        }
    }
    n
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("rtmp");
    for chunk_size in [4096u32, 128] {
        let bytes = chunk_bytes(chunk_size);
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(format!("chunk_bytes_to_messages/{chunk_size}"), |b| {
            b.iter(|| decode(black_box(&bytes)))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
