//! The server against a client that shares no code with our chunk layer
//! (issue 3): rml_rtmp 0.8's handshake, client session and outbound chunk
//! serializer, and raw chunk bytes written by hand per RTMP spec §5.3.1 —
//! so an assumption shared by our `ChunkEncoder` and `ChunkDecoder` cannot
//! hide a bug.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::sessions::{
    ClientSession, ClientSessionConfig, ClientSessionEvent, ClientSessionResult, PublishRequestType,
};
use rml_rtmp::time::RtmpTimestamp;
use streamly_core::adapters::StaticKeyValidator;
use streamly_core::domain::StreamId;
use streamly_core::media::{FlvReader, FlvTag, FlvTagKind, MediaFrame};
use streamly_rtmp::{RtmpConfig, RtmpServer, StreamHub};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;

/// A guard against hangs, never a synchronisation point.
const LIMIT: Duration = Duration::from_secs(20);
const KEY: &str = "secret1";
const STREAM: &str = "demo";
static FLV: &[u8] = include_bytes!("../../testdata/av.flv");

struct Server {
    addr: std::net::SocketAddr,
    hub: StreamHub,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), streamly_rtmp::RtmpError>>,
}

fn start() -> Server {
    let validator = Arc::new(StaticKeyValidator::from_spec(&format!("{STREAM}={KEY}")).unwrap());
    let server = RtmpServer::bind("127.0.0.1:0".parse().unwrap(), RtmpConfig::default(), validator).unwrap();
    let addr = server.local_addr();
    let hub = server.hub();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(server.run(shutdown.clone()));
    Server {
        addr,
        hub,
        shutdown,
        task,
    }
}

fn tags() -> Vec<FlvTag> {
    FlvReader::new(Bytes::from_static(FLV))
        .unwrap()
        .map(|t| t.unwrap())
        .filter(|t| t.kind != FlvTagKind::Script)
        .collect()
}

/// Frames of one kind, in order: what parsing the FLV directly gives, or
/// what a subscriber received.
fn split(frames: &[MediaFrame]) -> (Vec<MediaFrame>, Vec<MediaFrame>, Vec<MediaFrame>) {
    let pick = |f: fn(&MediaFrame) -> bool| frames.iter().filter(|x| f(x)).cloned().collect::<Vec<_>>();
    (
        pick(|f| matches!(f, MediaFrame::Video(_))),
        pick(|f| matches!(f, MediaFrame::Audio(_))),
        pick(|f| matches!(f, MediaFrame::VideoConfig(_) | MediaFrame::AudioConfig(_))),
    )
}

fn assert_same_as_fixture(got: &[MediaFrame]) {
    let expected: Vec<_> = tags().iter().filter_map(|t| t.to_frame().unwrap()).collect();
    let (video, audio, configs) = split(&expected);
    let (got_video, got_audio, got_configs) = split(got);
    assert_eq!(video.len(), 250, "the fixture has 250 video frames");
    assert!(!audio.is_empty(), "the fixture has audio");
    assert_eq!(got_video.len(), 250);
    assert_eq!(
        got_video, video,
        "every video frame: identical payload and timestamps"
    );
    assert_eq!(
        got_audio, audio,
        "every audio frame: identical payload and timestamps"
    );
    assert_eq!(got_configs, configs, "the AVC and AAC configurations");
}

/// Sends every outbound packet of `results`; returns the raised events.
async fn send_results(sock: &mut TcpStream, results: Vec<ClientSessionResult>) -> Vec<ClientSessionEvent> {
    let mut events = Vec::new();
    for r in results {
        match r {
            ClientSessionResult::OutboundResponse(p) => sock.write_all(&p.bytes).await.unwrap(),
            ClientSessionResult::RaisedEvent(e) => events.push(e),
            ClientSessionResult::UnhandleableMessageReceived(_) => {}
        }
    }
    events
}

/// rml_rtmp's client handshake, `connect` to app `live` and `publish` of
/// `KEY`, answering the server as it goes. Returns the socket and the
/// session in the `Publishing` state.
async fn rml_publisher(
    addr: std::net::SocketAddr,
    config: ClientSessionConfig,
) -> (TcpStream, ClientSession) {
    let mut sock = TcpStream::connect(addr).await.unwrap();
    let mut hs = Handshake::new(PeerType::Client);
    sock.write_all(&hs.generate_outbound_p0_and_p1().unwrap())
        .await
        .unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    let leftover = loop {
        let n = timeout(LIMIT, sock.read(&mut buf)).await.unwrap().unwrap();
        assert!(n > 0, "server closed during the handshake");
        match hs.process_bytes(&buf[..n]).unwrap() {
            HandshakeProcessResult::InProgress { response_bytes } => {
                sock.write_all(&response_bytes).await.unwrap();
            }
            HandshakeProcessResult::Completed {
                response_bytes,
                remaining_bytes,
            } => {
                sock.write_all(&response_bytes).await.unwrap();
                break remaining_bytes;
            }
        }
    };

    let (mut session, initial) = ClientSession::new(config).unwrap();
    send_results(&mut sock, initial).await;
    let connect = session.request_connection("live".to_owned()).unwrap();
    send_results(&mut sock, vec![connect]).await;
    let mut input = leftover;
    loop {
        if !input.is_empty() {
            // The server never interleaves its own chunk streams, so rml's
            // inbound deserializer (which mishandles interleaving) is safe here.
            let results = session.handle_input(&input).unwrap();
            for event in send_results(&mut sock, results).await {
                match event {
                    ClientSessionEvent::ConnectionRequestAccepted => {
                        let publish = session
                            .request_publishing(KEY.to_owned(), PublishRequestType::Live)
                            .unwrap();
                        send_results(&mut sock, vec![publish]).await;
                    }
                    ClientSessionEvent::PublishRequestAccepted => return (sock, session),
                    ClientSessionEvent::ConnectionRequestRejected { description } => {
                        panic!("connect rejected: {description}")
                    }
                    _ => {}
                }
            }
        }
        let n = timeout(LIMIT, sock.read(&mut buf)).await.unwrap().unwrap();
        assert!(n > 0, "server closed before accepting the publish");
        input = buf[..n].to_vec();
    }
}

/// Ends the connection cleanly from our side (FIN after everything was
/// written) and drains whatever the server still says until it closes.
async fn finish(mut sock: TcpStream) {
    sock.shutdown().await.unwrap();
    let mut sink = Vec::new();
    // A reset instead of a clean close is fine: the data was all sent first.
    let _ = timeout(LIMIT, sock.read_to_end(&mut sink)).await.unwrap();
}

fn collect(mut rx: mpsc::Receiver<MediaFrame>) -> tokio::task::JoinHandle<Vec<MediaFrame>> {
    tokio::spawn(async move {
        let mut frames = Vec::new();
        while let Some(f) = rx.recv().await {
            frames.push(f);
        }
        frames
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rml_rtmp_client_publishes_the_fixture_intact() {
    let srv = start();
    let rx = srv.hub.subscribe_upcoming(&StreamId::parse(STREAM).unwrap());
    let collector = collect(rx);
    // A small chunk size so most video messages span many chunks.
    let mut config = ClientSessionConfig::new();
    config.chunk_size = 256;
    let (mut sock, mut session) = rml_publisher(srv.addr, config).await;

    let mut bytes = Vec::new();
    for tag in tags() {
        let ts = RtmpTimestamp::new(tag.timestamp);
        let packet = match tag.kind {
            FlvTagKind::Video => session.publish_video_data(tag.body.clone(), ts, false),
            FlvTagKind::Audio => session.publish_audio_data(tag.body.clone(), ts, false),
            FlvTagKind::Script => continue,
        };
        match packet.unwrap() {
            ClientSessionResult::OutboundResponse(p) => bytes.extend(p.bytes),
            other => panic!("unexpected {other:?}"),
        }
    }
    // Whatever the server sent meanwhile (acknowledgements) is not fed back
    // to the session: nothing in it matters to a publisher, and rml's inbound
    // deserializer is the part of rml we do not trust.
    for piece in bytes.chunks(1777) {
        sock.write_all(piece).await.unwrap();
    }
    finish(sock).await;

    let frames = timeout(LIMIT, collector).await.unwrap().unwrap();
    assert_same_as_fixture(&frames);
    srv.shutdown.cancel();
    timeout(LIMIT, srv.task).await.unwrap().unwrap().unwrap();
}

/// Hand-written chunk headers (RTMP spec §5.3.1), no encoder involved.
/// csid 2..=63 only (one-byte basic header); timestamps below 0xFFFFFF
/// (no extended timestamp).
mod raw {
    /// A type 0 chunk header: basic header (fmt 0), then timestamp (3 bytes
    /// BE), message length (3 bytes BE), type id, message stream id (4
    /// bytes LE).
    pub fn fmt0(out: &mut Vec<u8>, csid: u8, ts: u32, len: usize, type_id: u8, msid: u32) {
        assert!((2..64).contains(&csid) && ts < 0xff_ffff && len < 1 << 24);
        out.push(csid); // fmt 0 in the top two bits
        out.extend_from_slice(&ts.to_be_bytes()[1..]);
        out.extend_from_slice(&(len as u32).to_be_bytes()[1..]);
        out.push(type_id);
        out.extend_from_slice(&msid.to_le_bytes());
    }

    /// A type 3 chunk header: the basic header alone.
    pub fn fmt3(out: &mut Vec<u8>, csid: u8) {
        assert!((2..64).contains(&csid));
        out.push(0xc0 | csid);
    }

    /// One whole message: a fmt 0 chunk, then fmt 3 continuations.
    pub fn message(
        out: &mut Vec<u8>,
        csid: u8,
        ts: u32,
        type_id: u8,
        msid: u32,
        payload: &[u8],
        chunk: usize,
    ) {
        fmt0(out, csid, ts, payload.len(), type_id, msid);
        for (i, piece) in payload.chunks(chunk).enumerate() {
            if i > 0 {
                fmt3(out, csid);
            }
            out.extend_from_slice(piece);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hand_written_interleaved_chunks_arrive_intact() {
    const CHUNK: usize = 128;
    // The server gives the publishing stream message stream id 1 (the
    // answer to the first createStream).
    const MSID: u32 = 1;
    const VIDEO_CSID: u8 = 6;
    const AUDIO_CSID: u8 = 4;
    let srv = start();
    let rx = srv.hub.subscribe_upcoming(&StreamId::parse(STREAM).unwrap());
    let collector = collect(rx);
    // rml_rtmp sends SetChunkSize(CHUNK) once connected; from then on our
    // raw bytes use that chunk size.
    let mut config = ClientSessionConfig::new();
    config.chunk_size = CHUNK as u32;
    let (mut sock, _session) = rml_publisher(srv.addr, config).await;

    // Each video message: its fmt 0 first chunk on csid 6, then every audio
    // message pending since the previous video one as a complete fmt 0
    // message on csid 4, then the video's fmt 3 continuation chunks.
    let mut bytes = Vec::new();
    let mut pending_audio = Vec::new();
    let mut interleaved = 0;
    for tag in tags() {
        match tag.kind {
            FlvTagKind::Audio => {
                raw::message(
                    &mut pending_audio,
                    AUDIO_CSID,
                    tag.timestamp,
                    8,
                    MSID,
                    &tag.body,
                    CHUNK,
                );
            }
            FlvTagKind::Video => {
                let body = &tag.body;
                raw::fmt0(&mut bytes, VIDEO_CSID, tag.timestamp, body.len(), 9, MSID);
                let mut pieces = body.chunks(CHUNK);
                bytes.extend_from_slice(pieces.next().unwrap_or(&[]));
                if body.len() > CHUNK && !pending_audio.is_empty() {
                    interleaved += 1;
                    bytes.append(&mut pending_audio);
                }
                for piece in pieces {
                    raw::fmt3(&mut bytes, VIDEO_CSID);
                    bytes.extend_from_slice(piece);
                }
            }
            FlvTagKind::Script => {}
        }
    }
    bytes.append(&mut pending_audio);
    assert!(
        interleaved > 100,
        "audio interleaved into {interleaved} video messages"
    );
    for piece in bytes.chunks(1777) {
        sock.write_all(piece).await.unwrap();
    }
    finish(sock).await;

    let frames = timeout(LIMIT, collector).await.unwrap().unwrap();
    assert_same_as_fixture(&frames);
    srv.shutdown.cancel();
    timeout(LIMIT, srv.task).await.unwrap().unwrap().unwrap();
}
