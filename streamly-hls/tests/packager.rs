//! The publisher over whole publishes: the live window (LL-HLS and TS),
//! republish, retention, removal and the persisted files' lifecycle.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use streamly_core::adapters::MemorySegmentSink;
use streamly_core::domain::StreamId;
use streamly_core::media::MediaFrame;
use streamly_core::ports::{SegmentPath, SegmentSink};
use streamly_hls::{HlsConfig, HlsPublisher, Snapshot};
use tokio::sync::mpsc;

async fn get(sink: &MemorySegmentSink, path: &str) -> Option<String> {
    let data = sink.get(&SegmentPath::parse(path).unwrap()).await.unwrap()?;
    Some(String::from_utf8_lossy(&data).into_owned())
}

async fn publish(publisher: &Arc<HlsPublisher>, id: &StreamId, frames: &[MediaFrame]) -> Arc<Snapshot> {
    let (tx, rx) = mpsc::channel(64);
    let task = publisher.spawn(id.clone(), rx);
    for f in frames {
        tx.send(f.clone()).await.unwrap();
    }
    drop(tx);
    let stats = task.await.unwrap();
    assert_eq!(stats.segments, 5);
    assert_eq!(stats.dropped_frames, 0);
    snapshot(publisher, id).expect("an ended window")
}

fn snapshot(publisher: &HlsPublisher, id: &StreamId) -> Option<Arc<Snapshot>> {
    let window = publisher.window(id)?;
    Some(Arc::clone(&*window.snapshots.borrow()))
}

fn text(b: &Option<Bytes>) -> String {
    String::from_utf8(b.clone().expect("text").to_vec()).unwrap()
}

#[tokio::test]
async fn a_publish_is_served_as_ll_hls_and_ts_then_ends() {
    let publisher = Arc::new(HlsPublisher::new(HlsConfig::default()));
    let id = StreamId::parse("demo").unwrap();
    let s = publish(&publisher, &id, &common::frames(common::fixture())).await;

    assert!(s.ended);
    assert_eq!(s.segments.len(), 5);
    assert!(s.pending.is_empty());
    let ll = text(&s.playlist());
    assert!(ll.ends_with("#EXT-X-ENDLIST\n"), "{ll}");
    assert!(ll.contains("#EXT-X-TARGETDURATION:2\n"), "{ll}");
    assert!(
        ll.contains(&format!("#EXT-X-MAP:URI=\"{}_init0.mp4\"", s.token)),
        "{ll}"
    );
    assert!(!ll.contains("PRELOAD-HINT"), "no hint once ended: {ll}");
    for seg in &s.segments[..4] {
        assert_eq!(seg.duration, Duration::from_secs(2), "the GOP is 2 s");
    }
    // A segment is its parts, byte for byte, and starts independent.
    for seg in &s.segments {
        assert!(seg.parts[0].independent);
        let len: usize = seg.parts.iter().map(|p| p.data.len()).sum();
        assert_eq!(len, seg.len);
    }

    let ts = text(&s.ts_playlist);
    let ts = m3u8_rs::parse_media_playlist_res(ts.as_bytes()).unwrap();
    assert!(ts.end_list);
    assert_eq!(ts.segments.len(), 5);
    for seg in &ts.segments {
        assert!(s.ts_segment(&seg.uri).is_some(), "{} served", seg.uri);
    }

    let master = text(&s.master);
    assert!(master.contains("RESOLUTION=320x240"), "{master}");
    assert!(master.contains("CODECS=\"avc1.64000d,mp4a.40.2\""), "{master}");
    assert!(master.ends_with("\nindex.m3u8\n"), "{master}");
}

#[tokio::test]
async fn a_republish_gets_a_new_window_with_new_names() {
    let publisher = Arc::new(HlsPublisher::new(HlsConfig::default()));
    let id = StreamId::parse("demo").unwrap();
    let frames = common::frames(common::fixture());
    let first = publish(&publisher, &id, &frames).await;
    let second = publish(&publisher, &id, &frames).await;
    assert_ne!(first.token, second.token);
    assert_eq!(second.segments[0].msn, 0);
    assert!(!text(&second.playlist()).contains(&*first.token));
    assert_eq!(publisher.stream_count(), 1);
}

#[tokio::test(start_paused = true)]
async fn an_ended_window_expires_after_its_retention_and_its_files_go() {
    let sink = Arc::new(MemorySegmentSink::default());
    let retention = Duration::from_secs(600);
    let config = HlsConfig {
        ended_retention: retention,
        // Every segment keeps its parts, to compare with what was stored
        // (tests/http.rs covers segments served from the sink).
        serve_old_segments_from_sink: false,
        ..HlsConfig::default()
    };
    let publisher = Arc::new(HlsPublisher::new(config).persist_to(sink.clone()));
    let id = StreamId::parse("demo").unwrap();
    let s = publish(&publisher, &id, &common::frames(common::fixture())).await;

    let persisted = get(&sink, "demo/index.m3u8").await.unwrap();
    assert!(persisted.ends_with("#EXT-X-ENDLIST\n"), "{persisted}");
    assert!(
        !persisted.contains("EXT-X-PART"),
        "no LL tags in the sink: {persisted}"
    );
    for seg in &s.segments {
        let name = format!("demo/{}_{}.m4s", s.token, seg.msn);
        let data = sink
            .get(&SegmentPath::parse(&name).unwrap())
            .await
            .unwrap()
            .unwrap();
        let parts: Vec<u8> = seg.parts.iter().flat_map(|p| p.data.to_vec()).collect();
        assert_eq!(data.to_vec(), parts, "{name}: the persisted segment is its parts");
    }
    assert!(get(&sink, &format!("demo/{}_init0.mp4", s.token)).await.is_some());
    assert!(
        get(&sink, "demo/ts.m3u8")
            .await
            .unwrap()
            .ends_with("#EXT-X-ENDLIST\n")
    );

    tokio::time::sleep(retention / 2).await;
    publisher.sweep().await;
    assert!(snapshot(&publisher, &id).is_some(), "still within the retention");
    assert!(get(&sink, "demo/index.m3u8").await.is_some());

    tokio::time::sleep(retention / 2).await;
    publisher.sweep().await;
    assert!(snapshot(&publisher, &id).is_none());
    assert_eq!(publisher.stream_count(), 0);
    assert_eq!(
        sink.list("demo/").await.unwrap(),
        vec![],
        "every file of the window is gone"
    );
}

#[tokio::test(start_paused = true)]
async fn persisted_segments_that_leave_the_window_are_deleted_after_the_grace() {
    let sink = Arc::new(MemorySegmentSink::default());
    let grace = Duration::from_secs(20);
    let config = HlsConfig {
        playlist_window: 2,
        delete_grace: grace,
        ..HlsConfig::default()
    };
    let publisher = Arc::new(HlsPublisher::new(config).persist_to(sink.clone()));
    let id = StreamId::parse("demo").unwrap();
    let (tx, rx) = mpsc::channel(64);
    let task = publisher.spawn(id.clone(), rx);
    // The publish stays open: the window slides, its task keeps the timer.
    for f in common::frames(common::fixture()) {
        tx.send(f).await.unwrap();
    }
    tokio::task::yield_now().await;
    let s = snapshot(&publisher, &id).unwrap();
    assert_eq!(
        s.segments.first().map(|s| s.msn),
        Some(2),
        "segments 2 and 3 listed"
    );
    let gone = format!("demo/{}_0.m4s", s.token);
    assert!(get(&sink, &gone).await.is_some(), "readable during the grace");
    tokio::time::sleep(grace + Duration::from_millis(1)).await;
    assert!(get(&sink, &gone).await.is_none(), "deleted after it");
    assert!(get(&sink, &format!("demo/{}_3.m4s", s.token)).await.is_some());
    drop(tx);
    task.await.unwrap();
}

#[tokio::test]
async fn removing_a_stream_drops_its_window_and_files_at_once() {
    let sink = Arc::new(MemorySegmentSink::default());
    let publisher = Arc::new(HlsPublisher::new(HlsConfig::default()).persist_to(sink.clone()));
    let id = StreamId::parse("demo").unwrap();
    let frames = common::frames(common::fixture());

    // Ended: gone from HTTP at once, files at the next sweep.
    publish(&publisher, &id, &frames).await;
    assert!(publisher.remove(&id));
    assert!(snapshot(&publisher, &id).is_none());
    publisher.sweep().await;
    assert_eq!(sink.list("demo/").await.unwrap(), vec![]);

    // Live: gone from HTTP at once, files when its run ends.
    let (tx, rx) = mpsc::channel(64);
    let task = publisher.spawn(id.clone(), rx);
    for f in &frames {
        tx.send(f.clone()).await.unwrap();
    }
    tokio::task::yield_now().await;
    assert!(publisher.remove(&id));
    assert!(snapshot(&publisher, &id).is_none());
    drop(tx);
    task.await.unwrap();
    assert_eq!(sink.list("demo/").await.unwrap(), vec![]);
    assert!(!publisher.remove(&id));
}

#[tokio::test]
async fn recover_ends_what_a_crashed_process_left_open() {
    let sink = Arc::new(MemorySegmentSink::default());
    let id = StreamId::parse("demo").unwrap();
    // A publish whose process "crashes": the playlist has no ENDLIST yet.
    let crashed = Arc::new(HlsPublisher::new(HlsConfig::default()).persist_to(sink.clone()));
    let (tx, rx) = mpsc::channel(64);
    let task = crashed.spawn(id.clone(), rx);
    for f in common::frames(common::fixture()).into_iter().take(300) {
        tx.send(f).await.unwrap();
    }
    tokio::task::yield_now().await;
    task.abort();
    let _ = task.await;
    let open = get(&sink, "demo/index.m3u8").await.unwrap();
    assert!(!open.contains("#EXT-X-ENDLIST"), "{open}");
    sink.put(
        &SegmentPath::parse("demo/0_99.m4s").unwrap(),
        Bytes::from_static(b"orphan"),
    )
    .await
    .unwrap();

    let restarted = HlsPublisher::new(HlsConfig::default()).persist_to(sink.clone());
    assert!(restarted.recover().await.unwrap() >= 1);
    assert!(get(&sink, "demo/0_99.m4s").await.is_none(), "the orphan is gone");
    let ended = get(&sink, "demo/index.m3u8").await.unwrap();
    assert!(ended.ends_with("#EXT-X-ENDLIST\n"), "{ended}");
    // What it names is still there.
    for uri in ended.lines().filter(|l| l.ends_with(".m4s")) {
        assert!(get(&sink, &format!("demo/{uri}")).await.is_some(), "{uri}");
    }
}
