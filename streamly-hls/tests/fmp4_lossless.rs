//! The fMP4 writer is lossless: ffmpeg decodes the same video and audio
//! frames from the source FLV and from init segment + one fragment per GOP,
//! with and without B-frames.

mod common;

use std::path::Path;

use bytes::Bytes;
use common::*;
use streamly_core::media::MediaFrame;
use streamly_hls::fmp4::{FragmentWriter, fragment_len, init_segment};

/// Writes the init segment and every GOP's fragment (header, then the
/// samples' bytes as they are) to `path`; returns the number of fragments.
fn write_fmp4(path: &Path, frames: &[MediaFrame]) -> usize {
    let (avc, aac, gops) = gops(frames);
    let mut file = init_segment(avc.as_deref(), aac.as_deref()).to_vec();
    let mut writer = FragmentWriter::new();
    for (i, gop) in gops.iter().enumerate() {
        let tracks = gop.tracks();
        let header = writer.write(i as u32 + 1, &tracks);
        let start = file.len();
        file.extend_from_slice(&header);
        for t in &tracks {
            for s in t.samples {
                file.extend_from_slice(&s.data);
            }
        }
        assert_eq!(file.len() - start, fragment_len(&header, &tracks));
    }
    std::fs::write(path, file).expect("write mp4");
    gops.len()
}

/// framemd5's (pts, hash) columns: the decoded frames and when they are shown.
fn pts_and_hashes(input: &str, map: &str) -> Vec<(String, String)> {
    let out = run(
        "ffmpeg",
        &["-v", "error", "-i", input, "-map", map, "-f", "framemd5", "-"],
    );
    out.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let cols: Vec<&str> = l.split(',').map(str::trim).collect();
            (cols[2].to_owned(), cols[cols.len() - 1].to_owned())
        })
        .collect()
}

/// Remuxes `source` to fMP4 and checks that ffmpeg decodes identical frames.
fn assert_lossless(source: &Path, dir: &Path) {
    let frames = frames(Bytes::from(std::fs::read(source).expect("source")));
    let out = dir.join("out.mp4");
    let fragments = write_fmp4(&out, &frames);
    assert_eq!(fragments, 5, "10 s of 2 s GOPs");
    let (src, mp4) = (source.to_str().expect("path"), out.to_str().expect("path"));

    let video_src = framemd5(src, &["-map", "0:v"]);
    assert_eq!(video_src.len(), 250);
    assert_eq!(
        video_src,
        framemd5(mp4, &["-map", "0:v"]),
        "decoded video differs"
    );
    // Presented at the same times, too (no edit list, no shift).
    assert_eq!(
        pts_and_hashes(src, "0:v"),
        pts_and_hashes(mp4, "0:v"),
        "video pts differ"
    );

    let audio_src = framemd5(src, &["-map", "0:a"]);
    assert!(audio_src.len() > 400, "{} audio frames", audio_src.len());
    assert_eq!(
        audio_src,
        framemd5(mp4, &["-map", "0:a"]),
        "decoded audio differs"
    );

    let streams = run(
        "ffprobe",
        &[
            "-v",
            "error",
            "-show_entries",
            "stream=codec_name,width,height",
            "-of",
            "csv=p=0",
            mp4,
        ],
    );
    assert!(streams.contains("h264,320,240"), "{streams}");
    assert!(streams.contains("aac"), "{streams}");
}

#[test]
fn decoded_video_and_audio_are_identical() {
    if !have_ffmpeg() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let source = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/av.flv"));
    assert_lossless(source, dir.path());
}

#[test]
fn decoded_frames_are_identical_with_three_b_frames() {
    if !have_libx264() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let source = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/av.flv");
    let flv = dir.path().join("bframes.flv");
    let flv_path = flv.to_str().expect("path");
    run(
        "ffmpeg",
        &[
            "-v", "error", "-i", source, "-c:v", "libx264", "-bf", "3", "-g", "50", "-c:a", "copy", "-f",
            "flv", flv_path,
        ],
    );
    assert_lossless(&flv, dir.path());
}
