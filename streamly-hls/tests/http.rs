//! The playback router over a live publish, without a network
//! (`tower::ServiceExt::oneshot`): headers, ranges, blocking playlist
//! reload and preload hints, in paused tokio time (no sleeps as
//! synchronisation: a paused runtime only moves its clock when every task
//! waits).
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use http_body_util::BodyExt;
use streamly_core::adapters::MemorySegmentSink;
use streamly_core::domain::StreamId;
use streamly_core::media::{AudioFrame, MediaFrame, VideoFrame};
use streamly_core::ports::{SegmentPath, SegmentSink};
use streamly_hls::{HlsConfig, HlsPublisher, Snapshot};
use tokio::sync::mpsc;
use tower::ServiceExt;

/// A publish in progress, fed frame by frame.
struct Live {
    publisher: Arc<HlsPublisher>,
    app: axum::Router,
    tx: Option<mpsc::Sender<MediaFrame>>,
    frames: std::vec::IntoIter<MediaFrame>,
    task: tokio::task::JoinHandle<streamly_hls::PackagerStats>,
}

impl Live {
    fn start(frames: Vec<MediaFrame>) -> Self {
        Self::serve(HlsPublisher::new(HlsConfig::default()), frames)
    }

    fn serve(publisher: HlsPublisher, frames: Vec<MediaFrame>) -> Self {
        let publisher = Arc::new(publisher);
        let (tx, rx) = mpsc::channel(1024);
        let task = publisher.spawn(StreamId::parse("demo").unwrap(), rx);
        Self {
            app: streamly_hls::router(Arc::clone(&publisher)),
            publisher,
            tx: Some(tx),
            frames: frames.into_iter(),
            task,
        }
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        let window = self.publisher.window(&StreamId::parse("demo").unwrap()).unwrap();
        Arc::clone(&*window.snapshots.borrow())
    }

    /// Sends the next frame and lets every task run; false at the end.
    async fn step(&mut self) -> bool {
        let Some(frame) = self.frames.next() else {
            return false;
        };
        self.tx.as_ref().unwrap().send(frame).await.unwrap();
        settle().await;
        true
    }

    async fn until(&mut self, done: impl Fn(&Snapshot) -> bool) {
        while !done(&self.snapshot()) {
            assert!(self.step().await, "ran out of frames");
        }
    }

    async fn end(mut self) {
        self.tx = None;
        self.task.await.unwrap();
    }

    fn get(&self, uri: &str) -> tokio::task::JoinHandle<Response> {
        self.request(uri, &[])
    }

    fn request(
        &self,
        uri: &str,
        headers: &[(header::HeaderName, &str)],
    ) -> tokio::task::JoinHandle<Response> {
        let mut req = Request::builder()
            .method(Method::GET)
            .uri(uri)
            .header(header::ORIGIN, "https://player.example");
        for (name, value) in headers {
            req = req.header(name, *value);
        }
        let app = self.app.clone();
        let req = req.body(Body::empty()).unwrap();
        tokio::spawn(async move { app.oneshot(req).await.unwrap() })
    }
}

/// Every task runs until it waits (paused time: the clock moves 1 ms).
async fn settle() {
    tokio::time::sleep(Duration::from_millis(1)).await;
}

async fn body(res: Response) -> Bytes {
    res.into_body().collect().await.unwrap().to_bytes()
}

fn fixture() -> Vec<MediaFrame> {
    common::frames(common::fixture())
}

/// The fixture (10 s), then its media again 10 s later: 20 s, ten 2 s GOPs.
fn twenty_seconds() -> Vec<MediaFrame> {
    let first = fixture();
    let shift = first
        .iter()
        .filter_map(|f| match f {
            MediaFrame::Video(v) => Some(v.dts),
            MediaFrame::Audio(a) => Some(a.dts),
            _ => None,
        })
        .max()
        .unwrap()
        + 40;
    let again: Vec<MediaFrame> = first
        .iter()
        .filter_map(|f| match f {
            MediaFrame::Video(v) => Some(MediaFrame::Video(VideoFrame {
                dts: v.dts + shift,
                ..v.clone()
            })),
            MediaFrame::Audio(a) => Some(MediaFrame::Audio(AudioFrame {
                dts: a.dts + shift,
                ..a.clone()
            })),
            _ => None,
        })
        .collect();
    first.into_iter().chain(again).collect()
}

fn has_parts(s: &Snapshot) -> bool {
    !s.segments.is_empty() && s.pending.len() >= 2
}

#[tokio::test(start_paused = true)]
async fn files_have_types_cache_headers_ranges_and_etags() {
    let mut live = Live::start(fixture());
    live.until(has_parts).await;
    let s = live.snapshot();
    let token = &s.token;

    let res = live.get("/hls/demo/index.m3u8").await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let h = res.headers().clone();
    assert_eq!(h[header::CONTENT_TYPE], "application/vnd.apple.mpegurl");
    assert_eq!(h[header::CACHE_CONTROL], "no-cache");
    assert_eq!(h[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    let etag = h[header::ETAG].to_str().unwrap().to_owned();
    assert_eq!(body(res).await, s.playlist().unwrap());
    let res = live
        .request("/hls/demo/index.m3u8", &[(header::IF_NONE_MATCH, &etag)])
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);

    for (file, kind) in [
        (format!("{token}_init0.mp4"), "video/mp4"),
        (format!("{token}_0.m4s"), "video/mp4"),
        (format!("{token}_0_0.m4s"), "video/mp4"),
        (format!("{token}_0.ts"), "video/mp2t"),
    ] {
        if kind == "video/mp2t" && s.ts_segments.is_empty() {
            continue;
        }
        let res = live.get(&format!("/hls/demo/{file}")).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{file}");
        assert_eq!(res.headers()[header::CONTENT_TYPE], kind);
        assert_eq!(
            res.headers()[header::CACHE_CONTROL],
            streamly_hls::SEGMENT_CACHE_CONTROL
        );
        assert_eq!(res.headers()[header::ACCEPT_RANGES], "bytes");
    }

    // A segment is its parts; a range of it is those bytes.
    let whole = body(live.get(&format!("/hls/demo/{token}_0.m4s")).await.unwrap()).await;
    let mut parts = Vec::new();
    for i in 0..s.segments[0].parts.len() {
        parts
            .extend_from_slice(&body(live.get(&format!("/hls/demo/{token}_0_{i}.m4s")).await.unwrap()).await);
    }
    assert_eq!(whole.to_vec(), parts);
    let res = live
        .request(
            &format!("/hls/demo/{token}_0.m4s"),
            &[(header::RANGE, "bytes=100-1099")],
        )
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        res.headers()[header::CONTENT_RANGE],
        format!("bytes 100-1099/{}", whole.len()).as_str()
    );
    assert_eq!(body(res).await, whole.slice(100..1100));
    let res = live
        .request(
            &format!("/hls/demo/{token}_0.m4s"),
            &[(header::RANGE, "bytes=99999999-")],
        )
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::RANGE_NOT_SATISFIABLE);

    for missing in [
        "/hls/demo/secret.txt".to_owned(),
        "/hls/demo/..%2Findex.m3u8".to_owned(),
        "/hls/other/index.m3u8".to_owned(),
        "/hls/demo/ffff_0.m4s".to_owned(),
        format!("/hls/demo/{token}_99.m4s"),
        format!("/hls/demo/{token}_0_99.m4s"),
    ] {
        let res = live.get(&missing).await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{missing}");
        assert_eq!(res.headers()[header::CACHE_CONTROL], "no-cache");
    }
    live.end().await;
}

#[tokio::test(start_paused = true)]
async fn old_segments_leave_memory_once_stored_and_are_served_from_the_sink() {
    let sink = Arc::new(MemorySegmentSink::default());
    let publisher = HlsPublisher::new(HlsConfig::default()).persist_to(sink.clone());
    let mut live = Live::serve(publisher, twenty_seconds());
    live.until(|s| s.segments.len() >= 8).await;
    let s = live.snapshot();
    let token = &s.token;
    // Target duration 2 s: the part span is 6 s, three segments, plus the
    // parts in progress; those and one more stay in memory.
    let in_memory: Vec<u64> = s
        .segments
        .iter()
        .filter(|e| e.in_memory())
        .map(|e| e.msn)
        .collect();
    let newest = s.segments.last().unwrap().msn;
    assert_eq!(
        in_memory,
        (newest - 3..=newest).collect::<Vec<_>>(),
        "{in_memory:?}"
    );
    assert!(s.segments.len() >= 8, "the playlist still lists the old ones");
    let ll = String::from_utf8(s.playlist().unwrap().to_vec()).unwrap();
    for seg in &s.segments {
        let name = format!("{token}_{}.m4s", seg.msn);
        assert!(ll.contains(&name), "{name} listed: {ll}");
        let res = live.get(&format!("/hls/demo/{name}")).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{name}");
        assert_eq!(
            res.headers()[header::CACHE_CONTROL],
            streamly_hls::SEGMENT_CACHE_CONTROL
        );
        let served = body(res).await;
        let stored = sink
            .get(&SegmentPath::parse(&format!("demo/{name}")).unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(served, stored, "{name}: the same bytes, from memory or the sink");
        assert_eq!(served.len(), seg.len, "{name}");
        if let Some(bytes) = seg.bytes() {
            assert_eq!(bytes, &stored);
        } else {
            assert!(seg.parts.is_empty(), "{name}: no parts kept");
        }
    }
    // TS segments: the newest four in memory, every one served, the same
    // bytes as the sink's.
    let ts_in_memory = s.ts_segments.iter().filter(|t| t.data.is_some()).count();
    assert!(s.ts_segments.len() >= 6, "{}", s.ts_segments.len());
    assert_eq!(ts_in_memory, 4);
    assert!(s.ts_segments.iter().rev().take(4).all(|t| t.data.is_some()));
    for ts in &s.ts_segments {
        let res = live.get(&format!("/hls/demo/{}", ts.uri)).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{}", ts.uri);
        assert_eq!(res.headers()[header::CONTENT_TYPE], "video/mp2t");
        let stored = sink
            .get(&SegmentPath::parse(&format!("demo/{}", ts.uri)).unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(body(res).await, stored, "{}", ts.uri);
    }
    // A range of a segment served from the sink.
    let old = format!("/hls/demo/{token}_{}.m4s", s.segments[0].msn);
    let res = live
        .request(&old, &[(header::RANGE, "bytes=10-19")])
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(body(res).await.len(), 10);
    // A segment the sink lost: 404, not a stale or empty body.
    sink.delete(&SegmentPath::parse(&format!("demo/{token}_{}.m4s", s.segments[0].msn)).unwrap())
        .await
        .unwrap();
    assert_eq!(live.get(&old).await.unwrap().status(), StatusCode::NOT_FOUND);
    live.end().await;
}

#[tokio::test(start_paused = true)]
async fn without_a_sink_or_with_the_setting_off_every_segment_stays_in_memory() {
    for publisher in [
        HlsPublisher::new(HlsConfig::default()),
        HlsPublisher::new(HlsConfig {
            serve_old_segments_from_sink: false,
            ..HlsConfig::default()
        })
        .persist_to(Arc::new(MemorySegmentSink::default())),
    ] {
        let mut live = Live::serve(publisher, twenty_seconds());
        live.until(|s| s.segments.len() >= 8).await;
        assert!(
            live.snapshot()
                .segments
                .iter()
                .all(|e| e.in_memory() && e.bytes().is_some())
        );
        live.end().await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_blocking_reload_answers_exactly_when_the_part_appears() {
    let mut live = Live::start(fixture());
    live.until(has_parts).await;
    let (msn, part) = live.snapshot().hinted_part();
    let req = live.get(&format!("/hls/demo/index.m3u8?_HLS_msn={msn}&_HLS_part={part}"));
    settle().await;
    assert!(!req.is_finished(), "waits for the part");
    while live.snapshot().part(msn, part).is_none() {
        assert!(!req.is_finished(), "answered before the part existed");
        assert!(live.step().await);
    }
    assert!(req.is_finished(), "answered as soon as the part exists");
    let text = String::from_utf8(body(req.await.unwrap()).await.to_vec()).unwrap();
    let uri = format!("{}_{msn}_{part}.m4s", live.snapshot().token);
    assert!(text.contains(&format!("URI=\"{uri}\"")), "{text}");
    live.end().await;
}

#[tokio::test(start_paused = true)]
async fn a_thousand_waiting_requests_are_woken_by_one_part() {
    let mut live = Live::start(fixture());
    live.until(has_parts).await;
    let (msn, part) = live.snapshot().hinted_part();
    let token = live.snapshot().token.clone();
    let playlists: Vec<_> = (0..500)
        .map(|_| live.get(&format!("/hls/demo/index.m3u8?_HLS_msn={msn}&_HLS_part={part}")))
        .collect();
    // The hinted part itself blocks until it is complete.
    let hinted: Vec<_> = (0..500)
        .map(|_| live.get(&format!("/hls/demo/{token}_{msn}_{part}.m4s")))
        .collect();
    settle().await;
    assert!(playlists.iter().chain(&hinted).all(|r| !r.is_finished()));
    live.until(|s| s.part(msn, part).is_some()).await;
    let expected = live.snapshot().part(msn, part).unwrap().data.len();
    for r in playlists {
        assert!(r.is_finished());
        assert_eq!(r.await.unwrap().status(), StatusCode::OK);
    }
    for r in hinted {
        assert!(r.is_finished());
        let res = r.await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(body(res).await.len(), expected);
    }
    live.end().await;
}

#[tokio::test(start_paused = true)]
async fn too_far_ahead_is_400_and_a_part_that_does_not_come_is_503_after_three_target_durations() {
    let mut live = Live::start(fixture());
    live.until(has_parts).await;
    let s = live.snapshot();
    let far = s.next_msn + 2;
    let res = live
        .get(&format!("/hls/demo/index.m3u8?_HLS_msn={far}"))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = live.get("/hls/demo/index.m3u8?_HLS_part=1").await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);

    let (msn, part) = s.hinted_part();
    let started = tokio::time::Instant::now();
    let res = live
        .get(&format!("/hls/demo/index.m3u8?_HLS_msn={msn}&_HLS_part={part}"))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let waited = started.elapsed();
    assert!(
        (Duration::from_secs(6)..Duration::from_millis(6100)).contains(&waited),
        "3 × TARGETDURATION (2 s): {waited:?}"
    );
    live.end().await;
}

#[tokio::test(start_paused = true)]
async fn a_waiting_request_is_answered_when_the_stream_ends() {
    let mut live = Live::start(fixture());
    live.until(has_parts).await;
    let (msn, part) = live.snapshot().hinted_part();
    let req = live.get(&format!(
        "/hls/demo/index.m3u8?_HLS_msn={}&_HLS_part={part}",
        msn + 1
    ));
    settle().await;
    assert!(!req.is_finished());
    live.tx = None; // the publisher leaves
    settle().await;
    let text = String::from_utf8(body(req.await.unwrap()).await.to_vec()).unwrap();
    assert!(text.ends_with("#EXT-X-ENDLIST\n"), "{text}");
    live.end().await;
}

#[tokio::test(start_paused = true)]
async fn a_delta_update_skips_the_old_segments() {
    // 30 s of media: the fixture three times over, timestamps continued.
    let one = fixture();
    let mut frames = Vec::new();
    for round in 0..3u32 {
        for f in &one {
            let mut f = f.clone();
            match &mut f {
                MediaFrame::Video(v) => v.dts += round * 10_000,
                MediaFrame::Audio(a) => a.dts += round * 10_000,
                _ if round > 0 => continue,
                _ => {}
            }
            frames.push(f);
        }
    }
    let mut live = Live::start(frames);
    live.until(|s| s.segments.len() >= 10 && !s.pending.is_empty())
        .await;
    let full = String::from_utf8(
        body(live.get("/hls/demo/index.m3u8").await.unwrap())
            .await
            .to_vec(),
    )
    .unwrap();
    let delta = String::from_utf8(
        body(live.get("/hls/demo/index.m3u8?_HLS_skip=YES").await.unwrap())
            .await
            .to_vec(),
    )
    .unwrap();
    assert!(!full.contains("EXT-X-SKIP"));
    let skipped: usize = delta
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-SKIP:SKIPPED-SEGMENTS="))
        .expect("a skip tag")
        .parse()
        .unwrap();
    // CAN-SKIP-UNTIL is 12 s: of 10 segments of 2 s, the oldest 4 go.
    assert_eq!(skipped, 4, "{delta}");
    assert_eq!(
        full.matches("#EXTINF").count() - delta.matches("#EXTINF").count(),
        skipped
    );
    // The tail is the same.
    let tail = |t: &str| t.split_once("#EXT-X-PART:").map(|(_, rest)| rest.to_owned());
    assert_eq!(tail(&full), tail(&delta));
    live.end().await;
}
