//! The floor: the least an RTMP ingest server can do on this machine, to
//! measure Streamly and nginx-rtmp against (`rtmp_load --serve-floor ADDR`,
//! with `--floor-dir DIR` to also write what it receives to disk).
//!
//! It is not an RTMP server. One thread (nginx-rtmp's one worker) polls
//! every socket with `mio`. Per publisher it reads C0+C1, answers S0+S1+S2,
//! reads C2, answers one pre-encoded `onStatus NetStream.Publish.Start`
//! without reading the commands, and from then on reads everything the
//! publisher sends into one 64 KiB buffer: no chunk parsing, no remux, no
//! playlist. With `--floor-dir` each read is appended to the publisher's
//! current file, a new file every 2 s, the 10 newest kept (nginx-rtmp's
//! `hls_fragment 2s`, `hls_playlist_length 20s`): the kernel's cost of the
//! segment files, without their muxing. What is left is what receiving
//! 600 kbit/s over loopback TCP (and writing it out) costs the kernel and
//! an event loop; no ingest server can cost less per stream.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use streamly_rtmp::amf0::{Amf0Value, encode_all};
use streamly_rtmp::chunk::{ChunkEncoder, RtmpMessage};
use streamly_rtmp::handshake::PACKET_LEN;

const LISTENER: Token = Token(usize::MAX);
/// A new file every this long (nginx-rtmp's `hls_fragment`).
const FILE_EVERY: Duration = Duration::from_secs(2);
/// Files kept per publisher (`hls_playlist_length` / `hls_fragment`).
const FILES_KEPT: usize = 10;

/// Where a publisher is in the exchange.
enum Phase {
    /// Reading C0 + C1 (`1 + PACKET_LEN` bytes); `usize` read so far.
    Hello(usize),
    /// Reading C2; `usize` read so far.
    Ack(usize),
    /// Everything else is media: read and dropped (or written to disk).
    Media,
}

struct Publisher {
    socket: TcpStream,
    phase: Phase,
    /// Bytes to write, and how many of them are written.
    out: Vec<u8>,
    written: usize,
    files: Option<Files>,
}

/// One publisher's files under `--floor-dir`.
struct Files {
    dir: PathBuf,
    id: usize,
    next: u64,
    current: Option<(File, Instant)>,
    kept: VecDeque<PathBuf>,
}

impl Files {
    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        let fresh = self
            .current
            .as_ref()
            .is_some_and(|(_, opened)| opened.elapsed() < FILE_EVERY);
        if !fresh {
            let path = self.dir.join(format!("p{}-{}.bin", self.id, self.next));
            self.next += 1;
            self.current = Some((File::create(&path)?, Instant::now()));
            self.kept.push_back(path);
            while self.kept.len() > FILES_KEPT {
                if let Some(old) = self.kept.pop_front() {
                    let _ = std::fs::remove_file(old);
                }
            }
        }
        match &mut self.current {
            Some((file, _)) => file.write_all(bytes),
            None => Ok(()),
        }
    }

    fn remove_all(&mut self) {
        self.current = None;
        for path in self.kept.drain(..) {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// The one `onStatus` every publisher gets once its handshake is done.
fn publish_start() -> anyhow::Result<Vec<u8>> {
    let s = |v: &str| Amf0Value::String(v.to_owned());
    let info = Amf0Value::Object(vec![
        ("level".into(), s("status")),
        ("code".into(), s("NetStream.Publish.Start")),
        ("description".into(), s("floor")),
    ]);
    let msg = RtmpMessage {
        csid: 5,
        timestamp: 0,
        type_id: 20,
        stream_id: 1,
        payload: Bytes::from(encode_all(&[
            s("onStatus"),
            Amf0Value::Number(0.0),
            Amf0Value::Null,
            info,
        ])),
    };
    let mut out = Vec::new();
    ChunkEncoder::new().encode(&msg, &mut out)?;
    Ok(out)
}

/// Runs the floor server on `addr` until the process is killed.
pub fn run(addr: &str, dir: Option<&Path>) -> anyhow::Result<()> {
    let addr = addr
        .parse()
        .with_context(|| format!("{addr:?} is not an address"))?;
    let listener = TcpListener::bind(addr).with_context(|| format!("binding {addr}"))?;
    println!("floor server listening on {}", listener.local_addr()?);
    serve(listener, dir)
}

/// Serves publishers on `listener` until the process is killed.
fn serve(mut listener: TcpListener, dir: Option<&Path>) -> anyhow::Result<()> {
    if let Some(dir) = dir {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut poll = Poll::new()?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let server_hello: Vec<u8> = std::iter::once(3u8)
        .chain((0..2 * PACKET_LEN).map(|i| (i * 13) as u8))
        .collect();
    let start = publish_start()?;
    let mut publishers: Vec<Option<Publisher>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if let Err(e) = poll.poll(&mut events, None) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e.into());
        }
        for event in &events {
            if event.token() == LISTENER {
                loop {
                    match listener.accept() {
                        Ok((mut socket, _)) => {
                            let _ = socket.set_nodelay(true);
                            let id = free.pop().unwrap_or_else(|| {
                                publishers.push(None);
                                publishers.len() - 1
                            });
                            poll.registry().register(
                                &mut socket,
                                Token(id),
                                Interest::READABLE | Interest::WRITABLE,
                            )?;
                            let files = dir.map(|dir| Files {
                                dir: dir.to_owned(),
                                id,
                                next: 0,
                                current: None,
                                kept: VecDeque::new(),
                            });
                            publishers[id] = Some(Publisher {
                                socket,
                                phase: Phase::Hello(0),
                                out: Vec::new(),
                                written: 0,
                                files,
                            });
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => {
                            // Out of descriptors, most likely: say so, go on.
                            eprintln!("accept failed: {e}");
                            break;
                        }
                    }
                }
                continue;
            }
            let id = event.token().0;
            let Some(Some(publisher)) = publishers.get_mut(id) else {
                continue;
            };
            if serve_publisher(publisher, &mut buf, &server_hello, &start).is_err() {
                if let Some(mut gone) = publishers[id].take() {
                    let _ = poll.registry().deregister(&mut gone.socket);
                    if let Some(files) = &mut gone.files {
                        files.remove_all();
                    }
                }
                free.push(id);
            }
        }
    }
}

/// Reads and writes what `publisher`'s socket allows now; an error (or the
/// publisher closing) ends it.
fn serve_publisher(
    publisher: &mut Publisher,
    buf: &mut [u8],
    server_hello: &[u8],
    start: &[u8],
) -> io::Result<()> {
    loop {
        let want = match publisher.phase {
            Phase::Hello(got) => 1 + PACKET_LEN - got,
            Phase::Ack(got) => PACKET_LEN - got,
            Phase::Media => buf.len(),
        };
        let n = match publisher.socket.read(&mut buf[..want]) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        publisher.phase = match publisher.phase {
            Phase::Hello(got) if got + n == 1 + PACKET_LEN => {
                publisher.out.extend_from_slice(server_hello);
                Phase::Ack(0)
            }
            Phase::Hello(got) => Phase::Hello(got + n),
            Phase::Ack(got) if got + n == PACKET_LEN => {
                publisher.out.extend_from_slice(start);
                Phase::Media
            }
            Phase::Ack(got) => Phase::Ack(got + n),
            Phase::Media => {
                if let Some(files) = &mut publisher.files {
                    files.append(&buf[..n])?;
                }
                Phase::Media
            }
        };
        flush(publisher)?;
    }
    flush(publisher)
}

fn flush(publisher: &mut Publisher) -> io::Result<()> {
    while publisher.written < publisher.out.len() {
        match publisher.socket.write(&publisher.out[publisher.written..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => publisher.written += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    publisher.out.clear();
    publisher.written = 0;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::io::Write as _;

    use super::*;
    use crate::client::{self, Outcome, Target};

    /// The floor on a free port, writing under `dir`, on its own thread.
    fn start(dir: &Path) -> std::net::SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let dir = dir.to_owned();
        std::thread::spawn(move || serve(listener, Some(&dir)));
        addr
    }

    fn written(dir: &Path) -> u64 {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().len())
            .sum()
    }

    #[tokio::test]
    async fn a_publisher_gets_publish_start_and_its_bytes_reach_the_files() {
        let dir = tempfile::tempdir().unwrap();
        let addr = start(dir.path());
        // A peer that leaves mid-handshake, and one that sends junk, do not
        // stop the server.
        drop(std::net::TcpStream::connect(addr).unwrap());
        let mut junk = std::net::TcpStream::connect(addr).unwrap();
        junk.write_all(&[0xff; 700]).unwrap();
        drop(junk);

        let target = Target::parse(&format!("rtmp://{addr}/live")).unwrap();
        let Outcome::Publishing(mut sock) =
            client::publish(&target, None, "k1", Duration::from_secs(5)).await
        else {
            panic!("no NetStream.Publish.Start from the floor");
        };
        sock.set_nonblocking(false).unwrap();
        let media = vec![7u8; 100_000];
        sock.write_all(&media).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        // The publish commands are written too (the floor does not read
        // them): at least the media reaches the files.
        while written(dir.path()) < media.len() as u64 {
            assert!(
                Instant::now() < deadline,
                "only {} bytes written",
                written(dir.path())
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        drop(sock);
        // The publisher gone, its files go.
        while written(dir.path()) > 0 {
            assert!(Instant::now() < deadline, "files left after the publisher closed");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
