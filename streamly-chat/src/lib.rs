//! # streamly-chat
//!
//! A WebSocket chat room beside every stream: a hub of rooms on one node,
//! shared with every other node through a [`ChatBus`](streamly_core::ports::ChatBus)
//! (in memory for one process, Redis for many).
//!
//! ## Layout
//!
//! - [`protocol`] — the JSON frames (`docs/chat-protocol.md`).
//! - [`ChatHub`] — rooms, presence, limits, auth, shutdown; build it with
//!   [`ChatHub::builder`].
//! - [`ChatHub::serve`] — the connection handler, on any byte stream that
//!   carries a WebSocket after its handshake ([`testing::pair`] gives one
//!   on a `tokio::io::duplex`, to test without a network).
//! - [`router`] — the axum WebSocket route `GET /ws?room=…` (serve it with
//!   limits and timeouts: the facade's `streamly::http_server::serve`, as
//!   `examples/chat_server.rs` does).
//! - Delivery: every connection has an outbox (its socket's write side);
//!   the hub's fan-out tasks, one per runtime worker and shared by all
//!   rooms, write each room frame straight to the outboxes, framed once, so
//!   that a message to 10,000 clients costs 10,000 writes, not 10,000 task
//!   wake-ups (`docs/chat-protocol.md`, "Delivery on one node").
//! - [`moderation`] — the [`RoomAuthority`](moderation::RoomAuthority) and
//!   [`ModerationStore`](moderation::ModerationStore) ports with in-memory
//!   adapters.
//! - [`users`] — the [`UserDirectory`](users::UserDirectory) port: a signed-in
//!   client's account must still exist to join; [`ChatHub::disconnect_user`]
//!   closes the connections of an account that goes.
//! - `redis` (feature `redis`, on by default) — [`RedisChatBus`](redis::RedisChatBus)
//!   and [`RedisModerationStore`](redis::RedisModerationStore).
//!
//! ## Example
//!
//! Nest the chat route in an axum app, on the in-memory bus:
//!
//! ```no_run
//! use std::sync::Arc;
//! use streamly_chat::{ChatConfig, ChatHub};
//! use streamly_core::adapters::MemoryChatBus;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! let hub = ChatHub::builder(Arc::new(MemoryChatBus::default()))
//!     .config(ChatConfig::default())
//!     .build();
//! let app = axum::Router::new().nest("/chat", streamly_chat::router(hub.clone()));
//! // Chat frames are small and latency-bound: turn Nagle's algorithm off.
//! use axum::serve::ListenerExt;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8084")
//!     .await?
//!     .tap_io(streamly_chat::disable_nagle);
//! // Clients connect to ws://127.0.0.1:8084/chat/ws?room=demo
//! axum::serve(listener, app).await?;
//! # Ok(())
//! # }
//! ```
//!
//! Drive the handler without a network (what the unit tests do):
//!
//! ```
//! use std::sync::Arc;
//! use futures_util::{SinkExt, StreamExt};
//! use streamly_chat::{ChatHub, Frame, JoinRequest};
//! use streamly_core::adapters::MemoryChatBus;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let hub = ChatHub::builder(Arc::new(MemoryChatBus::default())).build();
//! let (client, server) = streamly_chat::testing::pair(64 * 1024).await;
//! let admission = hub.admit().expect("below the connection cap");
//! let request = JoinRequest { room: Some("demo".into()), token: None };
//! tokio::spawn({
//!     let hub = hub.clone();
//!     async move { hub.serve(admission, request, server).await }
//! });
//! let (mut tx, mut rx) = client.split();
//! let Some(Ok(Frame::Text(welcome))) = rx.next().await else { panic!("no welcome") };
//! assert!(welcome.as_str().contains(r#""type":"welcome""#));
//! tx.send(Frame::text(r#"{"type":"ping"}"#)).await.expect("send");
//! # }
//! ```

pub mod config;
mod connection;
mod fanout;
pub mod frame;
mod hub;
pub mod moderation;
mod outbox;
pub mod protocol;
mod rate_limit;
#[cfg(feature = "redis")]
pub mod redis;
mod room;
pub mod testing;
pub mod users;
mod ws;

pub use config::{ChatConfig, RateLimit};
pub use connection::JoinRequest;
pub use frame::{Frame, close_code};
pub use hub::{Admission, AdmitError, ChatHub, ChatHubBuilder};
pub use rate_limit::TokenBucket;
pub use ws::{WsTransport, disable_nagle, router};
