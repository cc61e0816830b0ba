//! The listening clients. Each opens a real WebSocket (the RFC 6455 §4.1
//! handshake, written out here), then a few threads read all of them with
//! `mio` and parse the server's frames in place.
//!
//! The generator shares the machine with the server, so every microsecond
//! it spends per delivery is taken from the server and shows up as latency.
//! A tokio task plus tungstenite per client cost about 8 µs per delivery
//! here (a wake-up, a 4 KiB zero-fill before each read, a frame copy); this
//! loop costs little more than the `recvfrom` itself.

use std::io::{self, Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::histogram::Histogram;

/// The largest frame a listener accepts from the server; chat frames are
/// a few hundred bytes, a join's history a few tens of KiB.
const MAX_FRAME: usize = 1024 * 1024;
/// The largest handshake response read.
const MAX_RESPONSE_HEAD: usize = 16 * 1024;
/// Bytes asked of the kernel per read.
const READ_CHUNK: usize = 64 * 1024;

/// Where to connect: `ws://host:port/path?query`, split.
#[derive(Clone)]
pub struct WsUrl {
    pub host: String,
    pub path: String,
}

impl WsUrl {
    pub fn parse(url: &str) -> anyhow::Result<Self> {
        let rest = url
            .strip_prefix("ws://")
            .context("only ws:// URLs are supported")?;
        let (host, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if host.is_empty() {
            bail!("no host in {url:?}");
        }
        Ok(Self {
            host: host.to_owned(),
            path: path.to_owned(),
        })
    }
}

/// Opens one WebSocket: TCP connect, the upgrade request, and the `101`
/// response. Returns the socket and whatever frame bytes followed the
/// response head.
pub async fn open(url: &WsUrl) -> anyhow::Result<(std::net::TcpStream, Vec<u8>)> {
    let mut tcp = tokio::net::TcpStream::connect(&url.host).await?;
    tcp.set_nodelay(true)?;
    // The key only has to be 16 bytes in base64 (RFC 6455 §4.1); the
    // server's answer to it is not checked.
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        url.path, url.host
    );
    tcp.write_all(request.as_bytes()).await?;
    let mut head = Vec::with_capacity(1024);
    let end = loop {
        if let Some(i) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if head.len() > MAX_RESPONSE_HEAD {
            bail!("handshake response head over {MAX_RESPONSE_HEAD} bytes");
        }
        let mut chunk = [0u8; 1024];
        let n = tcp.read(&mut chunk).await?;
        if n == 0 {
            bail!("server closed during the handshake");
        }
        head.extend_from_slice(&chunk[..n]);
    };
    if !head.starts_with(b"HTTP/1.1 101") {
        let line = String::from_utf8_lossy(&head[..head.len().min(80)]).into_owned();
        bail!("upgrade refused: {}", line.lines().next().unwrap_or_default());
    }
    let rest = head.split_off(end);
    Ok((tcp.into_std()?, rest))
}

/// What one reader thread saw while measuring.
pub struct Report {
    pub latency: Histogram,
    pub delivered: u64,
    /// Connections the server closed (close frame or end of stream).
    pub closed: u64,
}

/// The reader threads and the way to hand them connections.
pub struct Readers {
    inboxes: Vec<mpsc::Sender<(std::net::TcpStream, Vec<u8>)>>,
    threads: Vec<JoinHandle<io::Result<Report>>>,
    next: usize,
    stop: Arc<AtomicBool>,
}

impl Readers {
    /// Starts `threads` readers. Latencies are recorded while `measuring`
    /// is set, against `epoch` (the senders' clock).
    pub fn start(threads: usize, epoch: Instant, measuring: Arc<AtomicBool>) -> io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut inboxes = Vec::new();
        let mut handles = Vec::new();
        for i in 0..threads.max(1) {
            let (tx, rx) = mpsc::channel();
            let poll = Poll::new()?;
            let stop = Arc::clone(&stop);
            let measuring = Arc::clone(&measuring);
            let handle = std::thread::Builder::new()
                .name(format!("reader-{i}"))
                .spawn(move || read_loop(poll, rx, epoch, &measuring, &stop))?;
            inboxes.push(tx);
            handles.push(handle);
        }
        Ok(Self {
            inboxes,
            threads: handles,
            next: 0,
            stop,
        })
    }

    /// Gives an open connection to the next reader (round robin).
    pub fn adopt(&mut self, socket: std::net::TcpStream, rest: Vec<u8>) {
        let i = self.next % self.inboxes.len();
        self.next += 1;
        // A reader only goes away on `finish`.
        let _ = self.inboxes[i].send((socket, rest));
    }

    /// Stops the readers and merges what they saw.
    pub fn finish(self) -> anyhow::Result<Report> {
        self.stop.store(true, Ordering::Relaxed);
        let mut total = Report {
            latency: Histogram::new(),
            delivered: 0,
            closed: 0,
        };
        for t in self.threads {
            let r = t
                .join()
                .map_err(|_| anyhow::anyhow!("a reader thread panicked"))??;
            total.latency.merge(&r.latency);
            total.delivered += r.delivered;
            total.closed += r.closed;
        }
        Ok(total)
    }
}

/// One listener: its socket and the tail of a frame not yet complete.
struct Listener {
    socket: TcpStream,
    partial: Vec<u8>,
    open: bool,
}

fn read_loop(
    mut poll: Poll,
    inbox: mpsc::Receiver<(std::net::TcpStream, Vec<u8>)>,
    epoch: Instant,
    measuring: &AtomicBool,
    stop: &AtomicBool,
) -> io::Result<Report> {
    let mut report = Report {
        latency: Histogram::new(),
        delivered: 0,
        closed: 0,
    };
    let mut listeners: Vec<Listener> = Vec::new();
    let mut events = Events::with_capacity(1024);
    let mut scratch = vec![0u8; READ_CHUNK];
    while !stop.load(Ordering::Relaxed) {
        while let Ok((socket, rest)) = inbox.try_recv() {
            socket.set_nonblocking(true)?;
            let mut socket = TcpStream::from_std(socket);
            poll.registry()
                .register(&mut socket, Token(listeners.len()), Interest::READABLE)?;
            let mut listener = Listener {
                socket,
                partial: Vec::new(),
                open: true,
            };
            listener.consume(&rest, epoch, measuring, &mut report);
            listeners.push(listener);
        }
        poll.poll(&mut events, Some(Duration::from_millis(20)))?;
        for event in &events {
            let Some(listener) = listeners.get_mut(event.token().0) else {
                continue;
            };
            listener.on_readable(&mut scratch, epoch, measuring, &mut report);
            if !listener.open {
                let _ = poll.registry().deregister(&mut listener.socket);
            }
        }
    }
    Ok(report)
}

impl Listener {
    /// Reads until the socket is drained. A short read means it was: the
    /// poll is edge-triggered and reports any byte that arrives later.
    fn on_readable(
        &mut self,
        scratch: &mut [u8],
        epoch: Instant,
        measuring: &AtomicBool,
        report: &mut Report,
    ) {
        while self.open {
            match self.socket.read(scratch) {
                Ok(0) => self.close(report),
                Ok(n) => {
                    self.consume(&scratch[..n], epoch, measuring, report);
                    if n < scratch.len() {
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => self.close(report),
            }
        }
    }

    fn close(&mut self, report: &mut Report) {
        if self.open {
            self.open = false;
            report.closed += 1;
        }
    }

    /// Handles every complete frame in `partial` + `data` and keeps the rest.
    fn consume(&mut self, data: &[u8], epoch: Instant, measuring: &AtomicBool, report: &mut Report) {
        if self.partial.is_empty() {
            let used = self.frames(data, epoch, measuring, report);
            self.partial.extend_from_slice(&data[used..]);
        } else {
            let mut buf = std::mem::take(&mut self.partial);
            buf.extend_from_slice(data);
            let used = self.frames(&buf, epoch, measuring, report);
            buf.drain(..used);
            self.partial = buf;
        }
    }

    /// Handles the complete frames at the start of `data`; returns the
    /// bytes they took.
    fn frames(&mut self, data: &[u8], epoch: Instant, measuring: &AtomicBool, report: &mut Report) -> usize {
        let mut used = 0;
        while self.open {
            match parse_frame(&data[used..]) {
                Ok(Some(frame)) => {
                    let payload = &data[used + frame.header..used + frame.header + frame.len];
                    used += frame.header + frame.len;
                    match frame.opcode {
                        OP_TEXT => {
                            if measuring.load(Ordering::Relaxed)
                                && let Some(sent) = sent_micros(payload)
                            {
                                let now = u64::try_from(epoch.elapsed().as_micros()).unwrap_or(u64::MAX);
                                report.latency.record(now.saturating_sub(sent));
                                report.delivered += 1;
                            }
                        }
                        OP_PING => self.pong(payload),
                        OP_CLOSE => self.close(report),
                        _ => {}
                    }
                }
                Ok(None) => break,
                Err(()) => self.close(report),
            }
        }
        used
    }

    /// Answers a ping. Clients mask every frame (RFC 6455 §5.3); a zero
    /// mask leaves the payload as it is.
    fn pong(&mut self, payload: &[u8]) {
        let mut frame = Vec::with_capacity(6 + payload.len());
        frame.push(0x80 | OP_PONG);
        // Control frames carry at most 125 bytes (RFC 6455 §5.5).
        let len = payload.len().min(125);
        frame.push(0x80 | len as u8);
        frame.extend_from_slice(&[0, 0, 0, 0]);
        frame.extend_from_slice(&payload[..len]);
        // A few bytes on an idle socket: if even they do not fit, the
        // server will time this client out, which the report shows.
        let _ = self.socket.write_all(&frame);
    }
}

const OP_TEXT: u8 = 0x1;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;

struct FrameHead {
    opcode: u8,
    header: usize,
    len: usize,
}

/// The next frame's header, `None` until it and its payload are all in
/// `data`, or `Err` for a frame no server should send (masked, or larger
/// than [`MAX_FRAME`]).
fn parse_frame(data: &[u8]) -> Result<Option<FrameHead>, ()> {
    let [b0, b1, ..] = *data else {
        return Ok(None);
    };
    if b1 & 0x80 != 0 {
        return Err(());
    }
    let (header, len) = match b1 & 0x7f {
        126 => match data.get(2..4) {
            Some(b) => (4, usize::from(u16::from_be_bytes([b[0], b[1]]))),
            None => return Ok(None),
        },
        127 => match data.get(2..10) {
            Some(b) => {
                let mut be = [0u8; 8];
                be.copy_from_slice(b);
                (10, usize::try_from(u64::from_be_bytes(be)).map_err(|_| ())?)
            }
            None => return Ok(None),
        },
        n => (2, usize::from(n)),
    };
    if len > MAX_FRAME {
        return Err(());
    }
    if data.len() < header + len {
        return Ok(None);
    }
    Ok(Some(FrameHead {
        opcode: b0 & 0x0f,
        header,
        len,
    }))
}

/// The send time a `message` frame carries in its text (`t=<micros>`).
fn sent_micros(frame: &[u8]) -> Option<u64> {
    const TAG: &[u8] = b"\"text\":\"t=";
    if !frame.starts_with(b"{\"type\":\"message\"") {
        return None;
    }
    let start = frame.windows(TAG.len()).position(|w| w == TAG)? + TAG.len();
    let digits = &frame[start..];
    let end = digits.iter().position(|b| !b.is_ascii_digit())?;
    std::str::from_utf8(&digits[..end]).ok()?.parse().ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_parsed_and_bounded() {
        assert!(matches!(parse_frame(&[0x81]), Ok(None)));
        let f = parse_frame(&[0x81, 3, b'a', b'b', b'c']).unwrap().unwrap();
        assert_eq!((f.opcode, f.header, f.len), (1, 2, 3));
        assert!(matches!(parse_frame(&[0x81, 126, 0x01]), Ok(None)));
        assert!(parse_frame(&[0x81, 0x83, 0, 0, 0, 0]).is_err());
        let mut huge = vec![0x82, 127];
        huge.extend_from_slice(&u64::MAX.to_be_bytes());
        assert!(parse_frame(&huge).is_err());
    }

    #[test]
    fn send_time_is_read_from_message_frames_only() {
        let m = br#"{"type":"message","id":"x","text":"t=1234","sent_at":"2026"}"#;
        assert_eq!(sent_micros(m), Some(1234));
        assert_eq!(
            sent_micros(br#"{"type":"history","messages":[{"text":"t=1"}]}"#),
            None
        );
    }
}
