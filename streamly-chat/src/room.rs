//! One room as seen by this node: a bus subscription fanned out to the
//! node's connections through a bounded `broadcast` channel of frames that
//! are serialized once, and a coalescing presence ticker.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use bytes::Bytes;
use streamly_core::domain::{ChatEvent, MessageId, RoomId, UserId};
use streamly_core::ports::{ChatBus, SubscriptionError};
use time::OffsetDateTime;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::outbox::{Outbox, text_frame};
use crate::protocol::ServerFrame;

/// What an outgoing room frame is, so a connection can act on it without
/// parsing the JSON.
#[derive(Debug, Clone, Copy)]
pub(crate) enum OutKind {
    /// A chat message (its id, to skip duplicates of the joining history).
    Message(MessageId),
    /// Any frame every client gets as is (`deleted`, `presence`).
    Plain,
    /// A user was silenced: only that user's connections act on it.
    Silenced {
        user: UserId,
        until: Option<OffsetDateTime>,
    },
}

/// A frame for every connection of a room on this node.
#[derive(Debug, Clone)]
pub(crate) struct Outgoing {
    pub(crate) kind: OutKind,
    pub(crate) text: Utf8Bytes,
}

/// Delay between two attempts to subscribe to a room on the bus.
const RESUBSCRIBE_BACKOFF: Duration = Duration::from_millis(250);
/// A node re-announces its viewer count at least this often; another node's
/// count is forgotten after three times this long without news.
const PRESENCE_REFRESH: Duration = Duration::from_secs(5);

pub(crate) struct LocalRoom {
    pub(crate) id: RoomId,
    /// Every room frame, for connections without an outbox (any transport
    /// other than [`crate::router`]'s WebSocket).
    pub(crate) tx: broadcast::Sender<Outgoing>,
    /// Only the frames a connection with an outbox must act on itself
    /// (`Silenced`): its room frames are written by the shards.
    pub(crate) control: broadcast::Sender<Outgoing>,
    /// The connections with an outbox, split over one fan-out task per
    /// runtime worker.
    shards: Vec<Shard>,
    next_direct: AtomicU64,
    direct: AtomicUsize,
    /// Connections in the room on this node. Changed only under the hub's
    /// rooms lock, read anywhere.
    pub(crate) viewers: AtomicUsize,
    /// Clients in the room on the other nodes, as they last reported.
    remote_viewers: AtomicUsize,
    /// This node's identity in `NodePresence` reports.
    node: Uuid,
    ready: watch::Sender<bool>,
    pub(crate) cancel: CancellationToken,
}

impl LocalRoom {
    /// Creates the room and starts its fan-out task.
    pub(crate) fn start(
        id: RoomId,
        node: Uuid,
        bus: Arc<dyn ChatBus>,
        queue: usize,
        presence_interval: Duration,
        parent: &CancellationToken,
    ) -> Arc<Self> {
        let workers = tokio::runtime::Handle::current().metrics().num_workers().max(1);
        let cancel = parent.child_token();
        let room = Arc::new(Self {
            id,
            tx: broadcast::channel(queue.max(1)).0,
            control: broadcast::channel(queue.max(1)).0,
            shards: (0..workers).map(|_| Shard::start(queue, &cancel)).collect(),
            next_direct: AtomicU64::new(0),
            direct: AtomicUsize::new(0),
            viewers: AtomicUsize::new(0),
            remote_viewers: AtomicUsize::new(0),
            node,
            ready: watch::channel(false).0,
            cancel,
        });
        tokio::spawn(fan_out(Arc::clone(&room), bus, presence_interval));
        room
    }

    /// Clients in the room on every node: this node's exact count plus the
    /// others' last reports.
    pub(crate) fn total_viewers(&self) -> usize {
        self.viewers.load(Ordering::Relaxed) + self.remote_viewers.load(Ordering::Relaxed)
    }

    /// Adds a connection whose room frames the shards write straight to
    /// its socket; returns the key to [`LocalRoom::remove_direct`] it.
    pub(crate) fn add_direct(&self, outbox: Arc<Outbox>) -> u64 {
        let key = self.next_direct.fetch_add(1, Ordering::Relaxed);
        let shard = &self.shards[(key % self.shards.len() as u64) as usize];
        Arc::make_mut(&mut shard.lock()).push((key, outbox));
        self.direct.fetch_add(1, Ordering::Relaxed);
        key
    }

    /// Removes a connection added by [`LocalRoom::add_direct`].
    pub(crate) fn remove_direct(&self, key: u64) {
        let shard = &self.shards[(key % self.shards.len() as u64) as usize];
        Arc::make_mut(&mut shard.lock()).retain(|(k, _)| *k != key);
        self.direct.fetch_sub(1, Ordering::Relaxed);
    }

    /// Sends a frame to every connection of the room on this node.
    async fn publish(&self, out: Outgoing) {
        match out.kind {
            OutKind::Silenced { .. } => {
                let _ = self.control.send(out.clone());
            }
            OutKind::Message(_) | OutKind::Plain if self.direct.load(Ordering::Relaxed) > 0 => {
                let id = match out.kind {
                    OutKind::Message(id) => Some(id),
                    _ => None,
                };
                let frame = text_frame(out.text.as_str());
                for shard in &self.shards {
                    // A shard only ends with the room.
                    let _ = shard.tx.send((id, frame.clone())).await;
                }
            }
            _ => {}
        }
        // No receivers is fine: everyone just left, or all have outboxes.
        if self.tx.receiver_count() > 0 {
            let _ = self.tx.send(out);
        }
    }

    /// Waits until the room's bus subscription is live (so no message
    /// published after a join's history read is missed), at most `limit`.
    pub(crate) async fn wait_ready(&self, limit: Duration) -> bool {
        let mut rx = self.ready.subscribe();
        matches!(tokio::time::timeout(limit, rx.wait_for(|r| *r)).await, Ok(Ok(_)))
    }
}

fn outgoing(event: ChatEvent) -> Option<Outgoing> {
    let kind = match &event {
        ChatEvent::Message(m) => OutKind::Message(m.id),
        ChatEvent::Deleted { .. } => OutKind::Plain,
        ChatEvent::UserSilenced { user, until } => {
            return Some(Outgoing {
                kind: OutKind::Silenced {
                    user: *user,
                    until: *until,
                },
                text: Utf8Bytes::from_static(""),
            });
        }
        _ => return None,
    };
    // The bus event's own tagged JSON is the protocol's `message` and
    // `deleted` frame.
    match serde_json::to_string(&event) {
        Ok(text) => Some(Outgoing {
            kind,
            text: Utf8Bytes::from(text),
        }),
        Err(e) => {
            tracing::warn!(error = %e, "could not serialize chat event");
            None
        }
    }
}

/// Presence bookkeeping of one room on this node.
struct Presence {
    remote: HashMap<Uuid, (u64, Instant)>,
    published_local: Option<usize>,
    published_at: Instant,
    sent_total: usize,
}

impl Presence {
    fn remote_sum(&self) -> usize {
        let sum: u64 = self.remote.values().map(|(v, _)| *v).sum();
        usize::try_from(sum).unwrap_or(usize::MAX)
    }
}

fn announce(room: &LocalRoom, bus: &Arc<dyn ChatBus>, viewers: usize) {
    let bus = Arc::clone(bus);
    let id = room.id.clone();
    let event = ChatEvent::NodePresence {
        node: room.node,
        viewers: u64::try_from(viewers).unwrap_or(u64::MAX),
    };
    tokio::spawn(async move {
        if let Err(e) = bus.publish(&id, event).await {
            tracing::debug!(room = %id, error = %e, "could not announce presence");
        }
    });
}

/// Runs every presence interval: announces this node's count when it
/// changed (or is due a refresh), forgets silent nodes, and tells local
/// clients the room's total when it changed.
fn presence_tick(room: &LocalRoom, bus: &Arc<dyn ChatBus>, p: &mut Presence) -> Option<Outgoing> {
    let now = Instant::now();
    p.remote
        .retain(|_, (_, at)| now.duration_since(*at) < PRESENCE_REFRESH * 3);
    room.remote_viewers.store(p.remote_sum(), Ordering::Relaxed);
    let local = room.viewers.load(Ordering::Relaxed);
    if p.published_local != Some(local) || now.duration_since(p.published_at) >= PRESENCE_REFRESH {
        announce(room, bus, local);
        p.published_local = Some(local);
        p.published_at = now;
    }
    let total = room.total_viewers();
    if total == p.sent_total {
        return None;
    }
    p.sent_total = total;
    let text = ServerFrame::Presence { viewers: total }.to_json();
    Some(Outgoing {
        kind: OutKind::Plain,
        text: Utf8Bytes::from(text),
    })
}

async fn fan_out(room: Arc<LocalRoom>, bus: Arc<dyn ChatBus>, presence_interval: Duration) {
    let mut presence = Presence {
        remote: HashMap::new(),
        published_local: None,
        published_at: Instant::now(),
        sent_total: room.total_viewers(),
    };
    fan_out_loop(&room, &bus, presence_interval, &mut presence).await;
    // This node has no client left in the room (or is shutting down): tell
    // the others at once rather than letting them time the count out.
    if presence.published_local.is_some_and(|n| n > 0) {
        announce(&room, &bus, 0);
    }
}

async fn fan_out_loop(
    room: &Arc<LocalRoom>,
    bus: &Arc<dyn ChatBus>,
    presence_interval: Duration,
    presence: &mut Presence,
) {
    loop {
        let sub = tokio::select! {
            () = room.cancel.cancelled() => return,
            sub = bus.subscribe(&room.id) => sub,
        };
        let mut sub = match sub {
            Ok(sub) => sub,
            Err(e) => {
                tracing::warn!(room = %room.id, error = %e, "chat room subscribe failed; retrying");
                tokio::select! {
                    () = room.cancel.cancelled() => return,
                    () = tokio::time::sleep(RESUBSCRIBE_BACKOFF) => continue,
                }
            }
        };
        room.ready.send_replace(true);
        let mut tick = tokio::time::interval(presence_interval.max(Duration::from_millis(10)));
        tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                () = room.cancel.cancelled() => return,
                event = sub.recv() => match event {
                    Ok(ChatEvent::NodePresence { node, viewers }) => {
                        if node != room.node {
                            presence.remote.insert(node, (viewers, Instant::now()));
                            room.remote_viewers.store(presence.remote_sum(), Ordering::Relaxed);
                        }
                    }
                    Ok(event) => {
                        if let Some(out) = outgoing(event) {
                            room.publish(out).await;
                        }
                    }
                    Err(SubscriptionError::Lagged(n)) => {
                        tracing::warn!(room = %room.id, missed = n, "chat room fan-out lagged behind the bus");
                    }
                    Err(SubscriptionError::Closed) => {
                        tracing::warn!(room = %room.id, "chat bus subscription closed; resubscribing");
                        room.ready.send_replace(false);
                        break;
                    }
                },
                _ = tick.tick() => {
                    if let Some(out) = presence_tick(room, bus, presence) {
                        room.publish(out).await;
                    }
                }
            }
        }
    }
}

/// Connections a shard writes to before it yields to the runtime.
const YIELD_EVERY: usize = 512;

/// The outboxes of one share of a room's connections.
type Outboxes = Arc<Vec<(u64, Arc<Outbox>)>>;

/// One fan-out task and the connections it writes to. The list is
/// copied on write: the task takes a snapshot per frame, so joins and
/// leaves never wait for a fan-out to finish.
struct Shard {
    conns: Arc<Mutex<Outboxes>>,
    tx: mpsc::Sender<(Option<MessageId>, Bytes)>,
}

impl Shard {
    fn start(queue: usize, parent: &CancellationToken) -> Self {
        let conns: Arc<Mutex<Outboxes>> = Arc::default();
        let (tx, mut rx) = mpsc::channel::<(Option<MessageId>, Bytes)>(queue.max(1));
        let list = Arc::clone(&conns);
        let cancel = parent.clone();
        // Unconstrained: tokio's cooperative budget (128 resource polls per
        // task poll) would otherwise make every write after the 128th of a
        // frame look like a full socket. The task yields on its own instead.
        tokio::spawn(tokio::task::unconstrained(async move {
            loop {
                let (id, frame) = tokio::select! {
                    () = cancel.cancelled() => return,
                    next = rx.recv() => match next {
                        Some(next) => next,
                        None => return,
                    },
                };
                let snapshot = Arc::clone(&list.lock().unwrap_or_else(|p| p.into_inner()));
                for chunk in snapshot.chunks(YIELD_EVERY) {
                    for (_, outbox) in chunk {
                        outbox.deliver(id, &frame);
                    }
                    // Let the worker's other tasks (joins, reads, pings) run
                    // between chunks of a large room.
                    tokio::task::yield_now().await;
                }
            }
        }));
        Self { conns, tx }
    }

    fn lock(&self) -> MutexGuard<'_, Outboxes> {
        self.conns.lock().unwrap_or_else(|p| p.into_inner())
    }
}
