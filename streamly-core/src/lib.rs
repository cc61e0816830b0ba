//! # streamly-core
//!
//! The base every Streamly crate stands on: domain types validated at
//! construction, the *ports* (traits for storage and for the traffic between
//! nodes), authentication (argon2id passwords, HS256 JWTs, stream keys), the
//! services written against the ports, the media-frame type that RTMP ingest
//! and HLS packaging share, and the adapters.
//!
//! ## Layout
//!
//! - [`domain`] — `UserId`, `StreamId`, `Username`, `Email`, `User`, `Stream`,
//!   `RoomId`, `ChatMessage`, … Every `parse` returns a typed error.
//! - [`ports`] — `UserStore`, `StreamStore`, `StreamKeyValidator`, `ChatBus`,
//!   `SegmentSink`: object-safe, used as `Arc<dyn Port>`.
//! - [`auth`] — `PasswordHasher`, `JwtKeys`, `StreamKey`.
//! - [`services`] — `Accounts`, `Streams`, `StoreKeyValidator`.
//! - [`media`] — `MediaFrame` and the FLV/AVC/AAC parsers.
//! - [`net`] — listener admission: a per-address connection cap, a log throttle.
//! - [`adapters`] — in-memory adapters for every port (always built), the
//!   filesystem segment sink, a static key list, and SQL stores behind the
//!   `sqlite` and `postgres` features.
//!
//! ## Example
//!
//! Register a user and create a stream on the in-memory adapters:
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use streamly_core::adapters::{MemoryStreamStore, MemoryUserStore};
//! use streamly_core::auth::{JwtConfig, JwtKeys, PasswordHasher};
//! use streamly_core::services::{Accounts, Streams};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let jwt = JwtKeys::new(&JwtConfig {
//!     secret: b"change me: at least thirty-two bytes long".to_vec(),
//!     issuer: "streamly".into(),
//!     ttl: Duration::from_secs(3600),
//! })?;
//! let accounts = Accounts::new(Arc::new(MemoryUserStore::new()), PasswordHasher::default(), jwt);
//! let streams = Streams::new(Arc::new(MemoryStreamStore::new()));
//!
//! let session = accounts.register("alice", "alice@example.com", "correct horse").await?;
//! let created = streams.create(session.user.id, "Alice plays chess").await?;
//!
//! // The key is shown once; only its hash is stored.
//! println!("publish to rtmp://localhost/live/{}", created.key.expose());
//! println!("watch at /hls/{}/index.m3u8", created.stream.id);
//! assert_eq!(accounts.authenticate(&session.token).await?.username.as_str(), "alice");
//! # Ok(())
//! # }
//! ```

pub mod adapters;
pub mod auth;
pub mod domain;
pub mod media;
pub mod net;
pub mod ports;
pub mod services;
