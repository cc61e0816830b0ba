//! In-memory moderation adapters, plus the `StreamStore`-backed authority.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use streamly_core::domain::{RoomId, StreamId, UserId};
use streamly_core::ports::{StoreError, StreamStore};
use time::OffsetDateTime;

use super::{ModerationError, ModerationStore, Restriction, RoomAuthority};

/// An authority under which no room has an owner (so nobody moderates until
/// the platform provides a real one).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoOwners;

#[async_trait]
impl RoomAuthority for NoOwners {
    async fn owner(&self, _room: &RoomId) -> Result<Option<UserId>, ModerationError> {
        Ok(None)
    }
}

/// A fixed room → owner table (tests, examples, integrators with few rooms).
#[derive(Debug, Default)]
pub struct StaticRoomAuthority {
    // Held only for a map lookup or insert.
    owners: Mutex<HashMap<RoomId, UserId>>,
}

impl StaticRoomAuthority {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes `owner` the owner of `room`.
    pub fn set_owner(&self, room: RoomId, owner: UserId) {
        self.owners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(room, owner);
    }
}

#[async_trait]
impl RoomAuthority for StaticRoomAuthority {
    async fn owner(&self, room: &RoomId) -> Result<Option<UserId>, ModerationError> {
        Ok(self
            .owners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(room)
            .copied())
    }
}

/// The platform's authority: a room is named after its stream, and the
/// stream's owner owns the room.
#[derive(Clone)]
pub struct StreamStoreAuthority {
    streams: Arc<dyn StreamStore>,
}

impl std::fmt::Debug for StreamStoreAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamStoreAuthority").finish_non_exhaustive()
    }
}

impl StreamStoreAuthority {
    /// Answers from `streams`.
    pub fn new(streams: Arc<dyn StreamStore>) -> Self {
        Self { streams }
    }
}

#[async_trait]
impl RoomAuthority for StreamStoreAuthority {
    async fn owner(&self, room: &RoomId) -> Result<Option<UserId>, ModerationError> {
        let Ok(id) = StreamId::parse(room.as_str()) else {
            return Ok(None);
        };
        match self.streams.get(&id).await {
            Ok(stream) => Ok(Some(stream.owner)),
            Err(StoreError::NotFound) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

#[derive(Debug, Default)]
struct RoomModeration {
    moderators: HashSet<UserId>,
    banned: HashSet<UserId>,
    timeouts: HashMap<UserId, OffsetDateTime>,
}

/// Moderation decisions for one process.
#[derive(Debug, Default)]
pub struct MemoryModerationStore {
    // Held only for a map operation, never across await.
    rooms: Mutex<HashMap<RoomId, RoomModeration>>,
}

impl MemoryModerationStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a decision, creating the room's entry if needed.
    fn with<T>(&self, room: &RoomId, f: impl FnOnce(&mut RoomModeration) -> T) -> T {
        let mut rooms = self.rooms.lock().unwrap_or_else(|p| p.into_inner());
        f(rooms.entry(room.clone()).or_default())
    }

    /// Reads or removes from an existing entry only (`None` without one),
    /// dropping the entry once it holds nothing: reads never create rooms.
    fn existing<T>(&self, room: &RoomId, f: impl FnOnce(&mut RoomModeration) -> T) -> Option<T> {
        let mut rooms = self.rooms.lock().unwrap_or_else(|p| p.into_inner());
        let r = rooms.get_mut(room)?;
        let out = f(r);
        if r.moderators.is_empty() && r.banned.is_empty() && r.timeouts.is_empty() {
            rooms.remove(room);
        }
        Some(out)
    }

    /// Rooms with at least one decision recorded.
    pub fn room_count(&self) -> usize {
        self.rooms.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

#[async_trait]
impl ModerationStore for MemoryModerationStore {
    async fn is_moderator(&self, room: &RoomId, user: UserId) -> Result<bool, ModerationError> {
        Ok(self
            .existing(room, |r| r.moderators.contains(&user))
            .unwrap_or(false))
    }

    async fn add_moderator(&self, room: &RoomId, user: UserId) -> Result<(), ModerationError> {
        self.with(room, |r| r.moderators.insert(user));
        Ok(())
    }

    async fn remove_moderator(&self, room: &RoomId, user: UserId) -> Result<(), ModerationError> {
        self.existing(room, |r| r.moderators.remove(&user));
        Ok(())
    }

    async fn restriction(
        &self,
        room: &RoomId,
        user: UserId,
        now: OffsetDateTime,
    ) -> Result<Option<Restriction>, ModerationError> {
        Ok(self
            .existing(room, |r| {
                if r.banned.contains(&user) {
                    return Some(Restriction::Banned);
                }
                match r.timeouts.get(&user).copied() {
                    Some(until) if until > now => Some(Restriction::TimedOut { until }),
                    Some(_) => {
                        r.timeouts.remove(&user);
                        None
                    }
                    None => None,
                }
            })
            .flatten())
    }

    async fn ban(&self, room: &RoomId, user: UserId) -> Result<(), ModerationError> {
        self.with(room, |r| r.banned.insert(user));
        Ok(())
    }

    async fn timeout(
        &self,
        room: &RoomId,
        user: UserId,
        until: OffsetDateTime,
    ) -> Result<(), ModerationError> {
        self.with(room, |r| r.timeouts.insert(user, until));
        Ok(())
    }

    async fn lift(&self, room: &RoomId, user: UserId) -> Result<(), ModerationError> {
        self.existing(room, |r| {
            r.banned.remove(&user);
            r.timeouts.remove(&user);
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use streamly_core::adapters::MemoryStreamStore;
    use streamly_core::auth::StreamKeyHash;
    use streamly_core::domain::{Stream, StreamTitle};

    #[tokio::test]
    async fn stream_owner_owns_the_room() {
        let streams = Arc::new(MemoryStreamStore::new());
        let owner = UserId::new_random();
        let stream = Stream {
            id: StreamId::new_random(),
            owner,
            title: StreamTitle::parse("chess").expect("title"),
            key_hash: StreamKeyHash::from_bytes([1; 32]),
            live_since: None,
            created_at: OffsetDateTime::now_utc(),
            record: true,
            details: streamly_core::domain::StreamDetails::default(),
        };
        streams.create(stream.clone()).await.expect("create");
        let authority = StreamStoreAuthority::new(streams);
        let room = RoomId::from(&stream.id);
        assert_eq!(authority.owner(&room).await.expect("owner"), Some(owner));
        let unknown = RoomId::parse("nobody-streams-here").expect("room");
        assert_eq!(authority.owner(&unknown).await.expect("owner"), None);
    }

    #[tokio::test]
    async fn timeouts_expire_and_bans_win() {
        let store = MemoryModerationStore::new();
        let room = RoomId::parse("r").expect("room");
        let user = UserId::new_random();
        let now = OffsetDateTime::now_utc();
        let until = now + time::Duration::seconds(30);
        store.timeout(&room, user, until).await.expect("timeout");
        assert_eq!(
            store.restriction(&room, user, now).await.expect("get"),
            Some(Restriction::TimedOut { until })
        );
        let later = now + time::Duration::seconds(31);
        assert_eq!(store.restriction(&room, user, later).await.expect("get"), None);
        store.ban(&room, user).await.expect("ban");
        assert_eq!(
            store.restriction(&room, user, now).await.expect("get"),
            Some(Restriction::Banned)
        );
        store.lift(&room, user).await.expect("lift");
        assert_eq!(store.restriction(&room, user, now).await.expect("get"), None);
        assert!(!store.is_moderator(&room, user).await.expect("mod"));
        store.add_moderator(&room, user).await.expect("add");
        assert!(store.is_moderator(&room, user).await.expect("mod"));
    }

    #[tokio::test]
    async fn reads_create_no_entries_and_empty_rooms_go() {
        let store = MemoryModerationStore::new();
        let now = OffsetDateTime::now_utc();
        let user = UserId::new_random();
        for i in 0..100 {
            let room = RoomId::parse(&format!("r{i}")).expect("room");
            assert!(!store.is_moderator(&room, user).await.expect("mod"));
            assert_eq!(store.restriction(&room, user, now).await.expect("get"), None);
            store.lift(&room, user).await.expect("lift");
            store.remove_moderator(&room, user).await.expect("remove");
        }
        assert_eq!(store.room_count(), 0);
        let room = RoomId::parse("r").expect("room");
        store.ban(&room, user).await.expect("ban");
        assert_eq!(store.room_count(), 1);
        store.lift(&room, user).await.expect("lift");
        assert_eq!(store.room_count(), 0);
    }
}
