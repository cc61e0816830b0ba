//! Chat load generator: opens N WebSocket clients in one room of a running
//! chat server, has a few signed-in senders post M messages/s, and reports
//! deliveries/s, delivery latency (p50/p99/max) and, given the server's pid,
//! its RSS per connection and its CPU time per delivery.
//!
//! ```sh
//! STREAMLY_JWT_SECRET=… STREAMLY_CHAT_RATE=1000000/1 \
//!   cargo run --release --example chat_server &
//! cargo run --release --example chat_load -- --clients 10000 --rate 20 \
//!   --duration 20 --secret … --server-pid $(pgrep -n chat_server)
//! ```
//!
//! Options (all `--name value`): `--url` (default
//! `ws://127.0.0.1:8084/ws`), `--room` (`load`), `--clients` (1000),
//! `--senders` (4), `--rate` total messages per second (10), `--duration`
//! seconds of sending (10), `--secret` the server's JWT secret (required to
//! send), `--issuer` (`streamly`), `--server-pid`, `--connect-concurrency`
//! (256), `--reader-threads` (2). `--serve-floor ADDR` instead runs the
//! floor server (`floor_server.rs`) to measure against. Latency is measured from the sender's
//! clock to the receiver's clock inside this one process (the text carries
//! the send time). The senders are spread evenly over each 1/rate period,
//! so messages arrive one at a time, not in bursts a server could batch.
//!
//! The senders use tokio-tungstenite; the listeners use a lean client of
//! their own (`reader.rs`), because this generator shares the machine with
//! the server and its own cost per delivery would otherwise be measured as
//! the server's latency.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use streamly_core::auth::{JwtConfig, JwtKeys};
use streamly_core::domain::{UserId, Username};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;

use crate::proc_usage::proc_usage;
use crate::reader::Readers;

mod floor_server;
mod histogram;
#[path = "../common/proc_usage.rs"]
mod proc_usage;
mod reader;

struct Stats {
    sent: AtomicU64,
    send_errors: AtomicU64,
    connected: AtomicU64,
    connect_failed: AtomicU64,
}

fn args() -> anyhow::Result<HashMap<String, String>> {
    let mut map = HashMap::new();
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let Some(name) = k.strip_prefix("--") else {
            bail!("unexpected argument {k:?}");
        };
        let v = it.next().with_context(|| format!("--{name} needs a value"))?;
        map.insert(name.to_owned(), v);
    }
    Ok(map)
}

fn get<T: std::str::FromStr>(a: &HashMap<String, String>, k: &str, default: T) -> anyhow::Result<T>
where
    T::Err: std::fmt::Display,
{
    match a.get(k) {
        Some(v) => v.parse().map_err(|e| anyhow::anyhow!("--{k}: {e}")),
        None => Ok(default),
    }
}

/// Opens one listening client and hands it to the readers.
async fn listener(
    url: Arc<reader::WsUrl>,
    stats: Arc<Stats>,
    gate: Arc<Semaphore>,
    readers: Arc<Mutex<Readers>>,
) {
    let permit = gate.acquire().await;
    match reader::open(&url).await {
        Ok((socket, rest)) => {
            drop(permit);
            readers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .adopt(socket, rest);
            stats.connected.fetch_add(1, Ordering::Relaxed);
        }
        Err(e) => {
            stats.connect_failed.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(error = %e, "connect failed");
        }
    }
}

// One thread for connecting and the few senders; the listeners have their
// own reader threads.
#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let a = args()?;
    if let Some(addr) = a.get("serve-floor") {
        return floor_server::run(addr);
    }
    let base: String = get(&a, "url", "ws://127.0.0.1:8084/ws".to_owned())?;
    let room: String = get(&a, "room", "load".to_owned())?;
    let clients: usize = get(&a, "clients", 1000)?;
    let senders: usize = get(&a, "senders", 4)?;
    let rate: f64 = get(&a, "rate", 10.0)?;
    let duration: f64 = get(&a, "duration", 10.0)?;
    let concurrency: usize = get(&a, "connect-concurrency", 256)?;
    let reader_threads: usize = get(&a, "reader-threads", 2)?;
    let pid: Option<u32> = a.get("server-pid").map(|p| p.parse()).transpose()?;
    let secret = a
        .get("secret")
        .context("--secret (the server's JWT secret) is required")?;
    let keys = JwtKeys::new(&JwtConfig {
        secret: secret.clone().into_bytes(),
        issuer: get(&a, "issuer", "streamly".to_owned())?,
        ttl: Duration::from_secs(3600),
    })?;

    let stats = Arc::new(Stats {
        sent: AtomicU64::new(0),
        send_errors: AtomicU64::new(0),
        connected: AtomicU64::new(0),
        connect_failed: AtomicU64::new(0),
    });
    let epoch = Instant::now();
    let measuring = Arc::new(AtomicBool::new(false));
    let readers = Arc::new(Mutex::new(Readers::start(
        reader_threads,
        epoch,
        Arc::clone(&measuring),
    )?));
    let base_usage = pid.and_then(proc_usage);

    println!("connecting {clients} clients to {base}?room={room} …");
    let url = format!("{base}?room={room}");
    let listen_url = Arc::new(reader::WsUrl::parse(&url)?);
    let gate = Arc::new(Semaphore::new(concurrency.max(1)));
    let t0 = Instant::now();
    for _ in 0..clients {
        tokio::spawn(listener(
            Arc::clone(&listen_url),
            Arc::clone(&stats),
            Arc::clone(&gate),
            Arc::clone(&readers),
        ));
    }
    while stats.connected.load(Ordering::Relaxed) + stats.connect_failed.load(Ordering::Relaxed)
        < clients as u64
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "connected {} ({} failed) in {:.1} s",
        stats.connected.load(Ordering::Relaxed),
        stats.connect_failed.load(Ordering::Relaxed),
        t0.elapsed().as_secs_f64()
    );
    // Let the join frames (welcome, history, presence) settle.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let idle_usage = pid.and_then(proc_usage);
    if let (Some((rss0, _)), Some((rss1, _))) = (base_usage, idle_usage) {
        let per = rss1.saturating_sub(rss0) as f64 / clients.max(1) as f64;
        println!(
            "server RSS: {:.1} MiB before, {:.1} MiB with {clients} idle clients: {:.2} KiB per connection",
            rss0 as f64 / 1048576.0,
            rss1 as f64 / 1048576.0,
            per / 1024.0
        );
    }

    // Senders: signed-in users, each at rate/senders messages per second.
    let mut sender_tasks = Vec::new();
    measuring.store(true, Ordering::Relaxed);
    let start_usage = pid.and_then(proc_usage);
    let self_start = proc_usage(std::process::id());
    let send_start = Instant::now();
    for i in 0..senders.max(1) {
        let name = Username::parse(&format!("load{i}"))?;
        let token = keys.issue_at(UserId::new_random(), &name, time::OffsetDateTime::now_utc())?;
        let (ws, _) =
            tokio_tungstenite::connect_async_with_config(format!("{url}&token={token}"), None, true).await?;
        let (mut tx, mut rx) = ws.split();
        let stats2 = stats.clone();
        tokio::spawn(async move {
            while let Some(Ok(m)) = rx.next().await {
                if let Message::Text(t) = m
                    && t.as_str().contains("\"type\":\"error\"")
                {
                    stats2.send_errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        let per_sender = rate / senders.max(1) as f64;
        let stats = stats.clone();
        let deadline = send_start + Duration::from_secs_f64(duration);
        // Sender i starts i/rate seconds in, so that together the senders
        // post one message every 1/rate seconds rather than in bursts.
        let first = tokio::time::Instant::from_std(send_start)
            + Duration::from_secs_f64(i as f64 / rate.max(f64::MIN_POSITIVE));
        sender_tasks.push(tokio::spawn(async move {
            if per_sender <= 0.0 {
                return;
            }
            let mut tick = tokio::time::interval_at(first, Duration::from_secs_f64(1.0 / per_sender));
            while Instant::now() < deadline {
                tick.tick().await;
                let text = format!("t={}", epoch.elapsed().as_micros());
                let frame = serde_json::json!({"type": "send", "text": text}).to_string();
                if tx.send(Message::text(frame)).await.is_err() {
                    break;
                }
                stats.sent.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for t in sender_tasks {
        let _ = t.await;
    }
    let send_secs = send_start.elapsed().as_secs_f64();
    // Let in-flight deliveries land.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let end_usage = pid.and_then(proc_usage);
    let self_end = proc_usage(std::process::id());
    measuring.store(false, Ordering::Relaxed);
    // Every listener task has finished: the connect loop above waited for all.
    let readers = Arc::try_unwrap(readers)
        .map_err(|_| anyhow::anyhow!("a listener task still holds the readers"))?
        .into_inner()
        .unwrap_or_else(|p| p.into_inner());
    let seen = readers.finish()?;

    let sent = stats.sent.load(Ordering::Relaxed);
    let delivered = seen.delivered;
    let expected = sent * stats.connected.load(Ordering::Relaxed);
    println!(
        "sent {sent} messages in {send_secs:.1} s ({:.1}/s), {} send errors",
        sent as f64 / send_secs,
        stats.send_errors.load(Ordering::Relaxed)
    );
    println!(
        "delivered {delivered} of {expected} expected ({:.2}%), {:.0} deliveries/s",
        100.0 * delivered as f64 / expected.max(1) as f64,
        delivered as f64 / send_secs
    );
    println!(
        "latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        seen.latency.quantile_ms(0.50),
        seen.latency.quantile_ms(0.99),
        seen.latency.max_ms()
    );
    println!("clients closed by the server: {}", seen.closed);
    if let (Some((_, cpu0)), Some((rss, cpu1))) = (start_usage, end_usage) {
        let cpu = cpu1 - cpu0;
        println!(
            "server CPU {cpu:.2} s over {:.1} s ({:.0}% of one core): {:.0} deliveries per server CPU-second; RSS {:.1} MiB",
            send_secs + 2.0,
            100.0 * cpu / (send_secs + 2.0),
            delivered as f64 / cpu.max(0.001),
            rss as f64 / 1048576.0
        );
    }
    if let (Some((_, c0)), Some((_, c1))) = (self_start, self_end) {
        println!(
            "load generator CPU {:.2} s ({:.0}% of one core)",
            c1 - c0,
            100.0 * (c1 - c0) / (send_secs + 2.0)
        );
    }
    Ok(())
}
