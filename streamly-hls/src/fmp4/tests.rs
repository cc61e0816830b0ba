//! The writer's output read back with a small independent box walker: every
//! box's size must nest exactly in its parent's, and the fields must say
//! what was written.

use bytes::Bytes;
use streamly_core::media::{AacConfig, AvcConfig};

use super::fragment::{SAMPLE_NON_SYNC, SAMPLE_SYNC};
use super::*;

/// An AVCDecoderConfigurationRecord from an x264 stream, 320×240, 4-byte lengths.
const RECORD: &[u8] = &[
    0x01, 0x64, 0x00, 0x0d, 0xff, 0xe1, 0x00, 0x19, 0x67, 0x64, 0x00, 0x0d, 0xac, 0xd9, 0x41, 0x41, 0xfb,
    0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0x20, 0xf1, 0x42, 0x99, 0x60, 0x01,
    0x00, 0x04, 0x68, 0xef, 0xbc, 0xb0, 0xfd, 0xf8, 0xf8, 0x00,
];
/// AAC LC, 44.1 kHz, stereo.
const ASC: &[u8] = &[0x12, 0x10];

fn avc() -> AvcConfig {
    AvcConfig::parse(Bytes::from_static(RECORD)).expect("record")
}

fn aac() -> AacConfig {
    AacConfig::parse(Bytes::from_static(ASC)).expect("asc")
}

/// A box as read: its type and its body (after the 8-byte header).
#[derive(Debug, Clone, Copy)]
struct Bx<'a> {
    fourcc: [u8; 4],
    body: &'a [u8],
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

/// Splits `data` into boxes whose sizes must add up to exactly its length.
fn boxes(data: &[u8]) -> Vec<Bx<'_>> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        assert!(rest.len() >= 8, "{} stray bytes", rest.len());
        let size = u32_at(rest, 0) as usize;
        assert!(
            size >= 8 && size <= rest.len(),
            "box size {size} with {} left",
            rest.len()
        );
        let fourcc = rest[4..8].try_into().expect("fourcc");
        out.push(Bx {
            fourcc,
            body: &rest[8..size],
        });
        rest = &rest[size..];
    }
    out
}

/// Where a box's children start in its body, if it has any.
fn children_at(fourcc: &[u8; 4]) -> Option<usize> {
    match fourcc {
        b"moov" | b"trak" | b"mdia" | b"minf" | b"dinf" | b"stbl" | b"mvex" | b"moof" | b"traf" => Some(0),
        // version + flags + entry_count
        b"dref" | b"stsd" => Some(8),
        // VisualSampleEntry and AudioSampleEntry fields (§12.1.3, §12.2.3)
        b"avc1" => Some(78),
        b"mp4a" => Some(28),
        _ => None,
    }
}

/// Walks the whole tree, checking every level's sizes; returns every box
/// with its path, e.g. `moov/trak/mdia/mdhd`.
fn walk(data: &[u8]) -> Vec<(String, Bx<'_>)> {
    fn go<'a>(data: &'a [u8], prefix: &str, out: &mut Vec<(String, Bx<'a>)>) {
        for b in boxes(data) {
            let path = format!("{prefix}{}", String::from_utf8_lossy(&b.fourcc));
            if let Some(at) = children_at(&b.fourcc) {
                go(&b.body[at..], &format!("{path}/"), out);
            }
            out.push((path, b));
        }
    }
    let mut out = Vec::new();
    go(data, "", &mut out);
    out
}

fn all<'a>(tree: &[(String, Bx<'a>)], path: &str) -> Vec<&'a [u8]> {
    tree.iter()
        .filter(|(p, _)| p == path)
        .map(|(_, b)| b.body)
        .collect()
}

fn one<'a>(tree: &[(String, Bx<'a>)], path: &str) -> &'a [u8] {
    let found = all(tree, path);
    assert_eq!(found.len(), 1, "{path}");
    found[0]
}

#[test]
fn init_boxes_nest_and_say_what_the_configs_say() {
    let (v, a) = (avc(), aac());
    let init = init_segment(Some(&v), Some(&a));
    let tree = walk(&init);
    let top: Vec<_> = boxes(&init).iter().map(|b| b.fourcc).collect();
    assert_eq!(top, [*b"ftyp", *b"moov"]);
    assert_eq!(one(&tree, "ftyp"), b"iso6\0\0\0\0iso6cmfcisommp41");

    let traks = all(&tree, "moov/trak/tkhd");
    assert_eq!(traks.len(), 2);
    // version/flags, then track_ID at 12 (after two times) in a v0 tkhd.
    assert_eq!(u32_at(traks[0], 0), 3, "enabled, in movie");
    assert_eq!(u32_at(traks[0], 12), VIDEO_TRACK_ID);
    assert_eq!(u32_at(traks[1], 12), AUDIO_TRACK_ID);
    // width, height: the last 8 bytes, 16.16.
    assert_eq!(&traks[0][76..], &[0x01, 0x40, 0, 0, 0, 0xf0, 0, 0]);

    let mdhd = all(&tree, "moov/trak/mdia/mdhd");
    assert_eq!(u32_at(mdhd[0], 12), VIDEO_TIMESCALE);
    assert_eq!(u32_at(mdhd[1], 12), 44_100);
    let hdlr = all(&tree, "moov/trak/mdia/hdlr");
    assert_eq!((&hdlr[0][8..12], &hdlr[1][8..12]), (&b"vide"[..], &b"soun"[..]));
    assert_eq!(all(&tree, "moov/trak/mdia/minf/vmhd").len(), 1);
    assert_eq!(all(&tree, "moov/trak/mdia/minf/smhd").len(), 1);
    assert_eq!(all(&tree, "moov/trak/mdia/minf/dinf/dref/url ")[0], &[0, 0, 0, 1]);
    for empty in ["stts", "stsc", "stco"] {
        let found = all(&tree, &format!("moov/trak/mdia/minf/stbl/{empty}"));
        assert_eq!(found, [&[0u8; 8][..], &[0; 8][..]], "{empty}");
    }

    assert_eq!(one(&tree, "moov/trak/mdia/minf/stbl/stsd/avc1/avcC"), RECORD);
    let avc1 = one(&tree, "moov/trak/mdia/minf/stbl/stsd/avc1");
    assert_eq!(&avc1[24..28], &[0x01, 0x40, 0x00, 0xf0], "320×240");
    let mp4a = one(&tree, "moov/trak/mdia/minf/stbl/stsd/mp4a");
    assert_eq!(&mp4a[16..18], &[0, 2], "two channels");
    assert_eq!(u32_at(mp4a, 24) >> 16, 44_100);
    let esds = one(&tree, "moov/trak/mdia/minf/stbl/stsd/mp4a/esds");
    assert_eq!(
        &esds[4..],
        &[
            0x03, 25, 0, 0, 0, // ES_Descriptor
            0x04, 17, 0x40, 0x15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // DecoderConfigDescriptor
            0x05, 2, 0x12, 0x10, // DecoderSpecificInfo = the AudioSpecificConfig
            0x06, 1, 2, // SLConfigDescriptor
        ]
    );

    let trex = all(&tree, "moov/mvex/trex");
    assert_eq!(trex.len(), 2);
    assert_eq!(
        (u32_at(trex[0], 4), u32_at(trex[1], 4)),
        (VIDEO_TRACK_ID, AUDIO_TRACK_ID)
    );
}

#[test]
fn one_track_init_segments() {
    let v = avc();
    let init = init_segment(Some(&v), None);
    let tree = walk(&init);
    assert_eq!(all(&tree, "moov/trak").len(), 1);
    assert_eq!(u32_at(one(&tree, "moov/mvex/trex"), 4), VIDEO_TRACK_ID);
    let a = aac();
    let init = init_segment(None, Some(&a));
    let tree = walk(&init);
    assert_eq!(all(&tree, "moov/trak").len(), 1);
    assert_eq!(u32_at(one(&tree, "moov/mvex/trex"), 4), AUDIO_TRACK_ID);
}

fn sample(duration: u32, composition_offset: i32, keyframe: bool, data: &[u8]) -> Fmp4Sample {
    Fmp4Sample {
        duration,
        composition_offset,
        keyframe,
        data: Bytes::copy_from_slice(data),
    }
}

fn video_samples() -> Vec<Fmp4Sample> {
    vec![
        sample(3600, 7200, true, &[0, 0, 0, 2, 0x65, 0xaa]),
        sample(3600, -3600, false, &[0, 0, 0, 3, 0x41, 0xbb, 0xbb]),
        sample(3600, 0, false, &[0, 0, 0, 1, 0x01]),
    ]
}

fn audio_samples() -> Vec<Fmp4Sample> {
    // `keyframe: false` on purpose: audio samples are sync regardless.
    vec![
        sample(1024, 0, false, &[0x21, 0x11]),
        sample(1024, 0, false, &[0x21, 0x22, 0x33]),
    ]
}

/// The header followed by every sample, as a caller sends them.
fn assemble(header: &Bytes, tracks: &[TrackFragment<'_>]) -> Vec<u8> {
    let mut out = header.to_vec();
    for t in tracks {
        for s in t.samples {
            out.extend_from_slice(&s.data);
        }
    }
    assert_eq!(out.len(), fragment_len(header, tracks));
    out
}

/// A `trun` read back: (flags, data_offset, per-sample fields).
fn read_trun(trun: &[u8]) -> (u32, i32, Vec<Vec<u32>>) {
    assert_eq!(trun[0], 1, "version 1");
    let flags = u32_at(trun, 0) & 0xff_ffff;
    let count = u32_at(trun, 4) as usize;
    let offset = u32_at(trun, 8) as i32;
    let fields = (flags >> 8 & 0xf).count_ones() as usize;
    assert_eq!(trun.len(), 12 + count * fields * 4, "trun length");
    let samples = (0..count)
        .map(|i| {
            (0..fields)
                .map(|f| u32_at(trun, 12 + (i * fields + f) * 4))
                .collect()
        })
        .collect();
    (flags, offset, samples)
}

#[test]
fn fragment_boxes_nest_and_data_offsets_point_at_each_tracks_first_byte() {
    let (video, audio) = (video_samples(), audio_samples());
    let tracks = [
        TrackFragment {
            track_id: VIDEO_TRACK_ID,
            base_media_decode_time: 0,
            samples: &video,
        },
        TrackFragment {
            track_id: AUDIO_TRACK_ID,
            base_media_decode_time: 2205,
            samples: &audio,
        },
    ];
    let header = FragmentWriter::new().write(7, &tracks);
    let fragment = assemble(&header, &tracks);
    let tree = walk(&fragment);
    let top: Vec<_> = boxes(&fragment).iter().map(|b| b.fourcc).collect();
    assert_eq!(
        top,
        [*b"moof", *b"mdat"],
        "the mdat size covers exactly the payload"
    );
    assert_eq!(one(&tree, "mdat"), &fragment[header.len()..]);
    assert_eq!(u32_at(one(&tree, "moof/mfhd"), 4), 7);

    let tfhd = all(&tree, "moof/traf/tfhd");
    assert_eq!(u32_at(tfhd[0], 0), 0x02_0000, "default-base-is-moof");
    assert_eq!(
        (u32_at(tfhd[0], 4), u32_at(tfhd[1], 4)),
        (VIDEO_TRACK_ID, AUDIO_TRACK_ID)
    );
    let tfdt = all(&tree, "moof/traf/tfdt");
    assert_eq!(tfdt[1], &[1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x08, 0x9d], "v1, 2205");

    let truns = all(&tree, "moof/traf/trun");
    for (trun, samples) in truns.iter().zip([&video, &audio]) {
        let (_, offset, fields) = read_trun(trun);
        let offset = usize::try_from(offset).expect("positive");
        let first = &samples[0].data;
        assert_eq!(&fragment[offset..offset + first.len()], &first[..]);
        assert_eq!(fields.len(), samples.len());
        for (f, s) in fields.iter().zip(samples.iter()) {
            assert_eq!((f[0], f[1] as usize), (s.duration, s.data.len()));
        }
    }
    // The first track's samples start right after the mdat header.
    assert_eq!(read_trun(truns[0]).1 as usize, header.len());
}

#[test]
fn sample_flags_and_signed_composition_offsets() {
    let (video, audio) = (video_samples(), audio_samples());
    let tracks = [
        TrackFragment {
            track_id: VIDEO_TRACK_ID,
            base_media_decode_time: 0,
            samples: &video,
        },
        TrackFragment {
            track_id: AUDIO_TRACK_ID,
            base_media_decode_time: 0,
            samples: &audio,
        },
    ];
    let header = FragmentWriter::new().write(1, &tracks);
    let fragment = assemble(&header, &tracks);
    let tree = walk(&fragment);
    let truns = all(&tree, "moof/traf/trun");

    let (flags, _, v) = read_trun(truns[0]);
    assert_eq!(
        flags, 0x000f01,
        "offset, duration, size, flags, composition offset"
    );
    assert_eq!(v[0][2], SAMPLE_SYNC);
    assert_eq!(v[1][2], SAMPLE_NON_SYNC);
    assert_eq!(SAMPLE_SYNC, 2 << 24, "depends on none, sync");
    assert_eq!(SAMPLE_NON_SYNC, 1 << 24 | 1 << 16, "depends on others, non-sync");
    let offsets: Vec<i32> = v.iter().map(|s| s[3] as i32).collect();
    assert_eq!(offsets, [7200, -3600, 0]);

    let (flags, _, a) = read_trun(truns[1]);
    assert_eq!(flags, 0x000701, "no composition offsets for audio");
    assert!(a.iter().all(|s| s[2] == SAMPLE_SYNC));
}

#[test]
fn empty_tracks_are_skipped_and_the_buffer_is_reused_safely() {
    let video = video_samples();
    let tracks = [
        TrackFragment {
            track_id: AUDIO_TRACK_ID,
            base_media_decode_time: 0,
            samples: &[],
        },
        TrackFragment {
            track_id: VIDEO_TRACK_ID,
            base_media_decode_time: u64::from(u32::MAX) + 1,
            samples: &video,
        },
    ];
    let mut writer = FragmentWriter::new();
    let first = writer.write(1, &tracks);
    let kept = first.clone();
    let second = writer.write(2, &tracks);
    assert_eq!(first, kept, "a later write leaves handed-out headers alone");
    assert_ne!(first, second, "sequence numbers differ");

    let fragment = assemble(&second, &tracks);
    let tree = walk(&fragment);
    assert_eq!(all(&tree, "moof/traf").len(), 1);
    assert_eq!(u32_at(one(&tree, "moof/traf/tfhd"), 4), VIDEO_TRACK_ID);
    assert_eq!(
        &one(&tree, "moof/traf/tfdt")[4..],
        &[0, 0, 0, 1, 0, 0, 0, 0],
        "64-bit decode time"
    );

    let header = writer.write(3, &[]);
    assert_eq!(walk(&header).len(), 3, "moof, mfhd, empty mdat");
}
