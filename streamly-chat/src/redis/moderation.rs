//! [`RedisModerationStore`]: moderators and bans as sets, timeouts as
//! expiring keys, so every node sees the same decisions.

use async_trait::async_trait;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use streamly_core::domain::{RoomId, UserId};
use time::OffsetDateTime;

use super::DEFAULT_PREFIX;
use crate::moderation::{ModerationError, ModerationStore, Restriction};

/// A [`ModerationStore`] on Redis.
#[derive(Clone)]
pub struct RedisModerationStore {
    conn: ConnectionManager,
    prefix: String,
}

impl std::fmt::Debug for RedisModerationStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisModerationStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisModerationStore {
    /// Connects to `url` with the default key prefix.
    pub async fn connect(url: &str) -> Result<Self, ModerationError> {
        Self::connect_with_prefix(url, DEFAULT_PREFIX).await
    }

    /// Connects to `url` with keys under `prefix`.
    pub async fn connect_with_prefix(url: &str, prefix: &str) -> Result<Self, ModerationError> {
        let client = redis::Client::open(url).map_err(ModerationError::unavailable)?;
        let conn = super::connection_manager(client, std::time::Duration::from_secs(2))
            .await
            .map_err(ModerationError::unavailable)?;
        Ok(Self {
            conn,
            prefix: prefix.to_owned(),
        })
    }

    fn key(&self, kind: &str, room: &RoomId) -> String {
        format!("{}:{kind}:{}", self.prefix, room.as_str())
    }

    fn timeout_key(&self, room: &RoomId, user: UserId) -> String {
        format!("{}:timeout:{}:{user}", self.prefix, room.as_str())
    }
}

#[async_trait]
impl ModerationStore for RedisModerationStore {
    async fn is_moderator(&self, room: &RoomId, user: UserId) -> Result<bool, ModerationError> {
        let mut conn = self.conn.clone();
        conn.sismember(self.key("mods", room), user.to_string())
            .await
            .map_err(ModerationError::unavailable)
    }

    async fn add_moderator(&self, room: &RoomId, user: UserId) -> Result<(), ModerationError> {
        let mut conn = self.conn.clone();
        conn.sadd::<_, _, ()>(self.key("mods", room), user.to_string())
            .await
            .map_err(ModerationError::unavailable)
    }

    async fn remove_moderator(&self, room: &RoomId, user: UserId) -> Result<(), ModerationError> {
        let mut conn = self.conn.clone();
        conn.srem::<_, _, ()>(self.key("mods", room), user.to_string())
            .await
            .map_err(ModerationError::unavailable)
    }

    async fn restriction(
        &self,
        room: &RoomId,
        user: UserId,
        now: OffsetDateTime,
    ) -> Result<Option<Restriction>, ModerationError> {
        let mut conn = self.conn.clone();
        let (banned, until_ms): (bool, Option<i64>) = redis::pipe()
            .sismember(self.key("bans", room), user.to_string())
            .get(self.timeout_key(room, user))
            .query_async(&mut conn)
            .await
            .map_err(ModerationError::unavailable)?;
        if banned {
            return Ok(Some(Restriction::Banned));
        }
        let until = until_ms
            .and_then(|ms| OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok())
            .filter(|until| *until > now);
        Ok(until.map(|until| Restriction::TimedOut { until }))
    }

    async fn ban(&self, room: &RoomId, user: UserId) -> Result<(), ModerationError> {
        let mut conn = self.conn.clone();
        conn.sadd::<_, _, ()>(self.key("bans", room), user.to_string())
            .await
            .map_err(ModerationError::unavailable)
    }

    async fn timeout(
        &self,
        room: &RoomId,
        user: UserId,
        until: OffsetDateTime,
    ) -> Result<(), ModerationError> {
        let until_ms = i64::try_from(until.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX);
        let ttl_ms = (until - OffsetDateTime::now_utc()).whole_milliseconds().max(1);
        let ttl_ms = u64::try_from(ttl_ms).unwrap_or(u64::MAX);
        let mut conn = self.conn.clone();
        redis::cmd("SET")
            .arg(self.timeout_key(room, user))
            .arg(until_ms)
            .arg("PX")
            .arg(ttl_ms)
            .exec_async(&mut conn)
            .await
            .map_err(ModerationError::unavailable)
    }

    async fn lift(&self, room: &RoomId, user: UserId) -> Result<(), ModerationError> {
        let mut conn = self.conn.clone();
        redis::pipe()
            .srem(self.key("bans", room), user.to_string())
            .ignore()
            .del(self.timeout_key(room, user))
            .ignore()
            .exec_async(&mut conn)
            .await
            .map_err(ModerationError::unavailable)
    }
}
