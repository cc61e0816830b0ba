//! `GET /api/streams/{id}/health` as a streamer sees it: the real platform
//! on port 0, ffmpeg publishing, the figures checked against ffprobe's
//! reading of the same input; a 6 s GOP, an audio-only and a video-only
//! publish raise their warnings; `…/health/events` pushes the figures
//! every second and ends with `not_live` when the publisher goes.
#![allow(clippy::unwrap_used)]

mod platform_support;

use std::time::Duration;

use platform_support::{Running, fixture, have, http, publish, streamer_with_stream, unique, wait_for};
use serde_json::{Value, json};

/// Whether ffmpeg and ffprobe are there; under `CI=true` they must be.
fn tools() -> bool {
    if have("ffmpeg") && have("ffprobe") {
        return true;
    }
    // Under CI every oracle must run: a missing one fails the test.
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true: a test cannot skip"
    );
    eprintln!("skipping: ffmpeg/ffprobe not on PATH");
    false
}

/// A signed-in streamer with one stream.
struct Streamer {
    token: String,
    id: String,
    publish_url: String,
}

async fn streamer(base: &str) -> Streamer {
    let (token, created) = streamer_with_stream(base, &format!("s{}", unique()), "Health check").await;
    Streamer {
        token,
        id: created["id"].as_str().unwrap().to_owned(),
        publish_url: format!(
            "{}/{}",
            created["rtmp_url"].as_str().unwrap(),
            created["stream_key"].as_str().unwrap()
        ),
    }
}

/// Polls the health endpoint until `ready` accepts a 200 answer.
async fn health_when(base: &str, s: &Streamer, what: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let url = format!("{base}/api/streams/{}/health", s.id);
    wait_for(what, Duration::from_secs(30), || async {
        let r = http("GET", &url, Some(&s.token), None).await;
        (r.status == 200 && ready(&r.body)).then_some(r.body)
    })
    .await
}

/// ffmpeg encoding lavfi sources in real time to `url` (`args` between
/// the common head and the FLV output).
fn encode(args: &[&str], url: &str) -> tokio::process::Child {
    tokio::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error"])
        .args(args)
        .args(["-f", "flv", url])
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("ffmpeg starts")
}

const TESTSRC: &[&str] = &["-re", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25"];
const SINE: &[&str] = &["-re", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"];
const X264: &[&str] = &[
    "-c:v",
    "libx264",
    "-preset",
    "ultrafast",
    "-pix_fmt",
    "yuv420p",
    "-sc_threshold",
    "0",
];

fn codes(health: &Value) -> Vec<String> {
    health["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["code"].as_str().unwrap().to_owned())
        .collect()
}

/// What ffprobe reads in the fixture: per-track kbit/s from the packet
/// sizes, the frame rate, and the first keyframe interval.
struct Probe {
    video_kbps: f64,
    audio_kbps: f64,
    fps: f64,
    keyframe_interval_s: f64,
}

async fn probe_fixture() -> Probe {
    let out = tokio::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "packet=codec_type,size,pts_time,flags",
        ])
        .args(["-show_entries", "format=duration", "-of", "json", &fixture()])
        .output()
        .await
        .expect("ffprobe runs");
    let v: Value = serde_json::from_slice(&out.stdout).expect("ffprobe JSON");
    let duration: f64 = v["format"]["duration"].as_str().unwrap().parse().unwrap();
    let packets = v["packets"].as_array().unwrap();
    let bytes = |kind: &str| -> f64 {
        packets
            .iter()
            .filter(|p| p["codec_type"] == kind)
            .map(|p| p["size"].as_str().unwrap().parse::<f64>().unwrap())
            .sum()
    };
    let video: Vec<&Value> = packets.iter().filter(|p| p["codec_type"] == "video").collect();
    let keyframes: Vec<f64> = video
        .iter()
        .filter(|p| p["flags"].as_str().unwrap().starts_with('K'))
        .map(|p| p["pts_time"].as_str().unwrap().parse().unwrap())
        .collect();
    Probe {
        video_kbps: bytes("video") * 8.0 / 1000.0 / duration,
        audio_kbps: bytes("audio") * 8.0 / 1000.0 / duration,
        fps: video.len() as f64 / duration,
        keyframe_interval_s: keyframes[1] - keyframes[0],
    }
}

fn within(what: &str, got: &Value, want: f64, tolerance: f64) {
    let got = got
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: not a number: {got}"));
    assert!(
        (got - want).abs() <= tolerance,
        "{what}: {got} is not within {tolerance} of {want}"
    );
    eprintln!("{what}: measured {got}, expected {want:.2}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixture_figures_match_ffprobe_and_only_the_owner_sees_them() {
    if !tools() {
        return;
    }
    let want = probe_fixture().await;
    let app = Running::start(None).await;
    let base = app.base.clone();
    let s = streamer(&base).await;
    let url = format!("{base}/api/streams/{}/health", s.id);

    // Not live yet.
    let r = http("GET", &url, Some(&s.token), None).await;
    assert_eq!(
        (r.status, &r.body["error"]["code"]),
        (409, &json!("not_live")),
        "{}",
        r.text
    );

    let mut ffmpeg = publish(&s.publish_url, false);
    let h = health_when(&base, &s, "six seconds of health figures", |h| {
        h["uptime_s"].as_f64().unwrap_or(0.0) >= 6.0
    })
    .await;
    eprintln!("health: {h:#}");
    let video = &h["video"];
    assert_eq!(video["codec"], "h264");
    assert_eq!(video["profile"], "High");
    assert_eq!((&video["width"], &video["height"]), (&json!(320), &json!(240)));
    within("fps", &video["fps"], want.fps, want.fps * 0.10);
    within(
        "video kbit/s",
        &video["bitrate_kbps"],
        want.video_kbps,
        want.video_kbps * 0.35,
    );
    within(
        "keyframe interval",
        &video["keyframe_interval_s"],
        want.keyframe_interval_s,
        0.2,
    );
    let audio = &h["audio"];
    assert_eq!(
        (&audio["codec"], &audio["profile"]),
        (&json!("aac"), &json!("LC"))
    );
    assert_eq!(
        (&audio["sample_rate"], &audio["channels"]),
        (&json!(44100), &json!(2))
    );
    within(
        "audio kbit/s",
        &audio["bitrate_kbps"],
        want.audio_kbps,
        want.audio_kbps * 0.35,
    );
    assert!(
        h["encoder"].as_str().unwrap().starts_with("Lavf"),
        "{}",
        h["encoder"]
    );
    assert_eq!(h["timestamp_jumps"], 0);
    assert_eq!(codes(&h), Vec::<String>::new());

    // Without a token: 401. Someone else's stream, or an unknown one: 404.
    let r = http("GET", &url, None, None).await;
    assert_eq!(r.status, 401, "{}", r.text);
    let other = streamer(&base).await;
    let r = http("GET", &url, Some(&other.token), None).await;
    assert_eq!(
        (r.status, &r.body["error"]["code"]),
        (404, &json!("not_found")),
        "{}",
        r.text
    );
    let unknown = format!("{base}/api/streams/nosuchstream/health");
    assert_eq!(http("GET", &unknown, Some(&s.token), None).await.status, 404);

    // Once the publish ends: not live.
    ffmpeg.kill().await.unwrap();
    wait_for("the stream to go offline", Duration::from_secs(15), || async {
        let r = http("GET", &url, Some(&s.token), None).await;
        (r.status == 409).then_some(())
    })
    .await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn six_second_gop_raises_the_keyframe_warning() {
    if !tools() {
        return;
    }
    let app = Running::start(None).await;
    let s = streamer(&app.base).await;
    let mut args = [TESTSRC, SINE, X264].concat();
    args.extend(["-g", "150", "-keyint_min", "150", "-c:a", "aac", "-t", "8"]);
    let _ffmpeg = encode(&args, &s.publish_url);
    let h = health_when(&app.base, &s, "the keyframe warning", |h| {
        codes(h).contains(&"keyframe_interval".to_owned())
    })
    .await;
    // Before the second keyframe (at 6 s) the open interval warns already.
    assert_eq!(codes(&h), ["keyframe_interval"]);
    let h = health_when(&app.base, &s, "the second keyframe", |h| {
        !h["video"]["keyframe_interval_s"].is_null()
    })
    .await;
    eprintln!("health: {h:#}");
    within("keyframe interval", &h["video"]["keyframe_interval_s"], 6.0, 0.2);
    assert_eq!(codes(&h), ["keyframe_interval"]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audio_only_warns_no_video() {
    if !tools() {
        return;
    }
    let app = Running::start(None).await;
    let s = streamer(&app.base).await;
    let mut args = SINE.to_vec();
    args.extend(["-c:a", "aac", "-t", "8"]);
    let _ffmpeg = encode(&args, &s.publish_url);
    let h = health_when(&app.base, &s, "the no-video warning", |h| {
        codes(h).contains(&"no_video".to_owned())
    })
    .await;
    eprintln!("health: {h:#}");
    assert!(h["video"].is_null(), "{h}");
    assert_eq!(
        (&h["audio"]["sample_rate"], &h["audio"]["channels"]),
        (&json!(48000), &json!(1))
    );
    assert_eq!(codes(&h), ["no_video"]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn video_only_warns_no_audio() {
    if !tools() {
        return;
    }
    let app = Running::start(None).await;
    let s = streamer(&app.base).await;
    let mut args = [TESTSRC, X264].concat();
    args.extend(["-g", "50", "-t", "8"]);
    let _ffmpeg = encode(&args, &s.publish_url);
    let h = health_when(&app.base, &s, "the no-audio warning", |h| {
        codes(h).contains(&"no_audio".to_owned())
    })
    .await;
    eprintln!("health: {h:#}");
    assert!(h["audio"].is_null(), "{h}");
    let video = &h["video"];
    assert_eq!((&video["width"], &video["height"]), (&json!(320), &json!(240)));
    assert_eq!(video["profile"], "Constrained Baseline");
    assert_eq!(codes(&h), ["no_audio"]);
    app.stop().await;
}

/// Reads server-sent events from `body` until `stop` accepts one, and
/// returns it with its JSON data; `None` when the response ends first.
async fn read_events(
    body: &mut hyper::body::Incoming,
    buffered: &mut String,
    stop: impl Fn(&str) -> bool,
) -> Option<(String, Value)> {
    use http_body_util::BodyExt;
    loop {
        while let Some(end) = buffered.find("\n\n") {
            let block: String = buffered.drain(..end + 2).collect();
            let mut event = String::new();
            let mut data = String::new();
            for line in block.lines() {
                if let Some(e) = line.strip_prefix("event:") {
                    event = e.trim().to_owned();
                } else if let Some(d) = line.strip_prefix("data:") {
                    data.push_str(d.trim());
                }
            }
            if !event.is_empty() && stop(&event) {
                return Some((event, serde_json::from_str(&data).unwrap()));
            }
        }
        let frame = tokio::time::timeout(Duration::from_secs(20), body.frame())
            .await
            .expect("an event within 20 s")?
            .expect("body frame");
        if let Ok(data) = frame.into_data() {
            buffered.push_str(std::str::from_utf8(&data).unwrap());
        }
    }
}

#[tokio::test]
async fn health_events_push_figures_every_second_until_the_stream_stops() {
    if !tools() {
        return;
    }
    let running = Running::start(None).await;
    let base = running.base.clone();
    let s = streamer(&base).await;
    let url = format!("{base}/api/streams/{}/health/events", s.id);
    let offline = http("GET", &url, Some(&s.token), None).await;
    assert_eq!(
        (offline.status, offline.body["error"]["code"].as_str()),
        (409, Some("not_live"))
    );
    assert_eq!(http("GET", &url, None, None).await.status, 401);

    let mut ffmpeg = publish(&s.publish_url, true);
    health_when(&base, &s, "the stream to be live", |h| {
        h["video"]["fps"].as_f64().is_some()
    })
    .await;
    let other = streamer(&base).await;
    assert_eq!(
        http("GET", &url, Some(&other.token), None).await.status,
        404,
        "not yours"
    );

    let client: hyper_util::client::legacy::Client<_, http_body_util::Empty<bytes::Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http();
    let request = hyper::Request::get(&url)
        .header("authorization", format!("Bearer {}", s.token))
        .body(http_body_util::Empty::new())
        .unwrap();
    let res = client.request(request).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let mut body = res.into_body();
    let mut buffered = String::new();
    let started = std::time::Instant::now();
    let mut figures = Vec::new();
    for _ in 0..3 {
        let (_, h) = read_events(&mut body, &mut buffered, |e| e == "health")
            .await
            .expect("a health event");
        figures.push(h);
    }
    let elapsed = started.elapsed();
    // The first at once, then one a second.
    assert!(
        (Duration::from_millis(1500)..Duration::from_millis(3500)).contains(&elapsed),
        "three events in {elapsed:?}"
    );
    for h in &figures {
        assert_eq!(
            (h["video"]["width"].as_u64(), h["video"]["height"].as_u64()),
            (Some(320), Some(240)),
            "{h}"
        );
        assert!(h["uptime_s"].as_f64().is_some(), "{h}");
    }
    assert!(
        figures[2]["uptime_s"].as_f64() > figures[0]["uptime_s"].as_f64(),
        "uptime grows"
    );

    ffmpeg.kill().await.unwrap();
    let (event, _) = read_events(&mut body, &mut buffered, |e| e == "not_live")
        .await
        .expect("a not_live event when the publisher goes");
    assert_eq!(event, "not_live");
    use http_body_util::BodyExt;
    let rest = tokio::time::timeout(Duration::from_secs(5), body.collect())
        .await
        .expect("the response ends after not_live");
    assert!(rest.is_ok());
    running.stop().await;
}
