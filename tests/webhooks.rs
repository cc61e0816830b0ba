//! Webhooks against a real receiver on port 0: signatures checked with an
//! HMAC computed from its definition (not the `hmac` crate the sender uses),
//! ffmpeg publishing to a real platform, retries after 500s, and a bounded
//! shutdown.
#![allow(clippy::unwrap_used)]

mod platform_support;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use platform_support::{have, publish};
use serde_json::Value;
use sha2::{Digest, Sha256};
use streamly::core::domain::UserId;
use streamly::webhooks::{WebhookConfig, WebhookEvent, Webhooks};
use streamly::{Platform, PlatformConfig};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const SECRET: &[u8] = b"a webhook secret for the tests";

/// HMAC-SHA256 (RFC 2104) over plain SHA-256, hex.
fn hmac_sha256_hex(key: &[u8], message: &[u8]) -> String {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let ipad: Vec<u8> = block.iter().map(|b| b ^ 0x36).collect();
    let opad: Vec<u8> = block.iter().map(|b| b ^ 0x5c).collect();
    let inner = Sha256::new().chain_update(&ipad).chain_update(message).finalize();
    let outer = Sha256::new().chain_update(&opad).chain_update(inner).finalize();
    outer.iter().map(|b| format!("{b:02x}")).collect()
}

/// One request the receiver got.
#[derive(Debug)]
struct Received {
    event_id: String,
    body: Value,
    /// Whether `Streamly-Signature` verified (HMAC and a fresh timestamp).
    signed: bool,
    /// What the receiver answered.
    answered: StatusCode,
}

fn verify(headers: &HeaderMap, body: &[u8]) -> bool {
    let Some(header) = headers.get("streamly-signature").and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => t = value.parse::<u64>().ok(),
            Some(("v1", value)) => v1 = Some(value.to_owned()),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let signed = [format!("{t}.").as_bytes(), body].concat();
    now.abs_diff(t) <= 300 && hmac_sha256_hex(SECRET, &signed) == v1
}

#[derive(Clone)]
struct Receiver {
    seen: mpsc::Sender<Received>,
    /// Statuses to answer, in order; 200 once empty.
    script: Arc<Mutex<VecDeque<StatusCode>>>,
}

async fn hook(State(receiver): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let answered = receiver
        .script
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or(StatusCode::OK);
    let received = Received {
        event_id: headers
            .get("streamly-event-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned(),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        signed: verify(&headers, &body),
        answered,
    };
    let _ = receiver.seen.send(received).await;
    answered
}

/// A receiver on 127.0.0.1:0 answering `script` then 200s: its URL and
/// what it receives.
async fn receiver(script: Vec<StatusCode>) -> (String, mpsc::Receiver<Received>) {
    let (tx, rx) = mpsc::channel(64);
    let state = Receiver {
        seen: tx,
        script: Arc::new(Mutex::new(script.into())),
    };
    let app = Router::new().route("/hook", post(hook)).with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, rx)
}

async fn next(rx: &mut mpsc::Receiver<Received>, within: Duration) -> Received {
    tokio::time::timeout(within, rx.recv())
        .await
        .expect("a delivery in time")
        .expect("receiver running")
}

fn fast(url: String) -> WebhookConfig {
    let mut config = WebhookConfig::new(vec![url], SECRET.to_vec());
    config.initial_backoff = Duration::from_millis(10);
    config.max_backoff = Duration::from_millis(50);
    config.timeout = Duration::from_secs(2);
    config
}

/// ffmpeg publishes the fixture: the receiver gets `stream.live` (with the
/// title) then `stream.offline`, both validly signed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_sends_live_then_offline_signed() {
    if !have("ffmpeg") {
        // Under CI every oracle must run: a missing one fails the test.
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true: a test cannot skip"
        );
        eprintln!("skipping: ffmpeg not on PATH");
        return;
    }
    let (url, mut rx) = receiver(Vec::new()).await;
    let mut config = PlatformConfig::new(b"a webhook test secret of 32+ bytes!".to_vec());
    config.rtmp_addr = "127.0.0.1:0".parse().unwrap();
    config.webhooks = Some(fast(url));
    let platform = Platform::builder(config).build().await.unwrap();
    let created = platform
        .streams()
        .create(UserId::new_random(), "Webhooks on air")
        .await
        .unwrap();
    let stream_id = created.stream.id.to_string();
    let rtmp = format!(
        "rtmp://127.0.0.1:{}/live/{}",
        platform.rtmp_addr().expect("the ingest role runs").port(),
        created.key.expose()
    );
    let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let shutdown = CancellationToken::new();
    let serving = tokio::spawn(platform.serve(http, shutdown.clone()));

    let mut ffmpeg = publish(&rtmp, false);
    let live = next(&mut rx, Duration::from_secs(30)).await;
    assert!(live.signed, "stream.live signature: {live:?}");
    assert_eq!(live.body["type"], "stream.live");
    assert_eq!(live.body["id"], live.event_id.as_str());
    assert_eq!(live.body["data"]["stream_id"], stream_id.as_str());
    assert_eq!(live.body["data"]["title"], "Webhooks on air");
    assert!(
        time::OffsetDateTime::parse(
            live.body["created_at"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339
        )
        .is_ok()
    );

    // The 10 s fixture ends: the publish ends.
    let offline = next(&mut rx, Duration::from_secs(60)).await;
    assert!(offline.signed, "stream.offline signature: {offline:?}");
    assert_eq!(offline.body["type"], "stream.offline");
    assert_eq!(offline.body["data"]["stream_id"], stream_id.as_str());
    assert_ne!(offline.event_id, live.event_id);
    assert!(ffmpeg.wait().await.unwrap().success());

    shutdown.cancel();
    serving.await.unwrap().unwrap();
}

/// A receiver answering 500 twice gets the same event a third time, and
/// that 200 ends the delivery.
#[tokio::test]
async fn failed_deliveries_are_retried_with_backoff() {
    let (url, mut rx) = receiver(vec![StatusCode::INTERNAL_SERVER_ERROR; 2]).await;
    let webhooks = Webhooks::new(fast(url)).unwrap();
    let queue = webhooks.queue();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(webhooks.run(shutdown.clone()));

    let id = queue.push(&WebhookEvent::StreamOffline {
        stream_id: "retried".parse().unwrap(),
    });
    for expected in [
        StatusCode::INTERNAL_SERVER_ERROR,
        StatusCode::INTERNAL_SERVER_ERROR,
        StatusCode::OK,
    ] {
        let got = next(&mut rx, Duration::from_secs(10)).await;
        assert_eq!(got.answered, expected);
        assert!(got.signed);
        assert_eq!(got.event_id, id.to_string());
        assert_eq!(got.body["type"], "stream.offline");
        assert_eq!(got.body["data"]["stream_id"], "retried");
    }
    // Delivered: nothing is left to flush, so shutdown is immediate, and no
    // fourth attempt came.
    shutdown.cancel();
    task.await.unwrap();
    assert!(rx.try_recv().is_err());
}

/// A receiver that always fails does not hold shutdown past the flush
/// deadline.
#[tokio::test]
async fn shutdown_abandons_what_the_flush_deadline_cannot_deliver() {
    let (url, mut rx) = receiver(vec![StatusCode::SERVICE_UNAVAILABLE; 10_000]).await;
    let mut config = fast(url);
    config.max_attempts = 1_000;
    config.flush_deadline = Duration::from_millis(300);
    let webhooks = Webhooks::new(config).unwrap();
    let queue = webhooks.queue();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(webhooks.run(shutdown.clone()));
    queue.push(&WebhookEvent::StreamOffline {
        stream_id: "stuck".parse().unwrap(),
    });
    // It is being retried...
    next(&mut rx, Duration::from_secs(10)).await;
    next(&mut rx, Duration::from_secs(10)).await;
    // ...and shutdown still ends within the deadline (plus slack).
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("stopped within the flush deadline")
        .unwrap();
}
