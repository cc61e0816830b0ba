//! The lean publisher: the FLV chunked once for every publisher, and the
//! connect / handshake / publish exchange of one publisher.
//!
//! Media goes on chunk streams of its own (audio 4, video 6) and commands
//! on 2 and 3, so the chunk headers of the media do not depend on what a
//! publisher sent before: one pre-chunked buffer is valid for all of them.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use anyhow::{Context, bail};
use bytes::Bytes;
use streamly_core::media::{FlvReader, FlvTagKind};
use streamly_rtmp::amf0::{Amf0Value, decode_all, encode_all};
use streamly_rtmp::chunk::{ChunkDecoder, ChunkEncoder, ChunkLimits, RtmpMessage};
use streamly_rtmp::handshake::PACKET_LEN;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;

/// Outbound chunk size of every publisher (what OBS and ffmpeg use).
pub const CHUNK_SIZE: u32 = 4096;
const AUDIO_CSID: u32 = 4;
const VIDEO_CSID: u32 = 6;
const COMMAND_CSID: u32 = 3;
const CONTROL_CSID: u32 = 2;
/// The stream id the servers answer the first `createStream` with.
const MSID: u32 = 1;

/// An FLV's audio and video tags as one chunk stream.
pub struct Media {
    /// All chunks, back to back.
    pub bytes: Bytes,
    /// `ends[i]`: the end of message `i` in `bytes`.
    pub ends: Vec<usize>,
    /// `ts[i]`: message `i`'s timestamp in ms, when it is due.
    pub ts: Vec<u32>,
}

impl Media {
    /// Chunks the FLV at `path` (script tags are left out).
    pub fn load(path: &str) -> anyhow::Result<Self> {
        let data = std::fs::read(path).with_context(|| format!("reading {path}"))?;
        let mut enc = ChunkEncoder::new();
        enc.set_chunk_size(CHUNK_SIZE);
        let (mut out, mut ends, mut ts) = (Vec::new(), Vec::new(), Vec::new());
        for tag in FlvReader::new(Bytes::from(data))? {
            let tag = tag?;
            let (csid, type_id) = match tag.kind {
                FlvTagKind::Audio => (AUDIO_CSID, 8),
                FlvTagKind::Video => (VIDEO_CSID, 9),
                FlvTagKind::Script => continue,
            };
            let msg = RtmpMessage {
                csid,
                timestamp: tag.timestamp,
                type_id,
                stream_id: MSID,
                payload: tag.body,
            };
            enc.encode(&msg, &mut out)?;
            ends.push(out.len());
            ts.push(tag.timestamp);
        }
        if ends.is_empty() {
            bail!("{path} holds no audio or video tags");
        }
        Ok(Self {
            bytes: Bytes::from(out),
            ends,
            ts,
        })
    }

    /// The media's length in ms.
    pub fn duration_ms(&self) -> u32 {
        self.ts.iter().copied().max().unwrap_or(0)
    }
}

/// Where to publish.
pub struct Target {
    pub addr: SocketAddr,
    pub app: String,
}

impl Target {
    /// Parses `rtmp://host:port/app`.
    pub fn parse(url: &str) -> anyhow::Result<Self> {
        let rest = url
            .strip_prefix("rtmp://")
            .with_context(|| format!("{url:?} is not rtmp://host:port/app"))?;
        let (host, app) = rest.split_once('/').context("no app in the URL")?;
        let host = if host.contains(':') {
            host.to_owned()
        } else {
            format!("{host}:1935")
        };
        let addr = std::net::ToSocketAddrs::to_socket_addrs(&host)?
            .next()
            .with_context(|| format!("{host} does not resolve"))?;
        Ok(Self {
            addr,
            app: app.trim_end_matches('/').to_owned(),
        })
    }
}

/// How a publish attempt ended.
pub enum Outcome {
    /// `NetStream.Publish.Start`: the socket, ready for media.
    Publishing(std::net::TcpStream),
    /// Connection refused or closed, or the server answered with an error.
    Refused(String),
    /// No `NetStream.Publish.Start` in time.
    TimedOut,
}

/// The source address of publisher `index` on loopback: servers cap
/// connections per client address (Streamly: 16), so publishers are spread
/// over 127.0.0.0/8, `per_addr` to an address.
pub fn source_addr(target: &Target, index: usize, per_addr: usize) -> Option<SocketAddr> {
    if !target.addr.ip().is_loopback() || per_addr == 0 {
        return None;
    }
    let a = u32::try_from(index / per_addr).ok()? + 1;
    let ip = Ipv4Addr::from(0x7f00_0000 | (1 << 16) | a);
    Some(SocketAddr::new(IpAddr::V4(ip), 0))
}

/// Connects, shakes hands and publishes `key`, waiting for
/// `NetStream.Publish.Start` at most `timeout`.
pub async fn publish(target: &Target, source: Option<SocketAddr>, key: &str, timeout: Duration) -> Outcome {
    match tokio::time::timeout(timeout, try_publish(target, source, key)).await {
        Ok(Ok(sock)) => Outcome::Publishing(sock),
        Ok(Err(e)) => Outcome::Refused(format!("{e:#}")),
        Err(_) => Outcome::TimedOut,
    }
}

async fn try_publish(
    target: &Target,
    source: Option<SocketAddr>,
    key: &str,
) -> anyhow::Result<std::net::TcpStream> {
    let socket = TcpSocket::new_v4()?;
    if let Some(source) = source {
        socket.bind(source)?;
    }
    let mut sock = socket.connect(target.addr).await?;
    sock.set_nodelay(true)?;
    // C0 + C1; the servers check neither C1's content nor C2's.
    let mut c0c1 = vec![3u8];
    c0c1.extend((0..PACKET_LEN).map(|i| (i * 7) as u8));
    sock.write_all(&c0c1).await?;
    let mut s0s1s2 = vec![0u8; 1 + 2 * PACKET_LEN];
    sock.read_exact(&mut s0s1s2).await?;
    let mut out = vec![0u8; PACKET_LEN];
    out.extend(publish_commands(&target.app, key)?);
    sock.write_all(&out).await?;

    let mut dec = ChunkDecoder::new(ChunkLimits::default());
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        while let Some(msg) = dec.next_message()? {
            if msg.type_id != 20 {
                continue;
            }
            let values = decode_all(&msg.payload)?;
            let name = values.first().and_then(Amf0Value::as_str).unwrap_or("?");
            let code = values
                .get(3)
                .and_then(|v| v.get("code"))
                .and_then(Amf0Value::as_str)
                .unwrap_or("");
            if code == "NetStream.Publish.Start" {
                let sock = sock.into_std()?;
                sock.set_nonblocking(true)?;
                return Ok(sock);
            }
            if name == "_error"
                || code.contains("Rejected")
                || code.contains("BadName")
                || code.contains("Failed")
            {
                bail!("{name} {code}");
            }
        }
        let n = sock.read(&mut buf).await?;
        if n == 0 {
            bail!("closed by the server before NetStream.Publish.Start");
        }
        dec.push(&buf[..n]);
    }
}

fn command(enc: &mut ChunkEncoder, msid: u32, values: &[Amf0Value], out: &mut Vec<u8>) -> anyhow::Result<()> {
    let msg = RtmpMessage {
        csid: COMMAND_CSID,
        timestamp: 0,
        type_id: 20,
        stream_id: msid,
        payload: Bytes::from(encode_all(values)),
    };
    enc.encode(&msg, out)?;
    Ok(())
}

/// Set Chunk Size, then connect, releaseStream, FCPublish, createStream and
/// publish, pipelined as OBS does.
fn publish_commands(app: &str, key: &str) -> anyhow::Result<Vec<u8>> {
    let s = |v: &str| Amf0Value::String(v.to_owned());
    let n = Amf0Value::Number;
    let mut enc = ChunkEncoder::new();
    let mut out = Vec::new();
    let set_chunk_size = RtmpMessage {
        csid: CONTROL_CSID,
        timestamp: 0,
        type_id: 1,
        stream_id: 0,
        payload: Bytes::copy_from_slice(&CHUNK_SIZE.to_be_bytes()),
    };
    enc.encode(&set_chunk_size, &mut out)?;
    enc.set_chunk_size(CHUNK_SIZE);
    let connect = Amf0Value::Object(vec![
        ("app".into(), s(app)),
        ("type".into(), s("nonprivate")),
        ("tcUrl".into(), s(&format!("rtmp://127.0.0.1/{app}"))),
    ]);
    command(&mut enc, 0, &[s("connect"), n(1.0), connect], &mut out)?;
    command(
        &mut enc,
        0,
        &[s("releaseStream"), n(2.0), Amf0Value::Null, s(key)],
        &mut out,
    )?;
    command(
        &mut enc,
        0,
        &[s("FCPublish"), n(3.0), Amf0Value::Null, s(key)],
        &mut out,
    )?;
    command(
        &mut enc,
        0,
        &[s("createStream"), n(4.0), Amf0Value::Null],
        &mut out,
    )?;
    command(
        &mut enc,
        MSID,
        &[s("publish"), n(5.0), Amf0Value::Null, s(key), s("live")],
        &mut out,
    )?;
    Ok(out)
}
