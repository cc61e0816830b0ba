//! Regression tests from the security/robustness review: roles re-checked
//! per command, oversized transport frames, unknown rooms.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use common::{Client, Ended, config, memory_bus, room, start, user};
use serde_json::json;
use streamly_chat::ChatHub;
use streamly_chat::moderation::StaticRoomAuthority;
use streamly_core::domain::RoomId;

#[tokio::test]
async fn a_removed_moderator_stops_moderating_at_once() {
    let owner = user("owner");
    let helper = user("helper");
    let viewer = user("viewer");
    let name = room("demod");
    let authority = Arc::new(StaticRoomAuthority::new());
    authority.set_owner(RoomId::parse(&name).unwrap(), owner.id);
    let hub = ChatHub::builder(memory_bus())
        .jwt(common::jwt())
        .config(config())
        .authority(authority)
        .build();
    let addr = start(hub).await;
    let (mut o, _) = Client::join(addr, &name, Some(&owner.token)).await;
    o.send_json(json!({"type": "add_moderator", "user": helper.id}))
        .await;
    assert_eq!(o.next_event().await["type"], "ack");
    let mut h = Client::connect(addr, &name, Some(&helper.token)).await;
    assert_eq!(h.next_json().await["role"], "moderator");
    h.next_json().await;
    // Still a moderator: allowed.
    h.send_json(json!({"type": "unban", "user": viewer.id})).await;
    assert_eq!(h.next_event().await["type"], "ack");
    o.send_json(json!({"type": "remove_moderator", "user": helper.id}))
        .await;
    assert_eq!(o.next_event().await["type"], "ack");
    // Same connection, no longer a moderator: refused.
    h.send_json(json!({"type": "ban", "user": viewer.id})).await;
    assert_eq!(h.next_event().await["code"], "forbidden");
}

#[tokio::test]
async fn a_frame_over_the_transport_limit_closes_with_1009() {
    let hub = ChatHub::builder(memory_bus())
        .jwt(common::jwt())
        .config(config())
        .build();
    let addr = start(hub).await;
    let name = room("huge");
    let (mut a, _) = Client::join(addr, &name, None).await;
    let text = "x".repeat(200 * 1024);
    a.send_json(json!({"type": "send", "text": text})).await;
    assert!(matches!(a.until_end().await, Ended::Closed(1009, _)));
}

#[tokio::test]
async fn unknown_rooms_are_refused_when_required() {
    let owner = user("owner");
    let known = room("known");
    let authority = Arc::new(StaticRoomAuthority::new());
    authority.set_owner(RoomId::parse(&known).unwrap(), owner.id);
    let bus = memory_bus();
    let mut cfg = config();
    cfg.require_known_room = true;
    let hub = ChatHub::builder(bus.clone())
        .jwt(common::jwt())
        .config(cfg)
        .authority(authority)
        .build();
    let addr = start(hub.clone()).await;
    let unknown = room("unknown");
    let mut c = Client::connect(addr, &unknown, None).await;
    let e = c.next_json().await;
    assert_eq!(e["type"], "error");
    assert_eq!(e["code"], "unknown_room");
    assert_eq!(c.until_end().await, Ended::Closed(1008, "no such room".into()));
    assert_eq!(hub.local_viewers(&RoomId::parse(&unknown).unwrap()), 0);
    assert_eq!(bus.room_count(), 0, "nothing created on the bus");
    // A known room still works.
    let (mut v, _) = Client::join(addr, &known, None).await;
    v.send_json(json!({"type": "ping"})).await;
    assert_eq!(v.next_event().await["type"], "pong");
}

#[tokio::test]
async fn any_room_opens_by_default() {
    let hub = ChatHub::builder(memory_bus()).config(config()).build();
    let addr = start(hub).await;
    let (mut v, _) = Client::join(addr, &room("anything"), None).await;
    v.send_json(json!({"type": "ping"})).await;
    assert_eq!(v.next_event().await["type"], "pong");
}

#[tokio::test]
async fn shutdown_sends_shutting_down_then_1001() {
    let hub = ChatHub::builder(memory_bus()).config(config()).build();
    let addr = start(hub.clone()).await;
    let (mut c, _) = Client::join(addr, &room("bye"), None).await;
    let stop = tokio::spawn({
        let hub = hub.clone();
        async move { hub.shutdown().await }
    });
    let e = c.next_event().await;
    assert_eq!(e["type"], "error");
    assert_eq!(e["code"], "shutting_down");
    assert!(matches!(c.until_end().await, Ended::Closed(1001, _)));
    stop.await.unwrap();
}
