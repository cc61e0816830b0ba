//! `/metrics` stays small whatever methods and paths clients send: every
//! label comes from a fixed set (issue 11, defect 3: each method string used
//! to become a label value, and 50,000 junk requests grew `/metrics` to
//! 105 MB).
//!
//! Its own test binary: the Prometheus recorder is process-wide, and the
//! bounds below should not depend on what other tests recorded.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use streamly::{Platform, PlatformConfig};
use tower::ServiceExt;

async fn send(router: &Router, method: Method, uri: &str) -> (StatusCode, String) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::empty())
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

/// The distinct values of `label` on the `family` series of a scrape.
fn label_values(scrape: &str, family: &str, label: &str) -> BTreeSet<String> {
    let needle = format!("{label}=\"");
    scrape
        .lines()
        .filter_map(|line| line.strip_prefix(family)?.strip_prefix('{'))
        .filter_map(|labels| {
            let start = labels.find(&needle)? + needle.len();
            let len = labels[start..].find('"')?;
            Some(labels[start..start + len].to_owned())
        })
        .collect()
}

/// Whether `s` holds `n` hex digits in a row (a random token, here).
fn has_hex_run(s: &str, n: usize) -> bool {
    let mut run = 0;
    for c in s.chars() {
        run = if c.is_ascii_hexdigit() { run + 1 } else { 0 };
        if run >= n {
            return true;
        }
    }
    false
}

fn random_token() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

#[tokio::test]
async fn random_methods_and_paths_do_not_grow_metrics() {
    let mut config = PlatformConfig::new(b"a metrics test secret of 32+ bytes".to_vec());
    config.rtmp_addr = "127.0.0.1:0".parse().unwrap();
    let platform = Platform::builder(config).build().await.unwrap();
    let router = platform.router();

    // Some ordinary traffic first, so every label set the platform uses is
    // there before the baseline.
    for uri in [
        "/api/streams",
        "/health",
        "/",
        "/api/nope",
        "/nope",
        "/hls/x/index.m3u8",
        "/hls/x/index.m3u8?session=session-id-1",
    ] {
        send(&router, Method::GET, uri).await;
    }
    send(&router, Method::DELETE, "/api/streams").await;
    let (status, before) = send(&router, Method::GET, "/metrics").await;
    assert_eq!(status, StatusCode::OK);

    for i in 0..5_000 {
        let token = random_token();
        // Uppercase tokens, as a scanner or fuzzer would send them.
        let method = Method::from_bytes(format!("X{}", token.to_uppercase()).as_bytes()).unwrap();
        let uri = match i % 6 {
            0 => format!("/{token}"),
            1 => format!("/api/{token}/{i}"),
            2 => format!("/api/streams/{token}"),
            // Playback sessions are counted, never labelled.
            3 => format!("/hls/{token}/index.m3u8?session={token}"),
            4 => format!("/watch/{token}?q={i}"),
            _ => "/api/streams".to_owned(),
        };
        let (status, _) = send(&router, method, &uri).await;
        assert!(!status.is_server_error(), "{uri}: {status}");
    }
    let (status, after) = send(&router, Method::GET, "/metrics").await;
    assert_eq!(status, StatusCode::OK);

    let methods = label_values(&after, "streamly_http_requests_total", "method");
    let routes = label_values(&after, "streamly_http_requests_total", "route");
    eprintln!(
        "/metrics: {} bytes before, {} after; {} method and {} route values",
        before.len(),
        after.len(),
        methods.len(),
        routes.len()
    );
    assert!(
        methods.len() <= 10,
        "method takes {} values, e.g. {:?}",
        methods.len(),
        methods.iter().take(12).collect::<Vec<_>>()
    );
    assert!(methods.contains("other"), "{methods:?}");
    assert!(
        routes.len() <= streamly::api::ROUTES.len() + 16,
        "route takes {} values, e.g. {:?}",
        routes.len(),
        routes.iter().take(12).collect::<Vec<_>>()
    );
    assert!(
        !routes.iter().any(|r| has_hex_run(r, 16)),
        "a route label holds a request path: {routes:?}"
    );
    // The junk can add the `other` method's series (a counter and a
    // histogram per route and status it reached), nothing per request.
    let grown = after.len().saturating_sub(before.len());
    assert!(
        grown < 32 * 1024,
        "/metrics grew by {grown} bytes ({} → {})",
        before.len(),
        after.len()
    );
    assert!(after.len() < 128 * 1024, "/metrics is {} bytes", after.len());
}
