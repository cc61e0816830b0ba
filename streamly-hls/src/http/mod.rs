//! Serving the live windows over HTTP: an axum [`Router`] an integrator
//! nests into their own application. Every answer comes from the stream's
//! newest [`Snapshot`](crate::Snapshot), with no copy of media bytes per
//! viewer, and without a storage read except for the window's old segments
//! once their bytes left memory for the sink
//! ([`HlsConfig::serve_old_segments_from_sink`](crate::HlsConfig::serve_old_segments_from_sink)).
//!
//! Routes, `GET` and `HEAD` (names in [`window`](crate::window)):
//!
//! - `/hls/{stream_id}/index.m3u8` — the LL-HLS playlist. Blocking reload
//!   (RFC 8216bis §6.2.5.2): `?_HLS_msn=M[&_HLS_part=P]` waits until that
//!   segment (or part) is listed, then answers at once; `400` when `M` is
//!   more than one segment past the last complete one; `503` when it does
//!   not come within three target durations, or when
//!   [`HlsConfig::max_blocking_requests`](crate::HlsConfig::max_blocking_requests)
//!   requests already wait on the stream. `_HLS_skip=YES` (or `v2`)
//!   answers a delta update (§6.2.5.1). `ETag` and `If-None-Match`.
//! - `master.m3u8`, `ts.m3u8` (the MPEG-TS playlist for old players).
//! - Init segments, segments and parts (`.mp4`, `.m4s`) and TS segments
//!   (`.ts`), with `Range` (one range) and `Accept-Ranges: bytes`. A request
//!   for the part the `EXT-X-PRELOAD-HINT` names waits until it is
//!   complete (same bound).
//!
//! Playlists are `no-cache`; media files are immutable (names are never
//! reused); `404`s are `no-cache`. Anything else is `404`.

mod chunks;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use streamly_core::domain::StreamId;
use tower_http::cors::{Any, CorsLayer};

use crate::publisher::{HlsPublisher, StreamWindow};
use crate::window::{MASTER_PLAYLIST, MEDIA_PLAYLIST, Snapshot, TS_PLAYLIST, TsEntry};
use chunks::{Chunks, RangeRequest, parse_range};

/// `Cache-Control` of playlists: always revalidate, they change every part.
pub const PLAYLIST_CACHE_CONTROL: &str = "no-cache";
/// `Cache-Control` of segments, parts and init segments: names are never
/// reused.
pub const SEGMENT_CACHE_CONTROL: &str = "public, max-age=31536000, immutable";

/// The HLS playback routes over `publisher`'s live windows, with CORS open
/// to any origin for `GET` and `HEAD`.
pub fn router(publisher: Arc<HlsPublisher>) -> Router {
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::HEAD])
        .allow_headers(Any);
    Router::new()
        .route("/hls/{stream_id}/{file}", get(serve))
        .layer(cors)
        .with_state(publisher)
}

/// A file of a stream's directory.
#[derive(Debug, PartialEq, Eq)]
enum FileName<'a> {
    Playlist,
    Master,
    TsPlaylist,
    Init { token: &'a str, generation: u32 },
    Segment { token: &'a str, msn: u64 },
    Part { token: &'a str, msn: u64, index: u64 },
    Ts(&'a str),
}

impl<'a> FileName<'a> {
    fn parse(file: &'a str) -> Option<Self> {
        match file {
            MEDIA_PLAYLIST => return Some(Self::Playlist),
            MASTER_PLAYLIST => return Some(Self::Master),
            TS_PLAYLIST => return Some(Self::TsPlaylist),
            _ => {}
        }
        let token_ok = |t: &str| !t.is_empty() && t.len() <= 32 && t.bytes().all(|b| b.is_ascii_hexdigit());
        let number = |n: &str| {
            (!n.is_empty() && n.len() <= 19 && n.bytes().all(|b| b.is_ascii_digit()))
                .then(|| n.parse().ok())
                .flatten()
        };
        if let Some(stem) = file.strip_suffix(".ts") {
            let (token, n) = stem.split_once('_')?;
            let _: u64 = number(n)?;
            return token_ok(token).then_some(Self::Ts(file));
        }
        if let Some(stem) = file.strip_suffix(".mp4") {
            let (token, generation) = stem.split_once("_init")?;
            let generation = u32::try_from(number(generation)?).ok()?;
            return token_ok(token).then_some(Self::Init { token, generation });
        }
        let stem = file.strip_suffix(".m4s")?;
        let mut fields = stem.split('_');
        let token = fields.next().filter(|t| token_ok(t))?;
        let msn = number(fields.next()?)?;
        match (fields.next(), fields.next()) {
            (None, _) => Some(Self::Segment { token, msn }),
            (Some(index), None) => Some(Self::Part {
                token,
                msn,
                index: number(index)?,
            }),
            _ => None,
        }
    }
}

/// The blocking-reload query (RFC 8216bis §6.2.5).
#[derive(Debug, Default, PartialEq, Eq)]
struct Reload {
    msn: Option<u64>,
    part: Option<u64>,
    skip: bool,
}

impl Reload {
    /// `Err` for a malformed value or a part without a segment number.
    fn parse(query: Option<&str>) -> Result<Self, &'static str> {
        let mut reload = Self::default();
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let number = || {
                value
                    .parse::<u64>()
                    .map_err(|_| "_HLS_msn and _HLS_part must be integers")
            };
            match key {
                "_HLS_msn" => reload.msn = Some(number()?),
                "_HLS_part" => reload.part = Some(number()?),
                "_HLS_skip" => reload.skip = matches!(value, "YES" | "v2"),
                _ => {}
            }
        }
        if reload.part.is_some() && reload.msn.is_none() {
            return Err("_HLS_part needs _HLS_msn");
        }
        Ok(reload)
    }
}

async fn serve(
    State(publisher): State<Arc<HlsPublisher>>,
    params: Result<Path<(String, String)>, axum::extract::rejection::PathRejection>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let Ok(Path((stream_id, file))) = params else {
        return not_found();
    };
    let (Ok(stream_id), Some(name)) = (StreamId::parse(&stream_id), FileName::parse(&file)) else {
        return not_found();
    };
    let Some(window) = publisher.window(&stream_id) else {
        return not_found();
    };
    let snapshot = Arc::clone(&*window.snapshots.borrow());
    match name {
        FileName::Playlist => {
            let reload = match Reload::parse(query.as_deref()) {
                Ok(reload) => reload,
                Err(message) => return error(StatusCode::BAD_REQUEST, message),
            };
            playlist(&publisher, &window, snapshot, reload, &headers).await
        }
        FileName::Master => text(snapshot.master.clone(), &headers, &snapshot, "m"),
        FileName::TsPlaylist => text(snapshot.ts_playlist.clone(), &headers, &snapshot, "ts"),
        FileName::Ts(uri) => match snapshot.ts_segment(uri) {
            Some(TsEntry { data: Some(data), .. }) => media(Chunks::new([data]), "video/mp2t", &headers),
            Some(_) => from_sink(&publisher, &stream_id, &file, "video/mp2t", &headers).await,
            None => not_found(),
        },
        FileName::Init { token, generation } if token == &*snapshot.token => {
            match snapshot.init(generation) {
                Some(init) => media(Chunks::new([&init.data]), "video/mp4", &headers),
                None => not_found(),
            }
        }
        FileName::Segment { token, msn } if token == &*snapshot.token => match snapshot.segment(msn) {
            Some(s) => match s.bytes() {
                Some(bytes) => media(Chunks::new([bytes]), "video/mp4", &headers),
                None => from_sink(&publisher, &stream_id, &file, "video/mp4", &headers).await,
            },
            None => not_found(),
        },
        FileName::Part { token, msn, index } if token == &*snapshot.token => {
            let snapshot = if snapshot.part(msn, index).is_none() && snapshot.hinted_part() == (msn, index) {
                // The hinted part: answer when it is complete.
                match wait(&publisher, &window, &snapshot, |s| s.part(msn, index).is_some()).await {
                    Ok(s) => s,
                    Err(response) => return response,
                }
            } else {
                snapshot
            };
            match snapshot.part(msn, index) {
                Some(part) => media(Chunks::new([&part.data]), "video/mp4", &headers),
                None => not_found(),
            }
        }
        _ => not_found(),
    }
}

async fn playlist(
    publisher: &HlsPublisher,
    window: &StreamWindow,
    snapshot: Arc<Snapshot>,
    reload: Reload,
    headers: &HeaderMap,
) -> Response {
    let snapshot = match reload.msn {
        Some(msn) if !snapshot.has(msn, reload.part) => {
            if msn > snapshot.next_msn + 1 {
                return error(
                    StatusCode::BAD_REQUEST,
                    "_HLS_msn is more than two segments past the playlist's last",
                );
            }
            match wait(publisher, window, &snapshot, |s| s.has(msn, reload.part)).await {
                Ok(s) => s,
                Err(response) => return response,
            }
        }
        _ => snapshot,
    };
    if reload.skip
        && let Some(delta) = snapshot.playlist_skip()
    {
        return text(Some(delta), headers, &snapshot, "s");
    }
    text(snapshot.playlist(), headers, &snapshot, "")
}

/// Counts a blocking request while it waits.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Waits (no polling: the snapshot channel wakes it) until `ready` holds,
/// for at most three target durations.
async fn wait(
    publisher: &HlsPublisher,
    window: &StreamWindow,
    snapshot: &Snapshot,
    ready: impl Fn(&Snapshot) -> bool,
) -> Result<Arc<Snapshot>, Response> {
    let max = publisher.config().max_blocking_requests;
    if window.waiting.fetch_add(1, Ordering::Relaxed) >= max {
        window.waiting.fetch_sub(1, Ordering::Relaxed);
        return Err(unavailable("too many blocking requests wait on this stream"));
    }
    let _waiting = Waiting(&window.waiting);
    let bound = Duration::from_secs(3 * snapshot.target_duration.max(1));
    let mut snapshots = window.snapshots.clone();
    let waited = tokio::time::timeout(bound, async {
        snapshots
            .wait_for(|s| ready(s) || s.ended)
            .await
            .map(|s| Arc::clone(&*s))
            .ok()
    })
    .await;
    match waited {
        Ok(Some(s)) => Ok(s),
        // The run ended and its sender is gone: the last snapshot stands.
        Ok(None) => Ok(Arc::clone(&*snapshots.borrow())),
        Err(_) => Err(unavailable(
            "the requested segment or part did not appear in time",
        )),
    }
}

fn text(body: Option<Bytes>, headers: &HeaderMap, snapshot: &Snapshot, variant: &str) -> Response {
    let Some(body) = body else {
        return not_found();
    };
    let etag = format!("\"{}-{}{variant}\"", snapshot.token, snapshot.version);
    let matched = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut response = if matched {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let len = body.len();
        let mut r = Response::new(Body::from(body));
        r.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        r
    };
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/vnd.apple.mpegurl"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(PLAYLIST_CACHE_CONTROL),
    );
    if let Ok(etag) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, etag);
    }
    response
}

fn media(body: Chunks, content_type: &'static str, headers: &HeaderMap) -> Response {
    let len = body.len();
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let (status, body) = match parse_range(range, len) {
        RangeRequest::Whole => (StatusCode::OK, body),
        RangeRequest::Part { start, end } => (StatusCode::PARTIAL_CONTENT, body.slice(start, end)),
        RangeRequest::Unsatisfiable => {
            let mut r = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return r;
        }
    };
    let sent = body.len();
    let content_range = (status == StatusCode::PARTIAL_CONTENT).then(|| {
        // Only a `Part` range gets here, so the slice is non-empty.
        let start = range.and_then(|r| match parse_range(Some(r), len) {
            RangeRequest::Part { start, .. } => Some(start),
            _ => None,
        });
        start.map(|s| format!("bytes {s}-{}/{len}", s + sent - 1))
    });
    let mut response = Response::new(Body::new(body));
    *response.status_mut() = status;
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(SEGMENT_CACHE_CONTROL),
    );
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(sent));
    if let Some(Some(v)) = content_range
        && let Ok(v) = HeaderValue::from_str(&v)
    {
        h.insert(header::CONTENT_RANGE, v);
    }
    response
}

/// A segment of the window whose bytes left memory for the sink
/// ([`HlsConfig::serve_old_segments_from_sink`](crate::HlsConfig::serve_old_segments_from_sink)).
async fn from_sink(
    publisher: &HlsPublisher,
    stream_id: &StreamId,
    file: &str,
    content_type: &'static str,
    headers: &HeaderMap,
) -> Response {
    let (Some(sink), Ok(path)) = (publisher.sink(), crate::stream::stream_path(stream_id, file)) else {
        return not_found();
    };
    match sink.get(&path).await {
        Ok(Some(data)) => media(Chunks::new([&data]), content_type, headers),
        Ok(None) => not_found(),
        Err(e) => {
            tracing::warn!(%path, error = %e, "reading a segment from the sink failed");
            unavailable("segment storage unavailable")
        }
    }
}

fn not_found() -> Response {
    let mut r = StatusCode::NOT_FOUND.into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

fn error(status: StatusCode, message: &'static str) -> Response {
    let mut r = (status, message).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

fn unavailable(message: &'static str) -> Response {
    let mut r = error(StatusCode::SERVICE_UNAVAILABLE, message);
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names() {
        assert_eq!(FileName::parse("index.m3u8"), Some(FileName::Playlist));
        assert_eq!(FileName::parse("ts.m3u8"), Some(FileName::TsPlaylist));
        assert_eq!(
            FileName::parse("1a2b_init0.mp4"),
            Some(FileName::Init {
                token: "1a2b",
                generation: 0
            })
        );
        assert_eq!(
            FileName::parse("1a2b_7.m4s"),
            Some(FileName::Segment {
                token: "1a2b",
                msn: 7
            })
        );
        assert_eq!(
            FileName::parse("1a2b_7_3.m4s"),
            Some(FileName::Part {
                token: "1a2b",
                msn: 7,
                index: 3
            })
        );
        assert_eq!(FileName::parse("1a2b_12.ts"), Some(FileName::Ts("1a2b_12.ts")));
        for bad in [
            "",
            "x.m3u8",
            "_7.m4s",
            "zz_7.m4s",
            "1a_7_3_1.m4s",
            "1a_.m4s",
            "1a_x.ts",
            "1a_init.mp4",
            "../1a_7.m4s",
            "1a_99999999999999999999.m4s",
        ] {
            assert_eq!(FileName::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn reload_queries() {
        assert_eq!(Reload::parse(None), Ok(Reload::default()));
        assert_eq!(
            Reload::parse(Some("_HLS_msn=4&_HLS_part=2&_HLS_skip=YES")),
            Ok(Reload {
                msn: Some(4),
                part: Some(2),
                skip: true
            })
        );
        assert!(Reload::parse(Some("_HLS_part=2")).is_err());
        assert!(Reload::parse(Some("_HLS_msn=-1")).is_err());
        assert_eq!(
            Reload::parse(Some("session=abc&_HLS_msn=1")).map(|r| r.msn),
            Ok(Some(1))
        );
    }
}
