//! Redis adapters (feature `redis`): [`RedisChatBus`] shares rooms between
//! nodes (one pub/sub connection per node, capped history lists), and
//! [`RedisModerationStore`] shares moderators, bans and timeouts.
//!
//! Keys, under a configurable prefix (default `streamly:chat`):
//! `<prefix>:room:<room>` (pub/sub channel), `<prefix>:history:<room>`
//! (list of event JSON, newest last), `<prefix>:mods:<room>` and
//! `<prefix>:bans:<room>` (sets of user ids), `<prefix>:timeout:<room>:<user>`
//! (expiring string).

mod bus;
mod moderation;

pub use bus::{DEFAULT_HISTORY_TTL, RedisChatBus, RedisChatBusConfig};
pub use moderation::RedisModerationStore;

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// Default key prefix.
pub const DEFAULT_PREFIX: &str = "streamly:chat";

/// A connection manager that fails fast (so callers get `Unavailable`
/// instead of hanging) and reconnects in the background.
pub(crate) async fn connection_manager(
    client: redis::Client,
    timeout: Duration,
) -> redis::RedisResult<ConnectionManager> {
    let config = ConnectionManagerConfig::new()
        .set_response_timeout(Some(timeout))
        .set_connection_timeout(Some(timeout))
        .set_number_of_retries(2)
        .set_max_delay(Duration::from_secs(2));
    ConnectionManager::new_with_config(client, config).await
}
