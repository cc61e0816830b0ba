//! One room as seen by this node: a bus subscription fanned out to the
//! node's connections through a bounded `broadcast` channel of frames that
//! are serialized once, and a coalescing presence ticker.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use streamly_core::domain::{ChatEvent, MessageId, RoomId, UserId};
use streamly_core::ports::{ChatBus, SubscriptionError};
use time::OffsetDateTime;
use tokio::sync::{broadcast, watch};
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

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

pub(crate) struct LocalRoom {
    pub(crate) id: RoomId,
    pub(crate) tx: broadcast::Sender<Outgoing>,
    /// Connections in the room on this node. Changed only under the hub's
    /// rooms lock, read anywhere.
    pub(crate) viewers: AtomicUsize,
    ready: watch::Sender<bool>,
    pub(crate) cancel: CancellationToken,
}

impl LocalRoom {
    /// Creates the room and starts its fan-out task.
    pub(crate) fn start(
        id: RoomId,
        bus: Arc<dyn ChatBus>,
        queue: usize,
        presence_interval: Duration,
        parent: &CancellationToken,
    ) -> Arc<Self> {
        let room = Arc::new(Self {
            id,
            tx: broadcast::channel(queue.max(1)).0,
            viewers: AtomicUsize::new(0),
            ready: watch::channel(false).0,
            cancel: parent.child_token(),
        });
        tokio::spawn(fan_out(Arc::clone(&room), bus, presence_interval));
        room
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

async fn fan_out(room: Arc<LocalRoom>, bus: Arc<dyn ChatBus>, presence_interval: Duration) {
    let mut last_presence = room.viewers.load(Ordering::Relaxed);
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
                    Ok(event) => {
                        if let Some(out) = outgoing(event) {
                            // No receivers is fine: everyone just left.
                            let _ = room.tx.send(out);
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
                    let viewers = room.viewers.load(Ordering::Relaxed);
                    if viewers != last_presence {
                        last_presence = viewers;
                        let text = ServerFrame::Presence { viewers }.to_json();
                        let _ = room.tx.send(Outgoing { kind: OutKind::Plain, text: Utf8Bytes::from(text) });
                    }
                }
            }
        }
    }
}
