//! Packet-level invariants of our TS output, checked with an independent
//! parser (the `mpeg2ts` crate): on the fixture and on arbitrary frame
//! sequences.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use mpeg2ts::ts::{ReadTsPacket, TsPacketReader, TsPayload};
use proptest::prelude::*;
use streamly_core::media::{AacConfig, AudioFrame, MediaFrame, VideoFrame};
use streamly_hls::ts::{AUDIO_PID, PAT_PID, PMT_PID, VIDEO_PID};
use streamly_hls::{Segment, Segmenter};

const MOD33: u64 = 1 << 33;

/// Checks every invariant over a run of segments (continuity counters and
/// clocks continue across segments). Returns (video PES, audio PES) counts.
fn check(segments: &[Segment]) -> (usize, usize) {
    let mut cc: HashMap<u16, u8> = HashMap::new();
    let mut last_pcr: Option<u64> = None;
    let (mut video, mut audio) = (0, 0);
    for seg in segments {
        assert_eq!(seg.data.len() % 188, 0, "whole packets");
        assert!(seg.data.chunks(188).all(|p| p[0] == 0x47), "sync bytes");
        let mut reader = TsPacketReader::new(&seg.data[..]);
        let mut index = 0;
        let mut first_pes = true;
        while let Some(packet) = reader.read_ts_packet().expect("parses") {
            let pid = packet.header.pid.as_u16();
            match index {
                0 => assert_eq!(pid, PAT_PID, "segment starts with the PAT"),
                1 => assert_eq!(pid, PMT_PID, "then the PMT"),
                _ => {}
            }
            index += 1;
            let c = packet.header.continuity_counter.as_u8();
            if let Some(prev) = cc.insert(pid, c) {
                assert_eq!(c, (prev + 1) % 16, "continuity counter on PID {pid:#x}");
            }
            let pcr_pid = if seg.has_video { VIDEO_PID } else { AUDIO_PID };
            if let Some(af) = &packet.adaptation_field
                && let Some(pcr) = af.pcr
            {
                assert_eq!(pid, pcr_pid, "PCR only on the PCR PID");
                let pcr = pcr.as_u64();
                if let Some(prev) = last_pcr {
                    let step = (pcr / 300).wrapping_sub(prev / 300) % MOD33;
                    assert!(step < MOD33 / 2, "PCR monotonic: {prev} then {pcr}");
                }
                last_pcr = Some(pcr);
            }
            if let Some(TsPayload::PesStart(pes)) = &packet.payload {
                let pts = pes.header.pts.expect("every PES has a PTS").as_u64();
                let dts = pes.header.dts.map_or(pts, |d| d.as_u64());
                assert!(
                    (pts.wrapping_sub(dts) % MOD33) < MOD33 / 2,
                    "PTS {pts} >= DTS {dts}"
                );
                let af = packet.adaptation_field.as_ref();
                if pid == pcr_pid {
                    let pcr = af.and_then(|a| a.pcr).expect("PCR on each PCR-PID PES").as_u64() / 300;
                    assert!(
                        dts.wrapping_sub(pcr) % MOD33 < MOD33 / 2,
                        "PCR {pcr} <= DTS {dts}"
                    );
                }
                if pid == VIDEO_PID {
                    video += 1;
                    assert_eq!(
                        &pes.data[..6],
                        &[0, 0, 0, 1, 9, 0xf0],
                        "access unit delimiter first"
                    );
                    let keyframe = af.is_some_and(|a| a.random_access_indicator);
                    if first_pes && !seg.forced_cut {
                        assert!(keyframe, "a video segment starts with a keyframe");
                    }
                    if keyframe {
                        assert_eq!(&pes.data[6..11], &[0, 0, 0, 1, 0x67], "SPS before the IDR");
                    }
                } else {
                    assert_eq!(pid, AUDIO_PID);
                    audio += 1;
                    assert_eq!(&pes.data[..2], &[0xff, 0xf1], "ADTS sync word");
                }
                first_pes = false;
            }
        }
    }
    (video, audio)
}

#[test]
fn fixture_output_is_well_formed() {
    let segs = common::segments(&common::frames(common::fixture()), Duration::from_secs(2));
    let (video, audio) = check(&segs);
    assert_eq!(video, 250);
    assert!(audio > 400);
}

fn configs() -> (MediaFrame, MediaFrame) {
    let frames = common::frames(common::fixture());
    let video = frames
        .iter()
        .find(|f| matches!(f, MediaFrame::VideoConfig(_)))
        .unwrap()
        .clone();
    let audio = MediaFrame::AudioConfig(Arc::new(
        AacConfig::parse(Bytes::from_static(&[0x12, 0x10])).unwrap(),
    ));
    (video, audio)
}

#[derive(Debug, Clone)]
enum Step {
    Video {
        gap: u32,
        cto: u16,
        keyframe: bool,
        nals: Vec<usize>,
    },
    Audio {
        gap: u32,
        len: usize,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (
            0u32..80,
            0u16..200,
            prop::bool::weighted(0.1),
            prop::collection::vec(1usize..3000, 1..4)
        )
            .prop_map(|(gap, cto, keyframe, nals)| Step::Video {
                gap,
                cto,
                keyframe,
                nals
            }),
        (0u32..50, 1usize..1500).prop_map(|(gap, len)| Step::Audio { gap, len }),
    ]
}

fn build(start: u32, steps: &[Step], with_video: bool) -> Vec<MediaFrame> {
    let (vc, ac) = configs();
    let mut frames = if with_video { vec![vc, ac] } else { vec![ac] };
    let mut ts = start;
    for s in steps {
        match s {
            Step::Video {
                gap,
                cto,
                keyframe,
                nals,
            } if with_video => {
                ts = ts.wrapping_add(*gap);
                let mut data = Vec::new();
                for (i, &len) in nals.iter().enumerate() {
                    data.extend_from_slice(&(len as u32).to_be_bytes());
                    let nal_type = if *keyframe && i == 0 { 0x65 } else { 0x41 };
                    data.push(nal_type);
                    data.extend((1..len).map(|b| b as u8));
                }
                frames.push(MediaFrame::Video(VideoFrame {
                    dts: ts,
                    composition_offset: i32::from(*cto),
                    keyframe: *keyframe,
                    data: Bytes::from(data),
                }));
            }
            Step::Video { .. } => {}
            Step::Audio { gap, len } => {
                ts = ts.wrapping_add(*gap);
                frames.push(MediaFrame::Audio(AudioFrame {
                    dts: ts,
                    data: Bytes::from(vec![0x21; *len]),
                }));
            }
        }
    }
    frames
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn arbitrary_sequences_stay_well_formed(
        start in prop_oneof![Just(0u32), Just(u32::MAX - 3_000), any::<u32>()],
        steps in prop::collection::vec(step(), 1..300),
        with_video in any::<bool>(),
        target_ms in 200u64..3000,
    ) {
        let frames = build(start, &steps, with_video);
        let segs = common::segments(&frames, Duration::from_millis(target_ms));
        check(&segs);
        for s in &segs[..segs.len().saturating_sub(1)] {
            // Every closed segment reached its target, except when the
            // program changed.
            prop_assert!(s.duration >= Duration::from_millis(target_ms) || s.discontinuity || s.forced_cut);
            // ...and stays within TARGETDURATION (+ 500 ms of rounding).
            // The cut looks ahead by the largest frame gap seen so far, so
            // only a gap larger than all before it (< 130 ms here) can
            // overshoot, by less than itself.
            let limit = target_ms.div_ceil(1000) * 1000 + 500 + 130;
            prop_assert!(s.duration < Duration::from_millis(limit), "{:?} > {limit} ms", s.duration);
        }
        if !with_video {
            let audio = steps.iter().filter(|s| matches!(s, Step::Audio { .. })).count();
            let (_, written) = check(&segs);
            prop_assert_eq!(written, audio, "audio-only: every frame written");
        }
    }
}

#[test]
fn audio_only_cuts_on_time() {
    let steps: Vec<Step> = (0..500).map(|_| Step::Audio { gap: 23, len: 300 }).collect();
    let frames = build(1000, &steps, false);
    let mut s = Segmenter::new(Duration::from_secs(2));
    let segs: Vec<Segment> = frames.iter().filter_map(|f| s.push(f).unwrap()).collect();
    assert_eq!(segs.len(), 5);
    for seg in &segs {
        assert!(!seg.has_video && seg.has_audio);
        assert!(
            (2000..2023).contains(&(seg.duration.as_millis() as u64)),
            "{:?}",
            seg.duration
        );
    }
    check(&segs);
}
