//! `streamly serve`: the options into a [`PlatformConfig`] and ports, then
//! serve until SIGINT/SIGTERM.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use streamly::api::{ApiConfig, PublicUrls};
use streamly::chat::redis::{RedisChatBus, RedisModerationStore};
use streamly::core::adapters::sql;
use streamly::core::adapters::{FsSegmentSink, ObjectStoreSegmentSink, ObjectStoreSinkConfig};
use streamly::core::auth::SharedSecret;
use streamly::core::ports::SegmentSink;
use streamly::origin::RedisOriginDirectory;
use streamly::web::UiConfig;
use streamly::webhooks::WebhookConfig;
use streamly::{Platform, PlatformBuilder, PlatformConfig};
use tokio_util::sync::CancellationToken;

use crate::args::ServeArgs;
use crate::setup::{host_of, jwt_secret, redact};

/// Builds the platform the options describe and serves it.
pub async fn run(args: ServeArgs) -> Result<()> {
    // Before anything opens a descriptor; the HTTP share is applied by
    // `Platform::serve`, the RTMP one below.
    let budget = streamly::fd_budget::FdBudget::platform(streamly::fd_budget::raise_nofile_limit());
    let roles = args.role;
    let public_url = args
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://localhost:{}", args.http_addr.port()));
    let rtmp_url = args
        .rtmp_public_url
        .clone()
        .unwrap_or_else(|| format!("rtmp://{}:{}/live", host_of(&public_url), args.rtmp_addr.port()));

    let mut config = PlatformConfig::new(jwt_secret(args.jwt_secret.as_deref(), &args.database_url)?);
    config.roles = roles;
    config.rtmp_addr = args.rtmp_addr;
    let max_rtmp = args.rtmp_max_connections.unwrap_or(config.rtmp.max_connections);
    config.rtmp.max_connections = max_rtmp.min(budget.rtmp).max(1);
    tracing::info!(
        fd_limit = budget.limit,
        rtmp_connections = config.rtmp.max_connections,
        http_connections = budget.http,
        reserve = budget.reserve,
        "descriptor budget"
    );
    let mut urls = PublicUrls::new(&public_url, &rtmp_url);
    if let Some(base) = &args.playback_url {
        urls = urls.with_playback_base(base);
    }
    if let Some(base) = &args.chat_url {
        urls = urls.with_chat_base(base);
    }
    config.api = ApiConfig::new(urls);
    config.api.cors_origins = args
        .cors_origins
        .iter()
        .map(|o| o.trim().to_owned())
        .filter(|o| !o.is_empty())
        .collect();
    let internal_secret = args
        .internal_secret
        .as_deref()
        .map(SharedSecret::parse)
        .transpose()
        .map_err(|e| anyhow::anyhow!("STREAMLY_INTERNAL_SECRET {e}"))?;
    config.api.internal_secret = internal_secret.clone();
    config.ui = match &args.hls_js_path {
        Some(path) => {
            let ui = UiConfig::serve_hls_js(path)
                .with_context(|| format!("STREAMLY_HLS_JS_PATH={}", path.display()))?;
            tracing::info!(file = %path.display(), url = streamly::web::HLS_JS_PATH, "serving hls.js");
            ui
        }
        None => UiConfig::with_hls_js(args.hls_js_url.clone()),
    };
    config.reset_live_on_start = args.reset_live_on_start.unwrap_or(roles.is_all());
    let webhook_urls: Vec<String> = args
        .webhook_urls
        .iter()
        .map(|u| u.trim().to_owned())
        .filter(|u| !u.is_empty())
        .collect();
    if !webhook_urls.is_empty() {
        let Some(secret) = &args.webhook_secret else {
            bail!(
                "STREAMLY_WEBHOOK_URLS is set: STREAMLY_WEBHOOK_SECRET must be set too (it signs the events)"
            );
        };
        tracing::info!(receivers = webhook_urls.len(), "webhooks on");
        config.webhooks = Some(WebhookConfig::new(webhook_urls, secret.clone().into_bytes()));
    }
    if let Some(max) = args.max_streams_per_user {
        config.max_streams_per_user = max;
    }
    if let Some(burst) = args.auth_rate_burst {
        config.api.auth_rate_limit.burst = burst;
    }
    if let Some(rate) = args.auth_rate_per_second {
        config.api.auth_rate_limit.per_second = rate;
    }
    let hops = args.trust_forwarded_for;
    config.api.auth_rate_limit.trust_forwarded_for = hops > 0;
    config.api.auth_rate_limit.trusted_proxy_hops = hops.max(1);
    if hops > 0 {
        tracing::info!(proxies = hops, "auth rate limit keys on X-Forwarded-For");
    }
    config.origin_lease_ttl = Duration::from_secs(args.origin_lease_ttl);
    config.hls.ts = args.hls_ts;
    config.hls.playlist_window = usize::try_from(args.hls_window).unwrap_or(10);
    config.recording_retention = (args.recording_retention_days > 0)
        .then(|| Duration::from_secs(args.recording_retention_days.saturating_mul(86_400)));
    config.analytics.sample_period = Duration::from_secs(args.analytics_period_secs);

    let stores = sql::connect(&args.database_url)
        .await
        .with_context(|| format!("opening the database {}", redact(&args.database_url)))?;
    tracing::info!(database = %redact(&args.database_url), "store ready");
    let mut builder = Platform::builder(config)
        .users(stores.users)
        .streams(stores.streams)
        .recordings(stores.recordings)
        .profiles(stores.profiles)
        .viewer_analytics(stores.viewer_analytics);
    builder = with_validator(builder, &args, internal_secret)?;
    builder = with_redis(builder, &args).await?;
    // The API node too: it ends the persisted playlists of streams whose
    // ingest node died.
    if roles.ingest || roles.api {
        builder = with_segments(builder, &args).await?;
    }
    let platform = builder.build().await?;
    let http = tokio::net::TcpListener::bind(args.http_addr)
        .await
        .with_context(|| format!("binding HTTP on {}", args.http_addr))?;
    banner(&args, &public_url, &rtmp_url);

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

/// Keys checked by the api node over HTTP when `--api-url` is given.
fn with_validator(
    builder: PlatformBuilder,
    args: &ServeArgs,
    internal_secret: Option<SharedSecret>,
) -> Result<PlatformBuilder> {
    let Some(api_url) = &args.api_url else {
        return Ok(builder);
    };
    use streamly::core::adapters::{HttpKeyValidator, HttpValidatorConfig};
    let Some(secret) = internal_secret else {
        bail!("STREAMLY_API_URL is set: STREAMLY_INTERNAL_SECRET must be set too (the API checks it)");
    };
    let validator = HttpKeyValidator::new(HttpValidatorConfig::streamly(api_url, secret))
        .map_err(|e| anyhow::anyhow!("STREAMLY_API_URL {e}"))?;
    tracing::info!(api = %api_url, "stream keys checked by the API over HTTP");
    Ok(builder.validator(Arc::new(validator)))
}

/// Chat bus, moderation and origin leases on Redis when `--redis-url` is
/// given.
async fn with_redis(builder: PlatformBuilder, args: &ServeArgs) -> Result<PlatformBuilder> {
    let Some(redis) = &args.redis_url else {
        tracing::info!(
            "chat bus and origin leases in memory (set STREAMLY_REDIS_URL to share them across nodes)"
        );
        return Ok(builder);
    };
    let mut builder = builder;
    if args.role.chat {
        let bus = RedisChatBus::connect(redis)
            .await
            .context("connecting to Redis for chat")?;
        let moderation = RedisModerationStore::connect(redis)
            .await
            .context("connecting to Redis for moderation")?;
        builder = builder.chat_bus(Arc::new(bus)).moderation(Arc::new(moderation));
        tracing::info!("chat bus: Redis");
    }
    if args.role.api || args.role.ingest {
        let origins = RedisOriginDirectory::connect(redis)
            .await
            .context("connecting to Redis for origin leases")?;
        builder = builder.origins(Arc::new(origins));
        tracing::info!("origin leases: Redis");
    }
    Ok(builder)
}

/// Where the ingest role persists segments.
async fn with_segments(builder: PlatformBuilder, args: &ServeArgs) -> Result<PlatformBuilder> {
    let sink: Arc<dyn SegmentSink> = if let Some(dir) = &args.segment_dir {
        let sink = FsSegmentSink::open(dir)
            .await
            .with_context(|| format!("segment directory {}", dir.display()))?;
        tracing::info!(dir = %dir.display(), "HLS segments on disk");
        Arc::new(sink)
    } else if let Some(url) = &args.segment_store {
        let sink = ObjectStoreSegmentSink::from_url(url, &ObjectStoreSinkConfig::default())
            .with_context(|| format!("STREAMLY_SEGMENT_STORE={url}"))?;
        tracing::info!(store = %url, "HLS segments in an object store");
        Arc::new(sink)
    } else {
        tracing::info!(
            "HLS segments in memory (set STREAMLY_SEGMENT_DIR or STREAMLY_SEGMENT_STORE to keep them)"
        );
        return Ok(builder);
    };
    Ok(builder.segments(sink))
}

fn banner(args: &ServeArgs, public_url: &str, rtmp_url: &str) {
    println!();
    println!("  Streamly is running ({}).", args.role);
    if args.role.api {
        println!("  Browser:  {public_url}   (sign up, then create a stream in the dashboard)");
    }
    if args.role.ingest {
        println!("  OBS:      Settings → Stream → Service \"Custom…\"");
        println!("            Server      {rtmp_url}");
        println!("            Stream Key  the key the dashboard shows when you create a stream");
        println!(
            "  ffmpeg:   ffmpeg -re -i video.mp4 -c:v libx264 -g 50 -c:a aac -f flv {rtmp_url}/<stream key>"
        );
    }
    if args.role.api {
        println!("  API:      {public_url}/api/openapi.json");
    }
    println!("  Health:   {public_url}/health    metrics: {public_url}/metrics");
    println!("  Stop with Ctrl-C.");
    println!();
}
