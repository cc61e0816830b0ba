//! A hand-built RTMP publisher for tests: raw handshake and chunk bytes,
//! built with the crate's public encoder so tests can interleave chunks.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use streamly_core::adapters::StaticKeyValidator;
use streamly_rtmp::amf0::{Amf0Value, decode_all, encode_all};
use streamly_rtmp::chunk::{ChunkDecoder, ChunkEncoder, ChunkLimits, RtmpMessage};
use streamly_rtmp::handshake::PACKET_LEN;
use streamly_rtmp::{RtmpConfig, RtmpServer, StreamHub};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

/// C0 + C1.
pub fn c0c1() -> Vec<u8> {
    let mut v = vec![3u8];
    v.extend((0..PACKET_LEN).map(|i| (i * 7) as u8));
    v
}

/// C2 (content is not checked by the server).
pub fn c2() -> Vec<u8> {
    vec![0u8; PACKET_LEN]
}

fn s(v: &str) -> Amf0Value {
    Amf0Value::String(v.to_owned())
}

/// Builds the chunks a publisher sends.
pub struct Publisher {
    pub enc: ChunkEncoder,
}

impl Default for Publisher {
    fn default() -> Self {
        Self::new()
    }
}

impl Publisher {
    pub fn new() -> Self {
        Self {
            enc: ChunkEncoder::new(),
        }
    }

    pub fn message(&mut self, csid: u32, type_id: u8, msid: u32, ts: u32, payload: Vec<u8>) -> Vec<u8> {
        let mut out = Vec::new();
        self.enc
            .encode(
                &RtmpMessage {
                    csid,
                    timestamp: ts,
                    type_id,
                    stream_id: msid,
                    payload: Bytes::from(payload),
                },
                &mut out,
            )
            .unwrap();
        out
    }

    pub fn command(&mut self, msid: u32, values: &[Amf0Value]) -> Vec<u8> {
        self.message(3, 20, msid, 0, encode_all(values))
    }

    /// connect, releaseStream, FCPublish, createStream, publish — pipelined
    /// (the server always answers createStream with stream id 1).
    pub fn publish_commands(&mut self, app: &str, key: &str) -> Vec<u8> {
        let mut out = self.command(
            0,
            &[
                s("connect"),
                Amf0Value::Number(1.0),
                Amf0Value::Object(vec![
                    ("app".into(), s(app)),
                    ("type".into(), s("nonprivate")),
                    ("tcUrl".into(), s(&format!("rtmp://127.0.0.1/{app}"))),
                ]),
            ],
        );
        out.extend(self.command(
            0,
            &[
                s("releaseStream"),
                Amf0Value::Number(2.0),
                Amf0Value::Null,
                s(key),
            ],
        ));
        out.extend(self.command(
            0,
            &[s("FCPublish"), Amf0Value::Number(3.0), Amf0Value::Null, s(key)],
        ));
        out.extend(self.command(0, &[s("createStream"), Amf0Value::Number(4.0), Amf0Value::Null]));
        out.extend(self.command(
            1,
            &[
                s("publish"),
                Amf0Value::Number(5.0),
                Amf0Value::Null,
                s(key),
                s("live"),
            ],
        ));
        out
    }

    pub fn set_chunk_size(&mut self, size: u32) -> Vec<u8> {
        let out = self.message(2, 1, 0, 0, size.to_be_bytes().to_vec());
        self.enc.set_chunk_size(size);
        out
    }

    pub fn unpublish(&mut self) -> Vec<u8> {
        let mut out = self.command(
            0,
            &[s("FCUnpublish"), Amf0Value::Number(6.0), Amf0Value::Null, s("x")],
        );
        out.extend(self.command(
            0,
            &[
                s("deleteStream"),
                Amf0Value::Number(7.0),
                Amf0Value::Null,
                Amf0Value::Number(1.0),
            ],
        ));
        out
    }
}

/// The tags of the committed fixture (H.264 High + AAC, 250 video frames).
pub fn fixture_tags() -> Vec<streamly_core::media::FlvTag> {
    let data = std::fs::read(fixture()).unwrap();
    streamly_core::media::FlvReader::new(Bytes::from(data))
        .unwrap()
        .map(|t| t.unwrap())
        .collect()
}

/// An AVC NALU tag body of `len` payload bytes.
pub fn avc_frame(keyframe: bool, cts: i32, len: usize, fill: u8) -> Vec<u8> {
    let c = cts.to_be_bytes();
    let mut body = vec![if keyframe { 0x17 } else { 0x27 }, 0x01, c[1], c[2], c[3]];
    let nal_len = (len as u32).to_be_bytes();
    body.extend_from_slice(&nal_len);
    body.extend(std::iter::repeat_n(fill, len));
    body
}

/// AAC tags: sequence header (LC, 44.1 kHz, stereo) and a raw frame.
pub fn aac_sequence_header() -> Vec<u8> {
    vec![0xaf, 0x00, 0x12, 0x10]
}

pub fn aac_frame(fill: u8) -> Vec<u8> {
    let mut v = vec![0xaf, 0x01];
    v.extend(std::iter::repeat_n(fill, 20));
    v
}

/// Decodes the server's chunk stream (after S0+S1+S2) into AMF0 command
/// names and `onStatus` codes.
pub fn server_statuses(out: &[u8]) -> Vec<String> {
    let mut dec = ChunkDecoder::new(ChunkLimits::default());
    dec.push(out.get(1 + 2 * PACKET_LEN..).unwrap_or(&[]));
    let mut names = Vec::new();
    while let Ok(Some(msg)) = dec.next_message() {
        if msg.type_id != 20 {
            continue;
        }
        let values = decode_all(&msg.payload).unwrap();
        let name = values[0].as_str().unwrap_or("?").to_owned();
        let code = values
            .get(3)
            .and_then(|v| v.get("code"))
            .and_then(Amf0Value::as_str);
        names.push(match code {
            Some(code) => format!("{name}:{code}"),
            None => name,
        });
    }
    names
}

pub const KEY: &str = "secret1";
pub const KEY2: &str = "secret2";

pub struct TestServer {
    pub addr: std::net::SocketAddr,
    pub hub: StreamHub,
    pub validator: Arc<StaticKeyValidator>,
    pub shutdown: CancellationToken,
    pub task: tokio::task::JoinHandle<Result<(), streamly_rtmp::RtmpError>>,
}

pub fn short_config() -> RtmpConfig {
    RtmpConfig {
        handshake_timeout: Duration::from_millis(500),
        idle_timeout: Duration::from_secs(5),
        max_message_len: 1 << 20,
        ..RtmpConfig::default()
    }
}

pub fn start(config: RtmpConfig) -> TestServer {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter("streamly_rtmp=debug")
        .try_init();
    let validator = Arc::new(StaticKeyValidator::from_spec("demo=secret1,other=secret2").unwrap());
    let server = RtmpServer::bind("127.0.0.1:0".parse().unwrap(), config, validator.clone()).unwrap();
    let addr = server.local_addr();
    let hub = server.hub();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(server.run(shutdown.clone()));
    TestServer {
        addr,
        hub,
        validator,
        shutdown,
        task,
    }
}

/// Connects and completes the handshake.
pub async fn handshaken(addr: std::net::SocketAddr) -> TcpStream {
    let mut sock = TcpStream::connect(addr).await.unwrap();
    sock.write_all(&c0c1()).await.unwrap();
    let mut s0s1s2 = vec![0u8; 1 + 2 * PACKET_LEN];
    sock.read_exact(&mut s0s1s2).await.unwrap();
    sock.write_all(&c2()).await.unwrap();
    sock
}

/// Reads until the peer closes (bounded by a generous timeout).
pub async fn read_to_close(sock: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut all = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), sock.read_to_end(&mut all))
        .await
        .map_err(|_| std::io::Error::other("peer did not close"))??;
    Ok(all)
}

pub fn ffmpeg_available() -> bool {
    std::process::Command::new("ffmpeg")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success())
}

pub fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/av.flv")
}
