//! The connection handler driven without a network, through an in-memory
//! WebSocket on `tokio::io::duplex` (the same outbox and fan-out as under
//! the router), on paused tokio time.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use streamly_chat::testing::{ChannelTransport, pair};
use streamly_chat::{ChatConfig, ChatHub, Frame, JoinRequest};
use streamly_core::adapters::MemoryChatBus;

async fn next(c: &mut ChannelTransport) -> Frame {
    c.next().await.unwrap().unwrap()
}

async fn next_json(c: &mut ChannelTransport) -> Value {
    loop {
        match next(c).await {
            Frame::Text(t) => return serde_json::from_str(t.as_str()).unwrap(),
            Frame::Ping(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

async fn connect(hub: &ChatHub, room: &str) -> ChannelTransport {
    connect_with(hub, room, 64 * 1024).await
}

/// A client over a pipe of `capacity` bytes each way.
async fn connect_with(hub: &ChatHub, room: &str, capacity: usize) -> ChannelTransport {
    let (client, server) = pair(capacity).await;
    let admission = hub.admit().unwrap();
    let request = JoinRequest {
        room: Some(room.into()),
        token: None,
    };
    let hub = hub.clone();
    tokio::spawn(async move { hub.serve(admission, request, server).await });
    client
}

#[tokio::test(start_paused = true)]
async fn handler_runs_on_any_transport_and_times_out_idle_clients() {
    let mut config = ChatConfig::default();
    config.heartbeat_interval = Duration::from_secs(20);
    config.idle_timeout = Duration::from_secs(50);
    let hub = ChatHub::builder(Arc::new(MemoryChatBus::default()))
        .config(config)
        .build();
    let mut c = connect(&hub, "demo").await;
    assert_eq!(next_json(&mut c).await["role"], "anonymous");
    assert_eq!(next_json(&mut c).await["type"], "history");
    assert_eq!(next_json(&mut c).await, json!({"type": "presence", "viewers": 1}));
    c.send(Frame::text(r#"{"type":"send","text":"hi"}"#))
        .await
        .unwrap();
    assert_eq!(next_json(&mut c).await["code"], "unauthorized");
    c.send(Frame::text(r#"{"type":"ping"}"#)).await.unwrap();
    assert_eq!(next_json(&mut c).await["type"], "pong");
    // Paused time: the heartbeat fires at 20 s and 40 s, the idle timer at
    // 50 s. The client reads nothing meanwhile, so it answers no ping (a
    // WebSocket client answers pings as it reads).
    tokio::time::sleep(Duration::from_secs(70)).await;
    let mut pings = 0;
    loop {
        match next(&mut c).await {
            Frame::Ping(_) => pings += 1,
            Frame::Close(Some((code, reason))) => {
                assert_eq!((code, reason.as_str()), (1000, "idle timeout"));
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(pings, 2);
    // The connection ended: its slot and its room are released.
    hub.shutdown().await;
    assert_eq!(hub.connections(), 0);
    assert_eq!(
        hub.viewers(&streamly_core::domain::RoomId::parse("demo").unwrap()),
        0
    );
}

#[tokio::test(start_paused = true)]
async fn a_pong_keeps_the_client_alive() {
    let mut config = ChatConfig::default();
    config.heartbeat_interval = Duration::from_secs(20);
    config.idle_timeout = Duration::from_secs(30);
    let hub = ChatHub::builder(Arc::new(MemoryChatBus::default()))
        .config(config)
        .build();
    let mut c = connect(&hub, "alive").await;
    for _ in 0..3 {
        next_json(&mut c).await;
    }
    // Answer five heartbeats: 100 s pass, longer than the idle timeout.
    for _ in 0..5 {
        assert!(matches!(next(&mut c).await, Frame::Ping(_)));
        c.send(Frame::Pong(Default::default())).await.unwrap();
    }
    c.send(Frame::text(r#"{"type":"ping"}"#)).await.unwrap();
    assert_eq!(next_json(&mut c).await["type"], "pong");
}

#[tokio::test(start_paused = true)]
async fn a_client_that_pings_without_reading_is_closed_as_too_slow() {
    let hub = ChatHub::builder(Arc::new(MemoryChatBus::default())).build();
    // A 1 KiB pipe: the server's pongs soon stop fitting.
    let c = connect_with(&hub, "pinger", 1024).await;
    let (mut tx, mut rx) = c.split();
    // Each WebSocket ping is answered with a pong of the same 100 bytes;
    // 2,000 of them are three times the 64 KiB the server keeps unread.
    let sender = tokio::spawn(async move {
        for _ in 0..2000 {
            if tx.send(Frame::Ping(vec![7; 100].into())).await.is_err() {
                break;
            }
        }
        tx
    });
    // Nothing is read until the server has done all it can.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut pongs = 0;
    let close = loop {
        match rx.next().await.unwrap().unwrap() {
            Frame::Pong(_) => pongs += 1,
            Frame::Text(_) => {}
            Frame::Close(close) => break close,
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(close, Some((1013, "client too slow".to_owned())));
    assert!((600..2000).contains(&pongs), "{pongs} pongs queued");
    drop(sender);
    hub.shutdown().await;
    assert_eq!(hub.connections(), 0);
}
