//! # streamly
//!
//! The facade: re-exports the Streamly crates ([`core`], [`rtmp`], [`hls`],
//! [`chat`]) and composes them into one platform.
//!
//! ## Layout
//!
//! - [`api`] — the REST API (axum): accounts, streams, `/health`, `/metrics`,
//!   `/api/openapi.json`; JSON errors, body cap, auth rate limit, CORS,
//!   security headers. See `docs/api.md`.
//! - [`platform`] — [`Platform`]: ports + config in; the RTMP server and one
//!   axum `Router` (API + HLS + chat + web UI) out; graceful shutdown.
//! - [`http_server`] — the accept loop every HTTP listener runs: header-read
//!   and request timeouts, connection caps (total, per address), body cap,
//!   a shutdown deadline.
//! - [`fd_budget`] — `RLIMIT_NOFILE` raised at start and split between the
//!   listeners.
//! - [`live`] — RTMP → HLS glue: a packager per published stream.
//! - [`recordings`] — each broadcast kept as a recording: finalized at the
//!   end (or at the next start after a crash), swept by retention, served
//!   as a VOD playlist and an MP4 download. See `docs/recordings.md`.
//! - [`thumbnails`] — live thumbnails (one `ffmpeg` child per stream
//!   every 30 s, bounded), `GET /hls/{id}/thumbnail.jpg`.
//! - [`web`] — the browser UI, embedded from `web/`.
//! - [`webhooks`] — signed `stream.live` / `stream.offline` POSTs, retried
//!   with backoff from a bounded queue.
//!
//! `examples/platform.rs` runs it all from environment variables
//! (`docs/operations.md`).
//!
//! ## Example
//!
//! Assemble the platform on in-memory ports and call its API in process:
//!
//! ```
//! use axum::body::Body;
//! use axum::http::{Request, StatusCode};
//! use streamly::{Platform, PlatformConfig};
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut config = PlatformConfig::new(b"a secret of at least thirty-two bytes".to_vec());
//! config.rtmp_addr = "127.0.0.1:0".parse()?; // any free port
//! let platform = Platform::builder(config).build().await?;
//! println!("RTMP on {:?}", platform.rtmp_addr());
//!
//! // Serve `platform.router()` yourself, nest it in your app, or call
//! // `platform.serve(listener, shutdown)` to run everything.
//! let response = platform
//!     .router()
//!     .oneshot(Request::get("/api/streams").body(Body::empty())?)
//!     .await?;
//! assert_eq!(response.status(), StatusCode::OK);
//! # Ok(())
//! # }
//! ```

pub mod analytics;
pub mod api;
pub mod avatars;
pub mod fd_budget;
pub mod http_server;
pub mod live;
pub mod origin;
pub mod platform;
pub mod recordings;
pub mod roles;
pub mod signal;
pub mod thumbnails;
pub mod web;
pub mod webhooks;

pub use streamly_chat as chat;
pub use streamly_core as core;
pub use streamly_hls as hls;
pub use streamly_rtmp as rtmp;

pub use platform::{Platform, PlatformBuilder, PlatformConfig, PlatformError};
pub use roles::Roles;
