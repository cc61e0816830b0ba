//! RTMP → HLS end to end on port 0, with the pieces of
//! `examples/rtmp_to_hls.rs`: ffmpeg publishes the fixture in real time, the
//! playlist appears about one segment after the first cut, segment
//! durations follow the 2 s GOP, `EXT-X-ENDLIST` follows the publisher's
//! exit, a republish adds a discontinuity, and ffprobe reads the playlist
//! over HTTP both live and finished.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use streamly::core::adapters::{MemorySegmentSink, StaticKeyValidator};
use streamly::core::ports::{SegmentPath, SegmentSink, SegmentSinkError};
use streamly::hls::{HlsConfig, HlsPublisher};
use streamly::live::Ingest;
use streamly::rtmp::{RtmpConfig, RtmpServer, StreamEvent};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/av.flv");

/// A memory sink that announces every write, so the test waits on events
/// instead of sleeping.
struct WatchedSink {
    inner: MemorySegmentSink,
    puts: broadcast::Sender<(String, Bytes)>,
}

#[async_trait]
impl SegmentSink for WatchedSink {
    async fn put(&self, path: &SegmentPath, data: Bytes) -> Result<(), SegmentSinkError> {
        self.inner.put(path, data.clone()).await?;
        let _ = self.puts.send((path.to_string(), data));
        Ok(())
    }
    async fn get(&self, path: &SegmentPath) -> Result<Option<Bytes>, SegmentSinkError> {
        self.inner.get(path).await
    }
    async fn delete(&self, path: &SegmentPath) -> Result<(), SegmentSinkError> {
        self.inner.delete(path).await
    }
    async fn ping(&self) -> Result<(), SegmentSinkError> {
        Ok(())
    }
}

/// Waits (bounded, as a guard) for a write of `demo/index.m3u8` whose text
/// satisfies `pred`.
async fn playlist_write(
    puts: &mut broadcast::Receiver<(String, Bytes)>,
    pred: impl Fn(&str) -> bool,
) -> String {
    let wait = async {
        loop {
            match puts.recv().await {
                Ok((path, data)) if path == "demo/index.m3u8" => {
                    let text = String::from_utf8(data.to_vec()).unwrap();
                    if pred(&text) {
                        return text;
                    }
                }
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => panic!("sink dropped"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), wait)
        .await
        .expect("playlist write in time")
}

fn have(tool: &str) -> bool {
    std::process::Command::new(tool)
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success())
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_watch_end_and_republish() {
    if !have("ffmpeg") || !have("ffprobe") {
        eprintln!("skipping: ffmpeg/ffprobe not on PATH");
        return;
    }
    let (puts, mut watch) = broadcast::channel(1024);
    let sink = Arc::new(WatchedSink {
        inner: MemorySegmentSink::default(),
        puts,
    });
    let validator = Arc::new(StaticKeyValidator::from_spec("demo=secret1").unwrap());
    let server = RtmpServer::bind("127.0.0.1:0".parse().unwrap(), RtmpConfig::default(), validator).unwrap();
    let rtmp_addr = server.local_addr();
    let publisher = Arc::new(HlsPublisher::new(sink.clone(), HlsConfig::default()));
    let mut hub_events = server.hub().events();
    let ingest = Ingest::new(server.hub(), publisher);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http_addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let rtmp = tokio::spawn(server.run(shutdown.clone()));
    let packaging = tokio::spawn(ingest.run(shutdown.clone()));
    let serve = axum::serve(listener, streamly::hls::router(sink.clone()))
        .with_graceful_shutdown(shutdown.clone().cancelled_owned());
    let http = tokio::spawn(async move { serve.await });
    let url = format!("http://{http_addr}/hls/demo/index.m3u8");

    // Real time, timed from the granted publish: the first segment closes
    // at the first keyframe at or after 2 s of media; the playlist must
    // appear within one more segment duration of that (4 s), plus slack for
    // a loaded machine.
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
    let first = playlist_write(&mut watch, |_| true).await;
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_millis(5500),
        "first playlist {elapsed:?} after the publish started"
    );
    assert!(!first.contains("#EXT-X-ENDLIST"));
    assert_eq!(durations(&first), vec![2.0]);

    // ffprobe reads the live playlist while it is being written.
    let streams = ffprobe(url.clone()).await;
    assert!(streams.contains("h264") && streams.contains("aac"), "{streams}");

    let status = tokio::time::timeout(Duration::from_secs(60), ffmpeg.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success());
    let ended = playlist_write(&mut watch, |t| t.contains("#EXT-X-ENDLIST")).await;
    let d = durations(&ended);
    assert_eq!(d.len(), 5, "{ended}");
    assert!(d[..4].iter().all(|&s| s == 2.0), "segments follow the GOP: {d:?}");
    assert!(ended.contains("#EXT-X-TARGETDURATION:2\n"));
    let master = sink
        .get(&SegmentPath::parse("demo/master.m3u8").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(String::from_utf8_lossy(&master).contains("CODECS=\"avc1.64000d,mp4a.40.2\""));

    // Republish (as fast as possible): the same playlist goes on after a
    // discontinuity and ends again.
    let mut ffmpeg = publish(rtmp_addr, false);
    let status = tokio::time::timeout(Duration::from_secs(60), ffmpeg.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success());
    let again = playlist_write(&mut watch, |t| {
        t.contains("#EXT-X-ENDLIST") && t.contains("#EXT-X-DISCONTINUITY\n")
    })
    .await;
    assert!(again.contains("#EXT-X-MEDIA-SEQUENCE:4\n"), "{again}");
    assert_eq!(durations(&again).len(), 6);
    let streams = ffprobe(url).await;
    assert!(streams.contains("h264") && streams.contains("aac"), "{streams}");

    shutdown.cancel();
    http.await.unwrap().unwrap();
    rtmp.await.unwrap().unwrap();
    packaging.await.unwrap();
}
