//! Two chat nodes (two hubs on two ports) sharing the real Redis at
//! `STREAMLY_TEST_REDIS_URL`.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::{Client, Ended, room, start, user};
use serde_json::json;
use streamly_chat::moderation::StaticRoomAuthority;
use streamly_chat::redis::{RedisChatBus, RedisModerationStore};
use streamly_chat::{ChatConfig, ChatHub, RateLimit};
use streamly_core::domain::RoomId;

async fn node(url: &str, authority: Arc<StaticRoomAuthority>) -> (ChatHub, SocketAddr) {
    let mut config = ChatConfig::default();
    config.rate_limit = RateLimit {
        burst: 1000,
        per: Duration::from_secs(1),
    };
    config.presence_interval = Duration::from_millis(50);
    let bus = RedisChatBus::connect(url).await.unwrap();
    let store = RedisModerationStore::connect(url).await.unwrap();
    let hub = ChatHub::builder(Arc::new(bus))
        .jwt(common::jwt())
        .config(config)
        .authority(authority)
        .moderation(Arc::new(store))
        .build();
    let addr = start(hub.clone()).await;
    (hub, addr)
}

#[tokio::test]
async fn clients_on_two_nodes_share_messages_and_history() {
    let Some(url) = common::redis_url("clients_on_two_nodes_share_messages_and_history") else {
        return;
    };
    let authority = Arc::new(StaticRoomAuthority::new());
    let (_h1, n1) = node(&url, authority.clone()).await;
    let (h2, n2) = node(&url, authority).await;
    let name = room("two-nodes");
    let (alice, bob) = (user("alice"), user("bob"));
    let (mut a, _) = Client::join(n1, &name, Some(&alice.token)).await;
    let (mut b, _) = Client::join(n2, &name, Some(&bob.token)).await;
    for i in 0..5 {
        a.say(&format!("a{i}")).await;
    }
    for i in 0..5 {
        assert_eq!(b.next_event().await["text"], format!("a{i}"));
    }
    b.say("hello from node 2").await;
    loop {
        let v = a.next_event().await;
        if v["text"] == "hello from node 2" {
            assert_eq!(v["author"]["username"], "bob");
            break;
        }
    }
    let (_c, h_1) = Client::join(n1, &name, None).await;
    let (_d, h_2) = Client::join(n2, &name, None).await;
    assert_eq!(h_1.len(), 6);
    assert_eq!(h_1, h_2);
    assert_eq!(h2.local_viewers(&RoomId::parse(&name).unwrap()), 2);
}

#[tokio::test]
async fn rooms_are_isolated_across_nodes() {
    let Some(url) = common::redis_url("rooms_are_isolated_across_nodes") else {
        return;
    };
    let authority = Arc::new(StaticRoomAuthority::new());
    let (_h1, n1) = node(&url, authority.clone()).await;
    let (_h2, n2) = node(&url, authority).await;
    let (x, y) = (room("iso-x"), room("iso-y"));
    let alice = user("alice");
    let (mut ax, _) = Client::join(n1, &x, Some(&alice.token)).await;
    let (mut ay, _) = Client::join(n1, &y, Some(&alice.token)).await;
    let (mut bx, _) = Client::join(n2, &x, None).await;
    let (mut by, _) = Client::join(n2, &y, None).await;
    ay.say("in y").await;
    ax.say("in x").await;
    assert_eq!(bx.next_event().await["text"], "in x");
    assert_eq!(by.next_event().await["text"], "in y");
    let (_c, hist) = Client::join(n2, &x, None).await;
    assert_eq!(hist.len(), 1);
}

#[tokio::test]
async fn moderation_is_shared_across_nodes() {
    let Some(url) = common::redis_url("moderation_is_shared_across_nodes") else {
        return;
    };
    let name = room("mod-nodes");
    let owner = user("owner");
    let troll = user("troll");
    let authority = Arc::new(StaticRoomAuthority::new());
    authority.set_owner(RoomId::parse(&name).unwrap(), owner.id);
    let (_h1, n1) = node(&url, authority.clone()).await;
    let (_h2, n2) = node(&url, authority).await;
    let (mut o, _) = Client::join(n1, &name, Some(&owner.token)).await;
    let (mut t, _) = Client::join(n2, &name, Some(&troll.token)).await;

    t.say("spam").await;
    let spam = o.next_event().await;
    assert_eq!(t.next_event().await["id"], spam["id"]);
    o.send_json(json!({"type": "delete", "id": spam["id"]})).await;
    assert_eq!(t.next_event().await["type"], "deleted");

    o.send_json(json!({"type": "timeout", "user": troll.id, "seconds": 30}))
        .await;
    assert_eq!(t.next_event().await["code"], "timed_out");
    t.say("still here").await;
    assert_eq!(t.next_event().await["code"], "timed_out");

    o.send_json(json!({"type": "ban", "user": troll.id})).await;
    assert_eq!(t.next_event().await["code"], "banned");
    assert!(matches!(t.until_end().await, Ended::Closed(1008, _)));
    // Refused on either node.
    for n in [n1, n2] {
        let mut t = Client::connect(n, &name, Some(&troll.token)).await;
        assert_eq!(t.next_json().await["code"], "banned");
    }
}

#[tokio::test]
async fn presence_counts_clients_on_every_node() {
    let Some(url) = common::redis_url("presence_counts_clients_on_every_node") else {
        return;
    };
    let authority = Arc::new(StaticRoomAuthority::new());
    let (h1, n1) = node(&url, authority.clone()).await;
    let (h2, n2) = node(&url, authority).await;
    let name = room("presence-nodes");
    let rid = RoomId::parse(&name).unwrap();
    let (mut a, _) = Client::join(n1, &name, None).await;
    let (b, _) = Client::join(n2, &name, None).await;
    let (c, _) = Client::join(n2, &name, None).await;
    loop {
        let p = a.next_json().await;
        assert_eq!(p["type"], "presence", "{p}");
        if p["viewers"] == 3 {
            break;
        }
    }
    assert_eq!(h1.viewers(&rid), 3);
    assert_eq!(h1.local_viewers(&rid), 1);
    assert_eq!(h2.local_viewers(&rid), 2);
    // Node 2's last client leaves: node 1 hears it without waiting for the
    // report to time out.
    drop((b, c));
    loop {
        let p = a.next_json().await;
        if p["viewers"] == 1 {
            break;
        }
    }
}
