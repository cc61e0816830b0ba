//! Viewer analytics against the real platform: ffmpeg publishes the
//! fixture, N players poll the LL-HLS playlist with distinct session ids
//! (and one chat client joins the room); `GET /api/streams/{id}/analytics`
//! shows N concurrent viewers within one sampling period, N unique ones,
//! and a watch time of about N × the time they played; the recording of
//! the broadcast shows the same figures and deleting it deletes them. Then
//! two platforms
//! over one Postgres database: each node's samples of a period are summed.
#![allow(clippy::unwrap_used)]

mod platform_support;

use std::time::{Duration, Instant};

use platform_support::{
    Running, have, http, player, postgres_schema, publish, ready_recording, skip_or_fail_in_ci,
    streamer_with_stream, unique, wait_for, wait_for_playlist,
};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

/// The sampling period of these tests.
const PERIOD: Duration = Duration::from_secs(2);
/// Concurrent players.
const PLAYERS: usize = 6;
/// How long they play.
const PLAYING: Duration = Duration::from_secs(16);

async fn analytics(base: &str, id: &str, token: &str) -> Value {
    let r = http(
        "GET",
        &format!("{base}/api/streams/{id}/analytics"),
        Some(token),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body
}

fn points(a: &Value) -> Vec<(u64, u64, u64)> {
    a["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["viewers"].as_u64().unwrap(),
                p["playback"].as_u64().unwrap(),
                p["chat"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_players_are_counted_with_their_watch_time() {
    if !have("ffmpeg") {
        skip_or_fail_in_ci("ffmpeg is not on PATH");
        return;
    }
    // Recorded (a segment directory): the broadcast's recording and its
    // analytics go together.
    let segments = tempfile::tempdir().unwrap();
    let running = Running::start_tuned(
        None,
        Some(segments.path()),
        streamly::web::UiConfig::default(),
        |c| {
            c.analytics.sample_period = PERIOD;
        },
    )
    .await;
    let base = running.base.clone();
    let (token, created) = streamer_with_stream(&base, &format!("a{}", unique()), "Counted").await;
    let id = created["id"].as_str().unwrap().to_owned();
    let publish_url = format!(
        "{}/{}",
        created["rtmp_url"].as_str().unwrap(),
        created["stream_key"].as_str().unwrap()
    );
    let playlist = format!("{base}/hls/{id}/index.m3u8");

    // Nothing yet: no broadcast.
    let none = analytics(&base, &id, &token).await;
    assert_eq!(none["broadcast_started_at"], Value::Null);
    // Owner-only.
    let url = format!("{base}/api/streams/{id}/analytics");
    assert_eq!(http("GET", &url, None, None).await.status, 401);
    let (other, _) = streamer_with_stream(&base, &format!("o{}", unique()), "Other").await;
    let r = http("GET", &url, Some(&other), None).await;
    assert_eq!(
        (r.status, r.body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );

    let mut ffmpeg = publish(&publish_url, true);
    wait_for_playlist(&playlist).await;

    // One chat client in the room, and requests that must not count: no
    // session, a malformed one, a segment with a session.
    let chat_url = format!("{}/ws?room={id}", base.replace("http://", "ws://"));
    let (chat, _) = tokio_tungstenite::connect_async(chat_url.as_str()).await.unwrap();
    let stop = CancellationToken::new();
    let junk = {
        let (playlist, stop) = (playlist.clone(), stop.clone());
        tokio::spawn(async move {
            while !stop.is_cancelled() {
                http("GET", &playlist, None, None).await;
                http("GET", &format!("{playlist}?session=bad%20id!"), None, None).await;
                http("GET", &format!("{playlist}?session=x"), None, None).await;
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        })
    };

    let started = Instant::now();
    let players: Vec<_> = (0..PLAYERS)
        .map(|i| player(playlist.clone(), format!("player-{i}-{}", unique()), stop.clone()))
        .collect();
    // N viewers within one sampling period (plus the one already running
    // when they started).
    let seen = wait_for(
        "N concurrent viewers",
        2 * PERIOD + Duration::from_secs(3),
        || async {
            let a = analytics(&base, &id, &token).await;
            points(&a).iter().any(|p| p.1 == PLAYERS as u64).then_some(a)
        },
    )
    .await;
    let reached = started.elapsed();
    eprintln!(
        "{PLAYERS} players counted {reached:?} after they started: {:?}",
        points(&seen)
    );
    assert_eq!(seen["live"], true);
    assert!(
        points(&seen).iter().any(|p| p.2 == 1),
        "the chat client: {:?}",
        points(&seen)
    );

    tokio::time::sleep(PLAYING.saturating_sub(started.elapsed())).await;
    stop.cancel();
    let played = started.elapsed();
    for p in players {
        assert!(p.await.unwrap() > 10, "a player kept loading the playlist");
    }
    junk.await.unwrap();
    drop(chat);
    // Two more periods: the last ones the players were in are written.
    tokio::time::sleep(2 * PERIOD + Duration::from_millis(500)).await;

    let a = analytics(&base, &id, &token).await;
    let figures = points(&a);
    let watch = a["watch_time_s"].as_f64().unwrap();
    let expected = PLAYERS as f64 * played.as_secs_f64();
    eprintln!(
        "points {figures:?}; peak {} average {:.2} unique {}; watch time {watch:.1} s, expected ≈ {expected:.1} s",
        a["peak_viewers"], a["average_viewers"], a["unique_viewers"]
    );
    assert_eq!(a["peak_viewers"], PLAYERS as u64);
    assert_eq!(
        a["unique_viewers"], PLAYERS as u64,
        "junk sessions are not counted"
    );
    assert!(figures.iter().all(|p| p.1 <= PLAYERS as u64), "{figures:?}");
    assert!(figures.last().unwrap().1 == 0, "the players left: {figures:?}");
    // Each player shows in every period it loaded a playlist in: its
    // first and last may be partial, so up to two periods more.
    let slack = PLAYERS as f64 * 2.0 * PERIOD.as_secs_f64();
    assert!(
        (watch - expected).abs() <= slack,
        "watch time {watch:.1} s, expected {expected:.1} s ± {slack:.1}"
    );
    let average = a["average_viewers"].as_f64().unwrap();
    assert!(average > 0.0 && average <= PLAYERS as f64, "{average}");

    // Bounded operator metrics, no per-stream label.
    let metrics = http("GET", &format!("{base}/metrics"), None, None).await.text;
    for family in ["streamly_playback_sessions", "streamly_analytics_samples_total"] {
        let line = metrics
            .lines()
            .find(|l| l.starts_with(family))
            .unwrap_or_else(|| panic!("{family} in /metrics"));
        assert!(!line.contains(&id), "{line}");
    }
    assert!(!metrics.contains(&id), "no stream id in /metrics");

    // The publish ends: the last broadcast's figures stay, not live; the
    // recording of it names the same broadcast.
    ffmpeg.kill().await.ok();
    let rec = ready_recording(&base, &id).await;
    let rec_id = rec["id"].as_str().unwrap();
    let ended = analytics(&base, &id, &token).await;
    assert_eq!(ended["live"], false);
    assert_eq!(ended["unique_viewers"], PLAYERS as u64);
    let by_recording = http(
        "GET",
        &format!("{base}/api/streams/{id}/analytics?recording={rec_id}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(by_recording.status, 200, "{}", by_recording.text);
    assert_eq!(by_recording.body["broadcast_started_at"], rec["started_at"]);
    assert_eq!(by_recording.body["peak_viewers"], PLAYERS as u64);
    // Deleting the recording deletes its analytics.
    let r = http(
        "DELETE",
        &format!("{base}/api/recordings/{rec_id}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(
        analytics(&base, &id, &token).await["broadcast_started_at"],
        Value::Null
    );
    let r = http(
        "GET",
        &format!("{base}/api/streams/{id}/analytics?recording={rec_id}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(r.status, 404, "{}", r.text);

    running.stop().await;
}

/// Two platforms over one Postgres database, each with its own chat hub:
/// node A ingests the stream and serves two players and one chat client,
/// node B serves two chat clients of the same room. Each writes its own
/// sample per period; the API (asked on either node) sums them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_write_samples_that_are_summed() {
    if !have("ffmpeg") {
        skip_or_fail_in_ci("ffmpeg is not on PATH");
        return;
    }
    let Some((url, schema)) = postgres_schema("analytics") else {
        return;
    };
    let tune = |c: &mut streamly::PlatformConfig| c.analytics.sample_period = PERIOD;
    let a = Running::start_tuned(Some(&url), None, streamly::web::UiConfig::default(), tune).await;
    let b = Running::start_tuned(Some(&url), None, streamly::web::UiConfig::default(), tune).await;
    let (token, created) = streamer_with_stream(&a.base, &format!("n{}", unique()), "Two nodes").await;
    let id = created["id"].as_str().unwrap().to_owned();
    let mut ffmpeg = publish(
        &format!(
            "{}/{}",
            created["rtmp_url"].as_str().unwrap(),
            created["stream_key"].as_str().unwrap()
        ),
        true,
    );
    let playlist = format!("{}/hls/{id}/index.m3u8", a.base);
    wait_for_playlist(&playlist).await;
    let stop = CancellationToken::new();
    let players: Vec<_> = (0..2)
        .map(|i| {
            player(
                playlist.clone(),
                format!("two-nodes-{i}-{}", unique()),
                stop.clone(),
            )
        })
        .collect();
    let mut chats = Vec::new();
    for base in [&a.base, &b.base, &b.base] {
        let ws = format!("{}/ws?room={id}", base.replace("http://", "ws://"));
        chats.push(tokio_tungstenite::connect_async(ws.as_str()).await.unwrap().0);
    }

    let summed = wait_for(
        "both nodes' samples, summed",
        4 * PERIOD + Duration::from_secs(3),
        || async {
            let a = analytics(&b.base, &id, &token).await;
            points(&a).into_iter().find(|p| *p == (3, 2, 3))
        },
    )
    .await;
    eprintln!("a period with both nodes' samples (viewers, playback, chat): {summed:?}");
    let from_a = analytics(&a.base, &id, &token).await;
    assert!(points(&from_a).contains(&summed), "either node answers the same");

    stop.cancel();
    for p in players {
        p.await.unwrap();
    }
    drop(chats);
    ffmpeg.kill().await.ok();
    a.stop().await;
    b.stop().await;
    let dropped = std::process::Command::new("psql")
        .env("PGOPTIONS", "--client-min-messages=warning")
        .args([
            &std::env::var("STREAMLY_TEST_POSTGRES_URL").unwrap(),
            "-qAtc",
            &format!("DROP SCHEMA {schema} CASCADE"),
        ])
        .status()
        .expect("psql on PATH");
    assert!(dropped.success(), "drop schema {schema}");
}
