//! The whole platform on one machine: REST API, web UI, RTMP ingest, HLS and
//! chat.
//!
//! ```text
//! cargo run --release --example platform
//! ```
//!
//! Environment (all optional):
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `STREAMLY_HTTP_ADDR` | `0.0.0.0:8080` | HTTP listen address (API, UI, HLS, chat) |
//! | `STREAMLY_RTMP_ADDR` | `0.0.0.0:1935` | RTMP listen address |
//! | `STREAMLY_DATABASE_URL` | `sqlite://streamly.db` | `sqlite://…` or `postgres://…` |
//! | `STREAMLY_REDIS_URL` | unset: in-memory chat bus | `redis://host:6379` to share chat across nodes |
//! | `STREAMLY_SEGMENT_DIR` | unset: segments in memory | directory for HLS segments and playlists |
//! | `STREAMLY_SEGMENT_STORE` | unset: segments in memory | `s3://bucket/prefix`: segments and playlists in S3 or an S3-compatible store, configured by `AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ALLOW_HTTP` (not with `STREAMLY_SEGMENT_DIR`; see docs/operations.md) |
//! | `STREAMLY_PUBLIC_URL` | `http://localhost:<http port>` | base URL handed out in API answers |
//! | `STREAMLY_RTMP_PUBLIC_URL` | `rtmp://<public host>:<rtmp port>/live` | RTMP URL handed out |
//! | `STREAMLY_JWT_SECRET` | generated once, kept beside the database | token signing secret (≥ 32 bytes) |
//! | `STREAMLY_CORS_ORIGINS` | none | comma-separated origins allowed to call the API |
//! | `STREAMLY_INTERNAL_SECRET` | none: `/api/internal/*` off | shared by the platform's services (≥ 16 characters): with it set, ingest nodes may check keys here over HTTP (`Authorization: Bearer <secret>`) |
//! | `STREAMLY_API_URL` | none: keys checked in this process's store | another node's API (`http://api:8080`): RTMP publishes are checked there over HTTP (needs `STREAMLY_INTERNAL_SECRET`, same value on both) |
//! | `STREAMLY_HLS_JS_PATH` | none | an hls.js file (`dist/hls.min.js` of the npm package) the platform serves at `/assets/vendor/hls.min.js`; the watch page then plays in low-latency mode with it |
//! | `STREAMLY_HLS_JS_URL` | none | an hls.js you serve elsewhere (ignored when `STREAMLY_HLS_JS_PATH` is set) |
//! | `STREAMLY_RESET_LIVE_ON_START` | `true` | mark every stream offline at start (right on one machine; set `false` when several nodes share the database) |
//! | `STREAMLY_MAX_STREAMS_PER_USER` | `20` | streams one account may own (more: 409 `stream_limit`) |
//! | `STREAMLY_AUTH_RATE_BURST`, `STREAMLY_AUTH_RATE_PER_SECOND` | `10`, `0.5` | register/login rate limit per client address: burst, then refill per second |
//! | `STREAMLY_TRUST_FORWARDED_FOR` | `0` (off) | number of trusted reverse proxies that append to `X-Forwarded-For` (`true` = 1); the auth rate limit then keys on the rightmost entry they did not add |
//! | `STREAMLY_WEBHOOK_URLS` | none | comma-separated `http://` URLs that get `stream.live` / `stream.offline` POSTs |
//! | `STREAMLY_WEBHOOK_SECRET` | none (required with the URLs) | HMAC-SHA256 key of the `Streamly-Signature` header |
//! | `STREAMLY_LOG_FORMAT` | text | `json` for JSON logs; filter with `RUST_LOG` |

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use base64::Engine;
use streamly::api::PublicUrls;
use streamly::chat::redis::{RedisChatBus, RedisModerationStore};
use streamly::core::adapters::sql;
use streamly::core::adapters::{FsSegmentSink, ObjectStoreSegmentSink, ObjectStoreSinkConfig};
use streamly::core::ports::SegmentSink;
use streamly::web::UiConfig;
use streamly::webhooks::WebhookConfig;
use streamly::{Platform, PlatformConfig};
use tokio_util::sync::CancellationToken;

fn env(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// A boolean variable: `true/false`, `1/0`, `yes/no`, `on/off`.
fn env_bool(name: &str, default: bool) -> Result<bool> {
    match env(name).map(|v| v.to_ascii_lowercase()).as_deref() {
        None => Ok(default),
        Some("true" | "1" | "yes" | "on") => Ok(true),
        Some("false" | "0" | "no" | "off") => Ok(false),
        Some(other) => bail!("{name}: expected true or false, got {other:?}"),
    }
}

/// `STREAMLY_TRUST_FORWARDED_FOR`: how many trusted proxies append to
/// `X-Forwarded-For` (`0`/`false`/unset: none, `true`: one).
fn trusted_proxy_hops() -> Result<usize> {
    const NAME: &str = "STREAMLY_TRUST_FORWARDED_FOR";
    match env(NAME).map(|v| v.to_ascii_lowercase()).as_deref() {
        None | Some("false" | "no" | "off") => Ok(0),
        Some("true" | "yes" | "on") => Ok(1),
        Some(n) => n
            .parse()
            .with_context(|| format!("{NAME}: expected a number of proxies or true/false, got {n:?}")),
    }
}

fn init_logs() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    if env("STREAMLY_LOG_FORMAT").as_deref() == Some("json") {
        tracing_subscriber::fmt().json().with_env_filter(filter).init();
    } else {
        tracing_subscriber::fmt().with_env_filter(filter).init();
    }
}

/// The SQLite file a `sqlite:` URL names, if any (not for `:memory:`).
fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && !path.contains(":memory:")).then(|| PathBuf::from(path))
}

/// `STREAMLY_JWT_SECRET`, or a secret generated once and kept in a file
/// beside the database.
fn jwt_secret(database_url: &str) -> Result<Vec<u8>> {
    if let Some(secret) = env("STREAMLY_JWT_SECRET") {
        if secret.len() < 32 {
            bail!("STREAMLY_JWT_SECRET must be at least 32 bytes long");
        }
        return Ok(secret.into_bytes());
    }
    let file = match sqlite_path(database_url) {
        Some(db) => {
            let mut name = db.file_name().map(|n| n.to_os_string()).unwrap_or_default();
            name.push(".jwt-secret");
            db.with_file_name(name)
        }
        None => PathBuf::from("streamly.jwt-secret"),
    };
    if let Ok(existing) = std::fs::read_to_string(&file) {
        let existing = existing.trim().to_owned();
        if existing.len() >= 32 {
            tracing::info!(file = %file.display(), "using the JWT secret kept beside the database");
            return Ok(existing.into_bytes());
        }
    }
    let mut bytes = [0u8; 48];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness for a JWT secret: {e}"))?;
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    write_private(&file, &secret).with_context(|| format!("writing the JWT secret to {}", file.display()))?;
    tracing::warn!(
        file = %file.display(),
        "STREAMLY_JWT_SECRET is unset: generated a secret and saved it beside the database \
         (set STREAMLY_JWT_SECRET yourself when running several nodes)"
    );
    Ok(secret.into_bytes())
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}

fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or(rest);
    if authority.starts_with('[') {
        return authority
            .split(']')
            .next()
            .map(|h| format!("{h}]"))
            .unwrap_or_default();
    }
    authority.split(':').next().unwrap_or(authority).to_owned()
}

#[tokio::main]
async fn main() -> Result<()> {
    init_logs();
    // Before anything opens a descriptor; the HTTP share is applied by
    // `Platform::serve`, the RTMP one below.
    let budget = streamly::fd_budget::FdBudget::platform(streamly::fd_budget::raise_nofile_limit());
    let http_addr: SocketAddr = env("STREAMLY_HTTP_ADDR")
        .unwrap_or_else(|| "0.0.0.0:8080".into())
        .parse()
        .context("STREAMLY_HTTP_ADDR")?;
    let rtmp_addr: SocketAddr = env("STREAMLY_RTMP_ADDR")
        .unwrap_or_else(|| "0.0.0.0:1935".into())
        .parse()
        .context("STREAMLY_RTMP_ADDR")?;
    let database_url = env("STREAMLY_DATABASE_URL").unwrap_or_else(|| "sqlite://streamly.db".into());

    let public_url =
        env("STREAMLY_PUBLIC_URL").unwrap_or_else(|| format!("http://localhost:{}", http_addr.port()));
    let rtmp_url = env("STREAMLY_RTMP_PUBLIC_URL")
        .unwrap_or_else(|| format!("rtmp://{}:{}/live", host_of(&public_url), rtmp_addr.port()));

    let mut config = PlatformConfig::new(jwt_secret(&database_url)?);
    config.rtmp_addr = rtmp_addr;
    config.rtmp.max_connections = config.rtmp.max_connections.min(budget.rtmp).max(1);
    tracing::info!(
        fd_limit = budget.limit,
        rtmp_connections = config.rtmp.max_connections,
        http_connections = budget.http,
        reserve = budget.reserve,
        "descriptor budget"
    );
    config.api = streamly::api::ApiConfig::new(PublicUrls::new(&public_url, &rtmp_url));
    if let Some(origins) = env("STREAMLY_CORS_ORIGINS") {
        config.api.cors_origins = origins.split(',').map(|o| o.trim().to_owned()).collect();
    }
    let internal_secret = env("STREAMLY_INTERNAL_SECRET")
        .map(|s| streamly::core::auth::SharedSecret::parse(&s))
        .transpose()
        .map_err(|e| anyhow::anyhow!("STREAMLY_INTERNAL_SECRET {e}"))?;
    config.api.internal_secret = internal_secret.clone();
    config.ui = match env("STREAMLY_HLS_JS_PATH") {
        Some(path) => {
            let ui = UiConfig::serve_hls_js(&path).with_context(|| format!("STREAMLY_HLS_JS_PATH={path}"))?;
            tracing::info!(file = %path, url = streamly::web::HLS_JS_PATH, "serving hls.js");
            ui
        }
        None => UiConfig::with_hls_js(env("STREAMLY_HLS_JS_URL")),
    };
    config.reset_live_on_start = env_bool("STREAMLY_RESET_LIVE_ON_START", true)?;
    if let Some(urls) = env("STREAMLY_WEBHOOK_URLS") {
        let Some(secret) = env("STREAMLY_WEBHOOK_SECRET") else {
            bail!(
                "STREAMLY_WEBHOOK_URLS is set: STREAMLY_WEBHOOK_SECRET must be set too (it signs the events)"
            );
        };
        let urls: Vec<String> = urls
            .split(',')
            .map(|u| u.trim().to_owned())
            .filter(|u| !u.is_empty())
            .collect();
        tracing::info!(receivers = urls.len(), "webhooks on");
        config.webhooks = Some(WebhookConfig::new(urls, secret.into_bytes()));
    }
    if let Some(max) = env("STREAMLY_MAX_STREAMS_PER_USER") {
        config.max_streams_per_user = max.parse().with_context(|| {
            format!("STREAMLY_MAX_STREAMS_PER_USER: expected a number of streams, got {max:?}")
        })?;
    }
    if let Some(burst) = env("STREAMLY_AUTH_RATE_BURST") {
        config.api.auth_rate_limit.burst = burst.parse().with_context(|| {
            format!("STREAMLY_AUTH_RATE_BURST: expected a number of requests, got {burst:?}")
        })?;
    }
    if let Some(rate) = env("STREAMLY_AUTH_RATE_PER_SECOND") {
        config.api.auth_rate_limit.per_second = rate
            .parse()
            .ok()
            .filter(|r: &f64| r.is_finite() && *r > 0.0)
            .with_context(|| {
                format!("STREAMLY_AUTH_RATE_PER_SECOND: expected a positive number, got {rate:?}")
            })?;
    }
    let hops = trusted_proxy_hops()?;
    config.api.auth_rate_limit.trust_forwarded_for = hops > 0;
    config.api.auth_rate_limit.trusted_proxy_hops = hops.max(1);
    if hops > 0 {
        tracing::info!(proxies = hops, "auth rate limit keys on X-Forwarded-For");
    }

    let stores = sql::connect(&database_url)
        .await
        .with_context(|| format!("opening the database {database_url}"))?;
    tracing::info!(database = %database_url.split('@').next_back().unwrap_or_default(), "store ready");
    let mut builder = Platform::builder(config)
        .users(stores.users)
        .streams(stores.streams);
    if let Some(api_url) = env("STREAMLY_API_URL") {
        use streamly::core::adapters::{HttpKeyValidator, HttpValidatorConfig};
        let Some(secret) = internal_secret else {
            bail!("STREAMLY_API_URL is set: STREAMLY_INTERNAL_SECRET must be set too (the API checks it)");
        };
        let validator = HttpKeyValidator::new(HttpValidatorConfig::streamly(&api_url, secret))
            .map_err(|e| anyhow::anyhow!("STREAMLY_API_URL {e}"))?;
        tracing::info!(api = %api_url, "stream keys checked by the API over HTTP");
        builder = builder.validator(Arc::new(validator));
    }
    if let Some(redis) = env("STREAMLY_REDIS_URL") {
        let bus = RedisChatBus::connect(&redis)
            .await
            .context("connecting to Redis for chat")?;
        let moderation = RedisModerationStore::connect(&redis)
            .await
            .context("connecting to Redis for moderation")?;
        builder = builder.chat_bus(Arc::new(bus)).moderation(Arc::new(moderation));
        tracing::info!("chat bus: Redis");
    } else {
        tracing::info!("chat bus: in memory (set STREAMLY_REDIS_URL to share chat across nodes)");
    }
    match (env("STREAMLY_SEGMENT_DIR"), env("STREAMLY_SEGMENT_STORE")) {
        (Some(_), Some(_)) => {
            bail!("set STREAMLY_SEGMENT_DIR or STREAMLY_SEGMENT_STORE, not both")
        }
        (Some(dir), None) => {
            let sink = FsSegmentSink::open(&dir)
                .await
                .with_context(|| format!("segment directory {dir}"))?;
            builder = builder.segments(Arc::new(sink));
            tracing::info!(dir = %dir, "HLS segments on disk");
        }
        (None, Some(url)) => {
            // Endpoint, keys, region and AWS_ALLOW_HTTP come from the AWS_*
            // variables; timeouts and retries are sized for live segments.
            let sink = ObjectStoreSegmentSink::from_url(&url, &ObjectStoreSinkConfig::default())
                .with_context(|| format!("STREAMLY_SEGMENT_STORE {url}"))?;
            // A wrong bucket or key is the usual mistake: refuse to start
            // rather than lose every segment quietly.
            sink.ping()
                .await
                .with_context(|| format!("STREAMLY_SEGMENT_STORE {url} is not usable"))?;
            builder = builder.segments(Arc::new(sink));
            tracing::info!(store = %url, "HLS segments in an object store");
        }
        (None, None) => tracing::info!(
            "HLS segments in memory (set STREAMLY_SEGMENT_DIR or STREAMLY_SEGMENT_STORE to keep them)"
        ),
    }
    let platform = builder.build().await?;
    let http = tokio::net::TcpListener::bind(http_addr)
        .await
        .with_context(|| format!("binding HTTP on {http_addr}"))?;

    println!();
    println!("  Streamly is running.");
    println!("  Browser:  {public_url}   (sign up, then create a stream in the dashboard)");
    println!("  OBS:      Settings → Stream → Service \"Custom…\"");
    println!("            Server      {rtmp_url}");
    println!("            Stream Key  the key the dashboard shows when you create a stream");
    println!(
        "  ffmpeg:   ffmpeg -re -i video.mp4 -c:v libx264 -g 50 -c:a aac -f flv {rtmp_url}/<stream key>"
    );
    println!(
        "  API:      {public_url}/api/openapi.json    health: {public_url}/health    metrics: {public_url}/metrics"
    );
    println!("  Stop with Ctrl-C.");
    println!();

    let shutdown = CancellationToken::new();
    tokio::spawn({
        let shutdown = shutdown.clone();
        async move {
            streamly::signal::shutdown_signal().await;
            tracing::info!("shutting down: closing publishers, ending playlists");
            shutdown.cancel();
        }
    });
    platform.serve(http, shutdown).await?;
    Ok(())
}
