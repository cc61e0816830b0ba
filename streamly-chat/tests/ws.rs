//! Real WebSocket clients (tokio-tungstenite) against the chat server on
//! 127.0.0.1:0, on the in-memory bus.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Client, Ended, config, memory_bus, room, start, user};
use futures_util::SinkExt;
use serde_json::json;
use streamly_chat::moderation::StaticRoomAuthority;
use streamly_chat::{ChatConfig, ChatHub, RateLimit};
use streamly_core::domain::{ChatAuthor, ChatEvent, ChatMessage, ChatText, MessageId, RoomId, Username};
use streamly_core::ports::ChatBus;
use time::OffsetDateTime;
use tokio_tungstenite::tungstenite::Message;

fn hub_with(config: ChatConfig) -> ChatHub {
    ChatHub::builder(memory_bus())
        .jwt(common::jwt())
        .config(config)
        .build()
}

#[tokio::test]
async fn join_gets_welcome_history_and_presence() {
    let bus = memory_bus();
    let hub = ChatHub::builder(bus.clone())
        .jwt(common::jwt())
        .config(config())
        .build();
    let addr = start(hub).await;
    let name = room("hist");
    let rid = RoomId::parse(&name).unwrap();
    for i in 0..3 {
        let m = ChatMessage {
            id: MessageId::new_random(),
            room: rid.clone(),
            author: ChatAuthor {
                id: streamly_core::domain::UserId::new_random(),
                username: Username::parse("old").unwrap(),
            },
            text: ChatText::parse(&format!("old {i}")).unwrap(),
            sent_at: OffsetDateTime::now_utc(),
        };
        bus.publish(&rid, ChatEvent::Message(m)).await.unwrap();
    }
    let alice = user("alice");
    let mut c = Client::connect(addr, &name, Some(&alice.token)).await;
    let welcome = c.next_json().await;
    assert_eq!(welcome["type"], "welcome");
    assert_eq!(welcome["role"], "viewer");
    assert_eq!(welcome["user"]["username"], "alice");
    let history = c.next_json().await;
    let texts: Vec<_> = history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(texts, ["old 0", "old 1", "old 2"]);
    let presence = c.next_json().await;
    assert_eq!(presence, json!({"type": "presence", "viewers": 1}));
    c.send_json(json!({"type": "ping"})).await;
    assert_eq!(c.next_event().await, json!({"type": "pong"}));
}

#[tokio::test]
async fn message_reaches_everyone_in_order_with_author() {
    let hub = hub_with(config());
    let addr = start(hub.clone()).await;
    let name = room("order");
    let (alice, bob) = (user("alice"), user("bob"));
    let (mut a, _) = Client::join(addr, &name, Some(&alice.token)).await;
    let (mut b, _) = Client::join(addr, &name, Some(&bob.token)).await;
    let (mut c, _) = Client::join(addr, &name, None).await;
    assert_eq!(hub.viewers(&RoomId::parse(&name).unwrap()), 3);
    for i in 0..20 {
        a.say(&format!("  msg {i}  ")).await;
    }
    for client in [&mut a, &mut b, &mut c] {
        for i in 0..20 {
            let m = client.next_event().await;
            assert_eq!(m["type"], "message", "{m}");
            assert_eq!(m["text"], format!("msg {i}"));
            assert_eq!(m["room"], name);
            assert_eq!(m["author"]["username"], "alice");
            assert_eq!(m["author"]["id"], alice.id.to_string());
            assert!(m["sent_at"].as_str().unwrap().contains('T'));
        }
    }
    // A later joiner gets them as history.
    let (_d, history) = Client::join(addr, &name, None).await;
    assert_eq!(history.len(), 20);
}

#[tokio::test]
async fn presence_changes_reach_the_room() {
    let hub = hub_with(config());
    let addr = start(hub).await;
    let name = room("presence");
    let (mut a, _) = Client::join(addr, &name, None).await;
    let (b, _) = Client::join(addr, &name, None).await;
    // Coalesced: a sees 2 eventually (and nothing else in between).
    loop {
        let p = a.next_json().await;
        assert_eq!(p["type"], "presence");
        if p["viewers"] == 2 {
            break;
        }
    }
    drop(b);
    loop {
        let p = a.next_json().await;
        if p["viewers"] == 1 {
            break;
        }
    }
}

#[tokio::test]
async fn anonymous_clients_read_but_cannot_send() {
    let hub = hub_with(config());
    let addr = start(hub).await;
    let name = room("anon");
    let alice = user("alice");
    let (mut anon, _) = Client::join(addr, &name, None).await;
    let (mut a, _) = Client::join(addr, &name, Some(&alice.token)).await;
    anon.say("let me in").await;
    let e = anon.next_event().await;
    assert_eq!(e["type"], "error");
    assert_eq!(e["code"], "unauthorized");
    a.say("from alice").await;
    // Nothing from the anonymous client was broadcast: the next message is alice's.
    assert_eq!(a.next_event().await["text"], "from alice");
    assert_eq!(anon.next_event().await["text"], "from alice");
}

#[tokio::test]
async fn forged_and_expired_tokens_are_refused_clearly() {
    let hub = hub_with(config());
    let addr = start(hub).await;
    let name = room("tokens");
    let mut c = Client::connect(addr, &name, Some("not.a.token")).await;
    let e = c.next_json().await;
    assert_eq!(e["code"], "invalid_token");
    assert!(matches!(c.until_end().await, Ended::Closed(1008, _)));

    let old = OffsetDateTime::now_utc() - time::Duration::hours(3);
    let expired = common::jwt()
        .issue_at(
            streamly_core::domain::UserId::new_random(),
            &Username::parse("late").unwrap(),
            old,
        )
        .unwrap();
    let mut c = Client::connect(addr, &name, Some(&expired)).await;
    assert_eq!(c.next_json().await["code"], "token_expired");
    assert!(matches!(c.until_end().await, Ended::Closed(1008, _)));

    // Bad room name.
    let mut c = Client::connect(addr, "a.b", None).await;
    assert_eq!(c.next_json().await["code"], "invalid_room");

    // Authorization header works too.
    let alice = user("alice");
    let mut req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(format!(
        "ws://{addr}/ws?room={name}"
    ))
    .unwrap();
    req.headers_mut().insert(
        "authorization",
        format!("Bearer {}", alice.token).parse().unwrap(),
    );
    let (ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let mut c = Client { ws };
    let w = c.next_json().await;
    assert_eq!(w["user"]["username"], "alice");
}

#[tokio::test]
async fn rate_limit_answers_retry_after() {
    let mut cfg = config();
    cfg.rate_limit = RateLimit {
        burst: 2,
        per: Duration::from_secs(60),
    };
    let addr = start(hub_with(cfg)).await;
    let name = room("rate");
    let alice = user("alice");
    let (mut a, _) = Client::join(addr, &name, Some(&alice.token)).await;
    a.say("one").await;
    a.say("two").await;
    a.say("three").await;
    // The error is direct, the messages go through the room: any order.
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(a.next_event().await);
    }
    let texts: Vec<_> = got.iter().filter_map(|v| v["text"].as_str()).collect();
    assert_eq!(texts, ["one", "two"]);
    let e = got.iter().find(|v| v["type"] == "error").unwrap();
    assert_eq!(e["code"], "rate_limited");
    let retry = e["retry_after_ms"].as_u64().unwrap();
    assert!(retry > 20_000 && retry <= 30_000, "{retry}");
    // The limit is per user, not per connection.
    let (mut a2, _) = Client::join(addr, &name, Some(&alice.token)).await;
    a2.say("four").await;
    assert_eq!(a2.next_event().await["code"], "rate_limited");
}

#[tokio::test]
async fn oversized_frame_closes_with_1009() {
    let addr = start(hub_with(config())).await;
    let name = room("big");
    let alice = user("alice");
    let (mut a, _) = Client::join(addr, &name, Some(&alice.token)).await;
    let text = "x".repeat(5000);
    a.send_json(json!({"type": "send", "text": text})).await;
    assert!(matches!(a.until_end().await, Ended::Closed(1009, _)));
}

#[tokio::test]
async fn bad_json_gets_errors_then_closes() {
    let addr = start(hub_with(config())).await;
    let name = room("garbage");
    let (mut a, _) = Client::join(addr, &name, None).await;
    a.ws.send(Message::text("{not json")).await.unwrap();
    assert_eq!(a.next_event().await["code"], "bad_request");
    a.ws.send(Message::text(r#"{"type":"nope"}"#)).await.unwrap();
    assert_eq!(a.next_event().await["code"], "bad_request");
    a.ws.send(Message::binary(vec![1u8, 2, 3])).await.unwrap();
    assert_eq!(a.next_event().await["code"], "bad_request");
    // A good frame resets the count.
    a.send_json(json!({"type": "ping"})).await;
    assert_eq!(a.next_event().await["type"], "pong");
    for _ in 0..5 {
        a.ws.send(Message::text("garbage")).await.unwrap();
    }
    for _ in 0..4 {
        assert_eq!(a.next_event().await["code"], "bad_request");
    }
    let last = a.next_event().await;
    assert_eq!(last["code"], "bad_request");
    assert!(matches!(a.until_end().await, Ended::Closed(1008, _)));
}

#[tokio::test]
async fn invalid_text_is_refused_and_never_broadcast() {
    let addr = start(hub_with(config())).await;
    let name = room("text");
    let alice = user("alice");
    let (mut a, _) = Client::join(addr, &name, Some(&alice.token)).await;
    let (mut b, _) = Client::join(addr, &name, None).await;
    for bad in ["", "   ", "bell\u{7}", "tab\tinside", &"y".repeat(501)] {
        a.say(bad).await;
        let e = a.next_event().await;
        assert_eq!(e["code"], "invalid_text", "{bad:?}: {e}");
    }
    a.say(&"z".repeat(500)).await;
    let m = b.next_event().await;
    assert_eq!(m["type"], "message");
    assert_eq!(m["text"].as_str().unwrap().len(), 500);
}

#[tokio::test]
async fn moderation_delete_timeout_ban_survive_reconnects() {
    let owner = user("owner");
    let troll = user("troll");
    let helper = user("helper");
    let name = room("mod");
    let authority = Arc::new(StaticRoomAuthority::new());
    authority.set_owner(RoomId::parse(&name).unwrap(), owner.id);
    let hub = ChatHub::builder(memory_bus())
        .jwt(common::jwt())
        .config(config())
        .authority(authority)
        .build();
    let addr = start(hub).await;
    let mut o = Client::connect(addr, &name, Some(&owner.token)).await;
    assert_eq!(o.next_json().await["role"], "owner");
    o.next_json().await;
    let (mut t, _) = Client::join(addr, &name, Some(&troll.token)).await;
    let (mut h, _) = Client::join(addr, &name, Some(&helper.token)).await;

    // A viewer cannot moderate.
    t.send_json(json!({"type": "ban", "user": owner.id})).await;
    assert_eq!(t.next_event().await["code"], "forbidden");

    // Delete.
    t.say("spam").await;
    let spam = o.next_event().await;
    let id = spam["id"].as_str().unwrap().to_owned();
    assert_eq!(h.next_event().await["id"], id.as_str());
    assert_eq!(t.next_event().await["id"], id.as_str());
    o.send_json(json!({"type": "delete", "id": id})).await;
    for c in [&mut o, &mut t, &mut h] {
        let d = c.next_event().await;
        if d["type"] == "ack" {
            assert_eq!(c.next_event().await, json!({"type": "deleted", "id": id}));
        } else {
            assert_eq!(d, json!({"type": "deleted", "id": id}));
        }
    }
    let (_x, history) = Client::join(addr, &name, None).await;
    assert!(
        history.is_empty(),
        "deleted message still in history: {history:?}"
    );

    // Owner names a moderator, who times the troll out.
    o.send_json(json!({"type": "add_moderator", "user": helper.id}))
        .await;
    assert_eq!(
        o.next_event().await,
        json!({"type": "ack", "action": "add_moderator"})
    );
    let mut h = Client::connect(addr, &name, Some(&helper.token)).await;
    assert_eq!(h.next_json().await["role"], "moderator");
    h.send_json(json!({"type": "timeout", "user": troll.id, "seconds": 60}))
        .await;
    loop {
        let v = h.next_event().await;
        if v["type"] == "ack" {
            assert_eq!(v["action"], "timeout");
            break;
        }
    }
    let told = t.next_event().await;
    assert_eq!(told["code"], "timed_out");
    t.say("am I back?").await;
    let e = t.next_event().await;
    assert_eq!(e["code"], "timed_out");
    assert!(e["retry_after_ms"].as_u64().unwrap() > 50_000);
    // Survives a reconnect.
    drop(t);
    let (mut t, _) = Client::join(addr, &name, Some(&troll.token)).await;
    t.say("new connection").await;
    assert_eq!(t.next_event().await["code"], "timed_out");
    // The owner cannot be moderated.
    h.send_json(json!({"type": "ban", "user": owner.id})).await;
    loop {
        let v = h.next_event().await;
        if v["type"] == "error" {
            assert_eq!(v["code"], "forbidden");
            break;
        }
    }

    // Ban: disconnected now, refused later.
    h.send_json(json!({"type": "ban", "user": troll.id})).await;
    assert_eq!(t.next_event().await["code"], "banned");
    assert!(matches!(t.until_end().await, Ended::Closed(1008, _)));
    let mut t = Client::connect(addr, &name, Some(&troll.token)).await;
    assert_eq!(t.next_json().await["code"], "banned");
    assert!(matches!(t.until_end().await, Ended::Closed(1008, _)));

    // Unban lifts it.
    o.send_json(json!({"type": "unban", "user": troll.id})).await;
    loop {
        let v = o.next_event().await;
        if v["type"] == "ack" && v["action"] == "unban" {
            break;
        }
    }
    let (mut t, _) = Client::join(addr, &name, Some(&troll.token)).await;
    t.say("sorry").await;
    assert_eq!(t.next_event().await["text"], "sorry");
}

#[tokio::test]
async fn slow_client_is_closed_with_1013_and_does_not_slow_the_room() {
    let mut cfg = config();
    cfg.outbound_queue = 16;
    let bus = memory_bus();
    let hub = ChatHub::builder(bus.clone())
        .jwt(common::jwt())
        .config(cfg)
        .build();
    let addr = start(hub).await;
    let name = room("slow");
    let rid = RoomId::parse(&name).unwrap();
    let (mut slow, _) = Client::join(addr, &name, None).await;
    let (mut fast, _) = Client::join(addr, &name, None).await;
    // Large messages fill the slow client's socket buffers; then the room
    // moves on without it.
    let text = "\u{1F600}".repeat(500);
    let author = ChatAuthor {
        id: streamly_core::domain::UserId::new_random(),
        username: Username::parse("flood").unwrap(),
    };
    let total = 6000;
    let reader = tokio::spawn(async move {
        let mut n = 0;
        while n < total {
            let v = fast.next_event().await;
            if v["type"] == "message" {
                n += 1;
            }
        }
        n
    });
    for _ in 0..total {
        let m = ChatMessage {
            id: MessageId::new_random(),
            room: rid.clone(),
            author: author.clone(),
            text: ChatText::parse(&text).unwrap(),
            sent_at: OffsetDateTime::now_utc(),
        };
        bus.publish(&rid, ChatEvent::Message(m)).await.unwrap();
        tokio::task::yield_now().await;
    }
    assert_eq!(reader.await.unwrap(), total);
    assert!(matches!(slow.until_end().await, Ended::Closed(1013, _)));
}

#[tokio::test]
async fn idle_clients_are_closed_and_heartbeats_sent() {
    let mut cfg = config();
    cfg.heartbeat_interval = Duration::from_millis(50);
    cfg.idle_timeout = Duration::from_millis(400);
    let addr = start(hub_with(cfg)).await;
    let name = room("idle");
    let (mut a, _) = Client::join(addr, &name, None).await;
    // The server pings; the client's automatic pongs keep it alive for a
    // while, so read raw frames until a ping shows up.
    loop {
        let m = tokio::time::timeout(common::WAIT, futures_util::StreamExt::next(&mut a.ws))
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if matches!(m, Message::Ping(_)) {
            break;
        }
    }
    // A client that never answers is closed by the idle timer: use a raw
    // connection that stops reading (so it sends no pongs).
    let mut cfg = config();
    cfg.heartbeat_interval = Duration::from_secs(3600);
    cfg.idle_timeout = Duration::from_millis(200);
    let addr = start(hub_with(cfg)).await;
    let (mut b, _) = Client::join(addr, &name, None).await;
    assert_eq!(b.until_end().await, Ended::Closed(1000, "idle timeout".into()));
}

#[tokio::test]
async fn connection_cap_refuses_with_503() {
    let mut cfg = config();
    cfg.max_connections = 2;
    let hub = hub_with(cfg);
    let addr = start(hub.clone()).await;
    let name = room("cap");
    let (_a, _) = Client::join(addr, &name, None).await;
    let (_b, _) = Client::join(addr, &name, None).await;
    let err = tokio_tungstenite::connect_async(format!("ws://{addr}/ws?room={name}"))
        .await
        .expect_err("third connection refused");
    match err {
        tokio_tungstenite::tungstenite::Error::Http(resp) => assert_eq!(resp.status(), 503),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(hub.connections(), 2);
}

#[tokio::test]
async fn shutdown_closes_everyone_with_1001() {
    let hub = hub_with(config());
    let addr = start(hub.clone()).await;
    let name = room("bye");
    let (mut a, _) = Client::join(addr, &name, None).await;
    let (mut b, _) = Client::join(addr, &name, None).await;
    let stopping = tokio::spawn({
        let hub = hub.clone();
        async move { hub.shutdown().await }
    });
    assert!(matches!(a.until_end().await, Ended::Closed(1001, _)));
    assert!(matches!(b.until_end().await, Ended::Closed(1001, _)));
    tokio::time::timeout(common::WAIT, stopping)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(hub.connections(), 0);
    assert!(hub.admit().is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_room_gets_every_message_in_order_while_clients_join() {
    // More clients than one fan-out shard writes before yielding (512), on
    // two workers (two shards), with clients still joining while messages
    // flow: every client that has joined gets every later message once, in
    // order, after its history.
    let hub = hub_with(config());
    let addr = start(hub.clone()).await;
    let name = room("large");
    let alice = user("alice");
    let (mut sender, _) = Client::join(addr, &name, Some(&alice.token)).await;
    let mut early = Vec::new();
    for _ in 0..1100 {
        early.push(Client::join(addr, &name, None).await.0);
    }
    let late_joiners = {
        let name = name.clone();
        tokio::spawn(async move {
            let mut late = Vec::new();
            for _ in 0..40 {
                late.push(Client::join(addr, &name, None).await);
            }
            late
        })
    };
    for i in 0..30 {
        sender.say(&format!("m{i}")).await;
    }
    let late = late_joiners.await.unwrap();
    let expected: Vec<String> = (0..30).map(|i| format!("m{i}")).collect();
    for mut client in early {
        assert_eq!(texts_after(&mut client, Vec::new(), 30).await, expected);
    }
    for (mut client, history) in late {
        // History plus live messages: each message exactly once, in order.
        let seen = history
            .iter()
            .map(|m| m["text"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(texts_after(&mut client, seen, 30).await, expected);
    }
}

/// `texts` followed by the texts of the live messages `client` reads,
/// until there are `total`.
async fn texts_after(client: &mut Client, mut texts: Vec<String>, total: usize) -> Vec<String> {
    while texts.len() < total {
        let v = client.next_event().await;
        if v["type"] == "message" {
            texts.push(v["text"].as_str().unwrap().to_owned());
        }
    }
    texts
}

#[tokio::test]
async fn a_plain_http_request_is_refused_with_400() {
    let hub = hub_with(config());
    let addr = start(hub.clone()).await;
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    tcp.write_all(b"GET /ws?room=plain HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    tcp.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 400"), "{response}");
    assert!(response.contains("Connection"), "{response}");
    assert_eq!(hub.connections(), 0);
}
