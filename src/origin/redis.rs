//! [`RedisOriginDirectory`]: one expiring key per live stream.

use std::time::Duration;

use async_trait::async_trait;
use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use streamly_core::domain::StreamId;

use super::{OriginDirectory, OriginError, OriginLease};

/// Default key prefix: `streamly:origin:<stream id>`.
pub const DEFAULT_PREFIX: &str = "streamly:origin";

/// Deletes the key only when it still holds this node's lease.
const RELEASE_SCRIPT: &str = r"
local current = redis.call('GET', KEYS[1])
if current and cjson.decode(current).node_id == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

/// Leases as JSON values under `<prefix>:<stream id>`, with `PX` expiry.
#[derive(Clone)]
pub struct RedisOriginDirectory {
    conn: ConnectionManager,
    prefix: String,
    release: redis::Script,
}

impl std::fmt::Debug for RedisOriginDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisOriginDirectory")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

fn unavailable(e: impl std::fmt::Display) -> OriginError {
    OriginError(format!("Redis: {e}"))
}

impl RedisOriginDirectory {
    /// Connects to `url` (`redis://host:6379`) with keys under
    /// [`DEFAULT_PREFIX`].
    pub async fn connect(url: &str) -> Result<Self, OriginError> {
        Self::connect_with_prefix(url, DEFAULT_PREFIX).await
    }

    /// Connects to `url` with keys under `prefix` (tests sharing one server).
    pub async fn connect_with_prefix(url: &str, prefix: &str) -> Result<Self, OriginError> {
        let client = redis::Client::open(url).map_err(unavailable)?;
        // Short bounds: a lease lookup sits in front of a viewer's request.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(2);
        let conn = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(unavailable)?;
        Ok(Self {
            conn,
            prefix: prefix.to_owned(),
            release: redis::Script::new(RELEASE_SCRIPT),
        })
    }

    fn key(&self, stream: &StreamId) -> String {
        format!("{}:{}", self.prefix, stream.as_str())
    }
}

#[async_trait]
impl OriginDirectory for RedisOriginDirectory {
    async fn claim(&self, stream: &StreamId, lease: &OriginLease, ttl: Duration) -> Result<(), OriginError> {
        let value = serde_json::to_string(lease).map_err(|e| OriginError(e.to_string()))?;
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut conn = self.conn.clone();
        conn.pset_ex::<_, _, ()>(self.key(stream), value, ttl_ms)
            .await
            .map_err(unavailable)
    }

    async fn release(&self, stream: &StreamId, node_id: &str) -> Result<(), OriginError> {
        let mut conn = self.conn.clone();
        self.release
            .key(self.key(stream))
            .arg(node_id)
            .invoke_async::<i64>(&mut conn)
            .await
            .map(drop)
            .map_err(unavailable)
    }

    async fn lookup(&self, stream: &StreamId) -> Result<Option<OriginLease>, OriginError> {
        let mut conn = self.conn.clone();
        let value: Option<String> = conn.get(self.key(stream)).await.map_err(unavailable)?;
        value
            .map(|v| {
                serde_json::from_str(&v).map_err(|e| OriginError(format!("a lease that is not JSON: {e}")))
            })
            .transpose()
    }

    async fn ping(&self) -> Result<(), OriginError> {
        let mut conn = self.conn.clone();
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .map(drop)
            .map_err(unavailable)
    }
}
