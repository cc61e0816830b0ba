//! The standalone chat server: `streamly_chat::router` served by
//! `streamly::http_server::serve` (header-read timeout, connection caps per
//! address and in total, a shutdown deadline) on `STREAMLY_CHAT_ADDR`
//! (default `0.0.0.0:8084`), WebSocket at `/ws?room=…`, `/health` beside it.
//! `RLIMIT_NOFILE` is raised to the hard limit at start; the connection cap
//! is the smaller of `STREAMLY_CHAT_MAX_CONNECTIONS` and the descriptor
//! budget (`streamly::fd_budget`). Ctrl-C or SIGTERM: chat connections are
//! closed (1001) and the process exits within 10 s.
//!
//! Environment:
//! - `STREAMLY_CHAT_ADDR` — listen address (default `0.0.0.0:8084`).
//! - `STREAMLY_REDIS_URL` — share rooms, history and moderation with other
//!   nodes through Redis; unset means the in-memory bus (one node).
//! - `STREAMLY_JWT_SECRET` — the platform's JWT secret (≥ 32 bytes); unset
//!   means every client is an anonymous reader.
//! - `STREAMLY_JWT_ISSUER` — default `streamly`.
//! - `STREAMLY_CHAT_MAX_CONNECTIONS` — default 20000.
//! - `STREAMLY_CHAT_MAX_PER_ADDR` — connections one client address may hold,
//!   default 256 (the load generator, all from 127.0.0.1, needs it raised).
//! - `STREAMLY_CHAT_RATE` — per-user limit as `burst/seconds`, default `5/10`.
//! - `STREAMLY_CHAT_OWNERS` — room owners as `room=user_id,...` (user ids
//!   are the JWT `sub` UUIDs). Unset means no room has an owner, so nobody
//!   can moderate (there is no owner to name moderators).
//! - `STREAMLY_CHAT_REQUIRE_KNOWN_ROOM` — `1`/`true`: only the rooms listed
//!   in `STREAMLY_CHAT_OWNERS` can be joined (others get `unknown_room`).
//!
//! ```sh
//! cargo run --release --example chat_server
//! websocat 'ws://127.0.0.1:8084/ws?room=demo'
//! ```

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use streamly::fd_budget::{self, FdBudget};
use streamly::http_server::{self, HttpLimits};
use streamly_chat::moderation::{MemoryModerationStore, ModerationStore, StaticRoomAuthority};
use streamly_chat::{ChatConfig, ChatHub, RateLimit};
use streamly_core::adapters::MemoryChatBus;
use streamly_core::auth::{JwtConfig, JwtKeys};
use streamly_core::domain::{RoomId, UserId};
use streamly_core::ports::ChatBus;
use tokio_util::sync::CancellationToken;

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn rate_limit() -> anyhow::Result<RateLimit> {
    let Some(spec) = env("STREAMLY_CHAT_RATE") else {
        return Ok(RateLimit::default());
    };
    let (burst, secs) = spec
        .split_once('/')
        .context("STREAMLY_CHAT_RATE is burst/seconds")?;
    Ok(RateLimit {
        burst: burst.trim().parse().context("rate burst")?,
        per: Duration::from_secs_f64(secs.trim().parse().context("rate seconds")?),
    })
}

/// `STREAMLY_CHAT_OWNERS=room=user_id,...` as a room authority.
fn owners() -> anyhow::Result<StaticRoomAuthority> {
    let authority = StaticRoomAuthority::new();
    let Some(spec) = env("STREAMLY_CHAT_OWNERS") else {
        return Ok(authority);
    };
    for pair in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (room, user) = pair
            .split_once('=')
            .with_context(|| format!("STREAMLY_CHAT_OWNERS entry {pair:?} is not room=user_id"))?;
        let room = RoomId::parse(room.trim()).with_context(|| format!("room name in {pair:?}"))?;
        let user: UserId = user
            .trim()
            .parse()
            .with_context(|| format!("user id in {pair:?}"))?;
        authority.set_owner(room, user);
    }
    Ok(authority)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let budget = FdBudget::http_only(fd_budget::raise_nofile_limit());
    let addr = env("STREAMLY_CHAT_ADDR").unwrap_or_else(|| "0.0.0.0:8084".into());

    let mut config = ChatConfig::default();
    config.rate_limit = rate_limit()?;
    config.require_known_room = matches!(
        env("STREAMLY_CHAT_REQUIRE_KNOWN_ROOM").as_deref(),
        Some("1" | "true" | "yes")
    );
    if let Some(max) = env("STREAMLY_CHAT_MAX_CONNECTIONS") {
        config.max_connections = max.parse().context("STREAMLY_CHAT_MAX_CONNECTIONS")?;
    }
    // Every chat client is one HTTP connection (upgraded): one cap for both.
    let mut limits = HttpLimits::default();
    limits.max_connections = config.max_connections;
    if let Some(max) = env("STREAMLY_CHAT_MAX_PER_ADDR") {
        limits.max_connections_per_addr = max.parse().context("STREAMLY_CHAT_MAX_PER_ADDR")?;
    }
    let limits = limits.within_fd_budget(budget.http);
    config.max_connections = limits.max_connections;
    tracing::info!(
        max_connections = limits.max_connections,
        per_addr = limits.max_connections_per_addr,
        fd_limit = budget.limit,
        "chat connection caps"
    );

    let (bus, moderation): (Arc<dyn ChatBus>, Arc<dyn ModerationStore>) = match env("STREAMLY_REDIS_URL") {
        Some(url) => {
            let bus = streamly_chat::redis::RedisChatBus::connect(&url)
                .await
                .context("connecting the Redis chat bus")?;
            let store = streamly_chat::redis::RedisModerationStore::connect(&url)
                .await
                .context("connecting the Redis moderation store")?;
            tracing::info!("chat bus: Redis");
            (Arc::new(bus), Arc::new(store))
        }
        None => {
            tracing::info!("chat bus: in memory (single node)");
            (
                Arc::new(MemoryChatBus::default()),
                Arc::new(MemoryModerationStore::new()),
            )
        }
    };

    let mut builder = ChatHub::builder(bus)
        .config(config)
        .moderation(moderation)
        .authority(Arc::new(owners()?));
    match env("STREAMLY_JWT_SECRET") {
        Some(secret) => {
            let keys = JwtKeys::new(&JwtConfig {
                secret: secret.into_bytes(),
                issuer: env("STREAMLY_JWT_ISSUER").unwrap_or_else(|| "streamly".into()),
                ttl: Duration::from_secs(24 * 3600),
            })
            .context("STREAMLY_JWT_SECRET")?;
            builder = builder.jwt(keys);
        }
        None => tracing::warn!("STREAMLY_JWT_SECRET unset: every client is an anonymous reader"),
    }
    let hub = builder.build();

    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    tracing::info!(addr = %listener.local_addr()?, "chat server listening (GET /ws?room=…)");
    let shutdown = CancellationToken::new();
    tokio::spawn({
        let shutdown = shutdown.clone();
        async move {
            streamly::signal::shutdown_signal().await;
            tracing::info!("shutting down: closing chat connections");
            shutdown.cancel();
        }
    });
    let app = axum::Router::new()
        .route("/health", get(health))
        .with_state(hub.clone())
        .merge(streamly_chat::router(hub.clone()));
    // WebSockets leave the HTTP server once upgraded: the hub closes them,
    // alongside the HTTP drain and within the same deadline.
    let deadline = limits.shutdown_timeout;
    let close_chat = async {
        shutdown.cancelled().await;
        if tokio::time::timeout(deadline, hub.shutdown()).await.is_err() {
            tracing::warn!("chat connections still open at the shutdown deadline");
        }
    };
    let (served, ()) = tokio::join!(
        http_server::serve(listener, app, limits, shutdown.clone().cancelled_owned()),
        close_chat
    );
    served?;
    Ok(())
}

async fn health(State(hub): State<ChatHub>) -> Result<&'static str, (StatusCode, String)> {
    hub.health()
        .await
        .map(|()| "ok")
        .map_err(|e| (StatusCode::SERVICE_UNAVAILABLE, e.to_string()))
}
