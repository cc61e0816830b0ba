//! The sans-IO session driven with hand-built bytes: no sockets, no clock.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use streamly_core::media::{FlvTagKind, MediaFrame, parse_video_tag};
use streamly_rtmp::chunk::ChunkLimits;
use streamly_rtmp::{IngestSession, SessionConfig, SessionError, SessionEvent};

fn session() -> IngestSession {
    IngestSession::new(SessionConfig::default(), 42, std::time::Instant::now())
}

fn events(s: &mut IngestSession) -> Vec<SessionEvent> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

/// Handshake + publish commands, fed in one go.
fn published(s: &mut IngestSession, p: &mut Publisher, key: &str) -> Vec<u8> {
    let mut bytes = c0c1();
    bytes.extend(c2());
    bytes.extend(p.publish_commands("live", key));
    s.handle_input(&bytes, std::time::Instant::now()).unwrap();
    s.take_output()
}

#[test]
fn publish_flow_and_responses() {
    let mut s = session();
    let mut p = Publisher::new();
    let out = published(&mut s, &mut p, "secret1?token=abc");
    assert_eq!(
        server_statuses(&out),
        [
            "_result:NetConnection.Connect.Success",
            "_result",
            "_result",
            "_result"
        ]
    );
    let ev = events(&mut s);
    assert_eq!(ev[0], SessionEvent::Connected { app: "live".into() });
    let SessionEvent::PublishRequested { app, key } = &ev[1] else {
        panic!("expected a publish request, got {ev:?}");
    };
    assert_eq!((app.as_str(), key.expose()), ("live", "secret1"));

    s.accept_publish();
    let out = s.take_output();
    // The accept output continues the same chunk stream: prefix a fake
    // handshake so the helper can decode it.
    let mut framed = vec![0u8; 1 + 2 * 1536];
    framed.extend(out);
    // The decoder of the helper starts at chunk size 128 but the server
    // switched to 4096: statuses are small, so they fit either way.
    assert!(server_statuses(&framed).contains(&"onStatus:NetStream.Publish.Start".to_owned()));
    assert!(s.is_publishing());

    let mut media = p.message(4, 8, 1, 10, aac_frame(1));
    media.extend(p.message(6, 9, 1, 20, avc_frame(true, 40, 300, 2)));
    media.extend(p.unpublish());
    s.handle_input(&media, std::time::Instant::now()).unwrap();
    let ev = events(&mut s);
    assert!(matches!(&ev[0], SessionEvent::Audio { timestamp: 10, body } if body.len() == 22));
    assert!(matches!(&ev[1], SessionEvent::Video { timestamp: 20, body } if body.len() == 309));
    assert_eq!(ev[2], SessionEvent::PublishFinished);
}

#[test]
fn rejection_sends_bad_name_and_closes() {
    let mut s = session();
    let mut p = Publisher::new();
    let _ = published(&mut s, &mut p, "wrong");
    s.reject_publish("NetStream.Publish.BadName", "no");
    let mut framed = vec![0u8; 1 + 2 * 1536];
    framed.extend(s.take_output());
    assert_eq!(server_statuses(&framed), ["onStatus:NetStream.Publish.BadName"]);
    assert_eq!(
        s.handle_input(&p.message(4, 8, 1, 0, aac_frame(0)), std::time::Instant::now()),
        Err(SessionError::Closed)
    );
}

#[test]
fn unknown_app_is_refused() {
    let mut s = session();
    let mut p = Publisher::new();
    let mut bytes = c0c1();
    bytes.extend(c2());
    bytes.extend(p.publish_commands("vod", KEY));
    assert_eq!(
        s.handle_input(&bytes, std::time::Instant::now()),
        Err(SessionError::UnknownApp { app: "vod".into() })
    );
    assert_eq!(
        server_statuses(&s.take_output()),
        ["_error:NetConnection.Connect.Rejected"]
    );
    assert!(
        !events(&mut s)
            .iter()
            .any(|e| matches!(e, SessionEvent::PublishRequested { .. }))
    );
}

#[test]
fn media_before_publish_is_dropped() {
    let mut s = session();
    let mut p = Publisher::new();
    let mut bytes = c0c1();
    bytes.extend(c2());
    bytes.extend(p.message(6, 9, 1, 0, avc_frame(true, 0, 10, 0)));
    s.handle_input(&bytes, std::time::Instant::now()).unwrap();
    assert!(events(&mut s).is_empty());
    assert_eq!(s.dropped_messages(), 1);
}

/// Every tag of the fixture, with audio messages interleaved between the
/// chunks of video messages and a 1-byte-at-a-time feed for part of it:
/// every frame comes out intact.
#[test]
fn interleaved_fixture_round_trip() {
    let mut s = session();
    let mut p = Publisher::new();
    let _ = published(&mut s, &mut p, KEY);
    let _ = events(&mut s);
    s.accept_publish();
    let mut bytes = p.set_chunk_size(1000);
    let tags = fixture_tags();
    let mut pending_audio: Vec<Vec<u8>> = Vec::new();
    let mut expected = Vec::new();
    for tag in &tags {
        match tag.kind {
            FlvTagKind::Audio => {
                expected.push((8u8, tag.timestamp, tag.body.clone()));
                let msg = streamly_rtmp::chunk::RtmpMessage {
                    csid: 4,
                    timestamp: tag.timestamp,
                    type_id: 8,
                    stream_id: 1,
                    payload: tag.body.clone(),
                };
                pending_audio.extend(p.enc.encode_chunks(&msg).unwrap());
            }
            FlvTagKind::Video => {
                expected.push((9u8, tag.timestamp, tag.body.clone()));
                let msg = streamly_rtmp::chunk::RtmpMessage {
                    csid: 6,
                    timestamp: tag.timestamp,
                    type_id: 9,
                    stream_id: 1,
                    payload: tag.body.clone(),
                };
                let chunks = p.enc.encode_chunks(&msg).unwrap();
                for (i, c) in chunks.iter().enumerate() {
                    bytes.extend(c);
                    // Audio goes after the first chunk of a multi-chunk video.
                    if i == 0 && chunks.len() > 1 {
                        for a in pending_audio.drain(..) {
                            bytes.extend(a);
                        }
                    }
                }
            }
            FlvTagKind::Script => {}
        }
    }
    for a in pending_audio.drain(..) {
        bytes.extend(a);
    }
    let (slow, fast) = bytes.split_at(5000);
    for b in slow {
        s.handle_input(std::slice::from_ref(b), std::time::Instant::now())
            .unwrap();
    }
    s.handle_input(fast, std::time::Instant::now()).unwrap();
    let got: Vec<_> = events(&mut s)
        .into_iter()
        .filter_map(|e| match e {
            SessionEvent::Audio { timestamp, body } => Some((8u8, timestamp, body)),
            SessionEvent::Video { timestamp, body } => Some((9u8, timestamp, body)),
            _ => None,
        })
        .collect();
    // Completion order differs from send order; compare per kind.
    for kind in [8u8, 9] {
        let want: Vec<_> = expected.iter().filter(|e| e.0 == kind).collect();
        let have: Vec<_> = got.iter().filter(|e| e.0 == kind).collect();
        assert_eq!(want, have, "kind {kind}");
    }
    let frames = got
        .iter()
        .filter(|e| e.0 == 9)
        .filter(|e| matches!(parse_video_tag(e.1, &e.2), Ok(Some(MediaFrame::Video(_)))))
        .count();
    assert_eq!(frames, 250);
}

#[test]
fn acknowledgements_follow_the_window() {
    let mut s = IngestSession::new(
        SessionConfig {
            window_ack_size: 5000,
            limits: ChunkLimits::default(),
            ..SessionConfig::default()
        },
        1,
        std::time::Instant::now(),
    );
    let mut p = Publisher::new();
    let _ = published(&mut s, &mut p, KEY);
    s.accept_publish();
    let _ = s.take_output();
    s.handle_input(
        &p.message(6, 9, 1, 0, avc_frame(true, 0, 6000, 1)),
        std::time::Instant::now(),
    )
    .unwrap();
    let out = s.take_output();
    let mut dec = streamly_rtmp::chunk::ChunkDecoder::new(ChunkLimits::default());
    dec.push(&out);
    let ack = dec.next_message().unwrap().expect("an acknowledgement");
    assert_eq!(ack.type_id, 3);
    let seq = u32::from_be_bytes(ack.payload[..4].try_into().unwrap());
    assert!(seq >= 6000, "sequence number {seq} counts the bytes received");
}

#[test]
fn garbage_after_handshake_is_an_error_not_a_panic() {
    let mut s = session();
    let mut bytes = c0c1();
    bytes.extend(c2());
    // fmt 3 on a chunk stream that never had a header.
    bytes.extend([0xc5, 1, 2, 3]);
    assert!(matches!(
        s.handle_input(&bytes, std::time::Instant::now()),
        Err(SessionError::Chunk(_))
    ));
}

#[test]
fn ping_is_answered_and_amf3_commands_are_understood() {
    let mut s = session();
    let mut p = Publisher::new();
    let mut bytes = c0c1();
    bytes.extend(c2());
    // connect as an AMF3 command message (type 17: a 0 byte, then AMF0).
    let mut connect = vec![0u8];
    connect.extend(streamly_rtmp::amf0::encode_all(&[
        streamly_rtmp::amf0::Amf0Value::String("connect".into()),
        streamly_rtmp::amf0::Amf0Value::Number(1.0),
        streamly_rtmp::amf0::Amf0Value::Object(vec![(
            "app".into(),
            streamly_rtmp::amf0::Amf0Value::String("live/".into()),
        )]),
    ]));
    bytes.extend(p.message(3, 17, 0, 0, connect));
    // Ping request (user control event 6) with timestamp 0x01020304.
    bytes.extend(p.message(2, 4, 0, 0, vec![0, 6, 1, 2, 3, 4]));
    s.handle_input(&bytes, std::time::Instant::now()).unwrap();
    assert_eq!(events(&mut s), [SessionEvent::Connected { app: "live".into() }]);
    let out = s.take_output();
    let mut dec = streamly_rtmp::chunk::ChunkDecoder::new(ChunkLimits::default());
    dec.push(&out[1 + 2 * 1536..]);
    let mut pong = None;
    while let Some(m) = dec.next_message().unwrap() {
        if m.type_id == 4 {
            pong = Some(m.payload);
        }
    }
    assert_eq!(pong.as_deref(), Some(&[0u8, 7, 1, 2, 3, 4][..]));
}

#[test]
fn hostile_amf_messages_are_capped() {
    use streamly_rtmp::AmfError;
    use streamly_rtmp::amf0::MAX_VALUES;
    // A 4 MiB command of AMF `null`s (a 1-byte value each): refused by size
    // before any decoding.
    let mut s = session();
    let mut p = Publisher::new();
    let _ = published(&mut s, &mut p, KEY);
    let err = s
        .handle_input(
            &p.message(3, 20, 0, 0, vec![0x05; 4 << 20]),
            std::time::Instant::now(),
        )
        .unwrap_err();
    assert_eq!(
        err,
        SessionError::CommandTooLarge {
            len: 4 << 20,
            max: 64 * 1024
        }
    );

    // Under the size cap but with too many values: refused by the value cap.
    let mut s = session();
    let mut p = Publisher::new();
    let _ = published(&mut s, &mut p, KEY);
    let err = s
        .handle_input(
            &p.message(3, 20, 0, 0, vec![0x05; 60 * 1024]),
            std::time::Instant::now(),
        )
        .unwrap_err();
    assert_eq!(err, SessionError::Amf(AmfError::TooMany { max: MAX_VALUES }));

    // Oversized data messages are dropped; the session carries on.
    let mut s = session();
    let mut p = Publisher::new();
    let _ = published(&mut s, &mut p, KEY);
    s.accept_publish();
    let _ = events(&mut s);
    let mut meta = vec![0x02, 0, 10];
    meta.extend(b"onMetaData");
    meta.extend(vec![0x05; 1 << 20]);
    let before = s.dropped_messages();
    s.handle_input(&p.message(4, 18, 1, 0, meta), std::time::Instant::now())
        .unwrap();
    assert_eq!(s.dropped_messages(), before + 1);
    s.handle_input(
        &p.message(6, 9, 1, 0, avc_frame(true, 0, 50, 1)),
        std::time::Instant::now(),
    )
    .unwrap();
    assert!(matches!(events(&mut s)[..], [SessionEvent::Video { .. }]));
}

// The session's timers, driven by the times it is given: no clock, no
// sleeps, exact to the nanosecond.

use std::time::{Duration, Instant};
use streamly_rtmp::{Expired, SessionTimeouts};

fn timed(t0: Instant) -> IngestSession {
    let config = SessionConfig {
        timeouts: SessionTimeouts {
            handshake: Duration::from_secs(10),
            publish: Duration::from_secs(20),
            idle: Duration::from_secs(30),
        },
        ..SessionConfig::default()
    };
    IngestSession::new(config, 7, t0)
}

#[test]
fn a_handshake_that_does_not_finish_expires_at_its_deadline() {
    let t0 = Instant::now();
    let mut s = timed(t0);
    let deadline = t0 + Duration::from_secs(10);
    assert_eq!(s.poll_timeout(), Some(deadline));
    // Half a handshake does not move the deadline.
    s.handle_input(&c0c1()[..100], t0 + Duration::from_secs(5))
        .unwrap();
    assert_eq!(s.poll_timeout(), Some(deadline));
    assert_eq!(s.handle_timeout(deadline - Duration::from_nanos(1)), None);
    assert_eq!(s.handle_timeout(deadline), Some(Expired::Handshake));
    assert_eq!(s.poll_timeout(), None, "closed");
    assert!(s.handle_input(&c2(), deadline).is_err());
}

#[test]
fn no_publish_after_the_handshake_expires_then_a_grant_leaves_only_the_idle_timer() {
    let t0 = Instant::now();
    let t1 = t0 + Duration::from_secs(2);
    let mut s = timed(t0);
    let mut handshake = c0c1();
    handshake.extend(c2());
    s.handle_input(&handshake, t1).unwrap();
    assert!(s.handshake_done());
    // The publish deadline (20 s) comes before the idle one (30 s).
    assert_eq!(s.poll_timeout(), Some(t1 + Duration::from_secs(20)));
    let mut other = timed(t0);
    other.handle_input(&handshake, t1).unwrap();
    assert_eq!(
        other.handle_timeout(t1 + Duration::from_secs(20)),
        Some(Expired::Publish)
    );

    // Publish, granted: only the idle timer is left, and input moves it.
    let mut p = Publisher::new();
    let t2 = t1 + Duration::from_secs(1);
    s.handle_input(&p.publish_commands("live", KEY), t2).unwrap();
    assert!(
        events(&mut s)
            .iter()
            .any(|e| matches!(e, SessionEvent::PublishRequested { .. }))
    );
    s.accept_publish();
    assert_eq!(s.poll_timeout(), Some(t2 + Duration::from_secs(30)));
    let t3 = t2 + Duration::from_secs(25);
    s.handle_input(&p.message(4, 9, 1, 0, avc_frame(true, 0, 10, 1)), t3)
        .unwrap();
    assert_eq!(
        s.handle_timeout(t2 + Duration::from_secs(30)),
        None,
        "input came since"
    );
    assert_eq!(s.poll_timeout(), Some(t3 + Duration::from_secs(30)));
    assert_eq!(
        s.handle_timeout(t3 + Duration::from_secs(30)),
        Some(Expired::Idle)
    );
}

#[test]
fn the_end_of_a_publish_starts_a_new_publish_timeout() {
    let t0 = Instant::now();
    let mut s = timed(t0);
    let mut p = Publisher::new();
    let mut bytes = c0c1();
    bytes.extend(c2());
    bytes.extend(p.publish_commands("live", KEY));
    s.handle_input(&bytes, t0).unwrap();
    s.accept_publish();
    let t1 = t0 + Duration::from_secs(5);
    s.handle_input(&p.unpublish(), t1).unwrap();
    assert!(events(&mut s).contains(&SessionEvent::PublishFinished));
    assert_eq!(s.poll_timeout(), Some(t1 + Duration::from_secs(20)));
    assert_eq!(
        s.handle_timeout(t1 + Duration::from_secs(20)),
        Some(Expired::Publish)
    );
}
