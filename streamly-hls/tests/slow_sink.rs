//! A sink that takes 15 s per segment never stalls ingest: the packager
//! drops the oldest pending segments instead, and the final playlist names
//! only segments that were written.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use streamly_core::adapters::MemorySegmentSink;
use streamly_core::domain::StreamId;
use streamly_core::ports::{SegmentPath, SegmentSink, SegmentSinkError};
use streamly_hls::{HlsConfig, HlsPublisher};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Segment writes take `delay`; playlists are instant.
struct SlowSink {
    inner: MemorySegmentSink,
    delay: Duration,
}

#[async_trait]
impl SegmentSink for SlowSink {
    async fn put(&self, path: &SegmentPath, data: Bytes) -> Result<(), SegmentSinkError> {
        if path.as_str().ends_with(".ts") {
            tokio::time::sleep(self.delay).await;
        }
        self.inner.put(path, data).await
    }
    async fn get(&self, path: &SegmentPath) -> Result<Option<Bytes>, SegmentSinkError> {
        self.inner.get(path).await
    }
    async fn delete(&self, path: &SegmentPath) -> Result<(), SegmentSinkError> {
        self.inner.delete(path).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<SegmentPath>, SegmentSinkError> {
        self.inner.list(prefix).await
    }

    async fn ping(&self) -> Result<(), SegmentSinkError> {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_stalling_sink_never_stalls_ingest() {
    let sink = Arc::new(SlowSink {
        inner: MemorySegmentSink::default(),
        delay: Duration::from_secs(15),
    });
    let config = HlsConfig {
        write_queue: 2,
        delete_grace: Duration::from_secs(3600),
        ..HlsConfig::default()
    };
    let publisher = Arc::new(HlsPublisher::new(config).persist_to(sink.clone()));
    let id = StreamId::parse("demo").unwrap();
    // A small channel: a packager that awaited the sink would fill it at once.
    let (tx, rx) = mpsc::channel(4);
    let task = publisher.spawn(id.clone(), rx);

    let started = Instant::now();
    for frame in common::frames(common::fixture()) {
        tx.send(frame).await.unwrap();
    }
    drop(tx);
    // Paused time only advances when every task waits on a timer: a
    // packager stuck on the 15 s sink would have moved the clock.
    assert_eq!(started.elapsed(), Duration::ZERO, "ingest waited on storage");

    let stats = task.await.unwrap();
    assert!(stats.dropped_segments >= 1, "{stats:?}");
    assert_eq!(stats.segments, 5, "the live window lost nothing: {stats:?}");
    assert!(publisher.dropped_segments_total() >= stats.dropped_segments);

    // The persisted playlist names every segment; the ones the sink never
    // got are marked as gaps, the others are there.
    let text = sink
        .get(&SegmentPath::parse("demo/index.m3u8").unwrap())
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8(text.to_vec()).unwrap();
    assert!(text.ends_with("#EXT-X-ENDLIST\n"), "{text}");
    let mut gap = false;
    let mut gaps = 0;
    for line in text.lines() {
        if line == "#EXT-X-GAP" {
            gap = true;
            gaps += 1;
        } else if !line.starts_with('#') {
            let path = SegmentPath::parse(&format!("demo/{line}")).unwrap();
            assert_eq!(
                sink.get(&path).await.unwrap().is_none(),
                gap,
                "{line} (gap: {gap})\n{text}"
            );
            gap = false;
        }
    }
    assert!(gaps >= 1, "{text}");
}
