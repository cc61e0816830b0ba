//! RTMP ingest + live HLS, the smallest useful server: static stream keys,
//! segments in memory or on disk, playback over HTTP.
//!
//! ```text
//! STREAMLY_STREAM_KEYS=demo=secret1,other=secret2 \
//!   cargo run --release --example rtmp_to_hls
//! ffmpeg -re -i testdata/av.flv -c copy -f flv rtmp://127.0.0.1:1935/live/secret1
//! ffplay http://127.0.0.1:8000/hls/demo/index.m3u8
//! ```
//!
//! Environment:
//! - `STREAMLY_STREAM_KEYS` — `id=key,...` (default `demo=secret1`): stream
//!   `demo` publishes with key `secret1` and plays at `/hls/demo/index.m3u8`.
//! - `STREAMLY_RTMP_ADDR` (default `0.0.0.0:1935`), `STREAMLY_HTTP_ADDR`
//!   (default `0.0.0.0:8000`).
//! - `STREAMLY_SEGMENT_DIR` — also persist segments there (viewers are
//!   served from memory either way).
//! - `STREAMLY_RTMP_MAX_CONNECTIONS` — RTMP connections at once (default
//!   1000). Without it RTMP's share of the file-descriptor budget is an
//!   eighth; with it, up to half (`FdBudget::with_rtmp`).
//! - `STREAMLY_HLS_TS` — `0` packages fMP4 only (no `ts.m3u8`); default `1`.
//! - `STREAMLY_HLS_WINDOW` — segments per live playlist, kept in memory
//!   (default 10).
//!
//! Ctrl-C or SIGTERM shuts down gracefully: publishers are closed and every
//! live playlist gets `EXT-X-ENDLIST` before the process exits; HTTP
//! clients get 10 s to finish, whatever they do.
//!
//! `RLIMIT_NOFILE` is raised to the hard limit at start and split between
//! the RTMP and HTTP listeners (`streamly::fd_budget`); HTTP runs with
//! `streamly::http_server`'s limits (header-read timeout, connection caps).

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use streamly::core::adapters::{FsSegmentSink, StaticKeyValidator};
use streamly::fd_budget::{self, FdBudget};
use streamly::hls::{HlsConfig, HlsPublisher};
use streamly::http_server::{self, HttpLimits};
use streamly::live::Ingest;
use streamly::rtmp::{RtmpConfig, RtmpServer};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

fn env_addr(name: &str, default: &str) -> anyhow::Result<SocketAddr> {
    let value = std::env::var(name).unwrap_or_else(|_| default.to_owned());
    value
        .parse()
        .with_context(|| format!("{name}={value:?} is not an address"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .init();
    let fd_limit = fd_budget::raise_nofile_limit();
    // An explicit RTMP cap takes descriptors from HTTP's share (up to half).
    let rtmp_wanted: Option<usize> = match std::env::var("STREAMLY_RTMP_MAX_CONNECTIONS") {
        Ok(max) => Some(max.parse().context("STREAMLY_RTMP_MAX_CONNECTIONS")?),
        Err(_) => None,
    };
    let budget = match rtmp_wanted {
        Some(max) => FdBudget::with_rtmp(fd_limit, max),
        None => FdBudget::platform(fd_limit),
    };
    let keys = std::env::var("STREAMLY_STREAM_KEYS").unwrap_or_else(|_| {
        tracing::warn!("STREAMLY_STREAM_KEYS unset: using demo=secret1");
        "demo=secret1".to_owned()
    });
    let validator = Arc::new(StaticKeyValidator::from_spec(&keys).context("STREAMLY_STREAM_KEYS")?);
    let rtmp_addr = env_addr("STREAMLY_RTMP_ADDR", "0.0.0.0:1935")?;
    let http_addr = env_addr("STREAMLY_HTTP_ADDR", "0.0.0.0:8000")?;
    // Live viewers are served from memory; a segment directory also keeps
    // the segments on disk (for recordings, or other servers to read).
    let mut hls = HlsConfig::default();
    if let Ok(ts) = std::env::var("STREAMLY_HLS_TS") {
        hls.ts = ts != "0" && !ts.eq_ignore_ascii_case("false");
    }
    if let Ok(window) = std::env::var("STREAMLY_HLS_WINDOW") {
        hls.playlist_window = window.parse().context("STREAMLY_HLS_WINDOW")?;
    }
    let mut publisher = HlsPublisher::new(hls);
    if let Some(dir) = std::env::var_os("STREAMLY_SEGMENT_DIR") {
        let sink = FsSegmentSink::open(dir).await.context("STREAMLY_SEGMENT_DIR")?;
        publisher = publisher.persist_to(Arc::new(sink));
        publisher
            .recover()
            .await
            .context("cleaning up STREAMLY_SEGMENT_DIR")?;
    }
    let publisher = Arc::new(publisher);

    let mut rtmp_config = RtmpConfig::default();
    if let Some(max) = rtmp_wanted {
        rtmp_config.max_connections = max;
    }
    rtmp_config.max_connections = rtmp_config.max_connections.min(budget.rtmp).max(1);
    let limits = HttpLimits::default().within_fd_budget(budget.http);
    tracing::info!(
        fd_limit = budget.limit,
        rtmp_connections = rtmp_config.max_connections,
        http_connections = limits.max_connections,
        "connection caps"
    );
    let server = RtmpServer::bind(rtmp_addr, rtmp_config, validator)?;
    let ingest = Ingest::new(server.hub(), Arc::clone(&publisher));
    let listener = tokio::net::TcpListener::bind(http_addr).await?;
    tracing::info!(rtmp = %server.local_addr(), http = %listener.local_addr()?, "rtmp_to_hls ready");

    let shutdown = CancellationToken::new();
    tokio::spawn({
        let shutdown = shutdown.clone();
        async move {
            streamly::signal::shutdown_signal().await;
            tracing::info!("shutting down");
            shutdown.cancel();
        }
    });
    let rtmp = tokio::spawn(server.run(shutdown.clone()));
    let packaging = tokio::spawn(ingest.run(shutdown.clone()));
    let router = streamly::hls::router(publisher);
    http_server::serve(listener, router, limits, shutdown.clone().cancelled_owned()).await?;
    rtmp.await??;
    packaging.await?;
    Ok(())
}
