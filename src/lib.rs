//! # streamly
//!
//! The facade: re-exports the Streamly crates and (see the platform issue)
//! composes them into one platform.

pub use streamly_chat as chat;
pub use streamly_core as core;
pub use streamly_hls as hls;
pub use streamly_rtmp as rtmp;
