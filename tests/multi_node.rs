//! The seed's topology as separate processes of the `streamly` binary: one
//! api node, two ingest nodes and two chat nodes on free loopback ports,
//! over the real PostgreSQL and Redis servers and a real S3 server
//! (`s3s-fs`). As a user and an operator would see it:
//!
//! - register and create a stream on the api node;
//! - ffmpeg publishes to ingest-2 with that key (checked by the api node over
//!   HTTP); ffprobe plays it through ingest-1 (a `307` to ingest-2) and from
//!   the object store;
//! - a chat message sent on chat-1 reaches a viewer on chat-2;
//! - a webhook receiver gets `stream.live`, then `stream.offline` and
//!   `recording.ready`, signed;
//! - `kill -9` of ingest-2 mid-stream: the api node marks the stream offline
//!   within the lease period and ends its playlist in the object store;
//! - with the api node down, a publish is refused.
//!
//! Needs ffmpeg, `STREAMLY_TEST_POSTGRES_URL`, `STREAMLY_TEST_REDIS_URL` and
//! s3s-fs (`STREAMLY_TEST_S3S_FS`, PATH or `~/.cargo/bin`); skips without
//! them, saying why, except under `CI=true`, where it fails.
#![allow(clippy::unwrap_used)]

mod platform_support;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use futures_util::SinkExt;
use platform_support::webhook_receiver::{self, next};
use platform_support::{
    fixture, have, http, next_frame, publish, skip_or_fail_in_ci, streamer_with_stream, try_http, unique,
    wait_for,
};
use serde_json::{Value, json};
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::Message;

const JWT_SECRET: &str = "a multi-node test secret of at least 32 bytes";
const INTERNAL_SECRET: &str = "multi-node-internal-secret";
const S3_ACCESS_KEY: &str = "streamly-test";
const S3_SECRET_KEY: &str = "streamly-test-secret";
const BUCKET: &str = "segments";
/// Short, so the node-death part of the test is quick.
const LEASE_TTL_SECS: u64 = 3;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The `s3s-fs` binary, if installed.
fn s3s_fs() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("STREAMLY_TEST_S3S_FS") {
        return Some(PathBuf::from(path));
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("s3s-fs"))
            .find(|p| p.is_file())
    });
    on_path.or_else(|| {
        let bin = PathBuf::from(std::env::var_os("HOME")?).join(".cargo/bin/s3s-fs");
        bin.is_file().then_some(bin)
    })
}

/// A child process killed when dropped, its log kept for failures.
struct Process {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Process {
    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn kill9(&mut self) {
        self.child.start_kill().expect("kill");
        self.child.wait().await.expect("wait");
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        if std::thread::panicking() {
            eprintln!("---- {} log ----\n{}", self.name, self.log_text());
        }
    }
}

/// A `streamly serve` node.
struct Node {
    process: Process,
    base: String,
    rtmp_port: u16,
}

/// What every node shares.
struct Cluster {
    dir: tempfile::TempDir,
    postgres: String,
    redis: String,
    s3_endpoint: String,
    prefix: String,
    webhook: String,
}

impl Cluster {
    async fn start_node(&self, name: &'static str, role: &str, api: Option<&str>) -> Node {
        let http_port = free_port();
        let rtmp_port = free_port();
        let base = format!("http://127.0.0.1:{http_port}");
        let log = self.dir.path().join(format!("{name}.log"));
        let log_file = std::fs::File::create(&log).expect("log file");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_streamly"));
        cmd.args(["serve", "--role", role])
            .env("STREAMLY_HTTP_ADDR", format!("127.0.0.1:{http_port}"))
            .env("STREAMLY_RTMP_ADDR", format!("127.0.0.1:{rtmp_port}"))
            .env("STREAMLY_PUBLIC_URL", &base)
            .env("STREAMLY_DATABASE_URL", &self.postgres)
            .env("STREAMLY_REDIS_URL", &self.redis)
            .env("STREAMLY_JWT_SECRET", JWT_SECRET)
            .env("STREAMLY_INTERNAL_SECRET", INTERNAL_SECRET)
            .env("STREAMLY_ORIGIN_LEASE_TTL", LEASE_TTL_SECS.to_string())
            .env("STREAMLY_AUTH_RATE_BURST", "1000")
            .env("STREAMLY_SEGMENT_STORE", format!("s3://{BUCKET}/{}", self.prefix))
            .env("AWS_ENDPOINT_URL", &self.s3_endpoint)
            .env("AWS_ACCESS_KEY_ID", S3_ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", S3_SECRET_KEY)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ALLOW_HTTP", "true")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .kill_on_drop(true);
        if let Some(api) = api {
            cmd.env("STREAMLY_API_URL", api)
                .env("STREAMLY_WEBHOOK_URLS", &self.webhook)
                .env(
                    "STREAMLY_WEBHOOK_SECRET",
                    String::from_utf8_lossy(webhook_receiver::SECRET).as_ref(),
                );
        }
        let process = Process {
            name,
            child: cmd.spawn().expect("streamly starts"),
            log,
        };
        let mut node = Node {
            process,
            base,
            rtmp_port,
        };
        let health = format!("{}/health", node.base);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = node.process.child.try_wait().expect("child status") {
                panic!("{name} exited with {status}: {}", node.process.log_text());
            }
            if let Some(r) = try_http("GET", &health, None, None).await
                && r.status == 200
                && r.body["status"] == "ok"
            {
                return node;
            }
            assert!(Instant::now() < deadline, "{name} not healthy in time");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

async fn s3s_fs_server(bin: &Path, root: &Path) -> (Process, String) {
    std::fs::create_dir_all(root.join(BUCKET)).expect("bucket directory");
    let port = free_port();
    let log = root.with_extension("log");
    let child = Command::new(bin)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--access-key", S3_ACCESS_KEY, "--secret-key", S3_SECRET_KEY])
        .arg(root)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .kill_on_drop(true)
        .spawn()
        .expect("s3s-fs starts");
    let addr = format!("127.0.0.1:{port}");
    wait_for("s3s-fs to listen", Duration::from_secs(20), || async {
        tokio::net::TcpStream::connect(&addr).await.ok().map(drop)
    })
    .await;
    (
        Process {
            name: "s3s-fs",
            child,
            log,
        },
        format!("http://{addr}"),
    )
}

/// `ffprobe` of `input`: the codec names it finds.
async fn probe_codecs(input: &str) -> Vec<String> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_name",
            "-of",
            "json",
            input,
        ])
        .output()
        .await
        .expect("ffprobe runs");
    assert!(
        out.status.success(),
        "ffprobe {input}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("ffprobe JSON");
    v["streams"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["codec_name"].as_str().map(str::to_owned))
        .collect()
}

async fn is_live(api: &str, id: &str) -> bool {
    http("GET", &format!("{api}/api/streams/{id}"), None, None)
        .await
        .body["live"]
        == true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_ingest_and_chat_nodes_as_separate_processes() {
    let (Ok(postgres), Ok(redis)) = (
        std::env::var("STREAMLY_TEST_POSTGRES_URL"),
        std::env::var("STREAMLY_TEST_REDIS_URL"),
    ) else {
        skip_or_fail_in_ci("STREAMLY_TEST_POSTGRES_URL or STREAMLY_TEST_REDIS_URL is unset");
        return;
    };
    if !have("ffmpeg") || !have("ffprobe") {
        skip_or_fail_in_ci("ffmpeg/ffprobe not on PATH");
        return;
    }
    let Some(s3s_bin) = s3s_fs() else {
        skip_or_fail_in_ci(
            "s3s-fs not found (cargo install s3s-fs --version 0.14.1 --features binary --locked)",
        );
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let s3_root = dir.path().join("s3");
    let (_s3, s3_endpoint) = s3s_fs_server(&s3s_bin, &s3_root).await;
    let (webhook, mut deliveries) = webhook_receiver::receiver(Vec::new()).await;
    let cluster = Cluster {
        prefix: format!("run-{}", unique()),
        dir,
        postgres,
        redis,
        s3_endpoint,
        webhook,
    };

    // Migrations first (nodes would race to apply them otherwise).
    let migrated = Command::new(env!("CARGO_BIN_EXE_streamly"))
        .arg("migrate")
        .env("STREAMLY_DATABASE_URL", &cluster.postgres)
        .output()
        .await
        .expect("streamly migrate runs");
    assert!(
        migrated.status.success(),
        "{}",
        String::from_utf8_lossy(&migrated.stderr)
    );
    let mut api = cluster.start_node("api", "api", None).await;
    let ingest_1 = cluster.start_node("ingest-1", "ingest", Some(&api.base)).await;
    let mut ingest_2 = cluster.start_node("ingest-2", "ingest", Some(&api.base)).await;
    let chat_1 = cluster.start_node("chat-1", "chat", Some(&api.base)).await;
    let chat_2 = cluster.start_node("chat-2", "chat", Some(&api.base)).await;

    // Each role serves only its own part.
    assert_eq!(
        http("GET", &format!("{}/api/streams", ingest_1.base), None, None)
            .await
            .status,
        404
    );
    let health = http("GET", &format!("{}/health", ingest_1.base), None, None).await;
    assert!(
        health.body["checks"]["segments"]["status"] == "up",
        "{}",
        health.text
    );
    assert!(
        health.body["checks"]["origins"]["status"] == "up",
        "{}",
        health.text
    );

    // A user, a stream, its key: on the api node.
    let (token, created) = streamer_with_stream(&api.base, &format!("mn{}", unique()), "Across nodes").await;
    let id = created["id"].as_str().unwrap().to_owned();
    let key = created["stream_key"].as_str().unwrap().to_owned();

    // The fixture, published once to ingest-2: validated by the api node.
    let mut ffmpeg = publish(
        &format!("rtmp://127.0.0.1:{}/live/{key}", ingest_2.rtmp_port),
        false,
    );
    let live = next(&mut deliveries, Duration::from_secs(20)).await;
    assert_eq!(live.body["type"], "stream.live", "{:?}", live.body);
    assert!(live.signed, "stream.live is signed");
    wait_for(
        "the stream to be live on the api node",
        Duration::from_secs(10),
        || async { is_live(&api.base, &id).await.then_some(()) },
    )
    .await;

    // Played through ingest-1: a redirect to its origin, ingest-2.
    let playlist_1 = format!("{}/hls/{id}/index.m3u8", ingest_1.base);
    wait_for(
        "ingest-1 to redirect to ingest-2",
        Duration::from_secs(15),
        || async {
            let r = http("GET", &playlist_1, None, None).await;
            (r.status == 307).then_some(())
        },
    )
    .await;
    wait_for("a first segment on ingest-2", Duration::from_secs(15), || async {
        let r = http(
            "GET",
            &format!("{}/hls/{id}/index.m3u8", ingest_2.base),
            None,
            None,
        )
        .await;
        (r.status == 200 && r.text.contains("#EXTINF")).then_some(())
    })
    .await;
    let codecs = probe_codecs(&playlist_1).await;
    assert!(
        codecs.contains(&"h264".to_owned()) && codecs.contains(&"aac".to_owned()),
        "{codecs:?}"
    );

    // Chat: a writer on chat-1, a reader on chat-2, through Redis.
    let ws = |base: &str| base.replace("http://", "ws://");
    let (mut reader, _) = tokio_tungstenite::connect_async(format!("{}/ws?room={id}", ws(&chat_2.base)))
        .await
        .expect("reader connects to chat-2");
    next_frame(&mut reader, "welcome").await;
    let (mut writer, _) =
        tokio_tungstenite::connect_async(format!("{}/ws?room={id}&token={token}", ws(&chat_1.base)))
            .await
            .expect("writer connects to chat-1");
    next_frame(&mut writer, "welcome").await;
    writer
        .send(Message::Text(
            json!({"type": "send", "text": "hello from chat-1"})
                .to_string()
                .into(),
        ))
        .await
        .expect("send");
    let message = next_frame(&mut reader, "message").await;
    assert_eq!(message["text"], "hello from chat-1", "{message}");

    // The publish ends: offline, signed webhook, playlist ended.
    let status = tokio::time::timeout(Duration::from_secs(60), ffmpeg.wait())
        .await
        .expect("ffmpeg finishes the fixture")
        .expect("ffmpeg status");
    assert!(status.success(), "ffmpeg publish failed");
    // `stream.offline` and the broadcast's `recording.ready`, in either order.
    let mut ended = Vec::new();
    for _ in 0..2 {
        let event = next(&mut deliveries, Duration::from_secs(20)).await;
        assert!(event.signed, "{} is signed", event.body["type"]);
        ended.push(event.body);
    }
    let kinds: Vec<&str> = ended.iter().filter_map(|e| e["type"].as_str()).collect();
    assert!(
        kinds.contains(&"stream.offline") && kinds.contains(&"recording.ready"),
        "{kinds:?}"
    );
    let ready = ended.iter().find(|e| e["type"] == "recording.ready").unwrap();
    assert_eq!(ready["data"]["stream_id"], id.as_str(), "{ready}");
    let recorded_ms = ready["data"]["duration_ms"].as_u64().unwrap();
    assert!(
        (9_000..=11_000).contains(&recorded_ms),
        "recorded {recorded_ms} ms of the 10 s fixture"
    );
    wait_for("the stream offline", Duration::from_secs(10), || async {
        (!is_live(&api.base, &id).await).then_some(())
    })
    .await;

    // Persisted to the object store: s3s-fs keeps objects as files, which
    // ffprobe reads as they were stored.
    let stored = s3_root.join(BUCKET).join(&cluster.prefix).join(&id);
    let stored_playlist = stored.join("index.m3u8");
    let text = std::fs::read_to_string(&stored_playlist).expect("the playlist is in the object store");
    assert!(text.contains("#EXT-X-ENDLIST"), "{text}");
    let codecs = probe_codecs(stored_playlist.to_str().unwrap()).await;
    assert!(codecs.contains(&"h264".to_owned()), "{codecs:?}");

    // A second publish to ingest-2, which then dies without a word.
    let mut ffmpeg = publish(
        &format!("rtmp://127.0.0.1:{}/live/{key}", ingest_2.rtmp_port),
        true,
    );
    wait_for("the stream live again", Duration::from_secs(20), || async {
        is_live(&api.base, &id).await.then_some(())
    })
    .await;
    wait_for(
        "a persisted segment of the second publish",
        Duration::from_secs(20),
        || async {
            let text = std::fs::read_to_string(&stored_playlist).ok()?;
            (!text.contains("#EXT-X-ENDLIST") && text.contains("#EXTINF")).then_some(())
        },
    )
    .await;
    ingest_2.process.kill9().await;
    let killed = Instant::now();
    let _ = ffmpeg.kill().await;
    wait_for(
        "the api node to mark the stream offline",
        Duration::from_secs(3 * LEASE_TTL_SECS + 5),
        || async { (!is_live(&api.base, &id).await).then_some(()) },
    )
    .await;
    let took = killed.elapsed();
    eprintln!("stream offline {took:?} after its ingest node died (lease {LEASE_TTL_SECS} s)");
    assert!(
        took <= Duration::from_secs(2 * LEASE_TTL_SECS + 2),
        "offline {took:?} after the node died (lease {LEASE_TTL_SECS} s)"
    );
    wait_for(
        "its playlist ended in the object store",
        Duration::from_secs(10),
        || async {
            let text = std::fs::read_to_string(&stored_playlist).ok()?;
            text.contains("#EXT-X-ENDLIST").then_some(())
        },
    )
    .await;
    assert_eq!(
        http("GET", &playlist_1, None, None).await.status,
        404,
        "no lease, no redirect"
    );

    // The api node down: ingest-1 refuses the publish, nothing goes live.
    api.process.kill9().await;
    let refused = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-re", "-i", &fixture()])
        .args(["-c", "copy", "-f", "flv"])
        .arg(format!("rtmp://127.0.0.1:{}/live/{key}", ingest_1.rtmp_port))
        .stdin(Stdio::null())
        .output();
    let refused = tokio::time::timeout(Duration::from_secs(30), refused)
        .await
        .expect("ffmpeg gives up in time")
        .expect("ffmpeg runs");
    assert!(
        !refused.status.success(),
        "a publish without the api node is refused"
    );
    let log = ingest_1.process.log_text();
    assert!(
        log.contains("publish refused") || log.contains("unavailable") || log.contains("validator"),
        "ingest-1 says why: {log}"
    );
    assert!(!log.contains(&key), "the stream key is never logged");
}
