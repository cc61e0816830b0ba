//! `ProfileStore`: what a channel page shows about its owner besides their
//! streams — profile, avatar — and who follows whom.

use async_trait::async_trait;

use super::StoreError;
use crate::domain::{Avatar, Bio, DisplayName, FollowCounts, Followed, Profile, UserId};

/// Profiles, avatars and follows. Users are the [`super::UserStore`]'s: a
/// caller checks a user exists before writing about them (the SQL stores
/// also refuse unknown users through foreign keys and drop a deleted
/// user's rows with it; the in-memory store needs [`ProfileStore::forget`]).
#[async_trait]
pub trait ProfileStore: Send + Sync {
    /// A user's profile; [`Profile::empty`] for one who never set it.
    async fn profile(&self, user: UserId) -> Result<Profile, StoreError>;

    /// Replaces a user's display name and bio (the avatar stays) and
    /// returns the profile.
    async fn set_profile(
        &self,
        user: UserId,
        display_name: &DisplayName,
        bio: &Bio,
    ) -> Result<Profile, StoreError>;

    /// A user's avatar, `None` without one.
    async fn avatar(&self, user: UserId) -> Result<Option<Avatar>, StoreError>;

    /// Replaces a user's avatar (`None` removes it) and returns the profile.
    async fn set_avatar(&self, user: UserId, avatar: Option<&Avatar>) -> Result<Profile, StoreError>;

    /// `follower` follows `followed` from now on: `Ok(true)`, or `Ok(false)`
    /// if they already did. [`StoreError::LimitReached`] when `follower`
    /// already follows `limit` accounts; the count and the insert are one
    /// atomic step, as in [`super::StreamStore::create_within_limit`].
    async fn follow(&self, follower: UserId, followed: UserId, limit: u32) -> Result<bool, StoreError>;

    /// `follower` stops following `followed`: `Ok(true)`, or `Ok(false)` if
    /// they did not.
    async fn unfollow(&self, follower: UserId, followed: UserId) -> Result<bool, StoreError>;

    /// Whether `follower` follows `followed`.
    async fn is_following(&self, follower: UserId, followed: UserId) -> Result<bool, StoreError>;

    /// The accounts `follower` follows, most recently followed first (then
    /// by id), at most `limit`.
    async fn following(&self, follower: UserId, limit: u32) -> Result<Vec<Followed>, StoreError>;

    /// How many follow `user` and how many `user` follows.
    async fn counts(&self, user: UserId) -> Result<FollowCounts, StoreError>;

    /// Drops everything about `user`: profile, avatar, follows both ways
    /// (after their account was deleted).
    async fn forget(&self, user: UserId) -> Result<(), StoreError>;

    /// Checks the store can be reached (for `/health`).
    async fn ping(&self) -> Result<(), StoreError>;
}
