//! One `ChatBus` conformance suite, run against the in-memory bus and the
//! Redis bus.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use streamly_chat::redis::{RedisChatBus, RedisChatBusConfig};
use streamly_core::adapters::MemoryChatBus;
use streamly_core::domain::{
    ChatAuthor, ChatEvent, ChatMessage, ChatText, MessageId, RoomId, UserId, Username,
};
use streamly_core::ports::{ChatBus, ChatSubscription, SubscriptionError};
use time::OffsetDateTime;

const HISTORY: usize = 100;
const ROOM_CAPACITY: usize = 16;

fn message(room: &RoomId, text: &str) -> ChatMessage {
    ChatMessage {
        id: MessageId::new_random(),
        room: room.clone(),
        author: ChatAuthor {
            id: UserId::new_random(),
            username: Username::parse("tester").unwrap(),
        },
        text: ChatText::parse(text).unwrap(),
        // Whole seconds: RFC 3339 round trips exactly.
        sent_at: OffsetDateTime::from_unix_timestamp(OffsetDateTime::now_utc().unix_timestamp()).unwrap(),
    }
}

async fn recv(sub: &mut ChatSubscription) -> ChatEvent {
    tokio::time::timeout(common::WAIT, sub.recv())
        .await
        .expect("event in time")
        .expect("event")
}

fn texts(h: &[ChatMessage]) -> Vec<String> {
    h.iter().map(|m| m.text.as_str().to_owned()).collect()
}

async fn conformance(bus: Arc<dyn ChatBus>) {
    bus.ping().await.unwrap();
    let room = RoomId::parse(&common::room("conf")).unwrap();
    let other = RoomId::parse(&common::room("conf-other")).unwrap();
    assert!(bus.history(&room, 10).await.unwrap().is_empty());

    // Publish/subscribe, in order, to every subscriber, rooms isolated.
    let mut s1 = bus.subscribe(&room).await.unwrap();
    let mut s2 = bus.subscribe(&room).await.unwrap();
    let mut so = bus.subscribe(&other).await.unwrap();
    let m1 = message(&room, "first");
    let m2 = message(&room, "second");
    let mo = message(&other, "elsewhere");
    bus.publish(&other, ChatEvent::Message(mo.clone())).await.unwrap();
    bus.publish(&room, ChatEvent::Message(m1.clone())).await.unwrap();
    bus.publish(&room, ChatEvent::Message(m2.clone())).await.unwrap();
    let silenced = ChatEvent::UserSilenced {
        user: UserId::new_random(),
        until: None,
    };
    bus.publish(&room, silenced.clone()).await.unwrap();
    for sub in [&mut s1, &mut s2] {
        assert_eq!(recv(sub).await, ChatEvent::Message(m1.clone()));
        assert_eq!(recv(sub).await, ChatEvent::Message(m2.clone()));
        assert_eq!(recv(sub).await, silenced);
    }
    assert_eq!(recv(&mut so).await, ChatEvent::Message(mo.clone()));

    // History: oldest first, limited, per room.
    assert_eq!(
        bus.history(&room, 10).await.unwrap(),
        vec![m1.clone(), m2.clone()]
    );
    assert_eq!(bus.history(&room, 1).await.unwrap(), vec![m2.clone()]);
    assert_eq!(bus.history(&other, 10).await.unwrap(), vec![mo]);

    // Deletion is broadcast and removes the message from history.
    bus.publish(&room, ChatEvent::Deleted { id: m1.id })
        .await
        .unwrap();
    assert_eq!(recv(&mut s1).await, ChatEvent::Deleted { id: m1.id });
    assert_eq!(bus.history(&room, 10).await.unwrap(), vec![m2.clone()]);

    // History is capped.
    for i in 0..HISTORY + 5 {
        bus.publish(&room, ChatEvent::Message(message(&room, &format!("n{i}"))))
            .await
            .unwrap();
    }
    let h = bus.history(&room, HISTORY + 50).await.unwrap();
    assert_eq!(h.len(), HISTORY);
    assert_eq!(h[0].text.as_str(), "n5");
    assert_eq!(texts(&h).last().unwrap(), &format!("n{}", HISTORY + 4));

    // A subscriber that falls behind is told it lagged, then continues.
    let mut lagging = bus.subscribe(&room).await.unwrap();
    for i in 0..ROOM_CAPACITY * 3 {
        bus.publish(&room, ChatEvent::Message(message(&room, &format!("lag{i}"))))
            .await
            .unwrap();
    }
    let last = message(&room, "last");
    bus.publish(&room, ChatEvent::Message(last.clone()))
        .await
        .unwrap();
    // Make sure everything reached this node: s2 sees `last` eventually.
    loop {
        if let ChatEvent::Message(m) = tokio::time::timeout(common::WAIT, s2.recv())
            .await
            .unwrap()
            .unwrap_or(ChatEvent::Deleted { id: m2.id })
            && m.id == last.id
        {
            break;
        }
    }
    match tokio::time::timeout(common::WAIT, lagging.recv()).await.unwrap() {
        Err(SubscriptionError::Lagged(n)) => assert!(n > 0),
        other => panic!("expected a lag, got {other:?}"),
    }
    assert!(matches!(recv(&mut lagging).await, ChatEvent::Message(_)));
}

#[tokio::test]
async fn memory_bus_conforms() {
    conformance(Arc::new(MemoryChatBus::new(ROOM_CAPACITY, HISTORY))).await;
}

#[tokio::test]
async fn redis_bus_conforms() {
    let Some(url) = common::redis_url("redis_bus_conforms") else {
        return;
    };
    let mut config = RedisChatBusConfig::default();
    config.history_len = HISTORY;
    config.room_capacity = ROOM_CAPACITY;
    let bus = RedisChatBus::connect_with(&url, config).await.unwrap();
    conformance(Arc::new(bus)).await;
}

#[tokio::test]
async fn redis_bus_reports_unavailable_when_unreachable() {
    // Nothing listens on port 1: connecting fails with a clear error.
    let mut config = RedisChatBusConfig::default();
    config.timeout = Duration::from_millis(300);
    let err = RedisChatBus::connect_with("redis://127.0.0.1:1/", config)
        .await
        .expect_err("unreachable");
    assert!(err.to_string().contains("unavailable"), "{err}");
}

/// The pub/sub connection survives its own keepalive PINGs (in subscribed
/// mode Redis answers them differently): no reconnection over many
/// keepalive periods, and every event arrives.
#[tokio::test]
async fn redis_pubsub_connection_stays_up_across_keepalives() {
    let Some(url) = common::redis_url("redis_pubsub_connection_stays_up_across_keepalives") else {
        return;
    };
    let mut config = RedisChatBusConfig::default();
    config.keepalive = Duration::from_millis(10);
    let bus = RedisChatBus::connect_with(&url, config).await.unwrap();
    let room = RoomId::parse(&common::room("keepalive")).unwrap();
    let mut sub = bus.subscribe(&room).await.unwrap();
    let generation = bus.connection_generation();
    let first = *generation.borrow();
    let mut pace = tokio::time::interval(Duration::from_millis(15));
    for i in 0..30 {
        pace.tick().await;
        let m = message(&room, &format!("k{i}"));
        bus.publish(&room, ChatEvent::Message(m.clone())).await.unwrap();
        assert_eq!(recv(&mut sub).await, ChatEvent::Message(m));
    }
    assert_eq!(
        *generation.borrow(),
        first,
        "the pub/sub connection was re-established"
    );
}

/// History lists expire `history_ttl` after the last message.
#[tokio::test]
async fn redis_history_lists_expire() {
    let Some(url) = common::redis_url("redis_history_lists_expire") else {
        return;
    };
    let mut config = RedisChatBusConfig::default();
    config.prefix = format!("streamly-test-ttl-{}", uuid_like());
    config.history_ttl = Duration::from_secs(3600);
    let prefix = config.prefix.clone();
    let bus = RedisChatBus::connect_with(&url, config).await.unwrap();
    let room = RoomId::parse("ttl").unwrap();
    bus.publish(&room, ChatEvent::Message(message(&room, "hi")))
        .await
        .unwrap();
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let key = format!("{prefix}:history:ttl");
    let ttl: i64 = redis::cmd("TTL").arg(&key).query_async(&mut conn).await.unwrap();
    assert!(ttl > 3500 && ttl <= 3600, "{ttl}");
    let _: () = redis::cmd("DEL").arg(&key).query_async(&mut conn).await.unwrap();
}

fn uuid_like() -> String {
    MessageId::new_random().to_string()
}
