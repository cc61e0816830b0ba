//! Live thumbnails end to end (issue 14): publish the fixture in a loop,
//! wait for `GET /hls/{id}/thumbnail.jpg` to answer a JPEG ffprobe reads
//! as a 320-wide mjpeg image, with cache headers; the stream JSON names
//! it; an unknown stream is a JSON 404; the recording of the broadcast
//! serves its first thumbnail.
#![allow(clippy::unwrap_used)]

mod platform_support;

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::header::HeaderMap;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use platform_support::{
    Running, have, http, publish, skip_or_fail_in_ci, streamer_with_stream, unique, wait_for,
};
use serde_json::Value;

/// Status, headers and raw body of a GET.
async fn get(url: &str, headers: &[(&str, &str)]) -> (u16, HeaderMap, Bytes) {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut req = Request::get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = client
        .request(req.body(Full::new(Bytes::new())).unwrap())
        .await
        .unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, headers, body)
}

/// `(codec, width)` of the image ffprobe reads in `jpeg`.
async fn probe(jpeg: &[u8]) -> (String, u64) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.jpg");
    std::fs::write(&file, jpeg).unwrap();
    let out = tokio::process::Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries"])
        .args(["stream=codec_name,width", "-of", "json"])
        .arg(&file)
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let s = &v["streams"][0];
    (
        s["codec_name"].as_str().unwrap_or_default().to_owned(),
        s["width"].as_u64().unwrap_or_default(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_stream_gets_a_jpeg_thumbnail() {
    if !(have("ffmpeg") && have("ffprobe")) {
        skip_or_fail_in_ci("ffmpeg/ffprobe not on PATH");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let app = Running::start_with(None, Some(dir.path())).await;
    let base = app.base.clone();

    // Unknown stream: a JSON 404.
    let unknown = http(
        "GET",
        &format!("{base}/hls/nosuchstream/thumbnail.jpg"),
        None,
        None,
    )
    .await;
    assert_eq!(unknown.status, 404, "{}", unknown.text);
    assert_eq!(unknown.body["error"]["code"], "not_found", "{}", unknown.text);

    let (_token, created) = streamer_with_stream(&base, &format!("thumb{}", unique()), "thumbnailed").await;
    assert_eq!(created["thumbnail_url"], Value::Null, "offline: no thumbnail");
    let id = created["id"].as_str().unwrap().to_owned();
    let url = format!(
        "{}/{}",
        created["rtmp_url"].as_str().unwrap(),
        created["stream_key"].as_str().unwrap()
    );
    let mut ffmpeg = publish(&url, true);

    let thumb_url = format!("{base}/hls/{id}/thumbnail.jpg");
    let listed = wait_for(
        "the stream to be live with a thumbnail_url",
        Duration::from_secs(30),
        || {
            let base = base.clone();
            let id = id.clone();
            async move {
                let r = http("GET", &format!("{base}/api/streams/{id}"), None, None).await;
                r.body["thumbnail_url"].as_str().map(str::to_owned)
            }
        },
    )
    .await;
    assert_eq!(listed, thumb_url);

    let (headers, jpeg) = wait_for("a JPEG thumbnail", Duration::from_secs(60), || {
        let thumb_url = thumb_url.clone();
        async move {
            let (status, headers, body) = get(&thumb_url, &[]).await;
            let jpeg = status == 200
                && headers.get("content-type").and_then(|v| v.to_str().ok()) == Some("image/jpeg");
            jpeg.then_some((headers, body))
        }
    })
    .await;
    assert_eq!(&jpeg[..2], &[0xFF, 0xD8], "JPEG SOI marker");
    assert_eq!(
        headers.get("cache-control").unwrap().to_str().unwrap(),
        "public, max-age=15"
    );
    let etag = headers.get("etag").unwrap().to_str().unwrap().to_owned();
    assert!(etag.starts_with('"') && etag.len() > 2, "{etag}");
    let (codec, width) = probe(&jpeg).await;
    assert_eq!((codec.as_str(), width), ("mjpeg", 320));

    // Revalidation: 304 while it has not changed (it may have, 30 s on).
    let (status, _, body) = get(&thumb_url, &[("if-none-match", &etag)]).await;
    assert!(status == 304 && body.is_empty() || status == 200, "{status}");

    // The broadcast is recorded: its first thumbnail is in the recording's folder.
    let rec_thumb = wait_for("the recording's thumbnail_url", Duration::from_secs(30), || {
        let url = format!("{base}/api/streams/{id}/recordings");
        async move {
            let r = http("GET", &url, None, None).await;
            r.body[0]["thumbnail_url"].as_str().map(str::to_owned)
        }
    })
    .await;
    let saved = wait_for("the recording's JPEG", Duration::from_secs(30), || {
        let rec_thumb = rec_thumb.clone();
        async move {
            let (status, headers, body) = get(&rec_thumb, &[]).await;
            let jpeg = status == 200
                && headers.get("content-type").and_then(|v| v.to_str().ok()) == Some("image/jpeg");
            jpeg.then_some(body)
        }
    })
    .await;
    assert_eq!(probe(&saved).await, ("mjpeg".to_owned(), 320));

    ffmpeg.kill().await.unwrap();
    app.stop().await;
}
