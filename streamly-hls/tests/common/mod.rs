//! Helpers shared by the integration tests.
#![allow(dead_code, clippy::unwrap_used)]

pub mod ll_hls;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use streamly_core::media::{AacConfig, AvcConfig, FlvReader, MediaFrame};
use streamly_hls::fmp4::{AUDIO_TRACK_ID, Fmp4Sample, TrackFragment, VIDEO_TRACK_ID};
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

/// Whether the tests run in CI (`CI=true`), where a missing tool is a failure.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Skips a test that lacks a tool: prints why and returns `false`, or fails
/// under `CI=true`, where every tool must be installed.
pub fn skip(reason: &str) -> bool {
    assert!(!in_ci(), "CI=true and {reason}");
    eprintln!("skipping: {reason}");
    false
}

/// Whether ffmpeg and ffprobe are on PATH; prints why a test skips if not
/// (and panics instead under `CI=true`).
pub fn have_ffmpeg() -> bool {
    let ok = ["ffmpeg", "ffprobe"].iter().all(|t| {
        Command::new(t)
            .arg("-version")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    ok || skip("ffmpeg/ffprobe not on PATH")
}

/// Whether ffmpeg can encode with libx264 (to generate B-frame fixtures);
/// skips like [`have_ffmpeg`].
pub fn have_libx264() -> bool {
    if !have_ffmpeg() {
        return false;
    }
    let ok = Command::new("ffmpeg")
        .args(["-hide_banner", "-encoders"])
        .output()
        .is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).contains("libx264"));
    ok || skip("ffmpeg has no libx264 encoder")
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

/// One fragment's worth of samples: a GOP of video and the audio frames
/// that arrive with it, timed as the fMP4 tracks are.
#[derive(Debug, Default)]
pub struct Gop {
    pub video: Vec<Fmp4Sample>,
    pub audio: Vec<Fmp4Sample>,
    /// Video `tfdt`: the first DTS in 90 kHz units.
    pub video_base: u64,
    /// Audio `tfdt`: the first frame's DTS in samples.
    pub audio_base: u64,
}

impl Gop {
    /// The fragment's tracks, video first.
    pub fn tracks(&self) -> [TrackFragment<'_>; 2] {
        [
            TrackFragment {
                track_id: VIDEO_TRACK_ID,
                base_media_decode_time: self.video_base,
                samples: &self.video,
            },
            TrackFragment {
                track_id: AUDIO_TRACK_ID,
                base_media_decode_time: self.audio_base,
                samples: &self.audio,
            },
        ]
    }
}

/// AAC frames are 1024 samples long.
pub const AAC_FRAME_SAMPLES: u32 = 1024;

/// Cuts frames into one fragment per GOP (a new one at each video keyframe)
/// with the first video and audio configurations. Timestamps stay as in the
/// source: a video sample lasts until the next video DTS (the last one as
/// long as the one before), its composition offset is the FLV's, both
/// scaled from milliseconds to 90 kHz.
pub fn gops(frames: &[MediaFrame]) -> (Option<Arc<AvcConfig>>, Option<Arc<AacConfig>>, Vec<Gop>) {
    let avc = frames.iter().find_map(|f| match f {
        MediaFrame::VideoConfig(c) => Some(c.clone()),
        _ => None,
    });
    let aac = frames.iter().find_map(|f| match f {
        MediaFrame::AudioConfig(c) => Some(c.clone()),
        _ => None,
    });
    let rate = u64::from(aac.as_ref().map_or(48_000, |c| c.sample_rate));
    let video_dts: Vec<u32> = frames
        .iter()
        .filter_map(|f| match f {
            MediaFrame::Video(v) => Some(v.dts),
            _ => None,
        })
        .collect();
    let duration = |i: usize| {
        let ms = match (video_dts.get(i), video_dts.get(i + 1)) {
            (Some(a), Some(b)) => b - a,
            _ if i > 0 => video_dts[i] - video_dts[i - 1],
            _ => 40,
        };
        ms * 90
    };

    let mut out: Vec<Gop> = Vec::new();
    let mut video_index = 0;
    for f in frames {
        match f {
            MediaFrame::Video(v) => {
                if out.is_empty() || (v.keyframe && !out.last().unwrap().video.is_empty()) {
                    out.push(Gop::default());
                }
                let gop = out.last_mut().unwrap();
                if gop.video.is_empty() {
                    gop.video_base = u64::from(v.dts) * 90;
                }
                gop.video.push(Fmp4Sample {
                    duration: duration(video_index),
                    composition_offset: v.composition_offset * 90,
                    keyframe: v.keyframe,
                    data: v.data.clone(),
                });
                video_index += 1;
            }
            MediaFrame::Audio(a) => {
                if out.is_empty() {
                    out.push(Gop::default());
                }
                let gop = out.last_mut().unwrap();
                if gop.audio.is_empty() {
                    gop.audio_base = (u64::from(a.dts) * rate + 500) / 1000;
                }
                gop.audio.push(Fmp4Sample {
                    duration: AAC_FRAME_SAMPLES,
                    composition_offset: 0,
                    keyframe: true,
                    data: a.data.clone(),
                });
            }
            _ => {}
        }
    }
    (avc, aac, out)
}
