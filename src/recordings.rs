//! Recordings: each broadcast of a stream whose `record` setting is on
//! becomes a [`Recording`], its media kept in the segment sink under
//! `recordings/{id}/` by the stream's packager (see
//! [`streamly_hls::recording`]). See `docs/recordings.md`.
//!
//! [`Recordings`] is the glue between the packager, the
//! [`RecordingStore`] and the sink:
//!
//! - [`package`](Recordings::package) runs one publish, recorded when the
//!   stream says so, following its progress into the store and finalizing
//!   it when the publish ends;
//! - [`recover`](Recordings::recover) finalizes, at start, the recordings
//!   a crashed process left in progress;
//! - [`sweep_expired`](Recordings::sweep_expired) deletes the recordings
//!   older than the retention (files, then row, then the broadcast's
//!   viewer analytics);
//! - [`router`] serves their playlists, segments and MP4 downloads.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use futures_util::StreamExt as _;
use streamly_core::domain::{
    BroadcastKey, Recording, RecordingEnd, RecordingId, RecordingStatus, Stream, StreamId, now_utc,
};
use streamly_core::media::MediaFrame;
use streamly_core::ports::{
    RecordingStore, SegmentPath, SegmentSink, StoreError, StreamStore, ViewerAnalyticsStore,
};
use streamly_hls::recording::{
    RECORDING_PLAYLIST, delete_recording, finalize_recording, init_with_duration, recording_mp4_parts,
};
use streamly_hls::{HlsPublisher, PackagerStats, RecordTo, RecordingProgress};
use time::OffsetDateTime;
use tokio::sync::{mpsc, watch};

use crate::api::ApiError;
use crate::webhooks::{WebhookEvent, WebhookQueue};

/// How often a recording's progress reaches the store: every this much
/// media (and at the end).
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// How long the start of a publish waits on the store for its recording.
const BEGIN_TIMEOUT: Duration = Duration::from_secs(3);

/// Expired recordings deleted per store query during a sweep.
const SWEEP_BATCH: u32 = 100;

/// The time, injectable for tests.
pub type Clock = Arc<dyn Fn() -> OffsetDateTime + Send + Sync>;

/// See the module docs.
#[derive(Clone)]
pub struct Recordings {
    store: Arc<dyn RecordingStore>,
    streams: Arc<dyn StreamStore>,
    sink: Option<Arc<dyn SegmentSink>>,
    retention: Option<Duration>,
    clock: Clock,
    webhooks: Option<WebhookQueue>,
    analytics: Option<Arc<dyn ViewerAnalyticsStore>>,
}

impl std::fmt::Debug for Recordings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recordings")
            .field("persisted", &self.sink.is_some())
            .field("retention", &self.retention)
            .finish_non_exhaustive()
    }
}

impl Recordings {
    /// Recordings kept in `store`, their media in `sink` (none: nothing is
    /// recorded), kept forever unless [`with_retention`](Self::with_retention).
    pub fn new(
        store: Arc<dyn RecordingStore>,
        streams: Arc<dyn StreamStore>,
        sink: Option<Arc<dyn SegmentSink>>,
    ) -> Self {
        Self {
            store,
            streams,
            sink,
            retention: None,
            clock: Arc::new(now_utc),
            webhooks: None,
            analytics: None,
        }
    }

    /// Sends `recording.ready` to `webhooks` for each recording finalized
    /// ready (at the end of a publish or by [`recover`](Self::recover)).
    pub fn with_webhooks(mut self, webhooks: WebhookQueue) -> Self {
        self.webhooks = Some(webhooks);
        self
    }

    /// Deleting a recording deletes its broadcast's viewer analytics in
    /// `store` too: they are kept as long as the recording.
    pub fn with_analytics(mut self, store: Arc<dyn ViewerAnalyticsStore>) -> Self {
        self.analytics = Some(store);
        self
    }

    fn announce_ready(&self, recording: &Recording, duration_ms: u64) {
        if let Some(webhooks) = &self.webhooks {
            webhooks.push(&WebhookEvent::RecordingReady {
                recording_id: recording.id.clone(),
                stream_id: recording.stream_id.clone(),
                duration_ms,
            });
        }
    }

    /// Recordings that ended more than `retention` ago are deleted by
    /// [`sweep_expired`](Self::sweep_expired); `None`: kept.
    pub fn with_retention(mut self, retention: Option<Duration>) -> Self {
        self.retention = retention;
        self
    }

    /// Reads the time from `clock` (tests).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn RecordingStore> {
        &self.store
    }

    /// Packages one publish of `stream_id` on `publisher`, recorded when
    /// the stream's `record` is on and there is a sink. A store failure
    /// never stops the publish: it goes on unrecorded (logged).
    pub async fn package(
        &self,
        publisher: &HlsPublisher,
        stream_id: StreamId,
        frames: mpsc::Receiver<MediaFrame>,
    ) -> PackagerStats {
        // Frames wait in the hub's bounded channel meanwhile (1024 by
        // default: some 13 s of media), and a full one is dropped: a store
        // slower than this does not get to decide.
        let begun = match tokio::time::timeout(BEGIN_TIMEOUT, self.begin(&stream_id)).await {
            Ok(begun) => begun,
            Err(_) => {
                tracing::warn!(%stream_id, "the store was too slow to start a recording: not recording");
                None
            }
        };
        let Some((recording, record, progress)) = begun else {
            return publisher.run(stream_id, frames).await;
        };
        let (stats, ()) = tokio::join!(
            publisher.run_recorded(stream_id, frames, Some(record)),
            self.follow(&recording, progress.clone()),
        );
        let last = *progress.borrow();
        self.finish(&recording, last).await;
        stats
    }

    /// A new recording for a publish of `stream_id` starting now, if it is
    /// to be recorded.
    async fn begin(
        &self,
        stream_id: &StreamId,
    ) -> Option<(Recording, RecordTo, watch::Receiver<RecordingProgress>)> {
        self.sink.as_ref()?;
        let stream: Stream = match self.streams.get(stream_id).await {
            Ok(s) => s,
            Err(StoreError::NotFound) => return None,
            Err(e) => {
                tracing::warn!(%stream_id, error = %e, "cannot read the stream's record setting: not recording");
                return None;
            }
        };
        if !stream.record {
            return None;
        }
        // Started when the stream went live: the broadcast's name, which
        // its viewer analytics share (`BroadcastKey`).
        let started = stream.live_since.unwrap_or_else(|| (self.clock)());
        let recording = Recording::start(stream.id.clone(), stream.owner, started);
        let (record, progress) = match RecordTo::new(&recording.prefix()) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "recording folder refused");
                return None;
            }
        };
        if let Err(e) = self.store.create(recording.clone()).await {
            tracing::warn!(%stream_id, error = %e, "cannot store a new recording: not recording");
            return None;
        }
        tracing::info!(%stream_id, recording = %recording.id, "recording started");
        Some((recording, record, progress))
    }

    /// Copies the progress into the store every [`PROGRESS_EVERY`] of
    /// media, until the run drops its sender.
    async fn follow(&self, recording: &Recording, mut progress: watch::Receiver<RecordingProgress>) {
        let mut stored = Duration::ZERO;
        while progress.changed().await.is_ok() {
            let p = *progress.borrow_and_update();
            if p.ended || p.duration < stored + PROGRESS_EVERY {
                continue;
            }
            stored = p.duration;
            if let Err(e) = self
                .store
                .update_progress(&recording.id, millis(p.duration), p.bytes)
                .await
            {
                tracing::warn!(recording = %recording.id, error = %e, "recording progress not stored");
            }
        }
    }

    /// The publish ended: the recording is ready, or deleted when nothing
    /// was recorded.
    async fn finish(&self, recording: &Recording, last: RecordingProgress) {
        if last.segments == 0 {
            tracing::info!(recording = %recording.id, "nothing was recorded: recording dropped");
            if let Err(e) = self.delete(recording).await {
                tracing::warn!(recording = %recording.id, error = %e, "dropping an empty recording failed");
            }
            return;
        }
        let end = RecordingEnd {
            ended_at: (self.clock)(),
            duration_ms: millis(last.duration),
            size_bytes: last.bytes,
            status: RecordingStatus::Ready,
        };
        match self.store.finalize(&recording.id, end).await {
            Ok(_) => {
                tracing::info!(
                    recording = %recording.id,
                    duration_ms = end.duration_ms,
                    bytes = end.size_bytes,
                    gaps = last.gaps,
                    "recording ready"
                );
                self.announce_ready(recording, end.duration_ms);
            }
            // Deleted by its owner while recording: what came after goes too.
            Err(StoreError::NotFound) => {
                if let Some(sink) = &self.sink
                    && let Err(e) = delete_recording(&**sink, &recording.prefix()).await
                {
                    tracing::warn!(recording = %recording.id, error = %e, "removing a deleted recording's files failed");
                }
            }
            // Left `recording`: the next start finalizes it.
            Err(e) => tracing::warn!(recording = %recording.id, error = %e, "finalizing a recording failed"),
        }
    }

    /// Finalizes the recordings an earlier process left in progress
    /// (crash, `kill -9`), except those of `live` streams (another node
    /// may be recording them). Call it once at start, before any publish.
    /// Returns how many it finalized.
    pub async fn recover(&self, live: &[StreamId]) -> Result<usize, StoreError> {
        let Some(sink) = &self.sink else { return Ok(0) };
        let mut done = 0;
        for r in self.store.list_in_progress().await? {
            if live.contains(&r.stream_id) {
                continue;
            }
            let found = match finalize_recording(&**sink, &r.prefix()).await {
                Ok(found) => found,
                Err(e) => {
                    tracing::warn!(recording = %r.id, error = %e, "cannot finalize a recording yet");
                    continue;
                }
            };
            let end = match found {
                Some(f) if f.segments > 0 => RecordingEnd {
                    ended_at: (self.clock)(),
                    duration_ms: millis(f.duration),
                    // As of the last progress update: the sink does not
                    // tell sizes without reading every file.
                    size_bytes: r.size_bytes,
                    status: RecordingStatus::Ready,
                },
                _ => RecordingEnd {
                    ended_at: (self.clock)(),
                    duration_ms: 0,
                    size_bytes: 0,
                    status: RecordingStatus::Failed,
                },
            };
            self.store.finalize(&r.id, end).await?;
            tracing::info!(recording = %r.id, status = end.status.as_str(), "finalized a recording an earlier process left open");
            if end.status == RecordingStatus::Ready {
                self.announce_ready(&r, end.duration_ms);
            }
            done += 1;
        }
        Ok(done)
    }

    /// Deletes the recordings that ended more than the retention ago.
    /// Returns how many.
    pub async fn sweep_expired(&self) -> Result<usize, StoreError> {
        let Some(retention) = self.retention else {
            return Ok(0);
        };
        let before = (self.clock)() - retention;
        let mut deleted = 0;
        loop {
            let batch = self.store.list_expired(before, SWEEP_BATCH).await?;
            let full = batch.len() == SWEEP_BATCH as usize;
            for r in &batch {
                match self.delete(r).await {
                    Ok(()) | Err(StoreError::NotFound) => deleted += 1,
                    Err(e) => {
                        tracing::warn!(recording = %r.id, error = %e, "deleting an expired recording failed");
                        return Ok(deleted);
                    }
                }
            }
            if !full {
                break;
            }
        }
        if deleted > 0 {
            tracing::info!(deleted, "expired recordings deleted");
        }
        Ok(deleted)
    }

    /// Deletes a recording: its files, its broadcast's viewer analytics,
    /// then its row (so a failure leaves the row to retry from).
    pub async fn delete(&self, recording: &Recording) -> Result<(), StoreError> {
        if let Some(sink) = &self.sink {
            delete_recording(&**sink, &recording.prefix())
                .await
                .map_err(StoreError::unavailable)?;
        }
        if let Some(analytics) = &self.analytics {
            analytics.delete(&Self::broadcast(recording)).await?;
        }
        self.store.delete(&recording.id).await
    }

    /// The broadcast a recording recorded.
    pub fn broadcast(recording: &Recording) -> BroadcastKey {
        BroadcastKey::new(recording.stream_id.clone(), recording.started_at)
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// `GET /recordings/{id}/{file}`: a recording's `index.m3u8`, the init
/// segments and segments it names (one `Range` each), and
/// `download.mp4`, the whole recording as one fragmented MP4, streamed.
/// Unknown ids and files are JSON 404s.
pub fn router(recordings: Recordings) -> Router {
    Router::new()
        .route("/recordings/{id}/{file}", get(serve))
        .with_state(recordings)
}

/// The file name of the MP4 download.
pub const DOWNLOAD_MP4: &str = "download.mp4";

async fn serve(
    State(recordings): State<Recordings>,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let not_found = || ApiError::NotFound("no such recording file".into());
    let Path((id, file)) = path.map_err(|_| not_found())?;
    let id = RecordingId::parse(&id).map_err(|_| not_found())?;
    let recording = recordings.store.get(&id).await.map_err(|e| match e {
        StoreError::NotFound => not_found(),
        other => other.into(),
    })?;
    let Some(sink) = recordings.sink.clone() else {
        return Err(not_found());
    };
    let prefix = recording.prefix();
    if file == DOWNLOAD_MP4 {
        return download(sink, &recording, &prefix).await;
    }
    if file == crate::thumbnails::THUMBNAIL_FILE {
        return thumbnail(&*sink, &prefix).await;
    }
    let media = file.ends_with(".m4s") || (file.starts_with("init") && file.ends_with(".mp4"));
    if file != RECORDING_PLAYLIST && !media {
        return Err(not_found());
    }
    let path = SegmentPath::parse(&format!("{prefix}/{file}")).map_err(|_| not_found())?;
    let data = sink
        .get(&path)
        .await
        .map_err(|e| {
            tracing::warn!(%path, error = %e, "reading a recording failed");
            ApiError::Unavailable
        })?
        .ok_or_else(not_found)?;
    let cache = if media {
        "public, max-age=31536000, immutable"
    } else if recording.status == RecordingStatus::Recording {
        "no-cache"
    } else {
        "public, max-age=60"
    };
    Ok(ranged(data, path.content_type(), cache, &headers))
}

/// The first thumbnail of the broadcast (saved by
/// [`crate::thumbnails`]), or the placeholder when none was made.
async fn thumbnail(sink: &dyn SegmentSink, prefix: &str) -> Result<Response, ApiError> {
    let path = SegmentPath::parse(&format!("{prefix}/{}", crate::thumbnails::THUMBNAIL_FILE))
        .map_err(|_| ApiError::NotFound("no such recording file".into()))?;
    match sink.get(&path).await {
        Ok(Some(jpeg)) => Ok((
            [
                (header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg")),
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=3600"),
                ),
                (header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*")),
            ],
            jpeg,
        )
            .into_response()),
        Ok(None) => Ok(crate::thumbnails::placeholder()),
        Err(e) => {
            tracing::warn!(%path, error = %e, "reading a recording's thumbnail failed");
            Err(ApiError::Unavailable)
        }
    }
}

/// The body, or the one byte range `Range` asks (RFC 9110 §14).
fn ranged(data: Bytes, content_type: &'static str, cache: &'static str, headers: &HeaderMap) -> Response {
    let len = data.len() as u64;
    let base = [
        (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
        (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
        (header::ACCEPT_RANGES, HeaderValue::from_static("bytes")),
        // Any web player may load them, as the live HLS files.
        (header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*")),
    ];
    match headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(|r| byte_range(r, len))
    {
        Some(Some((start, end))) => {
            let range = format!("bytes {start}-{end}/{len}");
            let body = data.slice(start as usize..=end as usize);
            let mut response = (StatusCode::PARTIAL_CONTENT, base, body).into_response();
            if let Ok(v) = HeaderValue::from_str(&range) {
                response.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            response
        }
        Some(None) => {
            let mut response = (StatusCode::RANGE_NOT_SATISFIABLE, base).into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                response.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            response
        }
        None => (StatusCode::OK, base, data).into_response(),
    }
}

/// `bytes=a-b`, `bytes=a-` or `bytes=-n` of a body of `len` bytes:
/// `Some((first, last))`, or `None` when unsatisfiable (or malformed,
/// or several ranges: answered 416 rather than guessed).
fn byte_range(header: &str, len: u64) -> Option<(u64, u64)> {
    let spec = header.trim().strip_prefix("bytes=")?;
    if spec.contains(',') || len == 0 {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (a, b) = (a.trim(), b.trim());
    let (start, end) = if a.is_empty() {
        let n: u64 = b.parse().ok()?;
        if n == 0 {
            return None;
        }
        (len.saturating_sub(n), len - 1)
    } else {
        let start: u64 = a.parse().ok()?;
        let end = if b.is_empty() {
            len - 1
        } else {
            b.parse::<u64>().ok()?.min(len - 1)
        };
        (start, end)
    };
    (start <= end && start < len).then_some((start, end))
}

/// The recording as one fragmented MP4 (its first init segment, then its
/// fragments), streamed file by file from the sink: never whole in memory.
async fn download(
    sink: Arc<dyn SegmentSink>,
    recording: &Recording,
    prefix: &str,
) -> Result<Response, ApiError> {
    let unavailable = |e: &dyn std::fmt::Display| {
        tracing::warn!(recording = %recording.id, error = %e, "reading a recording failed");
        ApiError::Unavailable
    };
    let parts = recording_mp4_parts(&*sink, prefix)
        .await
        .map_err(|e| unavailable(&e))?
        .filter(|p| !p.fragments.is_empty())
        .ok_or_else(|| ApiError::NotFound("this recording has no media".into()))?;
    let init = sink
        .get(&parts.init)
        .await
        .map_err(|e| unavailable(&e))?
        .ok_or_else(|| ApiError::NotFound("this recording has no media".into()))?;
    // With its duration in `mvhd` and `mehd`: players know the length up front.
    let init = init_with_duration(&init, parts.duration).unwrap_or(init);
    let rest = futures_util::stream::unfold(
        (sink, parts.fragments.into_iter()),
        |(sink, mut parts)| async move {
            let path = parts.next()?;
            let item = match sink.get(&path).await {
                Ok(Some(data)) => Ok(data),
                Ok(None) => Err(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("{path} is gone"),
                )),
                Err(e) => Err(std::io::Error::other(e.to_string())),
            };
            Some((item, (sink, parts)))
        },
    );
    let stream = futures_util::stream::once(async move { Ok::<_, std::io::Error>(init) }).chain(rest);
    let disposition = format!("attachment; filename=\"recording-{}.mp4\"", recording.id);
    let mut response = (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("video/mp4")),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*")),
        ],
        Body::from_stream(stream),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        response.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Mutex;

    use streamly_core::adapters::{
        MemoryRecordingStore, MemorySegmentSink, MemoryStreamStore, MemoryViewerAnalyticsStore,
    };
    use streamly_core::domain::{NodeId, UserId, ViewerSample};

    use super::*;

    #[test]
    fn byte_ranges() {
        assert_eq!(byte_range("bytes=0-9", 100), Some((0, 9)));
        assert_eq!(byte_range("bytes=90-", 100), Some((90, 99)));
        assert_eq!(byte_range("bytes=-10", 100), Some((90, 99)));
        assert_eq!(byte_range("bytes=95-200", 100), Some((95, 99)));
        for bad in [
            "bytes=100-",
            "bytes=5-1",
            "bytes=-0",
            "items=0-1",
            "bytes=0-1,3-4",
            "bytes=x-",
        ] {
            assert_eq!(byte_range(bad, 100), None, "{bad}");
        }
        assert_eq!(byte_range("bytes=0-0", 0), None);
    }

    /// Retention against an injected clock: a recording goes once it ended
    /// more than the retention ago, files first; one in progress stays.
    #[tokio::test]
    async fn retention_deletes_what_ended_long_enough_ago() {
        let store = Arc::new(MemoryRecordingStore::new());
        let sink = Arc::new(MemorySegmentSink::default());
        let now = Arc::new(Mutex::new(
            OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap(),
        ));
        let clock: Clock = {
            let now = Arc::clone(&now);
            Arc::new(move || *now.lock().unwrap())
        };
        let analytics = Arc::new(MemoryViewerAnalyticsStore::new());
        let recordings = Recordings::new(
            store.clone(),
            Arc::new(MemoryStreamStore::new()),
            Some(sink.clone()),
        )
        .with_retention(Some(Duration::from_secs(7 * 86_400)))
        .with_clock(clock)
        .with_analytics(analytics.clone());
        let t0 = *now.lock().unwrap();
        let mut ended = Recording::start(StreamId::new_random(), UserId::new_random(), t0);
        let live = Recording::start(StreamId::new_random(), UserId::new_random(), t0);
        for r in [&ended, &live] {
            store.create(r.clone()).await.unwrap();
            let sample = ViewerSample {
                node: NodeId::parse("node").unwrap(),
                at: t0,
                period_ms: 10_000,
                playback: 3,
                chat: 1,
            };
            analytics
                .record_sample(&Recordings::broadcast(r), &sample)
                .await
                .unwrap();
            let file = SegmentPath::parse(&format!("{}/0.m4s", r.prefix())).unwrap();
            sink.put(&file, Bytes::from_static(b"media")).await.unwrap();
        }
        let end = RecordingEnd {
            ended_at: t0,
            duration_ms: 1_000,
            size_bytes: 5,
            status: RecordingStatus::Ready,
        };
        ended = store.finalize(&ended.id, end).await.unwrap();

        *now.lock().unwrap() = t0 + Duration::from_secs(7 * 86_400);
        assert_eq!(recordings.sweep_expired().await.unwrap(), 0);
        *now.lock().unwrap() = t0 + Duration::from_secs(7 * 86_400 + 1);
        assert_eq!(recordings.sweep_expired().await.unwrap(), 1);
        assert!(matches!(store.get(&ended.id).await, Err(StoreError::NotFound)));
        assert!(sink.list(&ended.prefix()).await.unwrap().is_empty());
        let gone = analytics.get(&Recordings::broadcast(&ended)).await.unwrap();
        assert!(gone.points.is_empty(), "its viewer analytics went with it");
        let kept = analytics.get(&Recordings::broadcast(&live)).await.unwrap();
        assert_eq!(kept.peak(), 3);
        assert!(store.get(&live.id).await.is_ok());
        assert_eq!(sink.list(&live.prefix()).await.unwrap().len(), 1);
        // Without a retention nothing goes.
        let keep = recordings.clone().with_retention(None);
        *now.lock().unwrap() = t0 + Duration::from_secs(999 * 86_400);
        assert_eq!(keep.sweep_expired().await.unwrap(), 0);
    }
}
