use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::domain::{Avatar, Bio, DisplayName, FollowCounts, Followed, Profile, UserId, now_utc};
use crate::ports::{ProfileStore, StoreError};

/// A [`ProfileStore`] in maps.
#[derive(Debug, Default)]
pub struct MemoryProfileStore {
    // A std mutex: never held across an await.
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    profiles: HashMap<UserId, Profile>,
    avatars: HashMap<UserId, Avatar>,
    /// `(follower, followed)` → since.
    follows: BTreeMap<(UserId, UserId), OffsetDateTime>,
}

impl Inner {
    fn profile(&self, user: UserId) -> Profile {
        self.profiles
            .get(&user)
            .cloned()
            .unwrap_or_else(|| Profile::empty(user))
    }
}

impl MemoryProfileStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Each critical section leaves the maps consistent: poison is harmless.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl ProfileStore for MemoryProfileStore {
    async fn profile(&self, user: UserId) -> Result<Profile, StoreError> {
        Ok(self.lock().profile(user))
    }

    async fn set_profile(
        &self,
        user: UserId,
        display_name: &DisplayName,
        bio: &Bio,
    ) -> Result<Profile, StoreError> {
        let mut inner = self.lock();
        let mut profile = inner.profile(user);
        profile.display_name = display_name.clone();
        profile.bio = bio.clone();
        inner.profiles.insert(user, profile.clone());
        Ok(profile)
    }

    async fn avatar(&self, user: UserId) -> Result<Option<Avatar>, StoreError> {
        Ok(self.lock().avatars.get(&user).cloned())
    }

    async fn set_avatar(&self, user: UserId, avatar: Option<&Avatar>) -> Result<Profile, StoreError> {
        let mut inner = self.lock();
        let mut profile = inner.profile(user);
        profile.avatar_updated_at = avatar.map(|a| a.updated_at);
        match avatar {
            Some(a) => inner.avatars.insert(user, a.clone()),
            None => inner.avatars.remove(&user),
        };
        inner.profiles.insert(user, profile.clone());
        Ok(profile)
    }

    async fn follow(&self, follower: UserId, followed: UserId, limit: u32) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        if inner.follows.contains_key(&(follower, followed)) {
            return Ok(false);
        }
        let count = inner
            .follows
            .range((follower, UserId::MIN)..=(follower, UserId::MAX))
            .count();
        if count >= limit as usize {
            return Err(StoreError::LimitReached { limit });
        }
        inner.follows.insert((follower, followed), now_utc());
        Ok(true)
    }

    async fn unfollow(&self, follower: UserId, followed: UserId) -> Result<bool, StoreError> {
        Ok(self.lock().follows.remove(&(follower, followed)).is_some())
    }

    async fn is_following(&self, follower: UserId, followed: UserId) -> Result<bool, StoreError> {
        Ok(self.lock().follows.contains_key(&(follower, followed)))
    }

    async fn following(&self, follower: UserId, limit: u32) -> Result<Vec<Followed>, StoreError> {
        let inner = self.lock();
        let mut list: Vec<Followed> = inner
            .follows
            .range((follower, UserId::MIN)..=(follower, UserId::MAX))
            .map(|(&(_, user), &since)| Followed { user, since })
            .collect();
        list.sort_by(|a, b| b.since.cmp(&a.since).then_with(|| a.user.cmp(&b.user)));
        list.truncate(limit as usize);
        Ok(list)
    }

    async fn counts(&self, user: UserId) -> Result<FollowCounts, StoreError> {
        let inner = self.lock();
        let following = inner
            .follows
            .range((user, UserId::MIN)..=(user, UserId::MAX))
            .count();
        let followers = inner
            .follows
            .keys()
            .filter(|(_, followed)| *followed == user)
            .count();
        Ok(FollowCounts {
            followers: followers as u64,
            following: following as u64,
        })
    }

    async fn forget(&self, user: UserId) -> Result<(), StoreError> {
        let mut inner = self.lock();
        inner.profiles.remove(&user);
        inner.avatars.remove(&user);
        inner
            .follows
            .retain(|&(follower, followed), _| follower != user && followed != user);
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
