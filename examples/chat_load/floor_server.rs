//! The floor: the least a WebSocket fan-out server can do on this machine,
//! to measure Streamly against (`chat_load --serve-floor ADDR`).
//!
//! It is not a chat server. It accepts the upgrade, reads each client with
//! a blocking thread, and when a client sends `{"type":"send","text":…}`
//! writes one pre-framed `message` frame of the same shape and size as
//! Streamly's to every client, split over one blocking writer thread per
//! core. No runtime, no queues, no checks: what is left is the kernel's
//! cost of a loopback TCP write and the load generator's cost of reading
//! it. Whatever latency this server shows under a load, no server can beat
//! on the same machine under the same load.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use anyhow::{Context, bail};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

/// Threads that write the frames (the machine's cores).
fn writer_count() -> usize {
    std::thread::available_parallelism().map_or(2, usize::from)
}

/// Runs the floor server on `addr` until the process is killed.
pub fn run(addr: &str) -> anyhow::Result<()> {
    let listener = TcpListener::bind(addr).with_context(|| format!("binding {addr}"))?;
    println!("floor server listening on {}", listener.local_addr()?);
    let writers = writer_count();
    let shards: Arc<Vec<Mutex<Vec<Arc<TcpStream>>>>> =
        Arc::new((0..writers).map(|_| Mutex::new(Vec::new())).collect());
    let mut fan_out = Vec::new();
    for shard in 0..writers {
        let (tx, rx) = mpsc::channel::<Arc<Vec<u8>>>();
        let shards = Arc::clone(&shards);
        std::thread::spawn(move || {
            for frame in rx {
                let mut clients = shards[shard].lock().unwrap_or_else(|p| p.into_inner());
                // A client that fails a write is gone: drop it.
                clients.retain(|c| (&**c).write_all(&frame).is_ok());
            }
        });
        fan_out.push(tx);
    }
    let fan_out = Arc::new(fan_out);
    for (n, socket) in listener.incoming().enumerate() {
        let mut socket = match socket {
            Ok(socket) => socket,
            Err(e) => {
                // Out of descriptors, most likely: say so and slow down
                // rather than spin.
                eprintln!("accept failed: {e}");
                std::thread::sleep(std::time::Duration::from_millis(100));
                continue;
            }
        };
        let fan_out = Arc::clone(&fan_out);
        let shards = Arc::clone(&shards);
        // Each client's reader only waits in `read`: a small stack will do.
        std::thread::Builder::new().stack_size(64 * 1024).spawn(move || {
            if upgrade(&mut socket).is_err() {
                return;
            }
            // Shared, not duplicated: a second descriptor per client would
            // double the open files.
            let socket = Arc::new(socket);
            shards[n % shards.len()]
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(Arc::clone(&socket));
            read_sends(&socket, &fan_out);
        })?;
    }
    Ok(())
}

/// Answers the opening handshake (RFC 6455 §4.2.2).
fn upgrade(socket: &mut TcpStream) -> anyhow::Result<()> {
    socket.set_nodelay(true)?;
    let mut head = Vec::new();
    let mut chunk = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() > 16 * 1024 {
            bail!("request head too large");
        }
        let n = socket.read(&mut chunk)?;
        if n == 0 {
            bail!("closed during the handshake");
        }
        head.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&head);
    let key = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("sec-websocket-key")
                .then(|| value.trim().to_owned())
        })
        .context("no Sec-WebSocket-Key")?;
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n\r\n",
        derive_accept_key(key.as_bytes())
    );
    socket.write_all(response.as_bytes())?;
    Ok(())
}

/// Reads a client's frames; each `send` is fanned out to every client.
fn read_sends(mut socket: &TcpStream, fan_out: &[mpsc::Sender<Arc<Vec<u8>>>]) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let Ok(n) = socket.read(&mut chunk) else { return };
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
        while let Some((payload, used)) = client_frame(&buf) {
            buf.drain(..used);
            if let Some(text) = sent_text(&payload) {
                let frame = Arc::new(message_frame(&text));
                for tx in fan_out {
                    let _ = tx.send(Arc::clone(&frame));
                }
            }
        }
        if buf.len() > 64 * 1024 {
            return;
        }
    }
}

/// One complete masked client frame at the start of `buf`: its unmasked
/// payload and the bytes it took. Only the short forms chat sends.
fn client_frame(buf: &[u8]) -> Option<(Vec<u8>, usize)> {
    let [_, b1, ..] = *buf else { return None };
    let (len, mut at) = match b1 & 0x7f {
        126 => (usize::from(u16::from_be_bytes([*buf.get(2)?, *buf.get(3)?])), 4),
        127 => return None,
        n => (usize::from(n), 2),
    };
    let mask = if b1 & 0x80 != 0 {
        let m = buf.get(at..at + 4)?;
        at += 4;
        [m[0], m[1], m[2], m[3]]
    } else {
        [0; 4]
    };
    let body = buf.get(at..at + len)?;
    let payload = body.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]).collect();
    Some((payload, at + len))
}

/// The text of a `{"type":"send","text":…}` frame.
fn sent_text(payload: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(payload).ok()?;
    (v.get("type")?.as_str()? == "send").then(|| v.get("text")?.as_str().map(str::to_owned))?
}

/// A server text frame shaped like Streamly's `message` frame (same
/// fields, same size).
fn message_frame(text: &str) -> Vec<u8> {
    let text = serde_json::Value::from(text);
    let payload = format!(
        "{{\"type\":\"message\",\"id\":\"0b9e7d52-3f71-4c55-9d8e-7c1f2a6b4e10\",\"room\":\"r1\",\
         \"author\":{{\"id\":\"5f0c2a9e-8d41-4b7a-a3c6-2e9d7f1b0c84\",\"username\":\"load0\"}},\
         \"text\":{text},\"sent_at\":\"2026-11-24T06:00:00.123456Z\"}}"
    );
    let mut frame = Vec::with_capacity(payload.len() + 4);
    frame.push(0x81);
    if payload.len() < 126 {
        frame.push(payload.len() as u8);
    } else {
        frame.push(126);
        frame.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    }
    frame.extend_from_slice(payload.as_bytes());
    frame
}
