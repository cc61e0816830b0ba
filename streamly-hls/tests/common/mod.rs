//! Helpers shared by the integration tests.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use streamly_core::media::{FlvReader, MediaFrame};
use streamly_hls::{LivePlaylist, PlaylistEntry, Segment, Segmenter};

/// The committed fixture.
pub fn fixture() -> Bytes {
    Bytes::from(std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/av.flv")).expect("fixture"))
}

/// Its frames, in file order.
pub fn frames(flv: Bytes) -> Vec<MediaFrame> {
    FlvReader::new(flv)
        .expect("flv header")
        .filter_map(|t| t.expect("tag").to_frame().expect("frame"))
        .collect()
}

/// Remuxes frames into segments (sans-IO).
pub fn segments(frames: &[MediaFrame], target: Duration) -> Vec<Segment> {
    let mut s = Segmenter::new(target);
    let mut out: Vec<Segment> = frames.iter().filter_map(|f| s.push(f).expect("mux")).collect();
    out.extend(s.finish());
    out
}

/// Writes segments and a VOD playlist into `dir`; returns the playlist path.
pub fn write_vod(dir: &Path, segments: &[Segment], target: Duration) -> PathBuf {
    let mut playlist = LivePlaylist::vod(target);
    for (i, seg) in segments.iter().enumerate() {
        let uri = format!("{i}.ts");
        std::fs::write(dir.join(&uri), &seg.data).expect("write segment");
        playlist.push(PlaylistEntry {
            uri,
            duration: seg.duration,
            discontinuity: false,
            program_date_time: None,
        });
    }
    playlist.end();
    let path = dir.join("index.m3u8");
    std::fs::write(&path, playlist.render()).expect("write playlist");
    path
}

/// Whether ffmpeg and ffprobe are on PATH; prints why a test skips if not.
pub fn have_ffmpeg() -> bool {
    let ok = ["ffmpeg", "ffprobe"].iter().all(|t| {
        Command::new(t)
            .arg("-version")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if !ok {
        eprintln!("skipping: ffmpeg/ffprobe not on PATH");
    }
    ok
}

/// Runs a tool and returns its stdout, failing the test on error.
pub fn run(tool: &str, args: &[&str]) -> String {
    let out = Command::new(tool).args(args).output().expect("spawn tool");
    assert!(
        out.status.success(),
        "{tool} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// The hash column of `ffmpeg -f framemd5` output for `input`, with extra
/// ffmpeg arguments (stream selection, codec).
pub fn framemd5(input: &str, args: &[&str]) -> Vec<String> {
    let mut all = vec!["-v", "error", "-i", input];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-f", "framemd5", "-"]);
    run("ffmpeg", &all)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit(',').next().map(|h| h.trim().to_owned()))
        .collect()
}
