//! Remuxing is lossless: ffmpeg decodes the same frames from the source FLV
//! and from our HLS output.

mod common;

use std::time::Duration;

use common::*;

#[test]
fn decoded_video_and_audio_are_identical() {
    if !have_ffmpeg() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let target = Duration::from_secs(2);
    let segs = segments(&frames(fixture()), target);
    let playlist = write_vod(dir.path(), &segs, target);
    let source = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/av.flv");
    let hls = playlist.to_str().expect("utf-8 path");

    let video_src = framemd5(source, &["-map", "0:v"]);
    let video_hls = framemd5(hls, &["-map", "0:v"]);
    assert_eq!(video_src.len(), 250);
    assert_eq!(video_src, video_hls, "decoded video differs");

    let audio_src = framemd5(source, &["-map", "0:a"]);
    let audio_hls = framemd5(hls, &["-map", "0:a"]);
    assert!(audio_src.len() > 400, "{} audio frames", audio_src.len());
    assert_eq!(audio_src, audio_hls, "decoded audio differs");
}

#[test]
fn ffprobe_reads_the_playlist_and_segments_follow_the_gop() {
    if !have_ffmpeg() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let target = Duration::from_secs(2);
    let segs = segments(&frames(fixture()), target);
    assert_eq!(segs.len(), 5);
    for s in &segs[..4] {
        assert_eq!(s.duration, Duration::from_secs(2), "GOP is 2 s");
    }
    // The last one runs to the end of the last (audio) frame.
    let last = segs[4].duration.as_secs_f64();
    assert!((2.0..2.2).contains(&last), "last segment {last} s");
    assert!(segs.iter().all(|s| s.has_video && s.has_audio));
    let playlist = write_vod(dir.path(), &segs, target);
    let streams = run(
        "ffprobe",
        &[
            "-v",
            "error",
            "-show_entries",
            "stream=codec_name,width,height",
            "-of",
            "csv=p=0",
            playlist.to_str().expect("path"),
        ],
    );
    assert!(streams.contains("h264,320,240"), "{streams}");
    assert!(streams.contains("aac"), "{streams}");
    let duration = run(
        "ffprobe",
        &[
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
            playlist.to_str().expect("path"),
        ],
    );
    let secs: f64 = duration.trim().parse().expect("duration");
    assert!((secs - 10.0).abs() < 0.2, "duration {secs}");
}
