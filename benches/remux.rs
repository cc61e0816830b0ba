//! The remux core's speed: FLV tags → MPEG-TS segments in memory.
//!
//! - `remux/frames_to_ts`: parsed media frames through the segmenter (the
//!   live path: RTMP hands over frames).
//! - `remux/flv_to_ts`: FLV file bytes → tags → frames → segments (the
//!   offline path of `examples/remux`).
//! - `remux/frames_to_fmp4_parts`: the same frames through the
//!   `PartSegmenter` (LL-HLS parts as fMP4 fragments, 1 s segments, 250 ms
//!   parts: the live path's defaults), each part laid out contiguously
//!   (one copy of every payload byte, as the TS muxer does).
//! - `peer/ffmpeg_copy_mpegts`: `ffmpeg -c copy -f mpegts` on the same file,
//!   for comparison in the same run (a whole process, so it includes
//!   ffmpeg's start-up; skipped when ffmpeg is missing).
//!
//! Input: `testdata/av.flv`, or the file named by `STREAMLY_BENCH_FLV` (see
//! docs/performance.md for the 10-minute 720p file). Throughput is in FLV
//! input bytes.

use std::hint::black_box;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use streamly::core::media::{FlvReader, MediaFrame};
use streamly::hls::{DEFAULT_PART_TARGET, PartEvent, PartSegmenter, Segmenter};

fn input() -> PathBuf {
    std::env::var_os("STREAMLY_BENCH_FLV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/av.flv")))
}

fn remux_frames(frames: &[MediaFrame]) -> usize {
    let mut segmenter = Segmenter::new(Duration::from_secs(2));
    let mut out = 0;
    for f in frames {
        if let Ok(Some(s)) = segmenter.push(f) {
            out += s.data.len();
        }
    }
    out + segmenter.finish().map_or(0, |s| s.data.len())
}

/// Frames through the `PartSegmenter`: the bytes of the parts it made.
fn remux_frames_fmp4(frames: &[MediaFrame]) -> usize {
    let mut segmenter = PartSegmenter::new(Duration::from_secs(1), DEFAULT_PART_TARGET);
    let mut events = Vec::new();
    let mut out = 0;
    let mut count = |events: &mut Vec<PartEvent>| {
        for event in events.drain(..) {
            out += match event {
                PartEvent::Init(init) => init.len(),
                PartEvent::Part(part) => part.data.len(),
            };
        }
    };
    for f in frames {
        // A refused frame (none in these inputs) is skipped, as the live path does.
        let _ = segmenter.push(f, &mut events);
        count(&mut events);
    }
    segmenter.finish(&mut events);
    count(&mut events);
    out
}

fn remux_flv(data: &Bytes) -> usize {
    let mut segmenter = Segmenter::new(Duration::from_secs(2));
    let mut out = 0;
    let Ok(reader) = FlvReader::new(data.clone()) else {
        return 0;
    };
    for tag in reader.flatten() {
        if let Ok(Some(frame)) = tag.to_frame()
            && let Ok(Some(s)) = segmenter.push(&frame)
        {
            out += s.data.len();
        }
    }
    out + segmenter.finish().map_or(0, |s| s.data.len())
}

fn bench(c: &mut Criterion) {
    let path = input();
    let data = match std::fs::read(&path) {
        Ok(d) => Bytes::from(d),
        Err(e) => {
            eprintln!("cannot read {}: {e}", path.display());
            return;
        }
    };
    let frames: Vec<MediaFrame> = FlvReader::new(data.clone())
        .map(|r| r.flatten().filter_map(|t| t.to_frame().ok().flatten()).collect())
        .unwrap_or_default();

    let media = frames
        .iter()
        .filter(|f| matches!(f, MediaFrame::Video(_) | MediaFrame::Audio(_)))
        .count();
    eprintln!(
        "input {} bytes, {media} media frames; output: TS {} bytes, fMP4 parts {} bytes",
        data.len(),
        remux_frames(&frames),
        remux_frames_fmp4(&frames)
    );
    let mut group = c.benchmark_group("remux");
    group.throughput(Throughput::Bytes(data.len() as u64));
    group.bench_function("frames_to_ts", |b| {
        b.iter(|| black_box(remux_frames(black_box(&frames))))
    });
    group.bench_function("flv_to_ts", |b| b.iter(|| black_box(remux_flv(black_box(&data)))));
    group.bench_function("frames_to_fmp4_parts", |b| {
        b.iter(|| black_box(remux_frames_fmp4(black_box(&frames))))
    });
    group.finish();

    let ffmpeg_ok = Command::new("ffmpeg")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ffmpeg_ok {
        eprintln!("ffmpeg not on PATH: skipping the peer comparison");
        return;
    }
    let mut group = c.benchmark_group("peer");
    group.throughput(Throughput::Bytes(data.len() as u64));
    group.sample_size(10);
    group.bench_function("ffmpeg_copy_mpegts", |b| {
        b.iter(|| {
            let status = Command::new("ffmpeg")
                .args(["-v", "error", "-i"])
                .arg(&path)
                .args(["-c", "copy", "-f", "mpegts", "-y", "/dev/null"])
                .stdin(Stdio::null())
                .status();
            black_box(status.is_ok_and(|s| s.success()))
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
