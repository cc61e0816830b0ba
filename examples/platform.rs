//! The whole platform in plain library calls: the composition an integrator
//! copies into their own server. (To run Streamly as it ships, with every
//! option and the separate roles, use the binary: `cargo run --release --
//! serve --help`.)
//!
//! ```text
//! STREAMLY_JWT_SECRET=<32+ bytes> cargo run --release --example platform
//! ```
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `STREAMLY_HTTP_ADDR` | `0.0.0.0:8080` | HTTP: API, UI, HLS, chat |
//! | `STREAMLY_RTMP_ADDR` | `0.0.0.0:1935` | RTMP ingest |
//! | `STREAMLY_DATABASE_URL` | `sqlite://streamly.db` | `sqlite://…` or `postgres://…` |
//! | `STREAMLY_JWT_SECRET` | a random one per run (tokens end with the process) | token signing secret, ≥ 32 bytes |
//! | `STREAMLY_REDIS_URL` | unset: chat in memory | chat rooms shared across nodes |
//! | `STREAMLY_SEGMENT_DIR` | unset: nothing persisted | HLS segments and playlists kept on disk |

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result};
use streamly::api::{ApiConfig, PublicUrls};
use streamly::chat::redis::{RedisChatBus, RedisModerationStore};
use streamly::core::adapters::{FsSegmentSink, sql};
use streamly::{Platform, PlatformConfig};
use tokio_util::sync::CancellationToken;

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn jwt_secret() -> Result<Vec<u8>> {
    if let Some(secret) = env("STREAMLY_JWT_SECRET") {
        anyhow::ensure!(
            secret.len() >= 32,
            "STREAMLY_JWT_SECRET must be at least 32 bytes long"
        );
        return Ok(secret.into_bytes());
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    tracing::warn!("STREAMLY_JWT_SECRET is unset: a random secret for this run only");
    Ok(bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>()
        .into_bytes())
}

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let http_addr: SocketAddr = env("STREAMLY_HTTP_ADDR")
        .unwrap_or_else(|| "0.0.0.0:8080".into())
        .parse()
        .context("STREAMLY_HTTP_ADDR")?;
    let rtmp_addr: SocketAddr = env("STREAMLY_RTMP_ADDR")
        .unwrap_or_else(|| "0.0.0.0:1935".into())
        .parse()
        .context("STREAMLY_RTMP_ADDR")?;
    let database_url = env("STREAMLY_DATABASE_URL").unwrap_or_else(|| "sqlite://streamly.db".into());

    // The config: addresses, the URLs handed out in API answers, secrets.
    let public_url = format!("http://localhost:{}", http_addr.port());
    let rtmp_url = format!("rtmp://localhost:{}/live", rtmp_addr.port());
    let mut config = PlatformConfig::new(jwt_secret()?);
    config.rtmp_addr = rtmp_addr;
    config.api = ApiConfig::new(PublicUrls::new(&public_url, &rtmp_url));

    // The ports: stores, chat bus, segment persistence. Any not given is in
    // memory.
    let stores = sql::connect(&database_url)
        .await
        .with_context(|| format!("opening the database {database_url}"))?;
    let mut builder = Platform::builder(config)
        .users(stores.users)
        .streams(stores.streams)
        .recordings(stores.recordings)
        .profiles(stores.profiles)
        .viewer_analytics(stores.viewer_analytics);
    if let Some(redis) = env("STREAMLY_REDIS_URL") {
        builder = builder
            .chat_bus(Arc::new(RedisChatBus::connect(&redis).await?))
            .moderation(Arc::new(RedisModerationStore::connect(&redis).await?));
    }
    if let Some(dir) = env("STREAMLY_SEGMENT_DIR") {
        builder = builder.segments(Arc::new(FsSegmentSink::open(&dir).await?));
    }
    let platform = builder.build().await?;

    // Serve until Ctrl-C or SIGTERM; publishers are closed and playlists
    // ended on the way out.
    let http = tokio::net::TcpListener::bind(http_addr)
        .await
        .with_context(|| format!("binding HTTP on {http_addr}"))?;
    println!("Streamly on {public_url}; publish to {rtmp_url}/<stream key>");
    let shutdown = CancellationToken::new();
    tokio::spawn({
        let shutdown = shutdown.clone();
        async move {
            streamly::signal::shutdown_signal().await;
            shutdown.cancel();
        }
    });
    platform.serve(http, shutdown).await?;
    Ok(())
}
