//! One room as seen by this node: a bus subscription whose frames are
//! serialized and framed once, then handed to the hub's fan-out shards
//! ([`crate::fanout`]) with the room's share of connections on each, and a
//! coalescing presence ticker.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use streamly_core::domain::{ChatEvent, RoomId, UserId};
use streamly_core::ports::{ChatBus, SubscriptionError};
use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::fanout::{Deliver, FanOut, Job, Member, Share};
use crate::moderation::Restriction;
use crate::outbox::{RoomOutbox, text_frame};
use crate::protocol::ServerFrame;

/// Delay between two attempts to subscribe to a room on the bus.
const RESUBSCRIBE_BACKOFF: Duration = Duration::from_millis(250);
/// A node re-announces its viewer count at least this often; another node's
/// count is forgotten after three times this long without news.
const PRESENCE_REFRESH: Duration = Duration::from_secs(5);

pub(crate) struct LocalRoom {
    pub(crate) id: RoomId,
    /// The hub's fan-out shards.
    fanout: Arc<FanOut>,
    /// The room's connections on this node, one share per shard.
    shares: Vec<Arc<Share>>,
    next_key: AtomicU64,
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
    /// Creates the room and starts its bus task.
    pub(crate) fn start(
        id: RoomId,
        node: Uuid,
        bus: Arc<dyn ChatBus>,
        fanout: Arc<FanOut>,
        presence_interval: Duration,
        parent: &CancellationToken,
    ) -> Arc<Self> {
        let cancel = parent.child_token();
        let room = Arc::new(Self {
            id,
            shares: (0..fanout.len()).map(|_| Arc::default()).collect(),
            fanout,
            next_key: AtomicU64::new(0),
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

    /// Adds a connection whose room frames the shards write to `outbox`;
    /// returns the key to [`LocalRoom::remove`] it.
    pub(crate) fn add(&self, outbox: Arc<dyn RoomOutbox>, user: Option<UserId>) -> u64 {
        let key = self.next_key.fetch_add(1, Ordering::Relaxed);
        let share = &self.shares[(key % self.shares.len() as u64) as usize];
        Arc::make_mut(&mut share.lock()).push(Member { key, user, outbox });
        key
    }

    /// Removes a connection added by [`LocalRoom::add`].
    pub(crate) fn remove(&self, key: u64) {
        let share = &self.shares[(key % self.shares.len() as u64) as usize];
        let mut members = share.lock();
        if let Some(at) = members.iter().position(|m| m.key == key) {
            Arc::make_mut(&mut members).remove(at);
        }
    }

    /// Sends a frame to every connection of the room on this node.
    async fn publish(&self, what: Deliver) {
        for (shard, share) in self.shares.iter().enumerate() {
            if share.lock().is_empty() {
                continue;
            }
            let job = Job {
                share: Arc::clone(share),
                what: what.clone(),
            };
            self.fanout.send(shard, job).await;
        }
    }

    /// Waits until the room's bus subscription is live (so no message
    /// published after a join's history read is missed), at most `limit`.
    pub(crate) async fn wait_ready(&self, limit: Duration) -> bool {
        let mut rx = self.ready.subscribe();
        matches!(tokio::time::timeout(limit, rx.wait_for(|r| *r)).await, Ok(Ok(_)))
    }
}

fn outgoing(event: ChatEvent) -> Option<Deliver> {
    let id = match &event {
        ChatEvent::Message(m) => Some(m.id),
        ChatEvent::Deleted { .. } => None,
        ChatEvent::UserSilenced { user, until } => {
            let restriction = match until {
                Some(until) => Restriction::TimedOut { until: *until },
                None => Restriction::Banned,
            };
            return Some(Deliver::Silenced {
                user: *user,
                restriction,
            });
        }
        _ => return None,
    };
    // The bus event's own tagged JSON is the protocol's `message` and
    // `deleted` frame.
    match serde_json::to_string(&event) {
        Ok(text) => Some(Deliver::Frame {
            id,
            frame: text_frame(&text),
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
fn presence_tick(room: &LocalRoom, bus: &Arc<dyn ChatBus>, p: &mut Presence) -> Option<Deliver> {
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
    Some(Deliver::Frame {
        id: None,
        frame: text_frame(&text),
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
