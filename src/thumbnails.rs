//! Live thumbnails: about every 30 s per live stream, a 320-pixel-wide JPEG
//! of a recent keyframe, made by `ffmpeg` as a child process and kept in
//! memory on the ingest node. See `docs/operations.md`.
//!
//! - [`Thumbnails`] holds the latest JPEG per stream (bounded) and the
//!   limit on concurrent `ffmpeg` children;
//! - [`ThumbnailMaker::run`] (the ingest role runs it) feeds `ffmpeg` the
//!   stream's init segment and the first parts of its newest segment (they
//!   start with a keyframe), shared from the live window without copying;
//!   the first good thumbnail of a recorded broadcast is also saved as
//!   `thumbnail.jpg` in its recording's folder;
//! - [`router`] serves `GET /hls/{stream_id}/thumbnail.jpg`: the JPEG
//!   (`Cache-Control: public, max-age=15`, an `ETag`), a placeholder SVG
//!   while a live stream has none (or without `ffmpeg`), a JSON 404 for a
//!   stream this node has no window for.
//!
//! `ffmpeg` is optional: without it (checked once at start, one log line)
//! every live stream shows the placeholder.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use sha2::{Digest, Sha256};
use streamly_core::domain::StreamId;
use streamly_core::ports::{RecordingStore, SegmentPath, SegmentSink};
use streamly_hls::HlsPublisher;
use streamly_hls::window::Snapshot;
use streamly_rtmp::StreamHub;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::api::ApiError;

/// The image served while a live stream has no thumbnail (or no `ffmpeg`).
pub const PLACEHOLDER_SVG: &[u8] = include_bytes!("../web/assets/thumbnail-placeholder.svg");

/// The file name of a thumbnail, live (`/hls/{id}/`) and in a recording's
/// folder.
pub const THUMBNAIL_FILE: &str = "thumbnail.jpg";

/// Cache lifetime of a live thumbnail.
const CACHE_CONTROL: &str = "public, max-age=15";
/// Cache lifetime of the placeholder: the real one may come any second.
const PLACEHOLDER_CACHE_CONTROL: &str = "public, max-age=5";

/// Parts of the newest segment fed to `ffmpeg` (the first one starts with
/// the keyframe; a few more in case it holds only audio).
const PARTS_FED: usize = 4;

/// Thumbnail settings.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ThumbnailConfig {
    /// The `ffmpeg` to run (default: `ffmpeg` on `PATH`).
    pub program: PathBuf,
    /// How often a live stream's thumbnail is refreshed (default 30 s).
    pub interval: Duration,
    /// How soon a failed attempt (no segment yet) is retried (default 3 s).
    pub retry: Duration,
    /// How long one `ffmpeg` child may run before it is killed (default 10 s).
    pub timeout: Duration,
    /// `ffmpeg` children running at once, over every stream (default 2).
    pub max_concurrent: usize,
    /// Largest JPEG accepted (default 1 MiB; larger: the child is killed).
    pub max_bytes: usize,
    /// Streams whose thumbnail is kept (default 4096; the oldest goes).
    pub max_streams: usize,
}

impl Default for ThumbnailConfig {
    fn default() -> Self {
        Self {
            program: PathBuf::from("ffmpeg"),
            interval: Duration::from_secs(30),
            retry: Duration::from_secs(3),
            timeout: Duration::from_secs(10),
            max_concurrent: 2,
            max_bytes: 1 << 20,
            max_streams: 4096,
        }
    }
}

/// Why no thumbnail came out of a child.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ThumbnailError {
    /// The child could not be started (no `ffmpeg`).
    #[error("cannot run the decoder: {0}")]
    Spawn(std::io::Error),
    /// Reading or writing its pipes failed.
    #[error("decoder pipes: {0}")]
    Io(std::io::Error),
    /// It ran longer than the timeout and was killed.
    #[error("the decoder took longer than {0:?}: killed")]
    Timeout(Duration),
    /// It wrote more than the limit and was killed.
    #[error("the decoder wrote more than {0} bytes: killed")]
    TooLarge(usize),
    /// It failed, or wrote something that is not a JPEG.
    #[error("the decoder failed: {0}")]
    Failed(String),
}

/// One stream's latest thumbnail.
#[derive(Debug, Clone)]
pub struct Thumbnail {
    /// The JPEG.
    pub jpeg: Bytes,
    /// Its strong `ETag` (quoted).
    pub etag: String,
    made_at: Instant,
}

impl Thumbnail {
    fn new(jpeg: Bytes) -> Self {
        let digest = Sha256::digest(&jpeg);
        let etag = format!(
            "\"{}\"",
            digest[..12]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        );
        Self {
            jpeg,
            etag,
            made_at: Instant::now(),
        }
    }
}

struct Inner {
    config: ThumbnailConfig,
    /// Whether `ffmpeg` answered at start.
    available: bool,
    latest: Mutex<HashMap<StreamId, Thumbnail>>,
    children: Semaphore,
}

/// The latest thumbnail per stream, and the bound on `ffmpeg` children.
#[derive(Clone)]
pub struct Thumbnails {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Thumbnails {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Thumbnails")
            .field("config", &self.inner.config)
            .field("available", &self.inner.available)
            .finish_non_exhaustive()
    }
}

impl Thumbnails {
    /// Checks once whether `config.program` runs; logs one line when not
    /// (thumbnails are then placeholders).
    pub async fn new(config: ThumbnailConfig) -> Self {
        let available = Command::new(&config.program)
            .arg("-version")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .status()
            .await
            .is_ok_and(|s| s.success());
        if !available {
            tracing::warn!(
                program = %config.program.display(),
                "ffmpeg not found: live thumbnails are placeholders (install ffmpeg to get them)"
            );
        }
        Self::with_availability(config, available)
    }

    fn with_availability(config: ThumbnailConfig, available: bool) -> Self {
        let children = Semaphore::new(config.max_concurrent.max(1));
        Self {
            inner: Arc::new(Inner {
                config,
                available,
                latest: Mutex::new(HashMap::new()),
                children,
            }),
        }
    }

    /// Whether thumbnails are made (`ffmpeg` ran at start).
    pub fn available(&self) -> bool {
        self.inner.available
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<StreamId, Thumbnail>> {
        self.inner.latest.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The latest thumbnail of `stream_id`, if one was made.
    pub fn get(&self, stream_id: &StreamId) -> Option<Thumbnail> {
        self.lock().get(stream_id).cloned()
    }

    fn store(&self, stream_id: &StreamId, jpeg: Bytes) {
        let mut latest = self.lock();
        if latest.len() >= self.inner.config.max_streams.max(1) && !latest.contains_key(stream_id) {
            let oldest = latest
                .iter()
                .min_by_key(|(_, t)| t.made_at)
                .map(|(id, _)| id.clone());
            if let Some(id) = oldest {
                latest.remove(&id);
            }
        }
        latest.insert(stream_id.clone(), Thumbnail::new(jpeg));
    }

    /// Decodes one frame of `input` (an fMP4 init segment then fragments)
    /// into a 320-wide JPEG, waiting for a turn among the
    /// [`max_concurrent`](ThumbnailConfig::max_concurrent) children.
    pub async fn decode(&self, input: Vec<Bytes>) -> Result<Bytes, ThumbnailError> {
        let config = &self.inner.config;
        let mut command = Command::new(&config.program);
        command.args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-f",
            "mp4",
            "-i",
            "pipe:0",
            "-frames:v",
            "1",
            "-vf",
            "scale=320:-2",
            "-f",
            "image2",
            "-c:v",
            "mjpeg",
            "pipe:1",
        ]);
        let jpeg = self.run_child(command, input).await?;
        if !jpeg.starts_with(&[0xFF, 0xD8]) {
            return Err(ThumbnailError::Failed("the output is not a JPEG".into()));
        }
        Ok(jpeg)
    }

    /// Runs `command` with `input` on its stdin, within the concurrency
    /// bound, the timeout and the output limit; its stdout on success.
    async fn run_child(&self, mut command: Command, input: Vec<Bytes>) -> Result<Bytes, ThumbnailError> {
        let _turn = self
            .inner
            .children
            .acquire()
            .await
            .map_err(|_| ThumbnailError::Failed("shutting down".into()))?;
        let config = &self.inner.config;
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(ThumbnailError::Spawn)?;
        let (Some(mut stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(ThumbnailError::Failed("no pipes".into()));
        };
        let max = config.max_bytes;
        let feed = async move {
            for chunk in &input {
                if let Err(e) = stdin.write_all(chunk).await {
                    // It stops reading once it has its frame.
                    if e.kind() == std::io::ErrorKind::BrokenPipe {
                        return Ok(());
                    }
                    return Err(e);
                }
            }
            drop(stdin); // EOF
            Ok(())
        };
        let read_out = async move {
            let mut out = Vec::new();
            let n = stdout.take(max as u64 + 1).read_to_end(&mut out).await?;
            Ok::<_, std::io::Error>((n, out))
        };
        let read_err = async move {
            let mut err = Vec::new();
            stderr.take(4096).read_to_end(&mut err).await.map(|_| err)
        };
        let work = async {
            let (fed, out, err) = tokio::join!(feed, read_out, read_err);
            let (n, out) = out.map_err(ThumbnailError::Io)?;
            if n > max {
                return Err(ThumbnailError::TooLarge(max));
            }
            let status = child.wait().await.map_err(ThumbnailError::Io)?;
            if !status.success() {
                let err = String::from_utf8_lossy(&err.unwrap_or_default())
                    .trim()
                    .to_owned();
                return Err(ThumbnailError::Failed(format!("{status}: {err}")));
            }
            fed.map_err(ThumbnailError::Io)?;
            Ok(Bytes::from(out))
        };
        // On a timeout or a too-large output the child is dropped: killed.
        match tokio::time::timeout(config.timeout, work).await {
            Ok(result) => result,
            Err(_) => Err(ThumbnailError::Timeout(config.timeout)),
        }
    }
}

/// The init segment and the first parts of the newest complete segment
/// (or of the segment in progress before there is one): they start with
/// a keyframe. Shared with the window, not copied.
fn keyframe_input(snapshot: &Snapshot) -> Option<Vec<Bytes>> {
    if let Some(segment) = snapshot.segments.last() {
        let mut input = vec![segment.init.data.clone()];
        input.extend(segment.parts.iter().take(PARTS_FED).map(|p| p.data.clone()));
        return Some(input);
    }
    let first = snapshot.pending.first()?;
    if !(first.starts_segment && first.independent) {
        return None;
    }
    let init = snapshot.inits.last()?;
    let mut input = vec![init.data.clone()];
    input.extend(snapshot.pending.iter().take(PARTS_FED).map(|p| p.data.clone()));
    Some(input)
}

/// Where the first thumbnail of a recorded broadcast is saved.
#[derive(Clone)]
struct RecordingThumbnails {
    store: Arc<dyn RecordingStore>,
    sink: Arc<dyn SegmentSink>,
}

impl RecordingThumbnails {
    /// Saves `jpeg` in the folder of the recording in progress of
    /// `stream_id`, if any; returns whether one was found.
    async fn save(&self, stream_id: &StreamId, jpeg: Bytes) -> bool {
        let recording = match self.store.list_in_progress().await {
            Ok(list) => list
                .into_iter()
                .filter(|r| &r.stream_id == stream_id)
                .max_by_key(|r| r.started_at),
            Err(e) => {
                tracing::warn!(%stream_id, error = %e, "cannot look up the recording for its thumbnail");
                return false;
            }
        };
        let Some(recording) = recording else { return false };
        let Ok(path) = SegmentPath::parse(&format!("{}/{THUMBNAIL_FILE}", recording.prefix())) else {
            return false;
        };
        match self.sink.put(&path, jpeg).await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(recording = %recording.id, error = %e, "saving the recording's thumbnail failed");
                false
            }
        }
    }
}

/// Makes the thumbnails of the streams an ingest node serves.
pub struct ThumbnailMaker {
    thumbnails: Thumbnails,
    hub: StreamHub,
    publisher: Arc<HlsPublisher>,
    recordings: Option<RecordingThumbnails>,
}

impl std::fmt::Debug for ThumbnailMaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThumbnailMaker")
            .field("thumbnails", &self.thumbnails)
            .finish_non_exhaustive()
    }
}

/// Per stream: when to try next, and the publish (window token) whose
/// recording already has its thumbnail.
#[derive(Default)]
struct Schedule {
    next: Option<Instant>,
    saved_for: Option<Arc<str>>,
}

impl ThumbnailMaker {
    /// Thumbnails of the streams live on `hub`, from `publisher`'s windows.
    pub fn new(thumbnails: Thumbnails, hub: StreamHub, publisher: Arc<HlsPublisher>) -> Self {
        Self {
            thumbnails,
            hub,
            publisher,
            recordings: None,
        }
    }

    /// Also saves the first thumbnail of each recorded broadcast to its
    /// recording's folder in `sink`.
    pub fn with_recordings(mut self, store: Arc<dyn RecordingStore>, sink: Arc<dyn SegmentSink>) -> Self {
        self.recordings = Some(RecordingThumbnails { store, sink });
        self
    }

    /// Runs until `shutdown` (children in flight are killed). Does nothing
    /// without `ffmpeg`.
    pub async fn run(self, shutdown: CancellationToken) {
        if !self.thumbnails.available() {
            return;
        }
        let config = self.thumbnails.inner.config.clone();
        let mut schedule: HashMap<StreamId, Schedule> = HashMap::new();
        let mut tasks: JoinSet<(StreamId, Arc<str>, Option<Bytes>)> = JoinSet::new();
        let mut in_flight: HashMap<StreamId, ()> = HashMap::new();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                    let Ok((stream_id, token, jpeg)) = done else { continue };
                    in_flight.remove(&stream_id);
                    let entry = schedule.entry(stream_id.clone()).or_default();
                    let now = Instant::now();
                    let Some(jpeg) = jpeg else {
                        entry.next = Some(now + config.retry);
                        continue;
                    };
                    entry.next = Some(now + config.interval);
                    self.thumbnails.store(&stream_id, jpeg.clone());
                    if let Some(recordings) = &self.recordings
                        && entry.saved_for.as_ref() != Some(&token)
                    {
                        // Once per publish, found or not.
                        entry.saved_for = Some(token);
                        let recordings = recordings.clone();
                        tokio::spawn(async move {
                            if recordings.save(&stream_id, jpeg).await {
                                tracing::debug!(%stream_id, "recording thumbnail saved");
                            }
                        });
                    }
                }
                _ = tick.tick() => {
                    let now = Instant::now();
                    let live = self.hub.live_streams();
                    for stream_id in live {
                        if in_flight.contains_key(&stream_id) {
                            continue;
                        }
                        let entry = schedule.entry(stream_id.clone()).or_default();
                        if entry.next.is_some_and(|at| at > now) {
                            continue;
                        }
                        let Some(window) = self.publisher.window(&stream_id) else { continue };
                        let snapshot = Arc::clone(&*window.snapshots.borrow());
                        let Some(input) = keyframe_input(&snapshot) else {
                            entry.next = Some(now + Duration::from_secs(1));
                            continue;
                        };
                        let token = Arc::clone(&snapshot.token);
                        drop(snapshot);
                        in_flight.insert(stream_id.clone(), ());
                        let thumbnails = self.thumbnails.clone();
                        tasks.spawn(async move {
                            let jpeg = match thumbnails.decode(input).await {
                                Ok(jpeg) => Some(jpeg),
                                Err(e) => {
                                    tracing::debug!(%stream_id, error = %e, "no thumbnail this time");
                                    None
                                }
                            };
                            (stream_id, token, jpeg)
                        });
                    }
                    // Forget the streams this node no longer serves.
                    let publisher = &self.publisher;
                    schedule.retain(|id, _| in_flight.contains_key(id) || publisher.window(id).is_some());
                    self.thumbnails.lock().retain(|id, _| publisher.window(id).is_some());
                }
            }
        }
        tasks.shutdown().await;
    }
}

#[derive(Clone)]
struct ServeState {
    thumbnails: Thumbnails,
    publisher: Arc<HlsPublisher>,
}

/// `GET /hls/{stream_id}/thumbnail.jpg` (see the module docs). Merge it
/// beside the HLS router, under the same origin redirect.
pub fn router(thumbnails: Thumbnails, publisher: Arc<HlsPublisher>) -> Router {
    Router::new()
        .route("/hls/{stream_id}/thumbnail.jpg", get(serve))
        .with_state(ServeState {
            thumbnails,
            publisher,
        })
}

async fn serve(
    State(state): State<ServeState>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let not_found = || ApiError::NotFound("no thumbnail for this stream".into());
    let Path(id) = path.map_err(|_| not_found())?;
    let id = StreamId::parse(&id).map_err(|_| not_found())?;
    if state.publisher.window(&id).is_none() {
        return Err(not_found());
    }
    let Some(thumbnail) = state.thumbnails.get(&id) else {
        return Ok(placeholder());
    };
    Ok(jpeg_response(&thumbnail, &headers))
}

/// The JPEG with its cache headers, or a `304` when `If-None-Match` names
/// its `ETag`.
fn jpeg_response(thumbnail: &Thumbnail, headers: &HeaderMap) -> Response {
    let etag = HeaderValue::from_str(&thumbnail.etag).unwrap_or_else(|_| HeaderValue::from_static("\"\""));
    let common = [
        (header::CACHE_CONTROL, HeaderValue::from_static(CACHE_CONTROL)),
        (header::ETAG, etag),
        (header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*")),
    ];
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim() == thumbnail.etag || t.trim() == "*")
        });
    if matches {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    (
        StatusCode::OK,
        common,
        [(header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg"))],
        thumbnail.jpeg.clone(),
    )
        .into_response()
}

/// The placeholder image (SVG).
pub fn placeholder() -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("image/svg+xml")),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static(PLACEHOLDER_CACHE_CONTROL),
            ),
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*")),
        ],
        Bytes::from_static(PLACEHOLDER_SVG),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn with(config: ThumbnailConfig) -> Thumbnails {
        Thumbnails::with_availability(config, true)
    }

    fn sh(script: &str) -> Command {
        let mut c = Command::new("sh");
        c.args(["-c", script]);
        c
    }

    /// Garbage in: ffmpeg fails fast with an error, no hang.
    #[tokio::test]
    async fn garbage_input_is_an_error_not_a_hang() {
        let thumbnails = Thumbnails::new(ThumbnailConfig::default()).await;
        if !thumbnails.available() {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true: a test cannot skip"
            );
            eprintln!("skipping: ffmpeg not on PATH");
            return;
        }
        let started = Instant::now();
        let result = thumbnails
            .decode(vec![
                Bytes::from_static(b"not an mp4 at all"),
                Bytes::from(vec![7u8; 100_000]),
            ])
            .await;
        assert!(result.is_err(), "{result:?}");
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    /// A child that never ends is killed at the timeout.
    #[tokio::test]
    async fn a_hanging_child_is_killed_at_the_timeout() {
        let thumbnails = with(ThumbnailConfig {
            timeout: Duration::from_millis(300),
            ..ThumbnailConfig::default()
        });
        let started = Instant::now();
        let result = thumbnails
            .run_child(sh("sleep 30"), vec![Bytes::from_static(b"x")])
            .await;
        assert!(matches!(result, Err(ThumbnailError::Timeout(_))), "{result:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    /// Output beyond the limit kills the child.
    #[tokio::test]
    async fn output_is_bounded() {
        let thumbnails = with(ThumbnailConfig {
            max_bytes: 1000,
            ..ThumbnailConfig::default()
        });
        let result = thumbnails.run_child(sh("yes"), vec![]).await;
        assert!(
            matches!(result, Err(ThumbnailError::TooLarge(1000))),
            "{result:?}"
        );
    }

    /// At most `max_concurrent` children run at once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn children_are_bounded() {
        let thumbnails = with(ThumbnailConfig {
            max_concurrent: 1,
            ..ThumbnailConfig::default()
        });
        let started = Instant::now();
        let runs = (0..3).map(|_| {
            let t = thumbnails.clone();
            tokio::spawn(async move { t.run_child(sh("sleep 0.3; echo ok"), vec![]).await })
        });
        for run in runs.collect::<Vec<_>>() {
            assert_eq!(&run.await.unwrap().unwrap()[..], b"ok\n");
        }
        assert!(
            started.elapsed() >= Duration::from_millis(850),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn the_store_is_bounded_and_etags_follow_the_bytes() {
        let thumbnails = with(ThumbnailConfig {
            max_streams: 2,
            ..ThumbnailConfig::default()
        });
        let ids: Vec<StreamId> = (0..3).map(|_| StreamId::new_random()).collect();
        for id in &ids {
            thumbnails.store(id, Bytes::from(id.to_string()));
            std::thread::sleep(Duration::from_millis(2));
        }
        assert!(thumbnails.get(&ids[0]).is_none());
        let (a, b) = (thumbnails.get(&ids[1]).unwrap(), thumbnails.get(&ids[2]).unwrap());
        assert_ne!(a.etag, b.etag);
        let mut headers = HeaderMap::new();
        headers.insert(header::IF_NONE_MATCH, HeaderValue::from_str(&a.etag).unwrap());
        assert_eq!(jpeg_response(&a, &headers).status(), StatusCode::NOT_MODIFIED);
        assert_eq!(jpeg_response(&b, &headers).status(), StatusCode::OK);
    }
}
