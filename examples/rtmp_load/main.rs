//! RTMP ingest load generator: N publishers replay one FLV in real time into
//! a running server, and the run reports how many got to publish, how far
//! each fell behind its schedule, and (given its pids) the server's CPU and
//! memory.
//!
//! ```sh
//! ffmpeg -f lavfi -i testsrc2=size=640x360:rate=25 -f lavfi -i sine -t 120 \
//!   -c:v libx264 -b:v 500k -maxrate 500k -bufsize 1000k -g 50 -c:a aac -b:a 96k \
//!   -f flv /tmp/load360.flv
//! cargo run --release --example rtmp_load -- --url rtmp://127.0.0.1:1935/live \
//!   --key-prefix k --publishers 1000 --duration 45 --flv /tmp/load360.flv \
//!   --server-pid $(pgrep -n rtmp_to_hls)
//! ```
//!
//! Options (all `--name value`): `--url` (default
//! `rtmp://127.0.0.1:1935/live`), `--key-prefix` (`k`: publisher i, from 1,
//! publishes key `k<i>`), `--publishers` (100), `--duration` seconds measured
//! once every publisher has connected (30), `--flv` (required),
//! `--server-pid` (repeatable: nginx's workers are summed), `--tick-ms`
//! (50), `--threads` writer threads (2), `--connect-concurrency` (256),
//! `--connect-timeout` seconds to `NetStream.Publish.Start` (10),
//! `--per-addr` publishers per loopback source address (8; servers cap
//! connections per client address). `--serve-floor ADDR` instead runs the
//! floor server (`floor_server.rs`) to measure against, with `--floor-dir
//! DIR` writing what it receives to files there as segments would be.
//!
//! The FLV is chunked once (chunk size 4096, `client.rs`); each publisher
//! shakes hands, sends the publish commands and waits for
//! `NetStream.Publish.Start`, then its schedule starts: a message is due at
//! its timestamp. A few writer threads (`pacer.rs`) write each publisher
//! what has fallen due once per tick. A publisher's lag is how long ago the
//! oldest message it could not write yet fell due (the tick's own batching
//! is not counted). The FLV must outlast the connection ramp plus
//! `--duration`; publishers whose media ends early are reported.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::sync::Semaphore;

use crate::client::{Media, Outcome, Target};
use crate::pacer::Pacers;
use crate::proc_usage::proc_usage;

mod client;
mod floor_server;
mod pacer;
#[path = "../common/proc_usage.rs"]
mod proc_usage;

/// `--name value` pairs, in order (a name may repeat).
fn args() -> anyhow::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let Some(name) = k.strip_prefix("--") else {
            bail!("unexpected argument {k:?}");
        };
        let v = it.next().with_context(|| format!("--{name} needs a value"))?;
        out.push((name.to_owned(), v));
    }
    Ok(out)
}

fn get<T: std::str::FromStr>(a: &[(String, String)], k: &str, default: T) -> anyhow::Result<T>
where
    T::Err: std::fmt::Display,
{
    match a.iter().rev().find(|(name, _)| name == k) {
        Some((_, v)) => v.parse().map_err(|e| anyhow::anyhow!("--{k}: {e}")),
        None => Ok(default),
    }
}

/// Summed over `pids`.
fn usage_sum(pids: &[String]) -> Option<(u64, f64)> {
    pids.iter()
        .map(proc_usage)
        .try_fold((0, 0.0), |(r, c), u| u.map(|(r2, c2)| (r + r2, c + c2)))
}

#[derive(Default)]
struct Counts {
    publishing: AtomicU64,
    refused: AtomicU64,
    timed_out: AtomicU64,
}

fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() -> anyhow::Result<()> {
    let a = args()?;
    if let Some((_, addr)) = a.iter().find(|(k, _)| k == "serve-floor") {
        let dir = a
            .iter()
            .find(|(k, _)| k == "floor-dir")
            .map(|(_, d)| std::path::Path::new(d));
        return floor_server::run(addr, dir);
    }
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(generate(&a))
}

async fn generate(a: &[(String, String)]) -> anyhow::Result<()> {
    let target = Arc::new(Target::parse(&get(
        a,
        "url",
        "rtmp://127.0.0.1:1935/live".to_owned(),
    )?)?);
    let prefix: String = get(a, "key-prefix", "k".to_owned())?;
    let publishers: usize = get(a, "publishers", 100)?;
    let duration: f64 = get(a, "duration", 30.0)?;
    let tick = Duration::from_millis(get(a, "tick-ms", 50)?);
    let threads: usize = get(a, "threads", 2)?;
    let concurrency: usize = get(a, "connect-concurrency", 256)?;
    let timeout = Duration::from_secs_f64(get(a, "connect-timeout", 10.0)?);
    let per_addr: usize = get(a, "per-addr", 8)?;
    let flv: String = get(a, "flv", String::new())?;
    if flv.is_empty() {
        bail!("--flv PATH is required");
    }
    let pids: Vec<String> = a
        .iter()
        .filter(|(k, _)| k == "server-pid")
        .map(|(_, v)| v.clone())
        .collect();

    let media = Arc::new(Media::load(&flv)?);
    println!(
        "{flv}: {} messages, {:.1} s, {:.0} kbit/s as chunks",
        media.ends.len(),
        f64::from(media.duration_ms()) / 1000.0,
        media.bytes.len() as f64 * 8.0 / f64::from(media.duration_ms().max(1))
    );
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let pacers = Arc::new(std::sync::Mutex::new(Pacers::start(
        threads,
        tick,
        Arc::clone(&media),
        Arc::clone(&measuring),
        Arc::clone(&stop),
    )?));
    let base = usage_sum(&pids);

    println!(
        "publishing {publishers} streams to {}/{} …",
        target.addr, target.app
    );
    let counts = Arc::new(Counts::default());
    let gate = Arc::new(Semaphore::new(concurrency.max(1)));
    let t0 = Instant::now();
    let mut tasks = Vec::with_capacity(publishers);
    for i in 1..=publishers {
        let (target, counts, gate, pacers) = (
            Arc::clone(&target),
            Arc::clone(&counts),
            Arc::clone(&gate),
            Arc::clone(&pacers),
        );
        let key = format!("{prefix}{i}");
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire().await;
            let source = client::source_addr(&target, i, per_addr);
            match client::publish(&target, source, &key, timeout).await {
                Outcome::Publishing(sock) => {
                    pacers.lock().unwrap_or_else(|p| p.into_inner()).adopt(sock);
                    counts.publishing.fetch_add(1, Ordering::Relaxed);
                }
                Outcome::Refused(why) => {
                    if counts.refused.fetch_add(1, Ordering::Relaxed) < 3 {
                        eprintln!("{key}: {why}");
                    }
                }
                Outcome::TimedOut => {
                    counts.timed_out.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    let ramp = t0.elapsed();
    let publishing = counts.publishing.load(Ordering::Relaxed);
    println!(
        "publishing {publishing}, refused {}, timed out {} (after {:.1} s)",
        counts.refused.load(Ordering::Relaxed),
        counts.timed_out.load(Ordering::Relaxed),
        ramp.as_secs_f64()
    );
    if ramp.as_secs_f64() + duration > f64::from(media.duration_ms()) / 1000.0 {
        eprintln!("warning: the FLV ends before the run does; use a longer one");
    }

    // Let the last publishers' first GOPs settle, then measure.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let start_server = usage_sum(&pids);
    let start_self = proc_usage("self");
    let t_measure = Instant::now();
    measuring.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs_f64(duration)).await;
    measuring.store(false, Ordering::Relaxed);
    let window = t_measure.elapsed().as_secs_f64();
    let end_server = usage_sum(&pids);
    let end_self = proc_usage("self");
    stop.store(true, Ordering::Relaxed);
    let pacers = Arc::into_inner(pacers)
        .context("a connect task still holds the writers")?
        .into_inner()
        .unwrap_or_else(|p| p.into_inner());
    let results = pacers.join();

    let mut lags: Vec<Duration> = results.iter().filter(|r| !r.closed).map(|r| r.max_lag).collect();
    lags.sort_unstable();
    let behind = lags.iter().filter(|l| **l > Duration::from_secs(1)).count();
    let closed = results.iter().filter(|r| r.closed).count();
    let finished = results.iter().filter(|r| r.finished).count();
    println!("measured {window:.1} s: closed by the server {closed}, media ended early {finished}");
    println!(
        "lag behind schedule (each publisher's worst): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; more than 1 s behind: {behind}",
        ms(quantile(&lags, 0.5)),
        ms(quantile(&lags, 0.99)),
        ms(lags.last().copied().unwrap_or_default()),
    );
    if let (Some((_, c0)), Some((_, c1))) = (start_self, end_self) {
        println!("generator CPU: {:.1} % of a core", (c1 - c0) / window * 100.0);
    }
    if let (Some((rss0, _)), Some((_, c0)), Some((rss1, c1))) = (base, start_server, end_server) {
        let n = publishing.max(1) as f64;
        println!(
            "server CPU: {:.1} % of a core ({:.3} % per stream); RSS {:.1} MiB before, {:.1} MiB at the end ({:.0} KiB per stream)",
            (c1 - c0) / window * 100.0,
            (c1 - c0) / window * 100.0 / n,
            rss0 as f64 / 1048576.0,
            rss1 as f64 / 1048576.0,
            rss1.saturating_sub(rss0) as f64 / 1024.0 / n,
        );
    } else if !pids.is_empty() {
        eprintln!("could not read /proc for the server pids {pids:?}");
    }
    Ok(())
}
