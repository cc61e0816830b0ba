//! The tokio packager over a real sink: live playlist contents, republish,
//! deletion after the grace period, and no allocation per frame in steady
//! state.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use streamly_core::adapters::MemorySegmentSink;
use streamly_core::domain::StreamId;
use streamly_core::media::MediaFrame;
use streamly_core::ports::{SegmentPath, SegmentSink};
use streamly_hls::{HlsConfig, HlsPublisher};
use tokio::sync::mpsc;

async fn get(sink: &MemorySegmentSink, path: &str) -> Option<String> {
    let data = sink.get(&SegmentPath::parse(path).unwrap()).await.unwrap()?;
    Some(String::from_utf8_lossy(&data).into_owned())
}

async fn publish(publisher: &Arc<HlsPublisher>, id: &StreamId, frames: &[MediaFrame]) {
    let (tx, rx) = mpsc::channel(64);
    let task = publisher.spawn(id.clone(), rx);
    for f in frames {
        tx.send(f.clone()).await.unwrap();
    }
    drop(tx);
    let stats = task.await.unwrap().unwrap();
    assert_eq!(stats.segments, 5);
    assert_eq!(stats.dropped_frames, 0);
}

#[tokio::test]
async fn live_playlist_republish_and_master() {
    let sink = Arc::new(MemorySegmentSink::default());
    let config = HlsConfig {
        playlist_window: 6,
        delete_grace: Duration::from_secs(3600),
        ..HlsConfig::default()
    };
    let publisher = Arc::new(HlsPublisher::new(sink.clone(), config));
    let id = StreamId::parse("demo").unwrap();
    let frames = common::frames(common::fixture());

    publish(&publisher, &id, &frames).await;
    let text = get(&sink, "demo/index.m3u8").await.unwrap();
    let playlist = m3u8_rs::parse_media_playlist_res(text.as_bytes()).unwrap();
    assert!(playlist.end_list);
    assert_eq!(playlist.segments.len(), 5);
    assert_eq!(playlist.target_duration, 2);
    assert!(text.contains("#EXT-X-PROGRAM-DATE-TIME:"));
    for seg in &playlist.segments {
        assert!(
            get(&sink, &format!("demo/{}", seg.uri)).await.is_some(),
            "{} readable",
            seg.uri
        );
    }

    let master = get(&sink, "demo/master.m3u8").await.unwrap();
    assert!(master.contains("RESOLUTION=320x240"), "{master}");
    assert!(master.contains("CODECS=\"avc1.64000d,mp4a.40.2\""), "{master}");
    let master = m3u8_rs::parse_master_playlist_res(master.as_bytes()).unwrap();
    assert!(master.variants[0].bandwidth > 50_000);

    // Republish: same playlist, a discontinuity, the window slides.
    publish(&publisher, &id, &frames).await;
    let text = get(&sink, "demo/index.m3u8").await.unwrap();
    let playlist = m3u8_rs::parse_media_playlist_res(text.as_bytes()).unwrap();
    assert!(playlist.end_list);
    assert_eq!(playlist.segments.len(), 6);
    assert_eq!(playlist.media_sequence, 4);
    assert!(playlist.segments[1].discontinuity, "{text}");
    assert_eq!(text.matches("#EXT-X-DISCONTINUITY\n").count(), 1);
    let names: std::collections::HashSet<_> = playlist.segments.iter().map(|s| s.uri.clone()).collect();
    assert_eq!(names.len(), 6, "segment names are never reused");
}

#[tokio::test(start_paused = true)]
async fn segments_leaving_the_window_are_deleted_after_the_grace() {
    let sink = Arc::new(MemorySegmentSink::default());
    let grace = Duration::from_secs(20);
    let config = HlsConfig {
        playlist_window: 2,
        delete_grace: grace,
        ..HlsConfig::default()
    };
    let publisher = Arc::new(HlsPublisher::new(sink.clone(), config));
    let id = StreamId::parse("demo").unwrap();
    publish(&publisher, &id, &common::frames(common::fixture())).await;

    let text = get(&sink, "demo/index.m3u8").await.unwrap();
    let playlist = m3u8_rs::parse_media_playlist_res(text.as_bytes()).unwrap();
    assert_eq!(playlist.media_sequence, 3);
    let first = playlist.segments[0].uri.clone();
    let token = first.split('_').next().unwrap().to_owned();
    let gone = format!("demo/{token}_0.ts");
    // Still readable during the grace period...
    assert!(get(&sink, &gone).await.is_some());
    tokio::time::sleep(grace + Duration::from_millis(1)).await;
    // ...and deleted after it; listed segments stay.
    assert!(get(&sink, &gone).await.is_none());
    assert!(get(&sink, &format!("demo/{token}_2.ts")).await.is_none());
    assert!(get(&sink, &format!("demo/{first}")).await.is_some());
}

#[tokio::test(start_paused = true)]
async fn shutdown_deletes_segments_still_in_their_grace_period() {
    let sink = Arc::new(MemorySegmentSink::default());
    let config = HlsConfig {
        playlist_window: 2,
        delete_grace: Duration::from_secs(3600),
        ..HlsConfig::default()
    };
    let publisher = Arc::new(HlsPublisher::new(sink.clone(), config));
    let id = StreamId::parse("demo").unwrap();
    publish(&publisher, &id, &common::frames(common::fixture())).await;
    assert_eq!(publisher.pending_deletes(), 3);
    let text = get(&sink, "demo/index.m3u8").await.unwrap();
    let token = text
        .lines()
        .find(|l| l.ends_with(".ts"))
        .unwrap()
        .split('_')
        .next()
        .unwrap()
        .to_owned();
    assert!(get(&sink, &format!("demo/{token}_0.ts")).await.is_some());

    publisher.shutdown().await;
    assert_eq!(publisher.pending_deletes(), 0);
    for n in 0..3 {
        assert!(
            get(&sink, &format!("demo/{token}_{n}.ts")).await.is_none(),
            "{n} deleted"
        );
    }
    // The final window stays, with its playlist.
    for n in 3..5 {
        assert!(
            get(&sink, &format!("demo/{token}_{n}.ts")).await.is_some(),
            "{n} kept"
        );
    }
    assert!(
        get(&sink, "demo/index.m3u8")
            .await
            .unwrap()
            .contains("#EXT-X-ENDLIST")
    );
}

#[tokio::test(start_paused = true)]
async fn ended_streams_expire_after_the_retention_unless_republished() {
    let sink = Arc::new(MemorySegmentSink::default());
    let retention = Duration::from_secs(600);
    let config = HlsConfig {
        delete_grace: Duration::from_secs(1),
        ended_retention: retention,
        ..HlsConfig::default()
    };
    let publisher = Arc::new(HlsPublisher::new(sink.clone(), config));
    let id = StreamId::parse("demo").unwrap();
    let frames = common::frames(common::fixture());

    publish(&publisher, &id, &frames).await;
    assert_eq!(publisher.stream_count(), 1);
    // Republished before the retention ends: the first expiry does nothing.
    tokio::time::sleep(retention / 2).await;
    publish(&publisher, &id, &frames).await;
    tokio::time::sleep(retention / 2 + Duration::from_secs(1)).await;
    let text = get(&sink, "demo/index.m3u8").await.expect("still there");
    let playlist = m3u8_rs::parse_media_playlist_res(text.as_bytes()).unwrap();
    assert_eq!(playlist.segments.len(), 6);
    for seg in &playlist.segments {
        assert!(get(&sink, &format!("demo/{}", seg.uri)).await.is_some());
    }

    // The second run's retention ends: everything goes, state included.
    tokio::time::sleep(retention / 2).await;
    assert!(get(&sink, "demo/index.m3u8").await.is_none());
    assert!(get(&sink, "demo/master.m3u8").await.is_none());
    for seg in &playlist.segments {
        assert!(get(&sink, &format!("demo/{}", seg.uri)).await.is_none());
    }
    assert_eq!(publisher.stream_count(), 0);
    // The next publish starts a new playlist.
    publish(&publisher, &id, &frames).await;
    let text = get(&sink, "demo/index.m3u8").await.unwrap();
    assert!(text.contains("#EXT-X-MEDIA-SEQUENCE:0\n"), "{text}");
    assert!(!text.contains("#EXT-X-DISCONTINUITY\n"), "{text}");
}
