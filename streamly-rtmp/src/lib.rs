//! # streamly-rtmp
//!
//! RTMP ingest for Streamly: accepts publishers (OBS, ffmpeg, any RTMP
//! encoder), asks a [`StreamKeyValidator`](streamly_core::ports::StreamKeyValidator)
//! whether the stream key may go live, and turns the FLV tags it receives
//! into [`MediaFrame`](streamly_core::media::MediaFrame)s that subscribers
//! (the HLS packager, a recorder, your code) read from a [`StreamHub`].
//! It depends on `streamly-core` only and can be used on its own.
//!
//! ## Layout
//!
//! - Sans-IO core (no tokio, no sockets, no clock):
//!   [`handshake`] (RTMP spec §5.2), [`chunk`] (the chunk stream, §5.3: our
//!   own bounded decoder, correct for interleaved chunk streams, and the
//!   encoder), [`amf0`] (a bounded AMF0 codec), [`session`] (the ingest state
//!   machine: commands, acknowledgements, publish requests, media messages).
//! - [`StreamHub`] (`hub.rs`): live streams, started/ended events, bounded
//!   per-subscriber channels, replay of the decoder configuration and the
//!   current GOP to new subscribers, the slow-subscriber policy.
//! - The tokio glue: [`RtmpServer`] (`server.rs`: listener, connection cap,
//!   graceful shutdown) and `connection.rs` (one task per connection:
//!   timeouts, validator call, media tag parsing).
//!
//! ## Behaviour
//!
//! - The publishing name is the stream key (`rtmp://host/live/<key>`; any
//!   `?query` is stripped). The app must be one of [`RtmpConfig::apps`].
//!   A rejection (unknown key, validator error or timeout, stream already
//!   live) sends `onStatus` `NetStream.Publish.BadName` (or `.Failed` when the
//!   validator could not answer) and closes the connection; nothing is
//!   published. Only a granted publish is reported to
//!   `publish_ended` when it ends (unpublish, disconnect, idle timeout or
//!   shutdown).
//! - Validator contract: `validate` runs under `validate_timeout`; on
//!   timeout its future is dropped and the publish is rejected, and
//!   `publish_ended` is **not** called (there is no granted stream). So a
//!   [`StreamKeyValidator`](streamly_core::ports::StreamKeyValidator) must not
//!   have side effects that outlive a call that times out or fails (e.g. do
//!   not mark the stream live in `validate`, or undo/expire that mark when
//!   the call does not complete). Likewise a granted publish the hub refuses
//!   because the stream already has a publisher gets no `publish_ended`: the
//!   stream is still live through the first publisher.
//! - [`StreamHub::disconnect`] closes a stream's current publisher (e.g. a
//!   key revoked by the platform); the publish ends as on a disconnect.
//! - Codecs: H.264 video and AAC audio are carried. Any other codec is
//!   decided **per track**: the first tag of an unsupported codec logs a
//!   warning and that track is ignored for the rest of the publish, while the
//!   other track keeps flowing (so an H.264 + MP3 publish gives video only).
//!   Malformed tags of a supported codec are dropped and counted.
//! - Slow subscribers and the `Started` ordering guarantee: see [`StreamHub`].
//! - Logs: every line carries the connection id, peer address and (once
//!   granted) stream id through a `tracing` span. Stream keys are never
//!   logged.
//!
//! ## Example
//!
//! ```
//! use std::sync::Arc;
//! use streamly_core::adapters::StaticKeyValidator;
//! use streamly_rtmp::{RtmpConfig, RtmpServer, StreamEvent};
//! use tokio_util::sync::CancellationToken;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let validator = Arc::new(StaticKeyValidator::from_spec("demo=secret1")?);
//! let server = RtmpServer::bind("127.0.0.1:0".parse()?, RtmpConfig::default(), validator)?;
//! println!("publish to rtmp://{}/live/secret1", server.local_addr());
//!
//! let hub = server.hub();
//! let shutdown = CancellationToken::new();
//! let running = tokio::spawn(server.run(shutdown.clone()));
//!
//! // Subscribe to every stream that goes live.
//! let mut events = hub.events();
//! let watcher = tokio::spawn(async move {
//!     while let Ok(event) = events.recv().await {
//!         if let StreamEvent::Started { stream_id, .. } = event
//!             && let Some(mut frames) = hub.subscribe(&stream_id)
//!         {
//!             tokio::spawn(async move {
//!                 while let Some(frame) = frames.recv().await {
//!                     let _ = frame.dts(); // packetize, record, …
//!                 }
//!             });
//!         }
//!     }
//! });
//!
//! shutdown.cancel();
//! running.await??;
//! watcher.abort();
//! # Ok(())
//! # }
//! ```

pub mod amf0;
pub mod chunk;
mod commands;
mod config;
mod connection;
mod error;
pub mod handshake;
mod hub;
mod server;
pub mod session;

pub use config::RtmpConfig;
pub use error::{AmfError, ChunkError, HandshakeError, RtmpError, SessionError};
pub use hub::{StreamEvent, StreamHub};
pub use server::RtmpServer;
pub use session::{Expired, IngestSession, SessionConfig, SessionEvent, SessionTimeouts};
