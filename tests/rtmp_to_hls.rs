//! RTMP → LL-HLS end to end on port 0, with the pieces of
//! `examples/rtmp_to_hls.rs`: ffmpeg publishes the fixture in real time; a
//! client follows the low-latency playlist with blocking reloads, as an
//! LL-HLS player does, and checks every playlist with a strict checker, every
//! part it names and every segment (the concatenation of its parts);
//! ffprobe reads the fMP4 and TS playlists live and after `EXT-X-ENDLIST`;
//! ffmpeg decodes the same frames from the served fMP4 as from the source;
//! a republish gets a new window.
#![allow(clippy::unwrap_used)]

#[path = "../streamly-hls/tests/common/ll_hls.rs"]
mod ll_hls;

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use ll_hls::{LlHistory, LlPlaylist, check};
use streamly::core::adapters::StaticKeyValidator;
use streamly::hls::{HlsConfig, HlsPublisher};
use streamly::live::Ingest;
use streamly::rtmp::{RtmpConfig, RtmpServer, StreamEvent};
use tokio_util::sync::CancellationToken;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/av.flv");

type HttpClient = Client<HttpConnector, Empty<Bytes>>;

/// GET `url`: status and body.
async fn get(client: &HttpClient, url: &str) -> (u16, Bytes) {
    let res = tokio::time::timeout(Duration::from_secs(30), client.get(url.parse().unwrap()))
        .await
        .expect("answer in time")
        .unwrap();
    let status = res.status().as_u16();
    (status, res.into_body().collect().await.unwrap().to_bytes())
}

/// Whether `tool` runs; under `CI=true` a missing tool fails the test.
fn have(tool: &str) -> bool {
    let ok = std::process::Command::new(tool)
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok || std::env::var("CI").as_deref() != Ok("true"),
        "{tool} is required under CI=true"
    );
    ok
}

fn publish(rtmp: SocketAddr, realtime: bool) -> tokio::process::Child {
    let mut cmd = tokio::process::Command::new("ffmpeg");
    cmd.args(["-v", "error"]);
    if realtime {
        cmd.arg("-re");
    }
    cmd.args(["-i", FIXTURE, "-c", "copy", "-f", "flv"])
        .arg(format!("rtmp://{rtmp}/live/secret1"))
        .stdin(Stdio::null())
        .kill_on_drop(true);
    cmd.spawn().expect("spawn ffmpeg")
}

async fn ffprobe(url: String) -> String {
    let out = tokio::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_name",
            "-of",
            "csv=p=0",
            &url,
        ])
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), out)
        .await
        .expect("ffprobe in time")
        .unwrap();
    assert!(
        out.status.success(),
        "ffprobe: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn durations(playlist: &str) -> Vec<f64> {
    playlist
        .lines()
        .filter_map(|l| l.strip_prefix("#EXTINF:"))
        .map(|d| d.trim_end_matches(',').parse().unwrap())
        .collect()
}

/// What following the live playlist saw.
struct Followed {
    playlists: usize,
    parts: usize,
    segments: usize,
    last: String,
}

/// Follows the LL playlist at `base` like an LL-HLS player until
/// `EXT-X-ENDLIST`: each reload blocks on the hinted part; every playlist
/// passes the checker, every part it names is readable, and every complete
/// segment is byte for byte the concatenation of its parts.
async fn follow(client: &HttpClient, base: &str) -> Followed {
    let mut history = LlHistory::new();
    let mut parts: std::collections::HashMap<String, Bytes> = std::collections::HashMap::new();
    let mut checked_segments = std::collections::HashSet::new();
    let mut query = "?_HLS_msn=0&_HLS_part=0".to_owned();
    let mut followed = Followed {
        playlists: 0,
        parts: 0,
        segments: 0,
        last: String::new(),
    };
    loop {
        let (status, body) = get(client, &format!("{base}index.m3u8{query}")).await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        followed.playlists += 1;
        let text = String::from_utf8(body.to_vec()).unwrap();
        let playlist = LlPlaylist::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let problems = check(&playlist);
        assert!(problems.is_empty(), "{problems:?}\n{text}");
        let problems = history.observe(&playlist);
        assert!(problems.is_empty(), "{problems:?}\n{text}");
        for (_, _, part) in playlist.all_parts() {
            if !parts.contains_key(&part.uri) {
                let (status, data) = get(client, &format!("{base}{}", part.uri)).await;
                assert_eq!(status, 200, "{}", part.uri);
                parts.insert(part.uri.clone(), data);
                followed.parts += 1;
            }
        }
        for segment in &playlist.segments {
            let names: Vec<&String> = segment.parts.iter().map(|p| &p.uri).collect();
            if names.is_empty() || !checked_segments.insert(segment.uri.clone()) {
                continue;
            }
            let (status, whole) = get(client, &format!("{base}{}", segment.uri)).await;
            assert_eq!(status, 200, "{}", segment.uri);
            let joined: Vec<u8> = names.iter().flat_map(|n| parts[*n].to_vec()).collect();
            assert_eq!(whole.to_vec(), joined, "{} is its parts", segment.uri);
            followed.segments += 1;
        }
        if playlist.ended {
            followed.last = text;
            break;
        }
        let (msn, part) = playlist.next_msn_part();
        query = format!("?_HLS_msn={msn}&_HLS_part={part}");
    }
    let problems = history.finish();
    assert!(problems.is_empty(), "{problems:?}");
    followed
}

/// `ffmpeg -f framemd5` hashes of `input`'s stream `map`.
async fn framemd5(input: &str, map: &str) -> Vec<String> {
    let out = tokio::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i", input, "-map", map, "-f", "framemd5", "-"])
        .output();
    let out = tokio::time::timeout(Duration::from_secs(120), out)
        .await
        .unwrap()
        .unwrap();
    assert!(
        out.status.success(),
        "ffmpeg: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit(',').next().map(|h| h.trim().to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_follow_the_ll_playlist_end_and_republish() {
    if !have("ffmpeg") || !have("ffprobe") {
        eprintln!("skipping: ffmpeg/ffprobe not on PATH");
        return;
    }
    let validator = Arc::new(StaticKeyValidator::from_spec("demo=secret1").unwrap());
    let server = RtmpServer::bind("127.0.0.1:0".parse().unwrap(), RtmpConfig::default(), validator).unwrap();
    let rtmp_addr = server.local_addr();
    let publisher = Arc::new(HlsPublisher::new(HlsConfig::default()));
    let mut hub_events = server.hub().events();
    let ingest = Ingest::new(server.hub(), Arc::clone(&publisher));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http_addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let rtmp = tokio::spawn(server.run(shutdown.clone()));
    let packaging = tokio::spawn(ingest.run(shutdown.clone()));
    let serve = axum::serve(listener, streamly::hls::router(Arc::clone(&publisher)))
        .with_graceful_shutdown(shutdown.clone().cancelled_owned());
    let http = tokio::spawn(async move { serve.await });
    let base = format!("http://{http_addr}/hls/demo/");
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();

    let mut ffmpeg = publish(rtmp_addr, true);
    let started = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if let Ok(StreamEvent::Started { .. }) = hub_events.recv().await {
                return Instant::now();
            }
        }
    })
    .await
    .expect("publish granted in time");

    // The packager starts on the hub's event, just after the grant; the
    // blocking request then waits for the first part.
    let first_part_after = loop {
        let (status, _) = get(&client, &format!("{base}index.m3u8?_HLS_msn=0&_HLS_part=0")).await;
        if status == 200 {
            break started.elapsed();
        }
        assert_eq!(status, 404);
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // ffprobe reads both playlists while they are live.
    let probes = {
        let (ll, ts) = (format!("{base}index.m3u8"), format!("{base}ts.m3u8"));
        let client = client.clone();
        tokio::spawn(async move {
            // ffprobe reads whole segments (it ignores parts): wait for the
            // first (the TS playlist appears with its first segment).
            while !String::from_utf8_lossy(&get(&client, &ll).await.1).contains("#EXTINF") {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let ll = ffprobe(ll).await;
            while get(&client, &ts).await.0 != 200 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            (ll, ffprobe(ts).await)
        })
    };
    let followed = follow(&client, &base).await;
    // The first part closes about a part (0.24 s) after the first
    // keyframe: far sooner than the first 2 s segment did before.
    assert!(
        first_part_after < Duration::from_millis(2500),
        "first part {first_part_after:?} after the publish started"
    );
    assert!(
        followed.playlists > 20,
        "one reload per part: {}",
        followed.playlists
    );
    assert!(
        followed.parts >= 40 && followed.segments >= 2,
        "{} parts, {} segments",
        followed.parts,
        followed.segments
    );
    let (ll, ts) = probes.await.unwrap();
    assert!(ll.contains("h264") && ll.contains("aac"), "{ll}");
    assert!(ts.contains("h264") && ts.contains("aac"), "{ts}");

    let status = tokio::time::timeout(Duration::from_secs(60), ffmpeg.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success());
    let ended = followed.last;
    let d = durations(&ended);
    assert_eq!(d.len(), 5, "{ended}");
    assert!(d[..4].iter().all(|&s| s == 2.0), "segments follow the GOP: {d:?}");
    assert!(ended.contains("#EXT-X-TARGETDURATION:2\n"));
    let (status, master) = get(&client, &format!("{base}master.m3u8")).await;
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&master).contains("CODECS=\"avc1.64000d,mp4a.40.2\""));

    // After ENDLIST: ffprobe reads it, and ffmpeg decodes the same frames
    // from the served fMP4 as from the source.
    let url = format!("{base}index.m3u8");
    let streams = ffprobe(url.clone()).await;
    assert!(streams.contains("h264") && streams.contains("aac"), "{streams}");
    let video = framemd5(&url, "0:v").await;
    assert_eq!(video.len(), 250);
    assert_eq!(video, framemd5(FIXTURE, "0:v").await, "decoded video differs");
    let audio = framemd5(&url, "0:a").await;
    assert!(audio.len() > 400);
    assert_eq!(audio, framemd5(FIXTURE, "0:a").await, "decoded audio differs");
    let token = |t: &str| {
        t.lines()
            .find(|l| l.ends_with(".m4s"))
            .unwrap()
            .split('_')
            .next()
            .unwrap()
            .to_owned()
    };
    let first_token = token(&ended);

    // Republish (as fast as possible): a new window, new names.
    let mut ffmpeg = publish(rtmp_addr, false);
    let status = tokio::time::timeout(Duration::from_secs(60), ffmpeg.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success());
    let again = wait_for_end(&client, &url, &first_token).await;
    assert!(again.contains("#EXT-X-MEDIA-SEQUENCE:0\n"), "{again}");
    assert_eq!(durations(&again).len(), 5);
    let streams = ffprobe(url).await;
    assert!(streams.contains("h264") && streams.contains("aac"), "{streams}");

    shutdown.cancel();
    http.await.unwrap().unwrap();
    rtmp.await.unwrap().unwrap();
    packaging.await.unwrap();
}

/// The ended playlist of the publish after the one named by `old_token`.
async fn wait_for_end(client: &HttpClient, url: &str, old_token: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = get(client, url).await;
        let text = String::from_utf8_lossy(&body).into_owned();
        if status == 200 && text.ends_with("#EXT-X-ENDLIST\n") && !text.contains(old_token) {
            return text;
        }
        assert!(Instant::now() < deadline, "republish did not end in time: {text}");
        // Not a live playlist any more: nothing to block on.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
