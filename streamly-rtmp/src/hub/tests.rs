//! Hub tests: registration, replay, slow subscribers, end of stream.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use bytes::Bytes;
use streamly_core::media::{AacConfig, AudioFrame, StreamMetadata, VideoFrame};

use super::*;

fn id(s: &str) -> StreamId {
    StreamId::parse(s).unwrap()
}

fn video(dts: u32, keyframe: bool, len: usize) -> MediaFrame {
    MediaFrame::Video(VideoFrame {
        dts,
        composition_offset: 0,
        keyframe,
        data: Bytes::from(vec![0; len]),
    })
}

fn audio(dts: u32) -> MediaFrame {
    MediaFrame::Audio(AudioFrame {
        dts,
        data: Bytes::from_static(&[1, 2]),
    })
}

fn aac() -> MediaFrame {
    MediaFrame::AudioConfig(Arc::new(
        AacConfig::parse(Bytes::from_static(&[0x12, 0x10])).unwrap(),
    ))
}

fn meta() -> MediaFrame {
    MediaFrame::Metadata(Arc::new(StreamMetadata::default()))
}

fn drain(rx: &mut mpsc::Receiver<MediaFrame>) -> Vec<MediaFrame> {
    std::iter::from_fn(|| rx.try_recv().ok()).collect()
}

#[test]
fn register_is_exclusive_and_events_are_ordered() {
    let hub = StreamHub::new(16, 1 << 20);
    let mut events = hub.events();
    let mut p = hub.register(&id("a"), 1, "live").unwrap();
    assert_eq!(hub.register(&id("a"), 2, "live").err(), Some(AlreadyLive));
    assert!(hub.is_live(&id("a")));
    assert_eq!(hub.live_streams(), [id("a")]);
    assert!(matches!(
        events.try_recv(),
        Ok(StreamEvent::Started { connection_id: 1, .. })
    ));
    p.close();
    assert!(!hub.is_live(&id("a")));
    assert!(
        events.try_recv().is_err(),
        "Ended comes on drop, after the validator"
    );
    drop(p);
    assert_eq!(
        events.try_recv().unwrap(),
        StreamEvent::Ended { stream_id: id("a") }
    );
    assert!(hub.subscribe(&id("a")).is_none());
}

#[test]
fn subscriber_on_started_gets_everything_from_the_start() {
    let hub = StreamHub::new(64, 1 << 20);
    let p = hub.register(&id("a"), 1, "live").unwrap();
    let sequence = [
        meta(),
        aac(),
        audio(0),
        video(0, true, 10),
        audio(20),
        video(40, false, 10),
    ];
    for f in &sequence[..4] {
        p.forward(f.clone());
    }
    let mut rx = hub.subscribe(&id("a")).unwrap();
    for f in &sequence[4..] {
        p.forward(f.clone());
    }
    assert_eq!(drain(&mut rx), sequence);
}

#[test]
fn late_subscriber_starts_at_the_last_keyframe_with_config() {
    let hub = StreamHub::new(64, 1 << 20);
    let p = hub.register(&id("a"), 1, "live").unwrap();
    for f in [
        meta(),
        aac(),
        video(0, true, 10),
        audio(10),
        video(40, false, 10),
        video(80, true, 10),
        audio(90),
    ] {
        p.forward(f);
    }
    let mut rx = hub.subscribe(&id("a")).unwrap();
    assert_eq!(drain(&mut rx), [meta(), aac(), video(80, true, 10), audio(90)]);
}

#[test]
fn gop_overflow_replays_config_only() {
    let hub = StreamHub::new(64, 100);
    let p = hub.register(&id("a"), 1, "live").unwrap();
    for f in [aac(), video(0, true, 60), video(40, false, 60), audio(50)] {
        p.forward(f);
    }
    let mut rx = hub.subscribe(&id("a")).unwrap();
    assert_eq!(drain(&mut rx), [aac()]);
}

#[test]
fn slow_subscriber_is_dropped_others_continue() {
    let hub = StreamHub::new(4, 0);
    let mut p = hub.register(&id("a"), 1, "live").unwrap();
    let mut slow = hub.subscribe(&id("a")).unwrap();
    let mut fast = hub.subscribe(&id("a")).unwrap();
    for i in 0..10 {
        p.forward(audio(i));
        assert_eq!(fast.try_recv().unwrap(), audio(i));
    }
    assert_eq!(hub.dropped_subscribers(), 1);
    // The slow one gets what fit, then the end.
    assert_eq!(drain(&mut slow).len(), 4 + 3, "capacity plus replay room");
    assert!(slow.is_closed() || slow.try_recv().is_err());
    p.close();
    assert!(fast.try_recv().is_err());
}

#[test]
fn upcoming_subscriber_gets_the_next_publish_from_its_first_frame() {
    let hub = StreamHub::new(16, 1 << 20);
    let mut early = hub.subscribe_upcoming(&id("a"));
    let dropped = hub.subscribe_upcoming(&id("a"));
    drop(dropped);
    let p = hub.register(&id("a"), 1, "live").unwrap();
    p.forward(aac());
    p.forward(audio(0));
    // While live, it is a plain subscribe (with replay).
    let mut late = hub.subscribe_upcoming(&id("a"));
    drop(p);
    assert_eq!(drain(&mut early), [aac(), audio(0)]);
    assert_eq!(drain(&mut late), [aac(), audio(0)]);
    assert!(early.is_closed() && late.is_closed());
    // Only the next publish: a later one does not reach them.
    assert!(lock(&hub.inner.waiting).is_empty());
}

#[test]
fn disconnect_kicks_only_the_current_publisher() {
    let hub = StreamHub::new(16, 1 << 20);
    assert!(!hub.disconnect(&id("a")), "not live");
    let mut p = hub.register(&id("a"), 1, "live").unwrap();
    let other = hub.register(&id("b"), 2, "live").unwrap();
    assert!(!p.kicked().is_cancelled());
    assert!(hub.disconnect(&id("a")));
    assert!(p.kicked().is_cancelled());
    assert!(!other.kicked().is_cancelled());
    p.close();
    assert!(!hub.disconnect(&id("a")), "closed");
    // A new publish of the same stream starts with a fresh token.
    let again = hub.register(&id("a"), 3, "live").unwrap();
    assert!(!again.kicked().is_cancelled());
}

fn avc(record_len: usize) -> MediaFrame {
    MediaFrame::VideoConfig(Arc::new(streamly_core::media::AvcConfig {
        record: Bytes::from(vec![1; record_len]),
        profile: 100,
        compatibility: 0,
        level: 30,
        nal_length_size: 4,
        sps: Vec::new(),
        pps: Vec::new(),
        dimensions: None,
    }))
}

#[test]
fn repeated_sequence_headers_replace_each_other_in_the_cache() {
    let hub = StreamHub::new(64, 1 << 20);
    let p = hub.register(&id("a"), 1, "live").unwrap();
    p.forward(video(0, true, 10));
    // An encoder repeating its headers forever, never a keyframe again.
    for i in 0..10_000 {
        p.forward(meta());
        p.forward(avc(40));
        p.forward(aac());
        if i % 100 == 0 {
            p.forward(audio(i));
        }
    }
    let (len, bytes) = {
        let live = lock(&p.live);
        (live.gop.len(), live.gop_bytes)
    };
    assert_eq!(len, 1 + 100 + 3, "keyframe, audio, one of each config");
    assert!(bytes <= 1 << 20);
    let mut rx = hub.subscribe(&id("a")).unwrap();
    let replay = drain(&mut rx);
    assert_eq!(replay[0], video(0, true, 10));
    assert_eq!(&replay[replay.len() - 3..], [meta(), avc(40), aac()]);
}

#[test]
fn config_frames_count_against_the_cache_bound() {
    let hub = StreamHub::new(64, 1000);
    let p = hub.register(&id("a"), 1, "live").unwrap();
    p.forward(video(0, true, 10));
    p.forward(avc(900));
    p.forward(audio(1));
    p.forward(audio(2));
    let live = lock(&p.live);
    assert!(
        live.gop_overflow,
        "a 900-byte record plus frames outgrow 1000 bytes"
    );
    assert!(live.gop.is_empty() && live.gop_bytes == 0);
}

#[test]
fn health_follows_the_forwarded_frames_and_ends_with_the_publish() {
    let hub = StreamHub::new(4, 1 << 20);
    let limits = HealthThresholds::default();
    assert!(hub.health(&id("a"), &limits).is_none());
    let mut p = hub.register(&id("a"), 1, "live").unwrap();
    let _slow = hub.subscribe(&id("a")).unwrap();
    p.forward(aac());
    for i in 0..10 {
        p.forward(video(i * 40, i == 0, 100));
        p.forward(audio(i * 23));
    }
    p.dropped_frame();
    let r = hub.health(&id("a"), &limits).unwrap();
    let (video, audio) = (r.video.unwrap(), r.audio.unwrap());
    assert_eq!((video.frames, audio.frames), (10, 10));
    assert_eq!(audio.sample_rate, Some(44100));
    assert_eq!(r.dropped_frames, 1);
    // The subscriber never read: its 4 + 1 slots filled, then it was cut off.
    assert_eq!(r.dropped_subscribers, 1);
    p.close();
    assert!(hub.health(&id("a"), &limits).is_none());
}
