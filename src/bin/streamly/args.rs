//! The command line: every option with its `STREAMLY_*` variable.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::builder::BoolishValueParser;
use clap::{Args, Parser, Subcommand, ValueEnum};
use streamly::Roles;

/// Streamly: RTMP ingest, low-latency HLS, chat and a REST API.
///
/// Run everything in one process (`streamly serve`), or the services apart:
/// an api node, ingest nodes and chat nodes sharing one PostgreSQL
/// (`--database-url`) and one Redis (`--redis-url`). Ingest and chat nodes
/// check stream keys and report publishes to the api node at `--api-url`,
/// authenticated with `--internal-secret`.
#[derive(Debug, Parser)]
#[command(name = "streamly", version, about, long_about)]
pub struct Cli {
    /// Log lines as text or JSON (filter with RUST_LOG, default info).
    #[arg(long, global = true, env = "STREAMLY_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the platform, or the roles named by --role.
    Serve(Box<ServeArgs>),
    /// Apply the database migrations, then exit (serve applies them too).
    Migrate(MigrateArgs),
}

/// `streamly migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// `sqlite://file.db` or `postgres://user@host/db`.
    #[arg(long, env = "STREAMLY_DATABASE_URL", default_value = "sqlite://streamly.db")]
    pub database_url: String,
}

/// `streamly serve`.
#[derive(Debug, Args)]
#[command(next_line_help = true)]
pub struct ServeArgs {
    /// The parts this process runs: `all`, or a comma-separated list of
    /// `api` (accounts and streams REST, web UI, the internal endpoints the
    /// other nodes call), `ingest` (RTMP, HLS packaging, `/hls`) and `chat`
    /// (the `/ws` WebSocket). Every role serves /health and /metrics.
    #[arg(long, env = "STREAMLY_ROLE", default_value = "all")]
    pub role: Roles,

    /// HTTP listen address (API, UI, HLS, chat: those of the roles).
    #[arg(long, env = "STREAMLY_HTTP_ADDR", default_value = "0.0.0.0:8080")]
    pub http_addr: SocketAddr,

    /// RTMP listen address (ingest role).
    #[arg(long, env = "STREAMLY_RTMP_ADDR", default_value = "0.0.0.0:1935")]
    pub rtmp_addr: SocketAddr,

    /// Maximum RTMP connections (ingest role; also bounded by the
    /// descriptor limit).
    #[arg(long, env = "STREAMLY_RTMP_MAX_CONNECTIONS")]
    pub rtmp_max_connections: Option<usize>,

    /// `sqlite://file.db` or `postgres://user@host/db`. Every role opens
    /// it: several nodes need PostgreSQL.
    #[arg(long, env = "STREAMLY_DATABASE_URL", default_value = "sqlite://streamly.db")]
    pub database_url: String,

    /// `redis://host:6379`: chat rooms and moderation shared across chat
    /// nodes, and the stream → ingest node leases that let any ingest node
    /// redirect a viewer to the stream's origin. Unset: in memory.
    #[arg(long, env = "STREAMLY_REDIS_URL")]
    pub redis_url: Option<String>,

    /// Directory HLS segments and playlists are persisted to (ingest role;
    /// on the api role, the ingest nodes' shared one: the playlists of a
    /// stream whose node died are ended there). Unset: in memory only.
    #[arg(long, env = "STREAMLY_SEGMENT_DIR", conflicts_with = "segment_store")]
    pub segment_dir: Option<PathBuf>,

    /// An object store HLS segments and playlists are persisted to
    /// (`s3://bucket/prefix`, with the standard AWS_* variables: endpoint,
    /// keys, region, AWS_ALLOW_HTTP).
    #[arg(long, env = "STREAMLY_SEGMENT_STORE")]
    pub segment_store: Option<String>,

    /// This node's public base URL, handed out in API answers and, on an
    /// ingest node, where other nodes redirect its viewers.
    /// Default: http://localhost:<http port>.
    #[arg(long, env = "STREAMLY_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Base of the playback URLs the API hands out (the ingest nodes, or
    /// the proxy in front of them). Default: --public-url.
    #[arg(long, env = "STREAMLY_PLAYBACK_URL")]
    pub playback_url: Option<String>,

    /// Base of the chat URLs the API hands out (the chat nodes, or the
    /// proxy in front of them). Default: --public-url.
    #[arg(long, env = "STREAMLY_CHAT_URL")]
    pub chat_url: Option<String>,

    /// The RTMP URL handed out to streamers.
    /// Default: rtmp://<public host>:<rtmp port>/live.
    #[arg(long, env = "STREAMLY_RTMP_PUBLIC_URL")]
    pub rtmp_public_url: Option<String>,

    /// Token signing secret (at least 32 bytes; the same on every node).
    /// Unset: generated once and kept beside the SQLite database.
    #[arg(long, env = "STREAMLY_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// Shared by the platform's services (at least 16 characters, the same
    /// on every node): the api node serves /api/internal/* with it, ingest
    /// nodes authenticate with it.
    #[arg(long, env = "STREAMLY_INTERNAL_SECRET", hide_env_values = true)]
    pub internal_secret: Option<String>,

    /// The api node (`http://api:8080`): RTMP publishes are checked there
    /// over HTTP instead of in this process's store (needs
    /// --internal-secret).
    #[arg(long, env = "STREAMLY_API_URL")]
    pub api_url: Option<String>,

    /// Comma-separated origins allowed to call the API from browsers.
    #[arg(long, env = "STREAMLY_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,

    /// An hls.js file (`dist/hls.min.js` of the npm package) served at
    /// /assets/vendor/hls.min.js: the watch page then plays low-latency.
    #[arg(long, env = "STREAMLY_HLS_JS_PATH", conflicts_with = "hls_js_url")]
    pub hls_js_path: Option<PathBuf>,

    /// An hls.js served elsewhere.
    #[arg(long, env = "STREAMLY_HLS_JS_URL")]
    pub hls_js_url: Option<String>,

    /// Mark every stream offline at start. Default: true when running all
    /// roles (one machine), false otherwise (nodes share the database).
    #[arg(long, env = "STREAMLY_RESET_LIVE_ON_START", value_parser = BoolishValueParser::new())]
    pub reset_live_on_start: Option<bool>,

    /// Streams one account may own.
    #[arg(long, env = "STREAMLY_MAX_STREAMS_PER_USER")]
    pub max_streams_per_user: Option<u32>,

    /// Register/login rate limit per client address: burst.
    #[arg(long, env = "STREAMLY_AUTH_RATE_BURST")]
    pub auth_rate_burst: Option<u32>,

    /// Register/login rate limit per client address: refill per second.
    #[arg(long, env = "STREAMLY_AUTH_RATE_PER_SECOND", value_parser = positive_rate)]
    pub auth_rate_per_second: Option<f64>,

    /// Number of trusted reverse proxies that append to X-Forwarded-For
    /// (`true` = 1, `false` = 0): the auth rate limit then keys on the
    /// rightmost entry they did not add.
    #[arg(long, env = "STREAMLY_TRUST_FORWARDED_FOR", value_parser = proxy_hops, default_value = "0")]
    pub trust_forwarded_for: usize,

    /// Comma-separated http:// URLs that get stream.live / stream.offline
    /// POSTs (ingest role; needs --webhook-secret).
    #[arg(
        long,
        env = "STREAMLY_WEBHOOK_URLS",
        value_delimiter = ',',
        requires = "webhook_secret"
    )]
    pub webhook_urls: Vec<String>,

    /// HMAC-SHA256 key of the Streamly-Signature header.
    #[arg(long, env = "STREAMLY_WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: Option<String>,

    /// Origin lease time-to-live in seconds (with --redis-url): a dead
    /// ingest node's streams go offline within it.
    #[arg(long, env = "STREAMLY_ORIGIN_LEASE_TTL", default_value_t = 10, value_parser = clap::value_parser!(u64).range(2..=3600))]
    pub origin_lease_ttl: u64,

    /// Days a recording is kept after its broadcast ended (0: forever).
    /// Broadcasts are recorded with a segment directory or store.
    #[arg(long, env = "STREAMLY_RECORDING_RETENTION_DAYS", default_value_t = 30)]
    pub recording_retention_days: u64,

    /// Also package each stream as MPEG-TS (`ts.m3u8`) for players without
    /// fMP4 support (ingest role). Off, a live stream costs about half the
    /// memory and 40 % less CPU (docs/performance.md, "Ingest ladder").
    #[arg(long, env = "STREAMLY_HLS_TS", default_value_t = true, value_parser = BoolishValueParser::new(), action = clap::ArgAction::Set)]
    pub hls_ts: bool,

    /// Segments listed in each live playlist, and kept in memory per
    /// stream (ingest role; 3 to 60).
    #[arg(long, env = "STREAMLY_HLS_WINDOW", default_value_t = 10, value_parser = clap::value_parser!(u64).range(3..=60))]
    pub hls_window: u64,

    /// Seconds one viewer-analytics sample covers (ingest and chat nodes).
    /// Viewer analytics are kept as long as recordings.
    #[arg(long, env = "STREAMLY_ANALYTICS_PERIOD_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=300))]
    pub analytics_period_secs: u64,
}

/// A positive, finite rate.
fn positive_rate(s: &str) -> Result<f64, String> {
    s.parse::<f64>()
        .ok()
        .filter(|r| r.is_finite() && *r > 0.0)
        .ok_or_else(|| format!("expected a positive number, got {s:?}"))
}

/// `0`/`false`/`no`/`off`: none; `true`/`yes`/`on`: one; or a count.
fn proxy_hops(s: &str) -> Result<usize, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "" | "false" | "no" | "off" => Ok(0),
        "true" | "yes" | "on" => Ok(1),
        n => n
            .parse()
            .map_err(|_| format!("expected a number of proxies or true/false, got {s:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn roles_and_values_parse() {
        let cli = Cli::try_parse_from([
            "streamly",
            "serve",
            "--role",
            "api,chat",
            "--trust-forwarded-for",
            "true",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        let Command::Serve(args) = cli.command else {
            panic!("not serve")
        };
        assert!(args.role.api && args.role.chat && !args.role.ingest);
        assert_eq!(args.trust_forwarded_for, 1);
        assert!(Cli::try_parse_from(["streamly", "serve", "--role", "rtmp"]).is_err());
        assert!(Cli::try_parse_from(["streamly", "serve", "--auth-rate-per-second", "-1"]).is_err());
        assert!(Cli::try_parse_from(["streamly", "serve", "--webhook-urls", "http://x"]).is_err());
    }
}
