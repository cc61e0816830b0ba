//! Shared by tests/platform_e2e.rs and tests/browser.rs: a real platform on
//! port 0 and a small HTTP client.
#![allow(dead_code, clippy::unwrap_used)]

pub mod browser;
pub mod webhook_receiver;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use streamly::api::{ApiConfig, PublicUrls, RateLimitConfig};
use streamly::core::adapters::sql;
use streamly::core::auth::PasswordHasher;
use streamly::{Platform, PlatformConfig};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A platform serving on 127.0.0.1 ports chosen by the OS.
pub struct Running {
    pub base: String,
    pub http_addr: SocketAddr,
    pub shutdown: CancellationToken,
    pub task: JoinHandle<Result<(), streamly::PlatformError>>,
    pub _dir: Option<tempfile::TempDir>,
}

impl Running {
    /// Starts the platform over the database at `database_url` (or a fresh
    /// SQLite file in a temporary directory when `None`).
    pub async fn start(database_url: Option<&str>) -> Running {
        Self::start_with(database_url, None).await
    }

    /// Like [`Running::start`], with HLS output written under `segment_dir`.
    pub async fn start_with(database_url: Option<&str>, segment_dir: Option<&std::path::Path>) -> Running {
        Self::start_with_ui(database_url, segment_dir, streamly::web::UiConfig::default()).await
    }

    /// Like [`Running::start_with`], with the web UI set up by `ui` (an
    /// hls.js to serve, say).
    pub async fn start_with_ui(
        database_url: Option<&str>,
        segment_dir: Option<&std::path::Path>,
        ui: streamly::web::UiConfig,
    ) -> Running {
        Self::start_tuned(database_url, segment_dir, ui, |_| {}).await
    }

    /// Like [`Running::start_with_ui`], with `tune` changing the config
    /// last (a shorter analytics period, say).
    pub async fn start_tuned(
        database_url: Option<&str>,
        segment_dir: Option<&std::path::Path>,
        ui: streamly::web::UiConfig,
        tune: impl FnOnce(&mut PlatformConfig),
    ) -> Running {
        let (url, dir) = match database_url {
            Some(u) => (u.to_owned(), None),
            None => {
                let dir = tempfile::tempdir().expect("temp dir");
                (
                    format!("sqlite://{}", dir.path().join("streamly.db").display()),
                    Some(dir),
                )
            }
        };
        let stores = sql::connect(&url).await.expect("database opens");
        let http = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind http");
        let http_addr = http.local_addr().expect("addr");
        let base = format!("http://{http_addr}");
        let mut config = PlatformConfig::new(b"an end-to-end test secret, 32+ bytes long".to_vec());
        config.rtmp_addr = "127.0.0.1:0".parse().expect("addr");
        config.api = ApiConfig::new(PublicUrls::new(&base, "rtmp://127.0.0.1:0/live"));
        config.api.auth_rate_limit = RateLimitConfig {
            burst: 1000,
            per_second: 100.0,
            ..RateLimitConfig::default()
        };
        config.password_hasher = PasswordHasher::with_costs(8, 1, 1).expect("cheap hashing for tests");
        // Several tests may share one Postgres database: never touch others' rows.
        config.reset_live_on_start = false;
        config.ui = ui;
        tune(&mut config);
        let mut builder = Platform::builder(config)
            .users(stores.users)
            .streams(stores.streams)
            .recordings(stores.recordings)
            .profiles(stores.profiles)
            .viewer_analytics(stores.viewer_analytics);
        if let Some(dir) = segment_dir {
            let sink = streamly::core::adapters::FsSegmentSink::open(dir)
                .await
                .expect("segment dir");
            builder = builder.segments(std::sync::Arc::new(sink));
        }
        let platform = builder.build().await.expect("platform builds");
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(platform.serve(http, shutdown.clone()));
        Running {
            base,
            http_addr,
            shutdown,
            task,
            _dir: dir,
        }
    }

    /// Stops the platform and waits for it.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.task
            .await
            .expect("platform task")
            .expect("platform stops cleanly");
    }
}

/// A reply: status and JSON (or `Null`) and raw text.
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub text: String,
}

/// Sends one HTTP request to the real server.
pub async fn http(method: &str, url: &str, token: Option<&str>, body: Option<Value>) -> Reply {
    try_http(method, url, token, body).await.expect("HTTP request")
}

/// [`http`], `None` when the server cannot be reached (not started yet).
pub async fn try_http(method: &str, url: &str, token: Option<&str>, body: Option<Value>) -> Option<Reply> {
    let client: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut req = Request::builder().method(method).uri(url);
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
    let res = client
        .request(req.body(Full::new(payload)).expect("request"))
        .await
        .ok()?;
    let status = res.status().as_u16();
    let bytes = res.into_body().collect().await.ok()?.to_bytes();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    Some(Reply {
        status,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        text,
    })
}

/// A raw answer: status, headers and body bytes.
pub struct RawReply {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
}

impl RawReply {
    /// The body as JSON (`Null` when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// A header's value as text ("" when absent).
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

/// Sends one request with a raw body and extra headers (images, `If-None-Match`).
pub async fn http_raw(
    method: &str,
    url: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: Bytes,
) -> RawReply {
    let client: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut req = Request::builder().method(method).uri(url);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let res = client
        .request(req.body(Full::new(body)).expect("request"))
        .await
        .expect("HTTP request");
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let body = res.into_body().collect().await.expect("body").to_bytes();
    RawReply {
        status,
        headers,
        body,
    }
}

/// Waits until the live playlist at `url` answers 200 (30 s at most).
pub async fn wait_for_playlist(url: &str) {
    wait_for("the live playlist", Duration::from_secs(30), || async {
        (http("GET", url, None, None).await.status == 200).then_some(())
    })
    .await;
}

/// A player: loads the playlist at `url` with its session id every 300 ms
/// (the query hls.js keeps on its blocking reloads, with `_HLS_`
/// parameters on some requests) until `stop`; returns how many loads
/// succeeded.
pub fn player(
    url: String,
    session: String,
    stop: tokio_util::sync::CancellationToken,
) -> tokio::task::JoinHandle<u32> {
    tokio::spawn(async move {
        let mut loaded = 0;
        let mut n = 0u32;
        while !stop.is_cancelled() {
            let query = if n.is_multiple_of(2) {
                format!("session={session}")
            } else {
                format!("_HLS_skip=YES&session={session}")
            };
            n += 1;
            if http("GET", &format!("{url}?{query}"), None, None).await.status == 200 {
                loaded += 1;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        loaded
    })
}

/// A fresh schema of the Postgres test database, named `<prefix>_<unique>`
/// (made with psql: the root crate does not depend on sqlx): a URL that
/// selects it, and its name. `None`, with the reason printed, when no test
/// server is configured (under `CI=true`: a failure).
pub fn postgres_schema(prefix: &str) -> Option<(String, String)> {
    let Ok(url) = std::env::var("STREAMLY_TEST_POSTGRES_URL") else {
        skip_or_fail_in_ci("STREAMLY_TEST_POSTGRES_URL is unset");
        return None;
    };
    let schema = format!("{prefix}_{}", unique());
    let made = std::process::Command::new("psql")
        .args([&url, "-qAtc", &format!("CREATE SCHEMA {schema}")])
        .status()
        .expect("psql on PATH");
    assert!(made.success(), "create schema {schema}");
    let sep = if url.contains('?') { '&' } else { '?' };
    Some((format!("{url}{sep}options=-c%20search_path%3D{schema}"), schema))
}

/// A test that cannot run here says why and passes, except under `CI=true`,
/// where every oracle must run: it fails.
pub fn skip_or_fail_in_ci(reason: &str) {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true and {reason}: a test cannot skip"
    );
    eprintln!("skipping: {reason}");
}

/// Polls `check` every 100 ms until it returns `Some`, or panics after `limit`.
pub async fn wait_for<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Whether a program is on PATH.
pub fn have(program: &str) -> bool {
    std::process::Command::new(program)
        .arg("-version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok()
}

/// The FLV fixture.
pub fn fixture() -> String {
    format!("{}/testdata/av.flv", env!("CARGO_MANIFEST_DIR"))
}

/// Starts ffmpeg publishing the fixture (in real time) to `url`; `looped`
/// repeats it until killed.
pub fn publish(url: &str, looped: bool) -> tokio::process::Child {
    let mut cmd = tokio::process::Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-loglevel", "error", "-re"]);
    if looped {
        // Killed mid-stream by the test: its "broken pipe" complaints are noise.
        cmd.args(["-stream_loop", "-1"])
            .stderr(std::process::Stdio::null());
    }
    cmd.args(["-i", &fixture(), "-c", "copy", "-f", "flv", url])
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    cmd.spawn().expect("ffmpeg starts")
}

/// A unique suffix for usernames in shared databases.
pub fn unique() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..10].to_owned()
}

/// The next JSON text frame of `kind` on a chat socket (10 s at most).
pub async fn next_frame<S>(ws: &mut S, kind: &str) -> Value
where
    S: futures_util::Stream<
            Item = Result<tokio_tungstenite::tungstenite::Message, tokio_tungstenite::tungstenite::Error>,
        > + Unpin,
{
    use futures_util::StreamExt as _;
    let read = async {
        while let Some(msg) = ws.next().await {
            if let Ok(tokio_tungstenite::tungstenite::Message::Text(text)) = msg {
                let v: Value = serde_json::from_str(text.as_str()).expect("JSON frame");
                if v["type"] == kind {
                    return v;
                }
            }
        }
        panic!("socket closed before a {kind} frame");
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .unwrap_or_else(|_| panic!("no {kind} frame in time"))
}

/// Registers a new user named `name` on `base`: their token and the whole
/// `AuthResponse` JSON.
pub async fn register(base: &str, name: &str) -> (String, Value) {
    let r = http(
        "POST",
        &format!("{base}/api/auth/register"),
        None,
        Some(serde_json::json!({"username": name, "email": format!("{name}@example.com"), "password": "correct horse"})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    (r.body["token"].as_str().unwrap().to_owned(), r.body)
}

/// The newest recording of `stream` on `base`, once it is `ready` (30 s at
/// most).
pub async fn ready_recording(base: &str, stream: &str) -> Value {
    wait_for("a ready recording", Duration::from_secs(30), || async {
        let r = http(
            "GET",
            &format!("{base}/api/streams/{stream}/recordings"),
            None,
            None,
        )
        .await;
        let first = r.body.as_array()?.first()?.clone();
        (first["status"] == "ready").then_some(first)
    })
    .await
}

/// Registers a new user named `name` on `base` and creates a stream titled
/// `title`: the user's token and the created stream's JSON.
pub async fn streamer_with_stream(base: &str, name: &str, title: &str) -> (String, Value) {
    let (token, _) = register(base, name).await;
    let r = http(
        "POST",
        &format!("{base}/api/streams"),
        Some(&token),
        Some(serde_json::json!({"title": title})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    (token, r.body)
}
