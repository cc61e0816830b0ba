//! # streamly
//!
//! The facade: re-exports the Streamly crates and composes them into one
//! platform: the REST API ([`api`]), the web UI ([`web`]) and the
//! [`Platform`](platform) builder that wires RTMP ingest, HLS packaging and
//! chat to the stores.

pub mod api;
pub mod live;
pub mod platform;
pub mod web;

pub use streamly_chat as chat;
pub use streamly_core as core;
pub use streamly_hls as hls;
pub use streamly_rtmp as rtmp;

pub use platform::{Platform, PlatformBuilder, PlatformConfig, PlatformError};
