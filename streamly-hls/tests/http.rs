//! The playback router, without a network (`tower::ServiceExt::oneshot`).
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use bytes::Bytes;
use http_body_util::BodyExt;
use streamly_core::adapters::MemorySegmentSink;
use streamly_core::ports::{SegmentPath, SegmentSink};
use tower::ServiceExt;

async fn app() -> axum::Router {
    let sink = Arc::new(MemorySegmentSink::default());
    for (path, data) in [
        ("demo/index.m3u8", &b"#EXTM3U\n"[..]),
        (
            "demo/master.m3u8",
            b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nindex.m3u8\n",
        ),
        ("demo/abc_0.ts", &[0x47; 188]),
        ("demo/secret.txt", b"not served"),
    ] {
        sink.put(&SegmentPath::parse(path).unwrap(), Bytes::copy_from_slice(data))
            .await
            .unwrap();
    }
    streamly_hls::router(sink as Arc<dyn SegmentSink>)
}

async fn request(method: Method, uri: &str) -> axum::response::Response {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::ORIGIN, "https://player.example")
        .body(Body::empty());
    app().await.oneshot(req.unwrap()).await.unwrap()
}

#[tokio::test]
async fn playlists_and_segments_have_types_and_cache_headers() {
    let res = request(Method::GET, "/hls/demo/index.m3u8").await;
    assert_eq!(res.status(), StatusCode::OK);
    let h = res.headers();
    assert_eq!(h[header::CONTENT_TYPE], "application/vnd.apple.mpegurl");
    assert_eq!(h[header::CACHE_CONTROL], "no-cache");
    assert_eq!(h[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    assert_eq!(
        res.into_body().collect().await.unwrap().to_bytes(),
        Bytes::from_static(b"#EXTM3U\n")
    );

    let res = request(Method::GET, "/hls/demo/master.m3u8").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[header::CACHE_CONTROL], "no-cache");

    let res = request(Method::GET, "/hls/demo/abc_0.ts").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[header::CONTENT_TYPE], "video/mp2t");
    assert!(
        res.headers()[header::CACHE_CONTROL]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    assert_eq!(res.into_body().collect().await.unwrap().to_bytes().len(), 188);
}

#[tokio::test]
async fn head_has_headers_and_no_body() {
    let res = request(Method::HEAD, "/hls/demo/abc_0.ts").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[header::CONTENT_LENGTH], "188");
    assert_eq!(res.headers()[header::CONTENT_TYPE], "video/mp2t");
    assert!(res.into_body().collect().await.unwrap().to_bytes().is_empty());
}

#[tokio::test]
async fn cors_preflight_allows_get() {
    let req = Request::builder()
        .method(Method::OPTIONS)
        .uri("/hls/demo/index.m3u8")
        .header(header::ORIGIN, "https://player.example")
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "GET")
        .body(Body::empty())
        .unwrap();
    let res = app().await.oneshot(req).await.unwrap();
    assert!(res.status().is_success());
    assert_eq!(res.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    assert!(
        res.headers()[header::ACCESS_CONTROL_ALLOW_METHODS]
            .to_str()
            .unwrap()
            .contains("GET")
    );
}

#[tokio::test]
async fn unknown_paths_and_traversal_are_404() {
    for uri in [
        "/hls/demo/missing.ts",
        "/hls/other/index.m3u8",
        "/hls/demo/secret.txt",
        "/hls/demo/",
        "/hls/demo",
        "/hls/demo/a/b.ts",
        "/hls/../demo/index.m3u8",
        "/hls/demo/..%2Findex.m3u8",
        "/hls/..%2Fdemo/index.m3u8",
        "/hls/%2E%2E/index.m3u8",
        "/hls/demo/%2E%2E%2Fdemo%2Findex.m3u8",
        "/hls/demo/.index.m3u8",
        "/hls/de%20mo/index.m3u8",
        "/other",
        "/",
    ] {
        assert_eq!(
            request(Method::GET, uri).await.status(),
            StatusCode::NOT_FOUND,
            "{uri}"
        );
    }
}
