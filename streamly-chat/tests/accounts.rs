//! Signed-in clients and their accounts: a deleted account's token is
//! refused on join, and its open sockets are closed by
//! `ChatHub::disconnect_user` (issue 11, defect 5), over real WebSockets.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use common::{Client, Ended, config, memory_bus, room, start, user};
use streamly_chat::ChatHub;
use streamly_chat::moderation::ModerationError;
use streamly_chat::users::UserDirectory;
use streamly_core::domain::UserId;

/// Accounts as a set of deleted ids, and a switch that makes it unreachable.
#[derive(Default)]
struct Directory {
    deleted: Mutex<HashSet<UserId>>,
    down: AtomicBool,
}

impl Directory {
    fn delete(&self, user: UserId) {
        self.deleted.lock().unwrap().insert(user);
    }
}

#[async_trait]
impl UserDirectory for Directory {
    async fn exists(&self, user: UserId) -> Result<bool, ModerationError> {
        if self.down.load(Ordering::Relaxed) {
            return Err(ModerationError::unavailable(std::io::Error::other("down")));
        }
        Ok(!self.deleted.lock().unwrap().contains(&user))
    }
}

fn hub(directory: &Arc<Directory>) -> ChatHub {
    ChatHub::builder(memory_bus())
        .config(config())
        .jwt(common::jwt())
        .users(directory.clone())
        .build()
}

#[tokio::test]
async fn a_deleted_account_is_closed_everywhere_and_refused_afterwards() {
    let directory = Arc::new(Directory::default());
    let hub = hub(&directory);
    let addr = start(hub.clone()).await;
    let (alice, bob) = (user("alice"), user("bob"));
    let (one, two) = (room("one"), room("two"));
    let (mut alice_one, _) = Client::join(addr, &one, Some(&alice.token)).await;
    let (mut alice_two, _) = Client::join(addr, &two, Some(&alice.token)).await;
    let (mut bob_one, _) = Client::join(addr, &one, Some(&bob.token)).await;
    let (mut reader, _) = Client::join(addr, &one, None).await;

    // The platform removes the account, then closes its sockets.
    directory.delete(alice.id);
    assert_eq!(hub.disconnect_user(alice.id), 2);
    for client in [&mut alice_one, &mut alice_two] {
        let error = client.next_event().await;
        assert_eq!(error["type"], "error", "{error}");
        assert_eq!(error["code"], "account_deleted", "{error}");
        assert_eq!(
            client.until_end().await,
            Ended::Closed(1008, "account deleted".into())
        );
    }
    // Nobody else is touched: bob still chats, the reader still reads.
    bob_one.say("still here").await;
    for client in [&mut bob_one, &mut reader] {
        let message = client.next_event().await;
        assert_eq!(message["type"], "message", "{message}");
        assert_eq!(message["text"], "still here");
    }
    assert_eq!(hub.disconnect_user(alice.id), 0, "nothing left to close");

    // The token still verifies, but its account is gone.
    let mut again = Client::connect(addr, &one, Some(&alice.token)).await;
    let error = again.next_json().await;
    assert_eq!(error["code"], "account_deleted", "{error}");
    assert_eq!(
        again.until_end().await,
        Ended::Closed(1008, "account deleted".into())
    );
    // Anonymous readers never ask the directory.
    Client::join(addr, &one, None).await;
}

#[tokio::test]
async fn connections_that_ended_leave_nothing_to_disconnect() {
    let directory = Arc::new(Directory::default());
    let hub = hub(&directory);
    let addr = start(hub.clone()).await;
    let alice = user("alice");
    let (mut client, _) = Client::join(addr, &room("r"), Some(&alice.token)).await;
    client.ws.close(None).await.unwrap();
    assert!(matches!(
        client.until_end().await,
        Ended::Closed(..) | Ended::Dropped
    ));
    // The connection's entry goes with it (no table growing per user ever seen).
    let deadline = tokio::time::Instant::now() + common::WAIT;
    while hub.connections() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the connection never ended"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(hub.disconnect_user(alice.id), 0);
}

#[tokio::test]
async fn an_unreachable_directory_refuses_signed_in_joins() {
    let directory = Arc::new(Directory::default());
    let hub = hub(&directory);
    let addr = start(hub.clone()).await;
    directory.down.store(true, Ordering::Relaxed);
    let alice = user("alice");
    let mut client = Client::connect(addr, &room("r"), Some(&alice.token)).await;
    let error = client.next_json().await;
    assert_eq!(error["code"], "unavailable", "{error}");
    assert_eq!(
        client.until_end().await,
        Ended::Closed(1011, "user directory unavailable".into())
    );
    // Readers are unaffected.
    Client::join(addr, &room("r"), None).await;
}
