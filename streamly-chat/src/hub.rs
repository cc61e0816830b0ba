//! [`ChatHub`]: the rooms of one chat node, its limits, its ports and its
//! shutdown switch. Cheap to clone (an `Arc` inside).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use streamly_core::auth::{JwtError, JwtKeys};
use streamly_core::domain::{ChatAuthor, RoomId, UserId};
use streamly_core::ports::{ChatBus, ChatBusError};
use thiserror::Error;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio_util::sync::CancellationToken;

use crate::config::ChatConfig;
use crate::fanout::FanOut;
use crate::moderation::{MemoryModerationStore, ModerationError, ModerationStore, NoOwners, RoomAuthority};
use crate::outbox::RoomOutbox;
use crate::protocol::{ErrorCode, Role};
use crate::rate_limit::RateLimiter;
use crate::room::LocalRoom;
use crate::users::{TrustTokens, UserDirectory};

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum AdmitError {
    /// The node already serves `max_connections` clients.
    #[error("too many chat connections")]
    TooManyConnections,
    /// The node is shutting down.
    #[error("chat server is shutting down")]
    ShuttingDown,
}

/// A slot for one connection, taken by [`ChatHub::admit`] before the
/// WebSocket upgrade and released when the connection ends.
#[derive(Debug)]
pub struct Admission {
    _permit: OwnedSemaphorePermit,
    active: watch::Sender<usize>,
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.active.send_modify(|n| *n = n.saturating_sub(1));
    }
}

pub(crate) struct HubInner {
    pub(crate) config: ChatConfig,
    pub(crate) bus: Arc<dyn ChatBus>,
    pub(crate) jwt: Option<JwtKeys>,
    pub(crate) authority: Arc<dyn RoomAuthority>,
    pub(crate) moderation: Arc<dyn ModerationStore>,
    pub(crate) users: Arc<dyn UserDirectory>,
    // A std mutex: held only to look up, create or remove a room and to
    // change its viewer count, never across an await.
    rooms: Mutex<HashMap<RoomId, Arc<LocalRoom>>>,
    /// The fan-out shards every room writes through, started with the
    /// first room (the builder may run outside a runtime).
    fanout: OnceLock<Arc<FanOut>>,
    pub(crate) limiter: RateLimiter,
    permits: Arc<Semaphore>,
    active: watch::Sender<usize>,
    pub(crate) shutdown: CancellationToken,
    /// The signed-in connections of each user, by session number, with the
    /// token that closes each one ([`ChatHub::disconnect_user`]). A std
    /// mutex: held only to add, remove or take a user's entry.
    signed_in: Mutex<HashMap<UserId, HashMap<u64, CancellationToken>>>,
    next_session: AtomicU64,
    /// This node's identity in presence reports.
    node: uuid::Uuid,
}

/// The chat rooms of one node. Build it with [`ChatHub::builder`], serve
/// WebSocket clients with [`crate::router`] (or drive
/// [`ChatHub::serve`] with any transport), stop it with
/// [`ChatHub::shutdown`].
#[derive(Clone)]
pub struct ChatHub {
    pub(crate) inner: Arc<HubInner>,
}

impl std::fmt::Debug for ChatHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatHub")
            .field("config", &self.inner.config)
            .field("connections", &self.connections())
            .finish_non_exhaustive()
    }
}

/// Builds a [`ChatHub`].
pub struct ChatHubBuilder {
    config: ChatConfig,
    bus: Arc<dyn ChatBus>,
    jwt: Option<JwtKeys>,
    authority: Arc<dyn RoomAuthority>,
    moderation: Arc<dyn ModerationStore>,
    users: Arc<dyn UserDirectory>,
}

impl std::fmt::Debug for ChatHubBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatHubBuilder")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl ChatHubBuilder {
    /// Limits and timers (default: [`ChatConfig::default`]).
    pub fn config(mut self, config: ChatConfig) -> Self {
        self.config = config;
        self
    }

    /// Keys that verify clients' JWTs. Without them every client is
    /// anonymous (read-only).
    pub fn jwt(mut self, keys: JwtKeys) -> Self {
        self.jwt = Some(keys);
        self
    }

    /// Who owns each room (default: [`NoOwners`]).
    pub fn authority(mut self, authority: Arc<dyn RoomAuthority>) -> Self {
        self.authority = authority;
        self
    }

    /// Where moderation decisions live (default: a
    /// [`MemoryModerationStore`]; use the Redis one across nodes).
    pub fn moderation(mut self, store: Arc<dyn ModerationStore>) -> Self {
        self.moderation = store;
        self
    }

    /// Who still has an account (default: [`TrustTokens`], every verified
    /// token's user). Asked on every signed-in join, so that the token of a
    /// deleted account stops working at once, not when it expires.
    pub fn users(mut self, users: Arc<dyn UserDirectory>) -> Self {
        self.users = users;
        self
    }

    /// Builds the hub.
    pub fn build(self) -> ChatHub {
        let permits = Arc::new(Semaphore::new(self.config.max_connections.max(1)));
        ChatHub {
            inner: Arc::new(HubInner {
                limiter: RateLimiter::new(self.config.rate_limit),
                config: self.config,
                bus: self.bus,
                jwt: self.jwt,
                authority: self.authority,
                moderation: self.moderation,
                users: self.users,
                rooms: Mutex::new(HashMap::new()),
                fanout: OnceLock::new(),
                permits,
                active: watch::channel(0).0,
                shutdown: CancellationToken::new(),
                signed_in: Mutex::new(HashMap::new()),
                next_session: AtomicU64::new(0),
                node: uuid::Uuid::new_v4(),
            }),
        }
    }
}

/// A connection's place in a room; leaving (drop) updates the viewer count
/// and closes the room on this node when it was the last one.
pub(crate) struct Membership {
    pub(crate) room: Arc<LocalRoom>,
    hub: Arc<HubInner>,
    /// The connection's key in the room.
    key: u64,
}

/// A signed-in connection's entry in the hub's table of users, taken before
/// the join asks the [`UserDirectory`] (so that a deletion between the check
/// and the join still reaches it); leaving (drop) removes it.
pub(crate) struct Session {
    hub: Arc<HubInner>,
    user: UserId,
    number: u64,
    /// Cancelled by [`ChatHub::disconnect_user`].
    pub(crate) ended: CancellationToken,
}

impl HubInner {
    /// Enters a connection of `user` in the table of users.
    pub(crate) fn sign_in(self: &Arc<Self>, user: UserId) -> Session {
        let number = self.next_session.fetch_add(1, Ordering::Relaxed);
        let ended = CancellationToken::new();
        self.signed_in
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(user)
            .or_default()
            .insert(number, ended.clone());
        Session {
            hub: Arc::clone(self),
            user,
            number,
            ended,
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let mut signed_in = self.hub.signed_in.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(sessions) = signed_in.get_mut(&self.user) {
            sessions.remove(&self.number);
            if sessions.is_empty() {
                signed_in.remove(&self.user);
            }
        }
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.room.remove(self.key);
        let mut rooms = self.hub.rooms.lock().unwrap_or_else(|p| p.into_inner());
        if self.room.viewers.fetch_sub(1, Ordering::Relaxed) == 1 {
            if rooms
                .get(&self.room.id)
                .is_some_and(|r| Arc::ptr_eq(r, &self.room))
            {
                rooms.remove(&self.room.id);
            }
            self.room.cancel.cancel();
        }
    }
}

impl ChatHub {
    /// Starts building a hub on `bus`.
    pub fn builder(bus: Arc<dyn ChatBus>) -> ChatHubBuilder {
        ChatHubBuilder {
            config: ChatConfig::default(),
            bus,
            jwt: None,
            authority: Arc::new(NoOwners),
            moderation: Arc::new(MemoryModerationStore::new()),
            users: Arc::new(TrustTokens),
        }
    }

    /// The hub's limits and timers.
    pub fn config(&self) -> &ChatConfig {
        &self.inner.config
    }

    /// Clients connected to `room` on every node: this node's exact count
    /// plus the other nodes' latest reports (they report on change and every
    /// 5 s). A room without clients on this node reads 0.
    pub fn viewers(&self, room: &RoomId) -> usize {
        let rooms = self.inner.rooms.lock().unwrap_or_else(|p| p.into_inner());
        rooms.get(room).map_or(0, |r| r.total_viewers())
    }

    /// Clients connected to `room` on this node only.
    pub fn local_viewers(&self, room: &RoomId) -> usize {
        let rooms = self.inner.rooms.lock().unwrap_or_else(|p| p.into_inner());
        rooms.get(room).map_or(0, |r| r.viewers.load(Ordering::Relaxed))
    }

    /// Every room with clients on this node, with its viewer count (as
    /// [`ChatHub::viewers`]).
    pub fn rooms(&self) -> Vec<(RoomId, usize)> {
        let rooms = self.inner.rooms.lock().unwrap_or_else(|p| p.into_inner());
        rooms
            .values()
            .map(|r| (r.id.clone(), r.total_viewers()))
            .collect()
    }

    /// Connections currently admitted on this node.
    pub fn connections(&self) -> usize {
        *self.inner.active.borrow()
    }

    /// Checks the chat bus can be reached (for `/health`).
    pub async fn health(&self) -> Result<(), ChatBusError> {
        self.inner.bus.ping().await
    }

    /// Takes a connection slot, or says why not (call before upgrading).
    pub fn admit(&self) -> Result<Admission, AdmitError> {
        if self.inner.shutdown.is_cancelled() {
            return Err(AdmitError::ShuttingDown);
        }
        let permit = Arc::clone(&self.inner.permits)
            .try_acquire_owned()
            .map_err(|_| AdmitError::TooManyConnections)?;
        self.inner.active.send_modify(|n| *n += 1);
        Ok(Admission {
            _permit: permit,
            active: self.inner.active.clone(),
        })
    }

    /// Closes every connection with 1001 and waits until all have ended.
    /// New connections are refused from the first call on.
    pub async fn shutdown(&self) {
        self.inner.shutdown.cancel();
        let mut rx = self.inner.active.subscribe();
        // The sender lives in `self`, so this only ends at zero.
        let _ = rx.wait_for(|n| *n == 0).await;
    }

    /// Closes every connection `user` has open on this node (with an
    /// `account_deleted` error, then 1008 `account deleted`) and returns how
    /// many there were. For a deleted account: the platform calls it after
    /// removing the user, whose token the [`UserDirectory`] then refuses on
    /// join. Other nodes must be told separately.
    pub fn disconnect_user(&self, user: UserId) -> usize {
        let sessions = {
            let mut signed_in = self.inner.signed_in.lock().unwrap_or_else(|p| p.into_inner());
            signed_in.remove(&user).unwrap_or_default()
        };
        for token in sessions.values() {
            token.cancel();
        }
        sessions.len()
    }

    /// Verifies an optional token: `Ok(None)` is an anonymous reader.
    pub fn authenticate(&self, token: Option<&str>) -> Result<Option<ChatAuthor>, ErrorCode> {
        let Some(token) = token.filter(|t| !t.is_empty()) else {
            return Ok(None);
        };
        let Some(keys) = &self.inner.jwt else {
            return Err(ErrorCode::InvalidToken);
        };
        match keys.verify(token) {
            Ok(claims) => Ok(Some(ChatAuthor {
                id: claims.sub,
                username: claims.name,
            })),
            Err(JwtError::Expired) => Err(ErrorCode::TokenExpired),
            Err(_) => Err(ErrorCode::InvalidToken),
        }
    }

    /// The role of `author` in `room`.
    pub async fn role(&self, room: &RoomId, author: Option<&ChatAuthor>) -> Result<Role, ModerationError> {
        let Some(author) = author else {
            return Ok(Role::Anonymous);
        };
        if self.inner.authority.owner(room).await? == Some(author.id) {
            return Ok(Role::Owner);
        }
        if self.inner.moderation.is_moderator(room, author.id).await? {
            return Ok(Role::Moderator);
        }
        Ok(Role::Viewer)
    }

    /// Joins `room` on this node (starting the room if it is the first
    /// connection): the room writes its frames to `outbox`, held until the
    /// connection releases it, and tells it when `user` is silenced.
    pub(crate) fn join(
        &self,
        room: &RoomId,
        outbox: Arc<dyn RoomOutbox>,
        user: Option<UserId>,
    ) -> Membership {
        let fanout = self.inner.fanout.get_or_init(|| {
            // Shared by every room: room for a few frames per connection
            // of a large room, or one frame each for many small rooms.
            let queue = self.inner.config.outbound_queue.max(1024);
            Arc::new(FanOut::start(queue, &self.inner.shutdown))
        });
        let mut rooms = self.inner.rooms.lock().unwrap_or_else(|p| p.into_inner());
        let local = rooms
            .entry(room.clone())
            .or_insert_with(|| {
                LocalRoom::start(
                    room.clone(),
                    self.inner.node,
                    Arc::clone(&self.inner.bus),
                    Arc::clone(fanout),
                    self.inner.config.presence_interval,
                    &self.inner.shutdown,
                )
            })
            .clone();
        local.viewers.fetch_add(1, Ordering::Relaxed);
        let key = local.add(outbox, user);
        Membership {
            room: local,
            hub: Arc::clone(&self.inner),
            key,
        }
    }
}
