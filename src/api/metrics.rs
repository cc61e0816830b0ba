//! `GET /metrics` (Prometheus text) and the HTTP latency middleware.
//!
//! Metric names: `streamly_http_requests_total` / `streamly_http_request_duration_seconds`
//! (labels `method`, `route`, `status`), `streamly_hls_requests_total`,
//! `streamly_live_streams` (read from the store at scrape time), and whatever
//! the RTMP, HLS and chat crates record through the `metrics` facade
//! (ingest bytes, chat connections and messages).
//!
//! Every label takes values from a fixed set, so no request can add a time
//! series of its own (a label per method string once let 50,000 junk
//! requests grow `/metrics` to 105 MB): `method` is one of the nine standard
//! methods or `other`; `route` is the matched route template
//! (`/api/streams/{id}`), `/hls/*` or `unmatched`; `status` is the numeric
//! status code, which only our handlers choose.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use super::ApiState;

const LATENCY_BUCKETS: &[f64] = &[0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process-wide Prometheus recorder's handle, installing the recorder as
/// the global `metrics` recorder on first use. If another recorder was
/// installed first, the handle renders only the gauges set on it directly.
pub fn prometheus_handle() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("streamly_http_request_duration_seconds".into()),
                    LATENCY_BUCKETS,
                )
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a global metrics recorder was already installed; /metrics may be sparse");
            }
            handle
        })
        .clone()
}

/// Middleware: counts requests and records their latency by matched route.
pub async fn track(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(request.method());
    let path = request.uri().path();
    let is_hls = path.starts_with("/hls/");
    let route = route_label(request.extensions().get::<MatchedPath>(), is_hls);
    if is_hls {
        metrics::counter!("streamly_hls_requests_total").increment(1);
    }
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let labels = [
        ("method", method.to_owned()),
        ("route", route),
        ("status", status),
    ];
    metrics::counter!("streamly_http_requests_total", &labels).increment(1);
    metrics::histogram!("streamly_http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    response
}

/// The `method` label: a standard method's name, else `other` (a client
/// may send any token as a method).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

/// The `route` label: the template the router matched (its routes are a
/// fixed list), `/hls/*` for playback, else `unmatched`. Never the request
/// path itself.
fn route_label(matched: Option<&MatchedPath>, is_hls: bool) -> String {
    match matched {
        Some(m) => m.as_str().to_owned(),
        None if is_hls => "/hls/*".to_owned(),
        None => "unmatched".to_owned(),
    }
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain")))]
pub async fn metrics(State(state): State<ApiState>) -> Response {
    if let Some(collect) = &state.on_scrape {
        collect();
    }
    match state.streams.list_live().await {
        Ok(live) => metrics::gauge!("streamly_live_streams").set(live.len() as f64),
        Err(e) => tracing::warn!(error = %e, "could not count live streams for /metrics"),
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        state.metrics.render(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_standard_methods_are_labels() {
        assert_eq!(method_label(&Method::PATCH), "PATCH");
        for junk in ["FOO", "get", "X-8f3a", "PROPFIND"] {
            let method = Method::from_bytes(junk.as_bytes()).expect("a valid token");
            assert_eq!(method_label(&method), "other", "{junk}");
        }
    }

    #[test]
    fn unmatched_routes_share_one_label() {
        assert_eq!(route_label(None, false), "unmatched");
        assert_eq!(route_label(None, true), "/hls/*");
    }
}
