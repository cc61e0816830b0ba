//! Glass-to-glass latency of live HLS servers, as a viewer's browser sees it.
//!
//! For each target (a name, an RTMP URL to publish to, an HLS URL to play):
//!
//! 1. ffmpeg generates a 640×360 25 fps test picture whose top 40 px carry
//!    the frame number as 20 black/white blocks (`geq`: bits 0–15 the
//!    number, 16–19 a check), encodes it with x264 `-tune zerolatency`, a
//!    1 s GOP, AAC audio beside, and publishes it with `-re`. Its
//!    `-progress` reports (every 0.1 s) give the wall-clock time at which
//!    frame *n* left the encoder: `t0 + n / 25`, `t0` the smallest
//!    `report time − (frames − 1) / 25` seen (a few ms after capture).
//! 2. Headless Chromium (chromedriver, through fantoccini) opens a page this
//!    program serves (`page.html`): hls.js with the watch page's own
//!    settings (`web/assets/player.js`) plays the HLS URL, and on every
//!    frame shown (`requestVideoFrameCallback`) draws it to a canvas, reads
//!    the number back and notes when it was displayed.
//! 3. Latency of a frame = displayed − sent, both on this machine's clock.
//!    After a warm-up, every frame shown over the measured window counts.
//!    Stalls are `waiting` events during the window.
//!
//! ```text
//! cargo build --release --example rtmp_to_hls --example latency
//! examples/latency/run.sh          # starts rtmp_to_hls and nginx-rtmp, runs this
//! target/release/examples/latency --hls-js target/npm/hls.js-1.7.4/hls.min.js \
//!     --target streamly-ll rtmp://127.0.0.1:19350/live/secret1 http://127.0.0.1:18000/hls/demo/index.m3u8 \
//!     --target streamly-ts rtmp://127.0.0.1:19350/live/secret1 http://127.0.0.1:18000/hls/demo/ts.m3u8
//! ```
//!
//! Options: `--seconds 30` (measured window), `--warmup 10` (played, not
//! counted), `--join-after 10` (the stream has been live that long when the
//! browser opens it, as for a viewer joining), `--hls-js PATH` (default `STREAMLY_TEST_HLS_JS`),
//! `--chromium PATH` (default `/usr/bin/chromium` when present).

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use axum::http::header;
use axum::routing::get;
use fantoccini::{Client, ClientBuilder};
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;

const FPS: f64 = 25.0;
const FRAME_MS: f64 = 1000.0 / FPS;
const PAGE: &str = include_str!("page.html");
const PLAYER_JS: &str = include_str!("../../web/assets/player.js");
const CHROMIUM_ARGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--autoplay-policy=no-user-gesture-required",
    "--window-size=800,600",
];

struct Target {
    name: String,
    rtmp: String,
    playback: String,
}

struct Args {
    targets: Vec<Target>,
    seconds: u64,
    warmup: u64,
    join_after: u64,
    hls_js: PathBuf,
    chromium: Option<String>,
}

fn parse_args() -> Result<Args> {
    let mut targets = Vec::new();
    let mut seconds = 30;
    let mut warmup = 10;
    let mut join_after = 10;
    let mut hls_js = std::env::var_os("STREAMLY_TEST_HLS_JS").map(PathBuf::from);
    let mut chromium = std::path::Path::new("/usr/bin/chromium")
        .exists()
        .then(|| "/usr/bin/chromium".to_owned());
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |what: &str| args.next().with_context(|| format!("{arg}: missing {what}"));
        match arg.as_str() {
            "--target" => targets.push(Target {
                name: value("name")?,
                rtmp: value("RTMP URL")?,
                playback: value("playback URL")?,
            }),
            "--seconds" => seconds = value("seconds")?.parse().context("--seconds")?,
            "--warmup" => warmup = value("seconds")?.parse().context("--warmup")?,
            "--join-after" => join_after = value("seconds")?.parse().context("--join-after")?,
            "--hls-js" => hls_js = Some(PathBuf::from(value("path")?)),
            "--chromium" => chromium = Some(value("path")?),
            other => bail!("unknown argument {other:?} (see the example's docs)"),
        }
    }
    if targets.is_empty() {
        bail!("no --target NAME RTMP_URL PLAYBACK_URL given");
    }
    let hls_js = hls_js.context("no hls.js: --hls-js PATH or STREAMLY_TEST_HLS_JS")?;
    Ok(Args {
        targets,
        seconds,
        warmup,
        join_after,
        hls_js,
        chromium,
    })
}

fn epoch_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// ffmpeg publishing the numbered test picture, and `t0`: the wall-clock
/// time (epoch ms) at which frame 0 left the encoder.
struct Publisher {
    child: tokio::process::Child,
    t0: Arc<Mutex<f64>>,
}

impl Publisher {
    fn start(rtmp: &str) -> Result<Self> {
        // Bit b of the frame number N is block b (32 px wide); blocks 16–19
        // hold (N × 7) mod 16, so that a misread is caught.
        let bits = "if(lt(floor(X/32),16),mod(floor(N/pow(2,floor(X/32))),2),\
                    mod(floor(mod(N*7,16)/pow(2,floor(X/32)-16)),2))";
        let video = format!(
            "testsrc2=size=640x320:rate=25[pic];\
             color=c=black:size=640x40:rate=25,format=yuv420p,geq=lum='255*{bits}':cb=128:cr=128[band];\
             [band][pic]vstack,format=yuv420p[out0]"
        );
        let mut child = tokio::process::Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-nostdin"])
            .args(["-re", "-f", "lavfi", "-i", &video])
            .args(["-re", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
            .args(["-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency"])
            .args(["-g", "25", "-keyint_min", "25", "-sc_threshold", "0"])
            .args(["-b:v", "1500k", "-maxrate", "1500k", "-bufsize", "1500k"])
            .args(["-c:a", "aac", "-b:a", "96k"])
            .args(["-progress", "pipe:1", "-stats_period", "0.1"])
            .args(["-f", "flv", rtmp])
            .stdout(Stdio::piped())
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("starting ffmpeg")?;
        let stdout = child.stdout.take().context("ffmpeg stdout")?;
        let t0 = Arc::new(Mutex::new(f64::INFINITY));
        tokio::spawn({
            let t0 = Arc::clone(&t0);
            async move {
                let mut lines = tokio::io::BufReader::new(stdout).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let now = epoch_ms();
                    let Some(frames) = line
                        .strip_prefix("frame=")
                        .and_then(|n| n.trim().parse::<f64>().ok())
                    else {
                        continue;
                    };
                    if frames >= 1.0 {
                        // The lock is only ever held for this update and a read.
                        if let Ok(mut t0) = t0.lock() {
                            *t0 = t0.min(now - (frames - 1.0) * FRAME_MS);
                        }
                    }
                }
            }
        });
        Ok(Self { child, t0 })
    }

    fn t0(&self) -> f64 {
        self.t0.lock().map_or(f64::INFINITY, |t| *t)
    }
}

/// Polls `url` until it answers 200 with a live media playlist (not the
/// ended one of a previous publish) that lists something.
async fn wait_for_playlist(url: &str, limit: Duration) -> Result<()> {
    use http_body_util::{BodyExt, Empty};
    let client: hyper_util::client::legacy::Client<_, Empty<bytes::Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http();
    let deadline = Instant::now() + limit;
    let uri: hyper::Uri = url.parse().with_context(|| format!("playback URL {url}"))?;
    loop {
        if let Ok(res) = client.get(uri.clone()).await
            && res.status() == 200
            && let Ok(body) = res.into_body().collect().await
            && let text = String::from_utf8_lossy(&body.to_bytes())
            && text.contains("#EXTINF")
            && !text.contains("#EXT-X-ENDLIST")
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{url} did not list a segment within {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

struct Chromedriver {
    _child: tokio::process::Child,
    url: String,
}

async fn start_chromedriver() -> Result<Chromedriver> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let child = tokio::process::Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("starting chromedriver (apt-get install chromium chromium-driver)")?;
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return Ok(Chromedriver {
                _child: child,
                url: format!("http://127.0.0.1:{port}"),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("chromedriver did not listen on {port}")
}

async fn browser(driver: &Chromedriver, chromium: Option<&str>) -> Result<Client> {
    let mut options = json!({ "args": CHROMIUM_ARGS });
    if let Some(binary) = chromium {
        options["binary"] = json!(binary);
    }
    let mut caps = serde_json::Map::new();
    caps.insert("goog:chromeOptions".into(), options);
    Ok(ClientBuilder::rustls()?
        .capabilities(caps)
        .connect(&driver.url)
        .await?)
}

/// The bench page, hls.js and the player settings, on a port of its own.
async fn serve_page(hls_js: Vec<u8>) -> Result<String> {
    const JS: &str = "text/javascript; charset=utf-8";
    let hls_js = axum::body::Bytes::from(hls_js);
    let app = axum::Router::new()
        .route(
            "/",
            get(|| async { ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], PAGE) }),
        )
        .route(
            "/player.js",
            get(|| async { ([(header::CONTENT_TYPE, JS)], PLAYER_JS) }),
        )
        .route(
            "/hls.min.js",
            get(move || {
                let body = hls_js.clone();
                async move { ([(header::CONTENT_TYPE, JS)], body) }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(base)
}

fn query_escape(s: &str) -> String {
    s.replace('%', "%25")
        .replace('&', "%26")
        .replace('#', "%23")
        .replace('+', "%2B")
}

/// One target's figures.
struct Outcome {
    name: String,
    latencies: Vec<f64>,
    stalls: u64,
    stalls_before: u64,
    misread: u64,
    longest_gap_ms: f64,
    /// hls.js's own view, means over the window: distance to the live edge,
    /// its target, the playback rate, the buffer ahead.
    player: [f64; 4],
    errors: Vec<String>,
}

/// What the page recorded over the measured window.
struct Played {
    /// `(frame number, displayed at, epoch ms)`.
    samples: Vec<(f64, f64)>,
    player: Vec<[f64; 4]>,
    stalls_at_start: u64,
    state: Value,
}

async fn play(client: &Client, target: &Target, page: &str, args: &Args) -> Result<Played> {
    client
        .goto(&format!("{page}/?src={}", query_escape(&target.playback)))
        .await?;

    let take = "return window.bench ? window.bench.take() : { samples: [], player: [] }";
    let mut samples: Vec<(f64, f64)> = Vec::new();
    let mut player: Vec<[f64; 4]> = Vec::new();
    let first = Instant::now();
    let mut started: Option<Instant> = None;
    let mut stalls_at_start = 0;
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let taken = client.execute(take, vec![]).await?;
        let batch = taken["samples"].as_array().cloned().unwrap_or_default();
        let playing_for = started.map(|s| s.elapsed());
        match playing_for {
            None if !batch.is_empty() => {
                eprintln!(
                    "   playing after {:.1} s; warming up {} s",
                    first.elapsed().as_secs_f64(),
                    args.warmup
                );
                started = Some(Instant::now());
            }
            None if first.elapsed() > Duration::from_secs(40) => {
                let state = client
                    .execute(
                        "return window.bench ? [window.bench.errors, window.bench.bad] : null",
                        vec![],
                    )
                    .await?;
                bail!(
                    "{}: nothing played within 40 s (errors, misread frames: {state})",
                    target.name
                )
            }
            Some(t) if t >= Duration::from_secs(args.warmup) => {
                if samples.is_empty() && player.is_empty() {
                    stalls_at_start = client
                        .execute("return window.bench.waiting", vec![])
                        .await?
                        .as_u64()
                        .unwrap_or(0);
                }
                samples.extend(
                    batch
                        .iter()
                        .filter_map(|s| Some((s[0].as_f64()?, s[1].as_f64()?))),
                );
                player.extend(
                    taken["player"].as_array().into_iter().flatten().filter_map(|p| {
                        Some([p[0].as_f64()?, p[1].as_f64()?, p[2].as_f64()?, p[3].as_f64()?])
                    }),
                );
                if t >= Duration::from_secs(args.warmup + args.seconds) {
                    break;
                }
            }
            _ => {}
        }
    }
    let state = client
        .execute(
            "return { waiting: window.bench.waiting, bad: window.bench.bad, errors: window.bench.errors }",
            vec![],
        )
        .await?;
    Ok(Played {
        samples,
        player,
        stalls_at_start,
        state,
    })
}

async fn measure(target: &Target, driver: &Chromedriver, page: &str, args: &Args) -> Result<Outcome> {
    eprintln!("== {}: publishing to {}", target.name, target.rtmp);
    let mut publisher = Publisher::start(&target.rtmp)?;
    wait_for_playlist(&target.playback, Duration::from_secs(30)).await?;
    // A viewer joins a stream that has been live a while (the player then
    // starts where it would in practice, not at the first segment).
    tokio::time::sleep(Duration::from_secs(args.join_after)).await;
    let client = browser(driver, args.chromium.as_deref()).await?;
    // Close the browser session whatever happened (else Chromium outlives
    // chromedriver).
    let played = play(&client, target, page, args).await;
    let _ = client.close().await;
    let Played {
        samples,
        player,
        stalls_at_start,
        state,
    } = played?;
    let t0 = publisher.t0();
    let _ = publisher.child.kill().await;

    let mut latencies: Vec<f64> = samples
        .iter()
        .map(|(n, shown)| shown - (t0 + n * FRAME_MS))
        .collect();
    let negative = latencies.iter().filter(|l| **l < 0.0).count() as u64;
    latencies.retain(|l| *l >= 0.0);
    let mut shown: Vec<f64> = samples.iter().map(|(_, t)| *t).collect();
    shown.sort_by(f64::total_cmp);
    let longest_gap_ms = shown.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max);
    let mean = |i: usize| player.iter().map(|p| p[i]).sum::<f64>() / player.len().max(1) as f64;
    Ok(Outcome {
        name: target.name.clone(),
        latencies,
        stalls: state["waiting"]
            .as_u64()
            .unwrap_or(0)
            .saturating_sub(stalls_at_start),
        stalls_before: stalls_at_start,
        misread: state["bad"].as_u64().unwrap_or(0) + negative,
        longest_gap_ms,
        player: [mean(0), mean(1), mean(2), mean(3)],
        errors: state["errors"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e.as_str().map(str::to_owned))
            .collect(),
    })
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn value_or_none(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_owned)
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = parse_args()?;
    // fantoccini's TLS stack compiles in two crypto providers: choose one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let hls_js = std::fs::read(&args.hls_js).with_context(|| format!("reading {}", args.hls_js.display()))?;
    let page = serve_page(hls_js).await?;
    let driver = start_chromedriver().await?;
    let mut outcomes = Vec::new();
    for target in &args.targets {
        outcomes.push(measure(target, &driver, &page, &args).await?);
        // Let the server see the publisher leave before the next one comes.
        tokio::time::sleep(Duration::from_secs(3)).await;
    }

    println!();
    println!(
        "| target | frames | p50 | p90 | p99 | min | max | stalls | longest freeze | hls.js latency / target | rate | buffer ahead |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for o in &mut outcomes {
        o.latencies.sort_by(f64::total_cmp);
        let s = |ms: f64| format!("{:.2} s", ms / 1000.0);
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {:.2} s | {:.2} / {:.2} s | {:.2} | {:.2} s |",
            o.name,
            o.latencies.len(),
            s(percentile(&o.latencies, 50.0)),
            s(percentile(&o.latencies, 90.0)),
            s(percentile(&o.latencies, 99.0)),
            s(o.latencies.first().copied().unwrap_or(f64::NAN)),
            s(o.latencies.last().copied().unwrap_or(f64::NAN)),
            o.stalls,
            o.longest_gap_ms / 1000.0,
            o.player[0],
            o.player[1],
            o.player[2],
            o.player[3],
        );
    }
    for o in &outcomes {
        println!(
            "{}: {} stalls before the window (start, warm-up); {} frames misread; hls.js errors: {}",
            o.name,
            o.stalls_before,
            o.misread,
            value_or_none(&json!(o.errors))
        );
    }
    Ok(())
}
