//! Serving the sink over HTTP: an axum [`Router`] an integrator nests into
//! their own application.
//!
//! Routes: `GET|HEAD /hls/{stream_id}/index.m3u8`, `/hls/{stream_id}/master.m3u8`
//! and `/hls/{stream_id}/{segment}.ts`. Anything else is 404. The stream id
//! must be a valid [`StreamId`] and the file one of those shapes, and the
//! joined path is a [`SegmentPath`]: no request can name anything outside a
//! stream's directory.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use streamly_core::domain::StreamId;
use streamly_core::ports::{SegmentPath, SegmentSink};
use tower_http::cors::{Any, CorsLayer};

use crate::packager::{MASTER_PLAYLIST, MEDIA_PLAYLIST};

/// `Cache-Control` of playlists: always revalidate, they change every segment.
pub const PLAYLIST_CACHE_CONTROL: &str = "no-cache";
/// `Cache-Control` of segments: their names are never reused.
pub const SEGMENT_CACHE_CONTROL: &str = "public, max-age=31536000, immutable";

/// The HLS playback routes over `sink`, with CORS open to any origin for
/// `GET` and `HEAD`.
pub fn router(sink: Arc<dyn SegmentSink>) -> Router {
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::HEAD])
        .allow_headers(Any);
    Router::new()
        .route("/hls/{stream_id}/{file}", get(serve))
        .layer(cors)
        .with_state(sink)
}

enum Kind {
    Playlist,
    Segment,
}

fn classify(file: &str) -> Option<Kind> {
    if file == MEDIA_PLAYLIST || file == MASTER_PLAYLIST {
        return Some(Kind::Playlist);
    }
    let stem = file.strip_suffix(".ts")?;
    let ok = !stem.is_empty()
        && stem.len() <= 64
        && stem
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    ok.then_some(Kind::Segment)
}

async fn serve(
    State(sink): State<Arc<dyn SegmentSink>>,
    params: Result<Path<(String, String)>, axum::extract::rejection::PathRejection>,
) -> Response {
    let Ok(Path((stream_id, file))) = params else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let (Ok(stream_id), Some(kind)) = (StreamId::parse(&stream_id), classify(&file)) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let Ok(path) = SegmentPath::parse(&format!("{stream_id}/{file}")) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let data = match sink.get(&path).await {
        Ok(Some(data)) => data,
        Ok(None) => return StatusCode::NOT_FOUND.into_response(),
        Err(e) => {
            tracing::warn!(%path, error = %e, "segment sink read failed");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    };
    let cache = match kind {
        Kind::Playlist => PLAYLIST_CACHE_CONTROL,
        Kind::Segment => SEGMENT_CACHE_CONTROL,
    };
    let mut response = Response::new(Body::from(data.clone()));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(path.content_type()),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(data.len()));
    response
}
