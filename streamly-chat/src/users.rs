//! The [`UserDirectory`] port: whether the user a valid token names still
//! has an account. A JWT outlives the account it was issued for (7 days by
//! default), so a signature check alone would let a deleted user chat until
//! the token expires.
//!
//! The hub asks on every signed-in join; the sockets already open when an
//! account goes are closed by [`ChatHub::disconnect_user`](crate::ChatHub::disconnect_user).
//! Per-room bans are the [`ModerationStore`](crate::moderation::ModerationStore)'s
//! business, not this port's.

use std::sync::Arc;

use async_trait::async_trait;
use streamly_core::domain::UserId;
use streamly_core::ports::{StoreError, UserStore};

use crate::moderation::ModerationError;

/// Whether a user still exists.
#[async_trait]
pub trait UserDirectory: Send + Sync {
    /// `Ok(true)` while `user` has an account, `Ok(false)` once it is gone;
    /// an error when the directory cannot be reached (the join is refused
    /// with `unavailable`, never let through unchecked).
    async fn exists(&self, user: UserId) -> Result<bool, ModerationError>;
}

/// A directory that takes every verified token's word (the default, for a
/// chat server without an account store: what the token says is all it
/// knows).
#[derive(Debug, Clone, Copy, Default)]
pub struct TrustTokens;

#[async_trait]
impl UserDirectory for TrustTokens {
    async fn exists(&self, _user: UserId) -> Result<bool, ModerationError> {
        Ok(true)
    }
}

/// The platform's directory: the account [`UserStore`].
#[derive(Clone)]
pub struct UserStoreDirectory {
    users: Arc<dyn UserStore>,
}

impl std::fmt::Debug for UserStoreDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserStoreDirectory").finish_non_exhaustive()
    }
}

impl UserStoreDirectory {
    /// Answers from `users`.
    pub fn new(users: Arc<dyn UserStore>) -> Self {
        Self { users }
    }
}

#[async_trait]
impl UserDirectory for UserStoreDirectory {
    async fn exists(&self, user: UserId) -> Result<bool, ModerationError> {
        match self.users.get(user).await {
            Ok(_) => Ok(true),
            Err(StoreError::NotFound) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}
