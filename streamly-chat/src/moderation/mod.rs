//! Moderation ports: who owns a room ([`RoomAuthority`]) and what moderators
//! decided ([`ModerationStore`]: moderators, bans, timeouts).
//!
//! Both are object-safe and used as `Arc<dyn …>`. Decisions live in the
//! store, not in a connection, so they survive reconnects; with the Redis
//! store they are shared by every node.

mod memory;

use async_trait::async_trait;
use streamly_core::domain::{RoomId, UserId};
use streamly_core::ports::StoreError;
use thiserror::Error;
use time::OffsetDateTime;

pub use memory::{MemoryModerationStore, NoOwners, StaticRoomAuthority, StreamStoreAuthority};

/// What a moderation port call can fail with.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ModerationError {
    /// The backing store could not be reached.
    #[error("moderation store unavailable: {source}")]
    Unavailable {
        /// The underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl ModerationError {
    /// Wraps an underlying error as [`ModerationError::Unavailable`].
    pub fn unavailable(source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Unavailable {
            source: Box::new(source),
        }
    }
}

impl From<StoreError> for ModerationError {
    fn from(e: StoreError) -> Self {
        Self::unavailable(e)
    }
}

/// Who owns each room. The platform answers from its `StreamStore` (a room is
/// named after its stream: see [`StreamStoreAuthority`]).
#[async_trait]
pub trait RoomAuthority: Send + Sync {
    /// The owner of `room`, or `None` when nobody owns it (unknown stream).
    async fn owner(&self, room: &RoomId) -> Result<Option<UserId>, ModerationError>;
}

/// A restriction on one user in one room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restriction {
    /// Banned until unbanned.
    Banned,
    /// May not send until then.
    TimedOut {
        /// When the timeout ends.
        until: OffsetDateTime,
    },
}

/// Moderation decisions: moderators named by the owner, bans and timeouts.
#[async_trait]
pub trait ModerationStore: Send + Sync {
    /// Whether `user` moderates `room`.
    async fn is_moderator(&self, room: &RoomId, user: UserId) -> Result<bool, ModerationError>;
    /// Names `user` a moderator of `room`.
    async fn add_moderator(&self, room: &RoomId, user: UserId) -> Result<(), ModerationError>;
    /// Takes `user`'s moderator rights in `room` away.
    async fn remove_moderator(&self, room: &RoomId, user: UserId) -> Result<(), ModerationError>;
    /// The restriction on `user` in `room` at `now`, if any (a ban wins over a
    /// timeout; an expired timeout is none).
    async fn restriction(
        &self,
        room: &RoomId,
        user: UserId,
        now: OffsetDateTime,
    ) -> Result<Option<Restriction>, ModerationError>;
    /// Bans `user` from `room`.
    async fn ban(&self, room: &RoomId, user: UserId) -> Result<(), ModerationError>;
    /// Forbids `user` to send in `room` until `until`.
    async fn timeout(
        &self,
        room: &RoomId,
        user: UserId,
        until: OffsetDateTime,
    ) -> Result<(), ModerationError>;
    /// Lifts any ban and timeout on `user` in `room`.
    async fn lift(&self, room: &RoomId, user: UserId) -> Result<(), ModerationError>;
}
