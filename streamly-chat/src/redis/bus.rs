//! [`RedisChatBus`]: pub/sub fan-out across nodes and capped history lists.
//!
//! One pub/sub connection per bus (per node) carries every room this node
//! has subscribers in; a driver task reads it and fans each event into the
//! room's local bounded `broadcast` channel. When the connection dies
//! (Redis restarted, `CLIENT KILL`) the driver reconnects with backoff and
//! resubscribes every room. Publishing and history go through a
//! `ConnectionManager`, which reconnects by itself; during an outage calls
//! fail fast with [`ChatBusError::Unavailable`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use streamly_core::domain::{ChatEvent, ChatMessage, RoomId};
use streamly_core::ports::{ChatBus, ChatBusError, ChatSubscription};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio_util::sync::{CancellationToken, DropGuard};

use super::DEFAULT_PREFIX;

/// Settings of a [`RedisChatBus`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RedisChatBusConfig {
    /// Key prefix (default `streamly:chat`).
    pub prefix: String,
    /// Messages kept per room (default 100).
    pub history_len: usize,
    /// Events a room buffers on this node for slow subscribers (default 1024).
    pub room_capacity: usize,
    /// A room's history list expires this long after its last message
    /// (default 7 days; refreshed on every message; zero keeps it forever).
    pub history_ttl: Duration,
    /// Longest wait for Redis before a call fails (default 2 s).
    pub timeout: Duration,
    /// Longest delay between two reconnection attempts (default 2 s).
    pub max_backoff: Duration,
    /// How often the pub/sub connection is checked with a PING (default 5 s).
    pub keepalive: Duration,
}

impl Default for RedisChatBusConfig {
    fn default() -> Self {
        Self {
            prefix: DEFAULT_PREFIX.to_owned(),
            history_len: 100,
            room_capacity: 1024,
            history_ttl: DEFAULT_HISTORY_TTL,
            timeout: Duration::from_secs(2),
            max_backoff: Duration::from_secs(2),
            keepalive: Duration::from_secs(5),
        }
    }
}

/// Default [`RedisChatBusConfig::history_ttl`]: 7 days.
pub const DEFAULT_HISTORY_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

enum Control {
    Subscribe(String, oneshot::Sender<bool>),
}

struct Shared {
    prefix: String,
    // Rooms with local subscribers, by pub/sub channel name. A std mutex:
    // held for map operations only, never across an await.
    rooms: Mutex<HashMap<String, broadcast::Sender<ChatEvent>>>,
    generation: watch::Sender<u64>,
}

impl Shared {
    fn channel(&self, room: &RoomId) -> String {
        format!("{}:room:{}", self.prefix, room.as_str())
    }
}

/// A [`ChatBus`] on Redis: pub/sub for fan-out, a capped list per room for
/// history.
pub struct RedisChatBus {
    conn: ConnectionManager,
    config: RedisChatBusConfig,
    shared: Arc<Shared>,
    control: mpsc::Sender<Control>,
    _driver: DropGuard,
}

impl std::fmt::Debug for RedisChatBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisChatBus")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Removes a message from a history list by id, then publishes the deletion.
const DELETE_SCRIPT: &str = r#"
local items = redis.call('LRANGE', KEYS[1], 0, -1)
for _, v in ipairs(items) do
  local ok, decoded = pcall(cjson.decode, v)
  if ok and decoded['id'] == ARGV[1] then
    redis.call('LREM', KEYS[1], 1, v)
    break
  end
end
return redis.call('PUBLISH', KEYS[2], ARGV[2])
"#;

impl RedisChatBus {
    /// Connects to `url` (`redis://host:port/db`) with default settings.
    pub async fn connect(url: &str) -> Result<Self, ChatBusError> {
        Self::connect_with(url, RedisChatBusConfig::default()).await
    }

    /// Connects with explicit settings. Fails if Redis cannot be reached now;
    /// later outages are survived.
    pub async fn connect_with(url: &str, config: RedisChatBusConfig) -> Result<Self, ChatBusError> {
        let client = redis::Client::open(url).map_err(ChatBusError::unavailable)?;
        let conn = super::connection_manager(client.clone(), config.timeout)
            .await
            .map_err(ChatBusError::unavailable)?;
        let shared = Arc::new(Shared {
            prefix: config.prefix.clone(),
            rooms: Mutex::new(HashMap::new()),
            generation: watch::channel(0).0,
        });
        let (control, control_rx) = mpsc::channel(64);
        let cancel = CancellationToken::new();
        let driver = Driver {
            client,
            shared: Arc::clone(&shared),
            control: control_rx,
            config: config.clone(),
            cancel: cancel.clone(),
        };
        tokio::spawn(driver.run());
        Ok(Self {
            conn,
            config,
            shared,
            control,
            _driver: cancel.drop_guard(),
        })
    }

    fn history_key(&self, room: &RoomId) -> String {
        format!("{}:history:{}", self.config.prefix, room.as_str())
    }

    /// Counts pub/sub (re)connections: it goes up each time the node has
    /// (re)connected and resubscribed its rooms. Tests and health checks
    /// watch it.
    pub fn connection_generation(&self) -> watch::Receiver<u64> {
        self.shared.generation.subscribe()
    }

    /// The Redis `CLIENT ID` of the publishing connection (tests kill it).
    pub async fn publisher_client_id(&self) -> Result<i64, ChatBusError> {
        let mut conn = self.conn.clone();
        redis::cmd("CLIENT")
            .arg("ID")
            .query_async(&mut conn)
            .await
            .map_err(ChatBusError::unavailable)
    }
}

#[async_trait]
impl ChatBus for RedisChatBus {
    async fn publish(&self, room: &RoomId, event: ChatEvent) -> Result<(), ChatBusError> {
        let json = serde_json::to_string(&event).map_err(|e| ChatBusError::Malformed(e.to_string()))?;
        let channel = self.shared.channel(room);
        let mut conn = self.conn.clone();
        let result = match &event {
            ChatEvent::Message(_) if self.config.history_len > 0 => {
                let key = self.history_key(room);
                let keep = isize::try_from(self.config.history_len).unwrap_or(isize::MAX);
                let mut pipe = redis::pipe();
                pipe.atomic()
                    .rpush(&key, &json)
                    .ignore()
                    .ltrim(&key, -keep, -1)
                    .ignore();
                let ttl = self.config.history_ttl.as_secs();
                if ttl > 0 {
                    pipe.expire(&key, i64::try_from(ttl).unwrap_or(i64::MAX)).ignore();
                }
                pipe.publish(&channel, &json).ignore().exec_async(&mut conn).await
            }
            ChatEvent::Deleted { id } => {
                redis::cmd("EVAL")
                    .arg(DELETE_SCRIPT)
                    .arg(2)
                    .arg(self.history_key(room))
                    .arg(&channel)
                    .arg(id.to_string())
                    .arg(&json)
                    .exec_async(&mut conn)
                    .await
            }
            _ => conn.publish::<_, _, ()>(&channel, &json).await,
        };
        result.map_err(ChatBusError::unavailable)
    }

    async fn subscribe(&self, room: &RoomId) -> Result<ChatSubscription, ChatBusError> {
        let channel = self.shared.channel(room);
        let (receiver, is_new) = {
            let mut rooms = self.shared.rooms.lock().unwrap_or_else(|p| p.into_inner());
            match rooms.get(&channel) {
                Some(sender) => (sender.subscribe(), false),
                None => {
                    let (sender, receiver) = broadcast::channel(self.config.room_capacity.max(1));
                    rooms.insert(channel.clone(), sender);
                    (receiver, true)
                }
            }
        };
        if is_new {
            // Wait until Redis confirms the subscription, so events published
            // after this returns are received. If Redis is down, the room
            // stays registered and is subscribed on reconnection.
            let (reply, confirmed) = oneshot::channel();
            // Bounded as a whole: during an outage the driver is backing off
            // and may not drain the control queue.
            let control = &self.control;
            let _ = tokio::time::timeout(self.config.timeout, async move {
                if control.send(Control::Subscribe(channel, reply)).await.is_ok() {
                    let _ = confirmed.await;
                }
            })
            .await;
        }
        Ok(ChatSubscription::new(receiver))
    }

    async fn history(&self, room: &RoomId, limit: usize) -> Result<Vec<ChatMessage>, ChatBusError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut conn = self.conn.clone();
        let start = -isize::try_from(limit).unwrap_or(isize::MAX);
        let items: Vec<Vec<u8>> = conn
            .lrange(self.history_key(room), start, -1)
            .await
            .map_err(ChatBusError::unavailable)?;
        Ok(items
            .iter()
            .filter_map(|raw| match serde_json::from_slice::<ChatEvent>(raw) {
                Ok(ChatEvent::Message(m)) => Some(m),
                Ok(_) => None,
                Err(e) => {
                    tracing::warn!(room = %room, error = %e, "skipping malformed chat history entry");
                    None
                }
            })
            .collect())
    }

    async fn ping(&self) -> Result<(), ChatBusError> {
        let mut conn = self.conn.clone();
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .map(|_| ())
            .map_err(ChatBusError::unavailable)
    }
}

/// Owns the pub/sub connection: reads it, fans events out, resubscribes
/// after reconnecting.
struct Driver {
    client: redis::Client,
    shared: Arc<Shared>,
    control: mpsc::Receiver<Control>,
    config: RedisChatBusConfig,
    cancel: CancellationToken,
}

impl Driver {
    async fn run(mut self) {
        const FIRST_BACKOFF: Duration = Duration::from_millis(50);
        let mut backoff = FIRST_BACKOFF;
        loop {
            if self.cancel.is_cancelled() {
                return;
            }
            let generation = *self.shared.generation.borrow();
            let result = self.session().await;
            if *self.shared.generation.borrow() != generation {
                // That session did connect: start backing off afresh.
                backoff = FIRST_BACKOFF;
            }
            match result {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!(error = %e, ?backoff, "chat pub/sub connection lost; reconnecting");
                }
            }
            tokio::select! {
                () = self.cancel.cancelled() => return,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(self.config.max_backoff);
        }
    }

    /// One connection's life. `Ok` when the bus was dropped, `Err` when the
    /// connection failed.
    async fn session(&mut self) -> redis::RedisResult<()> {
        let connect = self.client.get_async_pubsub();
        let pubsub = match tokio::time::timeout(self.config.timeout, connect).await {
            Ok(result) => result?,
            Err(_) => return Err(timeout_error("connect")),
        };
        let (mut sink, mut stream) = pubsub.split();
        let channels: Vec<String> = {
            let rooms = self.shared.rooms.lock().unwrap_or_else(|p| p.into_inner());
            rooms.keys().cloned().collect()
        };
        if !channels.is_empty() {
            with_timeout(self.config.timeout, sink.subscribe(&channels)).await?;
        }
        self.shared.generation.send_modify(|g| *g += 1);
        tracing::info!(rooms = channels.len(), "chat pub/sub connected");
        let mut keepalive = tokio::time::interval(self.config.keepalive);
        keepalive.tick().await;
        loop {
            tokio::select! {
                () = self.cancel.cancelled() => return Ok(()),
                msg = stream.next() => match msg {
                    Some(msg) => self.dispatch(&msg, &mut sink).await?,
                    None => return Err(timeout_error("pub/sub stream ended")),
                },
                control = self.control.recv() => match control {
                    Some(Control::Subscribe(channel, reply)) => {
                        let result = with_timeout(self.config.timeout, sink.subscribe(&channel)).await;
                        let _ = reply.send(result.is_ok());
                        result?;
                    }
                    None => return Ok(()),
                },
                _ = keepalive.tick() => {
                    // In subscribed mode Redis answers PING with
                    // ["pong", ""], not "PONG": accept any reply.
                    with_timeout(self.config.timeout, sink.ping::<redis::Value>()).await?;
                    self.sweep(&mut sink).await?;
                }
            }
        }
    }

    async fn dispatch(&self, msg: &redis::Msg, sink: &mut redis::aio::PubSubSink) -> redis::RedisResult<()> {
        let channel = msg.get_channel_name();
        let event = match serde_json::from_slice::<ChatEvent>(msg.get_payload_bytes()) {
            Ok(event) => event,
            Err(e) => {
                tracing::warn!(channel, error = %e, "malformed chat event on the bus");
                return Ok(());
            }
        };
        let orphan = {
            let rooms = self.shared.rooms.lock().unwrap_or_else(|p| p.into_inner());
            match rooms.get(channel) {
                Some(sender) => sender.send(event).is_err() && sender.receiver_count() == 0,
                None => false,
            }
        };
        if orphan {
            self.unsubscribe_idle(sink).await?;
        }
        Ok(())
    }

    /// Unsubscribes rooms nobody on this node listens to any more.
    async fn sweep(&self, sink: &mut redis::aio::PubSubSink) -> redis::RedisResult<()> {
        self.unsubscribe_idle(sink).await
    }

    async fn unsubscribe_idle(&self, sink: &mut redis::aio::PubSubSink) -> redis::RedisResult<()> {
        let idle: Vec<String> = {
            let mut rooms = self.shared.rooms.lock().unwrap_or_else(|p| p.into_inner());
            let idle: Vec<String> = rooms
                .iter()
                .filter(|(_, s)| s.receiver_count() == 0)
                .map(|(c, _)| c.clone())
                .collect();
            for channel in &idle {
                rooms.remove(channel);
            }
            idle
        };
        if !idle.is_empty() {
            with_timeout(self.config.timeout, sink.unsubscribe(&idle)).await?;
        }
        Ok(())
    }
}

fn timeout_error(what: &'static str) -> redis::RedisError {
    redis::RedisError::from(std::io::Error::new(std::io::ErrorKind::TimedOut, what))
}

async fn with_timeout<T>(
    limit: Duration,
    f: impl std::future::Future<Output = redis::RedisResult<T>>,
) -> redis::RedisResult<T> {
    match tokio::time::timeout(limit, f).await {
        Ok(result) => result,
        Err(_) => Err(timeout_error("redis call timed out")),
    }
}
