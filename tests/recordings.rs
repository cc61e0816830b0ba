//! Recordings end to end (issue 14), against the real server with a
//! segment directory: a broadcast becomes a recording whose VOD playlist
//! and MP4 download decode to the source's frames (ffmpeg framemd5, per
//! stream); pagination; the `record` setting; delete by the owner only;
//! retention; and `kill -9` of the `streamly` binary mid-publish, after
//! which the restarted process finalizes the recording and it plays.
#![allow(clippy::unwrap_used)]

mod platform_support;

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use platform_support::{fixture, have, http, publish, register, try_http, unique, wait_for};
use serde_json::{Value, json};
use streamly::api::{ApiConfig, PublicUrls, RateLimitConfig};
use streamly::core::adapters::{FsSegmentSink, sql};
use streamly::core::auth::PasswordHasher;
use streamly::{Platform, PlatformConfig};
use tokio::process::Command;
use tokio_util::sync::CancellationToken;

/// ffmpeg and ffprobe, or a printed reason to skip (a failure under CI).
fn tools() -> bool {
    if have("ffmpeg") && have("ffprobe") {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true: a test cannot skip"
    );
    eprintln!("skipping: ffmpeg/ffprobe not on PATH");
    false
}

/// A platform on port 0 over a fresh SQLite file, segments under `dir`.
struct App {
    base: String,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), streamly::PlatformError>>,
}

async fn start(dir: &Path, retention: Option<Duration>, sweep: Duration) -> App {
    let url = format!("sqlite://{}", dir.join("streamly.db").display());
    let stores = sql::connect(&url).await.expect("database opens");
    let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", http.local_addr().unwrap());
    let mut config = PlatformConfig::new(b"a recordings test secret, 32+ bytes long".to_vec());
    config.rtmp_addr = "127.0.0.1:0".parse().unwrap();
    config.api = ApiConfig::new(PublicUrls::new(&base, "rtmp://127.0.0.1:0/live"));
    config.api.auth_rate_limit = RateLimitConfig {
        burst: 1000,
        per_second: 100.0,
        ..RateLimitConfig::default()
    };
    config.password_hasher = PasswordHasher::with_costs(8, 1, 1).unwrap();
    config.recording_retention = retention;
    config.recording_sweep_interval = sweep;
    let sink = FsSegmentSink::open(dir.join("segments")).await.unwrap();
    let platform = Platform::builder(config)
        .users(stores.users)
        .streams(stores.streams)
        .recordings(stores.recordings)
        .viewer_analytics(stores.viewer_analytics)
        .segments(Arc::new(sink))
        .build()
        .await
        .expect("platform builds");
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(platform.serve(http, shutdown.clone()));
    App { base, shutdown, task }
}

impl App {
    async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.unwrap().unwrap();
    }
}

/// Creates a stream; returns (id, publish URL).
async fn create_stream(base: &str, token: &str) -> (String, String) {
    let r = http(
        "POST",
        &format!("{base}/api/streams"),
        Some(token),
        Some(json!({"title": "recorded show"})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["record"], true, "recording is on by default");
    let url = format!(
        "{}/{}",
        r.body["rtmp_url"].as_str().unwrap(),
        r.body["stream_key"].as_str().unwrap()
    );
    (r.body["id"].as_str().unwrap().to_owned(), url)
}

/// Publishes the fixture as fast as ffmpeg reads it, to completion.
async fn publish_fast(url: &str) {
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-i", &fixture()])
        .args(["-c", "copy", "-f", "flv", url])
        .stdin(Stdio::null())
        .status()
        .await
        .unwrap();
    assert!(status.success());
}

/// The stream's recordings (first page of `limit`), with the raw reply.
async fn recordings(base: &str, stream: &str) -> Vec<Value> {
    let r = http(
        "GET",
        &format!("{base}/api/streams/{stream}/recordings?limit=100"),
        None,
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body.as_array().unwrap().clone()
}

/// Waits until the stream has `n` recordings, all ready.
async fn ready(base: &str, stream: &str, n: usize) -> Vec<Value> {
    wait_for("the recordings to be ready", Duration::from_secs(60), || async {
        let list = recordings(base, stream).await;
        (list.len() == n && list.iter().all(|r| r["status"] == "ready")).then_some(list)
    })
    .await
}

/// framemd5's hash column of `map` (`0:v`, `0:a`) in `input`: the
/// decoded frames, as streamly-hls/tests/fmp4_lossless.rs compares them.
fn framemd5(input: &str, map: &str) -> Vec<String> {
    let out = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i", input, "-map", map, "-f", "framemd5", "-"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ffmpeg on {input}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.rsplit(',').next().unwrap_or_default().trim().to_owned())
        .collect()
}

fn ffprobe_duration(input: &str) -> f64 {
    let out = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
            input,
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broadcast_becomes_a_recording_with_every_frame() {
    if !tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let app = start(dir.path(), None, Duration::from_secs(3600)).await;
    let base = app.base.clone();
    let (alice, _) = register(&base, &format!("alice{}", unique())).await;
    let (stream, url) = create_stream(&base, &alice).await;

    // In real time, as a broadcaster would, to the end.
    let status = publish(&url, false).wait().await.unwrap();
    assert!(status.success());
    let list = ready(&base, &stream, 1).await;
    let rec = &list[0];
    let id = rec["id"].as_str().unwrap().to_owned();
    let duration = rec["duration_ms"].as_u64().unwrap();
    assert!((9_500..=10_500).contains(&duration), "{rec}");
    assert!(rec["size_bytes"].as_u64().unwrap() > 100_000, "{rec}");
    assert!(rec["ended_at"].is_string(), "{rec}");
    assert_eq!(
        rec["thumbnail_url"],
        format!("{base}/recordings/{id}/thumbnail.jpg")
    );
    let playlist_url = rec["playlist_url"].as_str().unwrap().to_owned();
    let mp4_url = rec["mp4_url"].as_str().unwrap().to_owned();
    assert_eq!(playlist_url, format!("{base}/recordings/{id}/index.m3u8"));
    assert_eq!(mp4_url, format!("{base}/recordings/{id}/download.mp4"));
    let one = http("GET", &format!("{base}/api/recordings/{id}"), None, None).await;
    assert_eq!(one.status, 200);
    assert_eq!(&one.body, rec);

    // The VOD playlist.
    let p = http("GET", &playlist_url, None, None).await;
    assert_eq!(p.status, 200);
    assert!(p.text.contains("#EXT-X-PLAYLIST-TYPE:VOD\n"), "{}", p.text);
    assert!(p.text.ends_with("#EXT-X-ENDLIST\n"), "{}", p.text);
    assert!(!p.text.contains("#EXT-X-GAP"), "{}", p.text);

    // Every frame, in the playlist and in the MP4, per stream.
    let source = fixture();
    for map in ["0:v", "0:a"] {
        let want = framemd5(&source, map);
        assert!(want.len() > 200, "{map}: {} frames", want.len());
        assert_eq!(framemd5(&playlist_url, map), want, "{map} of the playlist");
        assert_eq!(framemd5(&mp4_url, map), want, "{map} of the MP4");
    }
    let probed = ffprobe_duration(&mp4_url);
    assert!((9.5..=10.6).contains(&probed), "MP4 duration {probed}");

    // Content types, a byte range, JSON 404s.
    let client = reqwest_like(&format!("{base}/recordings/{id}/0.m4s"), Some("bytes=0-7")).await;
    assert_eq!(client.0, 206);
    assert_eq!(client.1.get("content-type").unwrap(), "video/mp4");
    assert_eq!(client.2.len(), 8);
    assert_eq!(&client.2[4..8], b"moof");
    let mp4 = reqwest_like(&mp4_url, None).await;
    assert_eq!(mp4.0, 200);
    assert_eq!(mp4.1.get("content-type").unwrap(), "video/mp4");
    assert!(
        mp4.1
            .get("content-disposition")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    assert_eq!(&mp4.2[4..8], b"ftyp");
    for missing in [
        format!("{base}/recordings/{id}/99.m4s"),
        format!("{base}/recordings/{id}/secret.txt"),
        format!("{base}/recordings/not-a-uuid/index.m3u8"),
        format!("{base}/recordings/{}/index.m3u8", uuid::Uuid::new_v4()),
        format!("{base}/api/recordings/{}", uuid::Uuid::new_v4()),
        format!("{base}/api/recordings/nope"),
        format!("{base}/api/streams/nope/recordings"),
    ] {
        let r = http("GET", &missing, None, None).await;
        assert_eq!(r.status, 404, "{missing}: {}", r.text);
        assert_eq!(r.body["error"]["code"], "not_found", "{missing}: {}", r.text);
    }

    // Three more broadcasts, then pages of two: newest first, no repeats.
    for _ in 0..3 {
        publish_fast(&url).await;
    }
    let all = ready(&base, &stream, 4).await;
    let mut seen = Vec::new();
    let mut next = Some(format!("/api/streams/{stream}/recordings?limit=2"));
    let mut pages = 0;
    while let Some(path) = next.take() {
        let (status, headers, body) = reqwest_like(&format!("{base}{path}"), None).await;
        assert_eq!(status, 200);
        let page: Vec<Value> = serde_json::from_slice(&body).unwrap();
        assert!(page.len() <= 2);
        seen.extend(page.iter().map(|r| r["id"].clone()));
        pages += 1;
        if let Some(cursor) = headers.get("x-next-cursor") {
            let link = headers.get("link").unwrap().to_str().unwrap().to_owned();
            let cursor = cursor.to_str().unwrap();
            assert!(link.contains(cursor), "{link}");
            next = Some(format!(
                "/api/streams/{stream}/recordings?limit=2&cursor={cursor}"
            ));
        }
    }
    assert_eq!(pages, 2);
    let ids: Vec<Value> = all.iter().map(|r| r["id"].clone()).collect();
    assert_eq!(seen, ids);
    let started: Vec<&str> = all.iter().map(|r| r["started_at"].as_str().unwrap()).collect();
    assert!(started.windows(2).all(|w| w[0] >= w[1]), "{started:?}");
    assert_eq!(
        ids.last(),
        Some(&Value::from(id.clone())),
        "the first broadcast is the oldest"
    );

    // Recording off: the next broadcast is not recorded.
    let r = http(
        "PATCH",
        &format!("{base}/api/streams/{stream}"),
        Some(&alice),
        Some(json!({"record": false})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["record"], false);
    assert_eq!(r.body["title"], "recorded show");
    publish_fast(&url).await;
    // The offline transition follows the publish's end; then nothing new.
    wait_for("the stream to go offline", Duration::from_secs(20), || async {
        let r = http("GET", &format!("{base}/api/streams/{stream}"), None, None).await;
        (r.body["live"] == false).then_some(())
    })
    .await;
    assert_eq!(recordings(&base, &stream).await.len(), 4);

    // Delete: someone else 403, unknown 404, the owner 204 (files too).
    let (bob, _) = register(&base, &format!("bob{}", unique())).await;
    let del = format!("{base}/api/recordings/{id}");
    let r = http("DELETE", &del, Some(&bob), None).await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(r.body["error"]["code"], "forbidden");
    let r = http("DELETE", &del, None, None).await;
    assert_eq!(r.status, 401, "{}", r.text);
    let r = http(
        "DELETE",
        &format!("{base}/api/recordings/{}", uuid::Uuid::new_v4()),
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(r.status, 404, "{}", r.text);
    let folder = dir.path().join("segments/recordings").join(&id);
    assert!(folder.join("index.m3u8").exists());
    let r = http("DELETE", &del, Some(&alice), None).await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert!(
        std::fs::read_dir(&folder).map(|d| d.count()).unwrap_or(0) == 0,
        "files left in {folder:?}"
    );
    assert_eq!(http("GET", &del, None, None).await.status, 404);
    assert_eq!(http("GET", &playlist_url, None, None).await.status, 404);
    assert_eq!(recordings(&base, &stream).await.len(), 3);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_removes_old_recordings() {
    if !tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let app = start(
        dir.path(),
        Some(Duration::from_secs(1)),
        Duration::from_millis(200),
    )
    .await;
    let base = app.base.clone();
    let (token, _) = register(&base, &format!("carol{}", unique())).await;
    let (stream, url) = create_stream(&base, &token).await;
    publish_fast(&url).await;
    let id = wait_for("a recording", Duration::from_secs(30), || async {
        let list = recordings(&base, &stream).await;
        list.first().map(|r| r["id"].as_str().unwrap().to_owned())
    })
    .await;
    let folder = dir.path().join("segments/recordings").join(&id);
    wait_for("retention to delete it", Duration::from_secs(30), || async {
        let r = http("GET", &format!("{base}/api/recordings/{id}"), None, None).await;
        let files = std::fs::read_dir(&folder).map(|d| d.count()).unwrap_or(0);
        (r.status == 404 && files == 0).then_some(())
    })
    .await;
    assert!(recordings(&base, &stream).await.is_empty());
    app.stop().await;
}

/// One GET: status, headers and body bytes.
async fn reqwest_like(url: &str, range: Option<&str>) -> (u16, axum::http::HeaderMap, Vec<u8>) {
    use http_body_util::{BodyExt, Empty};
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    let client: Client<_, Empty<bytes::Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut req = hyper::Request::get(url);
    if let Some(range) = range {
        req = req.header("range", range);
    }
    let res = client.request(req.body(Empty::new()).unwrap()).await.unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let body = res.into_body().collect().await.unwrap().to_bytes().to_vec();
    (status, headers, body)
}

/// The `streamly` binary as a child process over `dir`.
fn spawn_binary(dir: &Path, http_port: u16, rtmp_port: u16) -> tokio::process::Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("streamly.log"))
        .unwrap();
    Command::new(env!("CARGO_BIN_EXE_streamly"))
        .arg("serve")
        .env("STREAMLY_HTTP_ADDR", format!("127.0.0.1:{http_port}"))
        .env("STREAMLY_RTMP_ADDR", format!("127.0.0.1:{rtmp_port}"))
        .env("STREAMLY_PUBLIC_URL", format!("http://127.0.0.1:{http_port}"))
        .env(
            "STREAMLY_DATABASE_URL",
            format!("sqlite://{}", dir.join("streamly.db").display()),
        )
        .env("STREAMLY_SEGMENT_DIR", dir.join("segments"))
        .env("STREAMLY_JWT_SECRET", "a crash test secret of 32+ bytes, yes")
        .env("STREAMLY_AUTH_RATE_BURST", "1000")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("streamly starts")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

async fn healthy(base: &str, child: &mut tokio::process::Child, dir: &Path) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "streamly exited with {status}: {}",
                std::fs::read_to_string(dir.join("streamly.log")).unwrap_or_default()
            );
        }
        if let Some(r) = try_http("GET", &format!("{base}/health"), None, None).await
            && r.status == 200
        {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the binary is not healthy in time"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_publish_leaves_a_recording_finalized_at_restart() {
    if !tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (http_port, rtmp_port) = (free_port(), free_port());
    let base = format!("http://127.0.0.1:{http_port}");
    let mut child = spawn_binary(dir.path(), http_port, rtmp_port);
    healthy(&base, &mut child, dir.path()).await;
    let (token, _) = register(&base, &format!("dan{}", unique())).await;
    let (stream, url) = create_stream(&base, &token).await;
    let mut ffmpeg = publish(&url, true);
    let id = wait_for("a recording in progress", Duration::from_secs(30), || async {
        let list = recordings(&base, &stream).await;
        let r = list.first()?;
        assert_eq!(r["status"], "recording", "{r}");
        Some(r["id"].as_str().unwrap().to_owned())
    })
    .await;
    // A few segments on disk, then the crash.
    let playlist = dir.path().join(format!("segments/recordings/{id}/index.m3u8"));
    wait_for("three recorded segments", Duration::from_secs(30), || async {
        let text = std::fs::read_to_string(&playlist).ok()?;
        (text.matches("#EXTINF:").count() >= 3).then_some(())
    })
    .await;
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    let _ = ffmpeg.kill().await;
    let text = std::fs::read_to_string(&playlist).unwrap();
    assert!(
        text.contains("#EXT-X-PLAYLIST-TYPE:EVENT\n") && !text.contains("ENDLIST"),
        "{text}"
    );

    // Restarted: the recording is finalized and plays.
    let (http_port, rtmp_port) = (free_port(), free_port());
    let base = format!("http://127.0.0.1:{http_port}");
    let mut child = spawn_binary(dir.path(), http_port, rtmp_port);
    healthy(&base, &mut child, dir.path()).await;
    let r = http("GET", &format!("{base}/api/recordings/{id}"), None, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "ready", "{}", r.body);
    assert!(r.body["ended_at"].is_string());
    let duration = r.body["duration_ms"].as_u64().unwrap();
    assert!(duration >= 2_500, "{}", r.body);
    let playlist_url = r.body["playlist_url"].as_str().unwrap().to_owned();
    let text = http("GET", &playlist_url, None, None).await.text;
    assert!(text.contains("#EXT-X-PLAYLIST-TYPE:VOD\n"), "{text}");
    assert!(text.ends_with("#EXT-X-ENDLIST\n"), "{text}");
    let probed = ffprobe_duration(&playlist_url);
    assert!(
        (probed - duration as f64 / 1000.0).abs() < 0.5,
        "ffprobe says {probed} s, the API {duration} ms"
    );
    let video = framemd5(&playlist_url, "0:v");
    assert!(
        video.len() as u64 >= duration * 25 / 1000 - 2,
        "{} frames",
        video.len()
    );
    let mp4 = framemd5(r.body["mp4_url"].as_str().unwrap(), "0:v");
    assert_eq!(mp4, video);
    child.start_kill().unwrap();
    child.wait().await.unwrap();
}
