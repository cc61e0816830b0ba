//! Recording a publish: its segments kept in their own folder of the sink
//! with a VOD playlist, untouched by the live window's cleanup, and the
//! init segment + fragments concatenated decode to the source's frames.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use streamly_core::adapters::MemorySegmentSink;
use streamly_core::domain::StreamId;
use streamly_core::ports::{SegmentPath, SegmentSink};
use streamly_hls::recording::{VodPlaylist, finalize_recording, init_with_duration, recording_mp4_parts};
use streamly_hls::{HlsConfig, HlsPublisher, RecordTo};
use tokio::sync::mpsc;

#[tokio::test]
async fn a_recorded_publish_keeps_every_segment_under_its_folder() {
    let sink = Arc::new(MemorySegmentSink::default());
    // A two-segment window with no grace: the live files go at once.
    let config = HlsConfig {
        playlist_window: 2,
        delete_grace: Duration::ZERO,
        ..HlsConfig::default()
    };
    let publisher = Arc::new(HlsPublisher::new(config).persist_to(sink.clone()));
    let id = StreamId::parse("demo").unwrap();
    let (record, progress) = RecordTo::new("recordings/r1").unwrap();
    let (tx, rx) = mpsc::channel(64);
    let run = {
        let publisher = Arc::clone(&publisher);
        let id = id.clone();
        tokio::spawn(async move { publisher.run_recorded(id, rx, Some(record)).await })
    };
    let frames = common::frames(common::fixture());
    for f in &frames {
        tx.send(f.clone()).await.unwrap();
    }
    drop(tx);
    let stats = run.await.unwrap();
    assert_eq!(
        (stats.segments, stats.failed_writes, stats.dropped_segments),
        (5, 0, 0)
    );

    let p = *progress.borrow();
    assert!(p.ended);
    assert_eq!((p.segments, p.gaps), (5, 0));
    assert!((9_900..=10_100).contains(&p.duration.as_millis()), "{p:?}");

    let mut files: Vec<String> = sink
        .list("recordings/r1/")
        .await
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "recordings/r1/0.m4s",
            "recordings/r1/1.m4s",
            "recordings/r1/2.m4s",
            "recordings/r1/3.m4s",
            "recordings/r1/4.m4s",
            "recordings/r1/index.m3u8",
            "recordings/r1/init0.mp4",
        ]
    );
    let text = sink
        .get(&SegmentPath::parse("recordings/r1/index.m3u8").unwrap())
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&text).into_owned();
    assert!(text.contains("#EXT-X-PLAYLIST-TYPE:VOD\n"), "{text}");
    assert!(text.ends_with("#EXT-X-ENDLIST\n"), "{text}");
    let vod = VodPlaylist::parse(&text);
    assert_eq!(vod.entries.len(), 5);
    let total: u64 = {
        let mut n = 0;
        for f in &files {
            n += sink
                .get(&SegmentPath::parse(f).unwrap())
                .await
                .unwrap()
                .unwrap()
                .len() as u64;
        }
        n
    };
    let playlist_len = text.len() as u64;
    assert_eq!(p.bytes, total - playlist_len);

    // Finalizing an already final recording changes nothing.
    let done = finalize_recording(&*sink, "recordings/r1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((done.segments, done.removed), (5, 0));

    // The MP4: init + all five fragments, lossless.
    let parts = recording_mp4_parts(&*sink, "recordings/r1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(parts.fragments.len(), 5);
    if !common::have_ffmpeg() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mp4 = dir.path().join("r.mp4");
    let init = sink.get(&parts.init).await.unwrap().unwrap();
    let mut bytes = init_with_duration(&init, parts.duration).unwrap().to_vec();
    for part in &parts.fragments {
        bytes.extend_from_slice(&sink.get(part).await.unwrap().unwrap());
    }
    std::fs::write(&mp4, bytes).unwrap();
    let source = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/av.flv");
    let mp4 = mp4.to_str().unwrap();
    for map in ["0:v", "0:a"] {
        assert_eq!(
            common::framemd5(source, &["-map", map]),
            common::framemd5(mp4, &["-map", map]),
            "{map} differs"
        );
    }
    let probed = common::run(
        "ffprobe",
        &[
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
            mp4,
        ],
    );
    let probed: f64 = probed.trim().parse().unwrap();
    assert!((9.9..=10.1).contains(&probed), "{probed}");
}

#[tokio::test]
async fn an_unrecorded_publish_writes_no_recording() {
    let sink = Arc::new(MemorySegmentSink::default());
    let publisher = Arc::new(HlsPublisher::new(HlsConfig::default()).persist_to(sink.clone()));
    let (tx, rx) = mpsc::channel(64);
    let task = publisher.spawn(StreamId::parse("demo").unwrap(), rx);
    for f in common::frames(common::fixture()) {
        tx.send(f).await.unwrap();
    }
    drop(tx);
    task.await.unwrap();
    assert!(sink.list("recordings/").await.unwrap().is_empty());
}

#[test]
fn a_recording_folder_must_be_a_sink_path() {
    assert!(RecordTo::new("../x").is_err());
    assert!(RecordTo::new("recordings/a b").is_err());
    assert!(RecordTo::new("recordings/ok/").is_ok());
}
