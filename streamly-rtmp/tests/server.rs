//! The server over real TCP with a hand-built client: interleaved chunk
//! streams, garbage of every kind, timeouts, the connection cap, shutdown.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use streamly_core::adapters::static_keys::ValidatorCall;
use streamly_core::domain::StreamId;
use streamly_core::media::{FlvTagKind, MediaFrame};
use streamly_rtmp::chunk::RtmpMessage;
use streamly_rtmp::handshake::PACKET_LEN;
use streamly_rtmp::{RtmpConfig, StreamEvent};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::broadcast;
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(20);

async fn started(events: &mut broadcast::Receiver<StreamEvent>) -> StreamId {
    loop {
        if let StreamEvent::Started { stream_id, .. } = timeout(LIMIT, events.recv()).await.unwrap().unwrap()
        {
            return stream_id;
        }
    }
}

async fn ended(events: &mut broadcast::Receiver<StreamEvent>) -> StreamId {
    loop {
        if let StreamEvent::Ended { stream_id } = timeout(LIMIT, events.recv()).await.unwrap().unwrap() {
            return stream_id;
        }
    }
}

/// Publishes the whole fixture from a raw client, putting each audio message
/// between the first and second chunk of the next multi-chunk video message.
/// Returns the frames a subscriber received.
/// A publisher gone live on a test server, with a subscriber attached.
struct LivePublish {
    events: broadcast::Receiver<StreamEvent>,
    sock: TcpStream,
    publisher: Publisher,
    id: StreamId,
    frames: tokio::sync::mpsc::Receiver<MediaFrame>,
}

/// Connects, publishes with the test key and subscribes to the stream.
async fn go_live(srv: &TestServer) -> LivePublish {
    let mut events = srv.hub.events();
    let mut sock = handshaken(srv.addr).await;
    let mut publisher = Publisher::new();
    sock.write_all(&publisher.publish_commands("live", KEY))
        .await
        .unwrap();
    let id = started(&mut events).await;
    let frames = srv.hub.subscribe(&id).unwrap();
    LivePublish {
        events,
        sock,
        publisher,
        id,
        frames,
    }
}

async fn publish_fixture_interleaved(srv: &TestServer, key: &str) -> Vec<MediaFrame> {
    let mut events = srv.hub.events();
    let mut sock = handshaken(srv.addr).await;
    let mut p = Publisher::new();
    sock.write_all(&p.publish_commands("live", key)).await.unwrap();
    let id = started(&mut events).await;
    let mut rx = srv.hub.subscribe(&id).unwrap();
    let collector = tokio::spawn(async move {
        let mut frames = Vec::new();
        while let Some(f) = rx.recv().await {
            frames.push(f);
        }
        frames
    });

    let mut bytes = p.set_chunk_size(512);
    let mut audio: Vec<Vec<u8>> = Vec::new();
    let mut interleaved = 0;
    for tag in fixture_tags() {
        let (csid, type_id) = match tag.kind {
            FlvTagKind::Audio => (4, 8),
            FlvTagKind::Video => (6, 9),
            FlvTagKind::Script => continue,
        };
        let msg = RtmpMessage {
            csid,
            timestamp: tag.timestamp,
            type_id,
            stream_id: 1,
            payload: tag.body.clone(),
        };
        let chunks = p.enc.encode_chunks(&msg).unwrap();
        if type_id == 8 {
            audio.extend(chunks);
            continue;
        }
        for (i, c) in chunks.iter().enumerate() {
            bytes.extend(c);
            if i == 0 && chunks.len() > 1 && !audio.is_empty() {
                interleaved += 1;
                bytes.extend(audio.drain(..).flatten());
            }
        }
    }
    bytes.extend(audio.drain(..).flatten());
    assert!(
        interleaved > 100,
        "the fixture exercises interleaving ({interleaved})"
    );
    bytes.extend(p.unpublish());
    // Odd-sized writes split chunks everywhere.
    for piece in bytes.chunks(1777) {
        sock.write_all(piece).await.unwrap();
    }
    let frames = timeout(LIMIT, collector).await.unwrap().unwrap();
    assert_eq!(ended(&mut events).await, id);
    frames
}

fn expected_fixture_frames() -> (Vec<MediaFrame>, Vec<MediaFrame>) {
    let frames: Vec<_> = fixture_tags()
        .iter()
        .filter_map(|t| t.to_frame().unwrap())
        .collect();
    let video = frames
        .iter()
        .filter(|f| matches!(f, MediaFrame::Video(_)))
        .cloned()
        .collect();
    let audio = frames
        .iter()
        .filter(|f| matches!(f, MediaFrame::Audio(_)))
        .cloned()
        .collect();
    (video, audio)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interleaved_chunk_streams_arrive_intact() {
    let srv = start(short_config());
    let frames = publish_fixture_interleaved(&srv, KEY).await;
    let (video, audio) = expected_fixture_frames();
    let got_video: Vec<_> = frames
        .iter()
        .filter(|f| matches!(f, MediaFrame::Video(_)))
        .cloned()
        .collect();
    let got_audio: Vec<_> = frames
        .iter()
        .filter(|f| matches!(f, MediaFrame::Audio(_)))
        .cloned()
        .collect();
    assert_eq!(got_video.len(), 250);
    assert_eq!(
        got_video, video,
        "every video frame byte-identical, same timestamps"
    );
    assert_eq!(
        got_audio, audio,
        "every audio frame byte-identical, same timestamps"
    );
    srv.shutdown.cancel();
    srv.task.await.unwrap().unwrap();
}

/// Sends `bytes` on a fresh connection and asserts the server closes it
/// because of them: well before `idle_timeout` (5 s in `short_config`).
async fn closed_after(srv: &TestServer, bytes: &[u8]) {
    let mut sock = TcpStream::connect(srv.addr).await.unwrap();
    // The server may close before reading everything: ignore write errors.
    let _ = sock.write_all(bytes).await;
    let mut sink = Vec::new();
    // EOF or a reset (unread input) both mean closed; only the timeout fails.
    let closed = timeout(Duration::from_secs(3), sock.read_to_end(&mut sink)).await;
    assert!(
        closed.is_ok(),
        "the server closes the connection on garbage, before the 5 s idle timeout"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_is_closed_and_the_server_keeps_serving() {
    let srv = start(short_config());
    // An honest publisher stays live throughout.
    let mut events = srv.hub.events();
    let mut honest = handshaken(srv.addr).await;
    let mut p = Publisher::new();
    honest.write_all(&p.publish_commands("live", KEY2)).await.unwrap();
    let id = started(&mut events).await;
    let mut rx = srv.hub.subscribe(&id).unwrap();

    // A bad handshake (an HTTP request).
    closed_after(&srv, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;

    // A chunk claiming a 16 MiB message (the largest a header can express;
    // the limit here is 1 MiB) — and a 4 GiB-ish extended timestamp for
    // good measure.
    let mut huge = c0c1();
    huge.extend(c2());
    huge.extend([
        0x03, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 9, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff,
    ]);
    huge.extend([0u8; 64]);
    closed_after(&srv, &huge).await;

    // Random bytes, with and without a handshake.
    let mut x = 0x1234_5678_9abc_def0u64;
    let random: Vec<u8> = (0..20_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    closed_after(&srv, &random).await;
    let mut after_handshake = c0c1();
    after_handshake.extend(c2());
    after_handshake.extend(&random);
    closed_after(&srv, &after_handshake).await;

    // A silent connection: closed by the handshake timeout (500 ms here).
    let mut silent = TcpStream::connect(srv.addr).await.unwrap();
    let mut buf = Vec::new();
    let n = timeout(LIMIT, silent.read_to_end(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n, 0, "closed without a byte");

    // A half handshake (C0+C1 but no C2) is closed by the same timeout.
    let mut half = TcpStream::connect(srv.addr).await.unwrap();
    half.write_all(&c0c1()).await.unwrap();
    let got = read_to_close(&mut half).await.unwrap();
    assert_eq!(got.len(), 1 + 2 * PACKET_LEN);

    // The honest publisher was undisturbed, and new publishers still work.
    assert!(srv.hub.is_live(&id));
    honest
        .write_all(&p.message(6, 9, 1, 0, avc_frame(true, 0, 50, 1)))
        .await
        .unwrap();
    assert!(matches!(rx.recv().await, Some(MediaFrame::Video(_))));
    let frames = publish_fixture_interleaved(&srv, KEY).await;
    assert_eq!(
        frames
            .iter()
            .filter(|f| matches!(f, MediaFrame::Video(_)))
            .count(),
        250
    );
    srv.shutdown.cancel();
    srv.task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_publisher_times_out_and_goes_offline() {
    let srv = start(RtmpConfig {
        idle_timeout: Duration::from_millis(300),
        ..short_config()
    });
    let mut events = srv.hub.events();
    let mut rx = srv.hub.subscribe_upcoming(&StreamId::parse("demo").unwrap());
    let mut sock = handshaken(srv.addr).await;
    let mut p = Publisher::new();
    sock.write_all(&p.publish_commands("live", KEY)).await.unwrap();
    let id = started(&mut events).await;
    // Say nothing: the server closes the connection and ends the stream.
    assert_eq!(timeout(LIMIT, rx.recv()).await.unwrap(), None);
    assert_eq!(ended(&mut events).await, id);
    assert!(srv.validator.calls().contains(&ValidatorCall::Ended(id)));
    read_to_close(&mut sock)
        .await
        .expect("the server closes the idle connection");
    srv.shutdown.cancel();
    srv.task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hub_disconnect_ends_the_publish_and_closes_the_connection() {
    let srv = start(short_config());
    let LivePublish {
        mut events,
        mut sock,
        publisher: mut p,
        id,
        frames: mut rx,
    } = go_live(&srv).await;
    sock.write_all(&p.message(6, 9, 1, 0, avc_frame(true, 0, 50, 1)))
        .await
        .unwrap();
    assert!(matches!(rx.recv().await, Some(MediaFrame::Video(_))));

    assert!(srv.hub.disconnect(&id));
    assert_eq!(timeout(LIMIT, rx.recv()).await.unwrap(), None);
    assert_eq!(ended(&mut events).await, id);
    assert!(!srv.hub.is_live(&id));
    assert!(srv.validator.calls().contains(&ValidatorCall::Ended(id.clone())));
    read_to_close(&mut sock)
        .await
        .expect("the server closes the connection");
    assert!(!srv.hub.disconnect(&id), "no longer live");
    // The server keeps serving: the same key may publish again.
    let mut again = handshaken(srv.addr).await;
    again
        .write_all(&Publisher::new().publish_commands("live", KEY))
        .await
        .unwrap();
    assert_eq!(started(&mut events).await, id);
    srv.shutdown.cancel();
    srv.task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_publishes_is_closed_after_publish_timeout() {
    let srv = start(RtmpConfig {
        publish_timeout: Duration::from_millis(400),
        idle_timeout: Duration::from_secs(30),
        ..short_config()
    });
    // Connected, then only pings (window ack size messages) every 100 ms.
    let mut lurker = handshaken(srv.addr).await;
    let mut p = Publisher::new();
    let mut bytes = p.command(
        0,
        &[
            streamly_rtmp::amf0::Amf0Value::String("connect".into()),
            streamly_rtmp::amf0::Amf0Value::Number(1.0),
            streamly_rtmp::amf0::Amf0Value::Object(vec![(
                "app".into(),
                streamly_rtmp::amf0::Amf0Value::String("live".into()),
            )]),
        ],
    );
    let started_at = tokio::time::Instant::now();
    let (mut rd, mut wr) = lurker.split();
    let pinger = async {
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            tick.tick().await;
            bytes.extend(p.message(2, 5, 0, 0, 2_500_000u32.to_be_bytes().to_vec()));
            if wr.write_all(&bytes).await.is_err() {
                std::future::pending::<()>().await;
            }
            bytes.clear();
        }
    };
    let mut sink = Vec::new();
    tokio::select! {
        () = pinger => unreachable!(),
        r = timeout(LIMIT, rd.read_to_end(&mut sink)) => {
            // Closed (possibly reset, as the client was still writing).
            assert!(r.is_ok(), "the server closes a client that never publishes");
        }
    }
    assert!(
        started_at.elapsed() < Duration::from_secs(10),
        "closed by publish_timeout, long before idle_timeout"
    );

    // A publisher that goes live in time is not affected by the deadline.
    let LivePublish {
        mut sock,
        publisher: mut p,
        id,
        frames: mut rx,
        ..
    } = go_live(&srv).await;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    for i in 0..10 {
        tick.tick().await;
        sock.write_all(&p.message(6, 9, 1, i * 100, avc_frame(i == 0, 0, 50, 1)))
            .await
            .unwrap();
        assert!(matches!(rx.recv().await, Some(MediaFrame::Video(_))));
    }
    assert!(srv.hub.is_live(&id), "still live after 1 s > publish_timeout");
    srv.shutdown.cancel();
    srv.task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_ends_publishers_and_subscribers() {
    let srv = start(short_config());
    let LivePublish {
        mut events,
        mut sock,
        publisher: mut p,
        id,
        frames: mut rx,
    } = go_live(&srv).await;
    sock.write_all(&p.message(6, 9, 1, 0, avc_frame(true, 0, 50, 1)))
        .await
        .unwrap();
    assert!(matches!(rx.recv().await, Some(MediaFrame::Video(_))));

    srv.shutdown.cancel();
    timeout(LIMIT, srv.task).await.unwrap().unwrap().unwrap();
    assert_eq!(rx.recv().await, None);
    assert_eq!(ended(&mut events).await, id);
    assert!(srv.validator.calls().contains(&ValidatorCall::Ended(id)));
    read_to_close(&mut sock).await.unwrap();
    assert!(TcpStream::connect(srv.addr).await.is_err(), "listener closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_cap_holds_new_clients_until_a_slot_frees() {
    let srv = start(RtmpConfig {
        max_connections: 1,
        ..short_config()
    });
    let first = handshaken(srv.addr).await;
    // The second client is accepted by the kernel but not served yet.
    let mut second = TcpStream::connect(srv.addr).await.unwrap();
    second.write_all(&c0c1()).await.unwrap();
    let mut s0 = [0u8; 1];
    assert!(
        timeout(Duration::from_millis(200), second.read_exact(&mut s0))
            .await
            .is_err()
    );
    drop(first);
    timeout(LIMIT, second.read_exact(&mut s0)).await.unwrap().unwrap();
    assert_eq!(s0[0], 3);
    srv.shutdown.cancel();
    srv.task.await.unwrap().unwrap();
}

/// A validator that never answers (or fails), to exercise the timeout.
struct Stuck {
    fail: bool,
}

#[async_trait::async_trait]
impl streamly_core::ports::StreamKeyValidator for Stuck {
    async fn validate(
        &self,
        _: &streamly_core::ports::PublishRequest,
    ) -> Result<streamly_core::ports::PublishDecision, streamly_core::ports::ValidatorError> {
        if self.fail {
            return Err(streamly_core::ports::ValidatorError::unavailable(
                std::io::Error::other("db down"),
            ));
        }
        std::future::pending().await
    }

    async fn publish_ended(&self, _: &StreamId) -> Result<(), streamly_core::ports::ValidatorError> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validator_timeout_or_error_rejects() {
    for fail in [false, true] {
        let config = RtmpConfig {
            validate_timeout: Duration::from_millis(200),
            ..short_config()
        };
        let server = streamly_rtmp::RtmpServer::bind(
            "127.0.0.1:0".parse().unwrap(),
            config,
            std::sync::Arc::new(Stuck { fail }),
        )
        .unwrap();
        let addr = server.local_addr();
        let hub = server.hub();
        let shutdown = tokio_util::sync::CancellationToken::new();
        let task = tokio::spawn(server.run(shutdown.clone()));
        let mut sock = TcpStream::connect(addr).await.unwrap();
        let mut p = Publisher::new();
        let mut bytes = c0c1();
        bytes.extend(c2());
        bytes.extend(p.publish_commands("live", KEY));
        sock.write_all(&bytes).await.unwrap();
        let out = read_to_close(&mut sock).await.unwrap();
        let statuses = server_statuses(&out);
        assert_eq!(
            statuses.last().map(String::as_str),
            Some("onStatus:NetStream.Publish.Failed"),
            "{statuses:?}"
        );
        assert!(hub.live_streams().is_empty());
        shutdown.cancel();
        task.await.unwrap().unwrap();
    }
}
