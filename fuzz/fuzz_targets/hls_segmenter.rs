//! The HLS remux core: an arbitrary sequence of media frames (configs,
//! AVCC access units with arbitrary NAL length prefixes, AAC frames,
//! arbitrary timestamps including wraps) through the segmenter and muxer,
//! and the segments into a live playlist. Checks the output is whole TS
//! packets with sync bytes.
#![no_main]

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use streamly_core::media::{AacConfig, AudioFrame, AvcConfig, MediaFrame, VideoFrame};
use streamly_hls::{LivePlaylist, PlaylistEntry, Segment, Segmenter};

/// An x264 AVCDecoderConfigurationRecord (320x240 High).
const AVC_RECORD: &[u8] = &[
    0x01, 0x64, 0x00, 0x0d, 0xff, 0xe1, 0x00, 0x19, 0x67, 0x64, 0x00, 0x0d, 0xac, 0xd9, 0x41, 0x41, 0xfb,
    0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0x20, 0xf1, 0x42, 0x99, 0x60, 0x01,
    0x00, 0x04, 0x68, 0xef, 0xbc, 0xb0, 0xfd, 0xf8, 0xf8, 0x00,
];

fn check(segment: &Segment, playlist: &mut LivePlaylist, n: &mut u64) {
    assert_eq!(segment.data.len() % 188, 0);
    assert!(segment.data.chunks(188).all(|p| p[0] == 0x47));
    *n += 1;
    playlist.push(PlaylistEntry {
        uri: format!("{n}.ts"),
        duration: segment.duration,
        discontinuity: segment.discontinuity,
        program_date_time: None,
    });
}

fuzz_target!(|data: &[u8]| {
    let Some((&head, mut rest)) = data.split_first() else {
        return;
    };
    let mut segmenter = Segmenter::new(Duration::from_millis(100 + u64::from(head) * 20));
    let mut playlist = LivePlaylist::live(usize::from(head % 8), Duration::from_secs(2));
    let mut ts = u32::MAX - 5_000 * u32::from(head & 1);
    let mut n = 0;
    while rest.len() >= 4 {
        let (op, step, len) = (
            rest[0],
            u16::from_be_bytes([rest[1], rest[2]]),
            usize::from(rest[3]) * 8,
        );
        rest = &rest[4..];
        let take = len.min(rest.len());
        let payload = Bytes::copy_from_slice(&rest[..take]);
        rest = &rest[take..];
        ts = ts
            .wrapping_add(u32::from(step))
            .wrapping_sub(u32::from(op & 0x80) * 4);
        let frame = match op % 6 {
            0 => match AvcConfig::parse(Bytes::from_static(AVC_RECORD)) {
                Ok(c) => MediaFrame::VideoConfig(Arc::new(c)),
                Err(_) => continue,
            },
            1 => match AacConfig::parse(if payload.len() >= 2 {
                payload
            } else {
                Bytes::from_static(&[0x12, 0x10])
            }) {
                Ok(c) => MediaFrame::AudioConfig(Arc::new(c)),
                Err(_) => continue,
            },
            2 | 3 => MediaFrame::Video(VideoFrame {
                dts: ts,
                composition_offset: i32::from(op >> 3) - 8,
                keyframe: op % 6 == 2,
                data: payload,
            }),
            _ => MediaFrame::Audio(AudioFrame {
                dts: ts,
                data: payload,
            }),
        };
        if let Ok(Some(segment)) = segmenter.push(&frame) {
            check(&segment, &mut playlist, &mut n);
        }
    }
    if let Some(segment) = segmenter.finish() {
        check(&segment, &mut playlist, &mut n);
    }
    playlist.end();
    let _ = playlist.render();
});
