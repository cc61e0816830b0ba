//! Redirecting HLS requests for streams another node ingests.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use streamly_core::domain::StreamId;
use streamly_hls::HlsPublisher;

use super::OriginDirectory;

/// What [`redirect_to_origin`] needs.
#[derive(Clone)]
pub struct RedirectState {
    /// Where leases are looked up.
    pub directory: Arc<dyn OriginDirectory>,
    /// This node's windows: a stream found here is served here.
    pub publisher: Arc<HlsPublisher>,
    /// This node's id: its own (stale) lease never redirects.
    pub node_id: String,
}

impl std::fmt::Debug for RedirectState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedirectState")
            .field("node_id", &self.node_id)
            .finish_non_exhaustive()
    }
}

/// Middleware over the HLS routes: a request for `/hls/{stream}/…` that
/// this node has no window for is answered `307` to the lease holder's URL
/// (same path and query, `Cache-Control: no-cache`); without a lease, or
/// when the directory cannot be reached, the HLS router answers (`404`).
pub async fn redirect_to_origin(
    State(state): State<RedirectState>,
    request: Request,
    next: Next,
) -> Response {
    let Some(stream_id) = stream_of(request.uri().path()) else {
        return next.run(request).await;
    };
    if state.publisher.window(&stream_id).is_some() {
        return next.run(request).await;
    }
    match state.directory.lookup(&stream_id).await {
        Ok(Some(lease)) if lease.node_id != state.node_id => {
            let path_and_query = request
                .uri()
                .path_and_query()
                .map_or(request.uri().path(), |p| p.as_str());
            let location = format!("{}{path_and_query}", lease.url.trim_end_matches('/'));
            match HeaderValue::from_str(&location) {
                Ok(location) => (
                    StatusCode::TEMPORARY_REDIRECT,
                    [
                        (header::LOCATION, location),
                        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
                    ],
                )
                    .into_response(),
                Err(_) => {
                    tracing::warn!(stream_id = %stream_id, "an origin lease with an unusable URL");
                    next.run(request).await
                }
            }
        }
        Ok(_) => next.run(request).await,
        Err(e) => {
            tracing::warn!(stream_id = %stream_id, error = %e, "origin lookup failed");
            next.run(request).await
        }
    }
}

/// The stream a `/hls/{stream}/{file}` path names.
fn stream_of(path: &str) -> Option<StreamId> {
    let rest = path.strip_prefix("/hls/")?;
    let (stream, file) = rest.split_once('/')?;
    if file.is_empty() || file.contains('/') {
        return None;
    }
    StreamId::parse(stream).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hls_file_paths_name_a_stream() {
        assert_eq!(
            stream_of("/hls/abc/index.m3u8").map(|s| s.as_str().to_owned()),
            Some("abc".into())
        );
        assert!(stream_of("/hls/abc/").is_none());
        assert!(stream_of("/hls/abc").is_none());
        assert!(stream_of("/hls/abc/x/y").is_none());
        assert!(stream_of("/api/streams").is_none());
    }
}
