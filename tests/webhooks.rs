//! Webhooks against a real receiver on port 0 (signatures checked:
//! `platform_support::webhook_receiver`), ffmpeg publishing to a real platform, retries after 500s, and a bounded
//! shutdown.
#![allow(clippy::unwrap_used)]

mod platform_support;

use std::time::Duration;

use axum::http::StatusCode;
use platform_support::webhook_receiver::{SECRET, next, receiver};
use platform_support::{have, publish};
use streamly::core::domain::UserId;
use streamly::webhooks::{WebhookConfig, WebhookEvent, Webhooks};
use streamly::{Platform, PlatformConfig};
use tokio_util::sync::CancellationToken;

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
