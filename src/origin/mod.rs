//! Playback through any node: which ingest node is a live stream's origin.
//!
//! An ingest node holds the live window of the streams it ingests, in
//! memory. With several ingest nodes behind one name, a viewer's request may
//! reach a node that does not have the stream. Each ingest node therefore
//! holds a **lease** per live stream in a shared [`OriginDirectory`] (Redis
//! in a multi-node deployment): claimed when the publish starts, refreshed
//! every third of its time-to-live while it lasts, released when it ends.
//! A node dies → its leases expire within one TTL.
//!
//! - [`announce::OriginAnnouncer`] keeps this node's leases (on the ingest
//!   role).
//! - [`redirect`] answers an `/hls/{stream}/…` request for a stream this
//!   node does not have with `307 Temporary Redirect` to the origin's public
//!   URL (same path and query), when a lease names one.
//! - [`reaper::LeaseReaper`] marks offline the streams the store says are
//!   live but that no node holds a lease for (a node that died mid-publish
//!   never reported the end), on the API role.
//!
//! Redirecting keeps the origin the only place a live window lives (no
//! copies between nodes, LL-HLS blocking requests answered where the parts
//! are made). The trade-off: a viewer's player talks to the origin node
//! directly after the first request, so each ingest node needs a public URL.
//! A CDN in front caches segments and parts (immutable, one year) and
//! plain playlist reloads (`no-cache`: revalidated); blocking playlist
//! requests (`_HLS_msn`) are not cacheable and go through to the origin.

pub mod announce;
mod memory;
pub mod reaper;
pub mod redirect;
mod redis;

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use streamly_core::domain::StreamId;

pub use self::memory::MemoryOriginDirectory;
pub use self::redis::RedisOriginDirectory;

/// Default lease time-to-live: a dead node's streams go offline within it.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(10);

/// Who serves a live stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OriginLease {
    /// The holding node's id (random per process).
    pub node_id: String,
    /// The holding node's public base URL (`http://ingest-1:8000`).
    pub url: String,
}

/// The shared directory could not be reached or answered garbage.
#[derive(Debug, thiserror::Error)]
#[error("origin directory: {0}")]
pub struct OriginError(pub String);

/// Stream → origin leases, shared by every node.
#[async_trait]
pub trait OriginDirectory: Send + Sync {
    /// Sets `stream`'s lease to `lease` for `ttl` (claim or refresh; the
    /// newest publish wins).
    async fn claim(&self, stream: &StreamId, lease: &OriginLease, ttl: Duration) -> Result<(), OriginError>;

    /// Removes `stream`'s lease if `node_id` holds it (a newer holder's
    /// lease is left alone).
    async fn release(&self, stream: &StreamId, node_id: &str) -> Result<(), OriginError>;

    /// `stream`'s current lease, if one has not expired.
    async fn lookup(&self, stream: &StreamId) -> Result<Option<OriginLease>, OriginError>;

    /// Whether the directory answers (for `/health`).
    async fn ping(&self) -> Result<(), OriginError>;
}
