//! Soak under hostile load (issue 11): holds 2,000 idle WebSockets, 1,000
//! idle RTMP sockets and 500 slow-HTTP connections (a request head trickled
//! a byte a second) open against a running platform, re-opening whatever
//! the server closes, while a publish (ffmpeg), a playback (the LL playlist
//! with `?_HLS_msn=` blocking reloads, then a part) and a chat round-trip
//! must succeed. Reports the server's RSS (`/proc/PID/status`) before,
//! during and after. Figures: `docs/operations.md`, "Under hostile load".
//!
//! ```text
//! cargo build --release --example platform --example soak
//! target/release/examples/soak
//! ```
//!
//! Without `SOAK_PID` it starts `platform` from its own directory on
//! 127.0.0.1:18080 / :11935 with a fresh SQLite database. Otherwise it
//! uses the platform at `SOAK_HTTP` (default `http://127.0.0.1:8080`) and
//! `SOAK_RTMP` (`127.0.0.1:1935`) whose PID is `SOAK_PID`. The load comes
//! from other loopback addresses (127.0.1.x WebSockets, 127.0.2.x RTMP,
//! 127.0.3.x slow HTTP), a few hundred connections each, as a botnet
//! would: Linux routes all of 127/8 to `lo`. `SOAK_HOLD_SECS` (default 30)
//! is how long the load is held once up.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

const WEBSOCKETS: usize = 2000;
const RTMP_IDLE: usize = 1000;
const SLOW_HTTP: usize = 500;

/// Open connections and re-opens, per kind.
#[derive(Default)]
struct Held {
    open: AtomicUsize,
    reopened: AtomicU64,
    failed: AtomicU64,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// `VmRSS` and `VmHWM` of `pid`, in MiB.
fn rss(pid: u32) -> Result<(f64, f64)> {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).context("reading /proc/PID/status")?;
    let field = |name: &str| -> f64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    Ok((field("VmRSS:"), field("VmHWM:")))
}

async fn connect_from(from: [u8; 4], to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from((from, 0)))?;
    socket.connect(to).await
}

/// The `i`-th source address of a kind: `127.0.<kind>.<1 + i / per>`.
fn source(kind: u8, i: usize, per: usize) -> [u8; 4] {
    [127, 0, kind, 1 + (i / per) as u8]
}

struct Http {
    client: Client<HttpConnector, Full<Bytes>>,
    base: String,
}

impl Http {
    async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Result<(u16, String)> {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        };
        let mut req = hyper::Request::builder().method(method).uri(&url);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let payload = match body {
            Some(b) => {
                req = req.header("content-type", "application/json");
                Bytes::from(b.to_string())
            }
            None => Bytes::new(),
        };
        let res = tokio::time::timeout(
            Duration::from_secs(20),
            self.client.request(req.body(Full::new(payload))?),
        )
        .await
        .with_context(|| format!("{method} {url} timed out"))??;
        let status = res.status().as_u16();
        let bytes = res.into_body().collect().await?.to_bytes();
        Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
    }
}

/// Holds `count` idle anonymous chat WebSockets, reading (so pings are
/// answered) and re-opening any the server closes.
fn hold_websockets(
    ws_base: String,
    http: SocketAddr,
    room: String,
    stop: CancellationToken,
    held: Arc<Held>,
) {
    for i in 0..WEBSOCKETS {
        let (url, stop, held) = (
            format!("{ws_base}/ws?room={room}"),
            stop.clone(),
            Arc::clone(&held),
        );
        tokio::spawn(async move {
            let mut first = true;
            while !stop.is_cancelled() {
                if !first {
                    held.reopened.fetch_add(1, Ordering::Relaxed);
                }
                first = false;
                let Ok(sock) = connect_from(source(1, i, 50), http).await else {
                    held.failed.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                };
                let Ok((mut ws, _)) = tokio_tungstenite::client_async(url.as_str(), sock).await else {
                    held.failed.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                };
                held.open.fetch_add(1, Ordering::Relaxed);
                loop {
                    tokio::select! {
                        () = stop.cancelled() => break,
                        m = ws.next() => if !matches!(m, Some(Ok(_))) { break },
                    }
                }
                held.open.fetch_sub(1, Ordering::Relaxed);
            }
        });
    }
}

/// Holds idle TCP connections that send `prefix` and then one byte of
/// `trickle` per second (nothing when empty), re-opening the ones the
/// server closes.
#[allow(clippy::too_many_arguments)] // one call per kind, each spelled out
fn hold_sockets(
    count: usize,
    kind: u8,
    per_addr: usize,
    to: SocketAddr,
    prefix: &'static [u8],
    trickle: bool,
    stop: CancellationToken,
    held: Arc<Held>,
) {
    for i in 0..count {
        let (stop, held) = (stop.clone(), Arc::clone(&held));
        tokio::spawn(async move {
            let mut first = true;
            while !stop.is_cancelled() {
                if !first {
                    held.reopened.fetch_add(1, Ordering::Relaxed);
                }
                first = false;
                let Ok(mut sock) = connect_from(source(kind, i, per_addr), to).await else {
                    held.failed.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                };
                held.open.fetch_add(1, Ordering::Relaxed);
                let _ = sock.write_all(prefix).await;
                let mut tick = tokio::time::interval(Duration::from_secs(1));
                let mut buf = [0u8; 4096];
                loop {
                    tokio::select! {
                        () = stop.cancelled() => break,
                        _ = tick.tick(), if trickle => {
                            if sock.write_all(b"a").await.is_err() { break }
                        }
                        r = tokio::io::AsyncReadExt::read(&mut sock, &mut buf) => {
                            if !matches!(r, Ok(n) if n > 0) { break }
                        }
                    }
                }
                held.open.fetch_sub(1, Ordering::Relaxed);
            }
        });
    }
}

/// The LL playlist: blocking reload for the next segment, then a part.
async fn playback(http: &Http, playlist_url: &str) -> Result<Duration> {
    let started = Instant::now();
    let (status, text) = http.call("GET", playlist_url, None, None).await?;
    ensure!(status == 200, "playlist: {status}");
    let sequence: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-MEDIA-SEQUENCE:"))
        .context("no media sequence")?
        .trim()
        .parse()?;
    let segments = text.lines().filter(|l| l.starts_with("#EXTINF")).count() as u64;
    let next = sequence + segments;
    let (status, reloaded) = http
        .call("GET", &format!("{playlist_url}?_HLS_msn={next}"), None, None)
        .await?;
    ensure!(status == 200, "blocking reload: {status}");
    let reloaded_segments = reloaded.lines().filter(|l| l.starts_with("#EXTINF")).count() as u64;
    let reloaded_sequence: u64 = reloaded
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-MEDIA-SEQUENCE:"))
        .context("no media sequence")?
        .trim()
        .parse()?;
    ensure!(
        reloaded_sequence + reloaded_segments > next,
        "blocking reload for msn {next} answered without it"
    );
    let part = reloaded
        .lines()
        .filter(|l| l.starts_with("#EXT-X-PART:"))
        .filter_map(|l| l.split("URI=\"").nth(1)?.split('"').next())
        .next_back()
        .context("no EXT-X-PART in the LL playlist")?;
    let dir = playlist_url.rsplit_once('/').map_or(playlist_url, |(d, _)| d);
    let (status, body) = http.call("GET", &format!("{dir}/{part}"), None, None).await?;
    ensure!(status == 200 && !body.is_empty(), "part {part}: {status}");
    Ok(started.elapsed())
}

/// A signed-in writer sends, an anonymous reader receives.
async fn chat_round_trip(ws_base: &str, room: &str, token: &str) -> Result<Duration> {
    let started = Instant::now();
    let (mut writer, _) =
        tokio_tungstenite::connect_async(format!("{ws_base}/ws?room={room}&token={token}")).await?;
    let (mut reader, _) = tokio_tungstenite::connect_async(format!("{ws_base}/ws?room={room}")).await?;
    let text = format!("soak {}", started.elapsed().as_nanos());
    // Joined once the welcome frame is in.
    for ws in [&mut writer, &mut reader] {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) if t.as_str().contains("\"welcome\"") => break,
                Some(Ok(_)) => {}
                other => bail!("chat join failed: {other:?}"),
            }
        }
    }
    writer
        .send(Message::text(json!({"type": "send", "text": text}).to_string()))
        .await?;
    let got = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(Ok(m)) = reader.next().await {
            if let Message::Text(t) = m
                && t.as_str().contains(&text)
            {
                return true;
            }
        }
        false
    })
    .await
    .unwrap_or(false);
    ensure!(got, "the chat message did not come back");
    Ok(started.elapsed())
}

async fn wait_healthy(http: &Http) -> Result<()> {
    for _ in 0..100 {
        if let Ok((200, _)) = http.call("GET", "/health", None, None).await {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    bail!("the platform did not come up")
}

fn report(label: &str, pid: u32, held: &[(&str, Arc<Held>)]) -> Result<()> {
    let (rss, hwm) = rss(pid)?;
    let load: Vec<String> = held
        .iter()
        .map(|(name, h)| {
            format!(
                "{name} {} open/{} reopened/{} failed",
                h.open.load(Ordering::Relaxed),
                h.reopened.load(Ordering::Relaxed),
                h.failed.load(Ordering::Relaxed)
            )
        })
        .collect();
    println!(
        "{label:>7}: RSS {rss:.1} MiB (peak {hwm:.1} MiB); {}",
        load.join(", ")
    );
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let fds = streamly::fd_budget::raise_nofile_limit();
    ensure!(
        fds >= 4000,
        "needs ~4,000 file descriptors, RLIMIT_NOFILE allows {fds}"
    );
    let hold = Duration::from_secs(env("SOAK_HOLD_SECS").map_or(Ok(30), |s| s.parse())?);
    let mut server = None;
    let _dir;
    let (base, rtmp, pid) = match env("SOAK_PID") {
        Some(pid) => (
            env("SOAK_HTTP").unwrap_or_else(|| "http://127.0.0.1:8080".into()),
            env("SOAK_RTMP").unwrap_or_else(|| "127.0.0.1:1935".into()),
            pid.parse().context("SOAK_PID")?,
        ),
        None => {
            let dir = tempfile::tempdir()?;
            let exe = std::env::current_exe()?.with_file_name("platform");
            let child = tokio::process::Command::new(&exe)
                .env("STREAMLY_HTTP_ADDR", "127.0.0.1:18080")
                .env("STREAMLY_RTMP_ADDR", "127.0.0.1:11935")
                .env(
                    "STREAMLY_DATABASE_URL",
                    format!("sqlite://{}/soak.db?mode=rwc", dir.path().display()),
                )
                .env("STREAMLY_JWT_SECRET", "a soak-test secret that is 32+ bytes long")
                .env("RUST_LOG", "warn,streamly_rtmp=info")
                .stdout(std::process::Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .with_context(|| format!("starting {} (build it: --example platform)", exe.display()))?;
            let pid = child.id().context("platform pid")?;
            server = Some(child);
            _dir = dir;
            ("http://127.0.0.1:18080".into(), "127.0.0.1:11935".into(), pid)
        }
    };
    let http_addr: SocketAddr = base.trim_start_matches("http://").parse().context("SOAK_HTTP")?;
    let rtmp_addr: SocketAddr = rtmp.parse().context("SOAK_RTMP")?;
    let http = Http {
        client: Client::builder(TokioExecutor::new()).build_http(),
        base: base.clone(),
    };
    wait_healthy(&http).await?;

    // A user and a stream.
    let name = format!("soak{}", std::process::id());
    let (status, text) = http
        .call(
            "POST",
            "/api/auth/register",
            None,
            Some(json!({"username": name, "email": format!("{name}@example.com"), "password": "correct horse"})),
        )
        .await?;
    ensure!(status == 201, "register: {status} {text}");
    let token = serde_json::from_str::<Value>(&text)?["token"]
        .as_str()
        .context("token")?
        .to_owned();
    let (status, text) = http
        .call(
            "POST",
            "/api/streams",
            Some(&token),
            Some(json!({"title": "Soak"})),
        )
        .await?;
    ensure!(status == 201, "create stream: {status} {text}");
    let stream: Value = serde_json::from_str(&text)?;
    let id = stream["id"].as_str().context("id")?.to_owned();
    let key = stream["stream_key"].as_str().context("key")?.to_owned();
    let playlist = stream["playback_url"]
        .as_str()
        .context("playback_url")?
        .to_owned();
    let ws_base = base.replace("http://", "ws://");

    let (ws, rt, slow) = (
        Arc::new(Held::default()),
        Arc::new(Held::default()),
        Arc::new(Held::default()),
    );
    let kinds = [
        ("ws", Arc::clone(&ws)),
        ("rtmp", Arc::clone(&rt)),
        ("slow-http", Arc::clone(&slow)),
    ];
    let show = |label: &str| report(label, pid, &kinds);
    show("before")?;

    let stop = CancellationToken::new();
    // RTMP: 10 per address (under the per-address cap of 16); they send
    // nothing, so the server drops them at its handshake timeout and they
    // come back.
    hold_sockets(
        RTMP_IDLE,
        2,
        10,
        rtmp_addr,
        b"",
        false,
        stop.clone(),
        Arc::clone(&rt),
    );
    hold_websockets(
        ws_base.clone(),
        http_addr,
        id.clone(),
        stop.clone(),
        Arc::clone(&ws),
    );
    hold_sockets(
        SLOW_HTTP,
        3,
        10,
        http_addr,
        b"GET /health HTTP/1.1\r\nHost: soak\r\nX-Slow: ",
        true,
        stop.clone(),
        Arc::clone(&slow),
    );
    let load_up = Instant::now();
    while ws.open.load(Ordering::Relaxed) < WEBSOCKETS * 95 / 100
        && load_up.elapsed() < Duration::from_secs(60)
    {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    show("loaded")?;

    // The publish, while all of it is held.
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/av.flv");
    let publish_started = Instant::now();
    let mut ffmpeg = tokio::process::Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-re",
            "-stream_loop",
            "-1",
            "-i",
            fixture,
        ])
        .args([
            "-c",
            "copy",
            "-f",
            "flv",
            &format!("rtmp://{rtmp_addr}/live/{key}"),
        ])
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("ffmpeg")?;
    let mut live_after = None;
    while publish_started.elapsed() < Duration::from_secs(60) {
        if let Ok((200, text)) = http.call("GET", &playlist, None, None).await
            && text.contains("#EXTINF")
        {
            live_after = Some(publish_started.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let live_after = live_after.context("the publish never produced a segment")?;
    println!(
        "publish: first segment {:.1} s after ffmpeg started",
        live_after.as_secs_f64()
    );

    let hold_until = Instant::now() + hold;
    let mut rounds = 0;
    while Instant::now() < hold_until {
        let played = playback(&http, &playlist).await.context("playback")?;
        let chatted = chat_round_trip(&ws_base, &id, &token)
            .await
            .context("chat round-trip")?;
        rounds += 1;
        if rounds == 1 || Instant::now() >= hold_until {
            println!(
                "round {rounds}: playback (blocking reload + part) {} ms, chat round-trip {} ms",
                played.as_millis(),
                chatted.as_millis()
            );
        }
    }
    show("during")?;
    let (status, _) = http.call("GET", "/health", None, None).await?;
    ensure!(status == 200, "/health under load: {status}");

    stop.cancel();
    let _ = ffmpeg.kill().await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    show("after")?;
    println!("{rounds} rounds of playback + chat under load, all succeeded");
    if let Some(mut child) = server {
        let _ = child.kill().await;
    }
    Ok(())
}
