//! [`FanOut`]: the hub's fan-out tasks, one per runtime worker, shared by
//! every room of the hub.
//!
//! A room's connections on this node are split over the shards: each room
//! keeps one [`Share`] (a copy-on-write list of outboxes) per shard. To send
//! a frame, the room hands each shard with connections of the room a
//! [`Job`]: the frame and that room's share. The shard's task writes the
//! frame to every outbox of the share ([`Outbox::deliver`](crate::outbox::Outbox::deliver), which never
//! waits). So a hub costs one task and one bounded channel per worker, not
//! per room, and a room with one viewer costs no task at all.
//!
//! The tasks are owned by the hub: they end when the hub shuts down or the
//! last sender (the hub and its rooms) is dropped. A room waits for room in
//! a shard's channel (backpressure towards the bus subscription, which is
//! bounded and reports a lag); a connection never makes a shard wait.

use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use streamly_core::domain::{MessageId, UserId};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::moderation::Restriction;
use crate::outbox::RoomOutbox;

/// Outbox deliveries a shard makes before it yields to the runtime.
const YIELD_EVERY: usize = 512;

/// One connection in a room.
#[derive(Clone)]
pub(crate) struct Member {
    pub(crate) key: u64,
    /// The signed-in user, for [`Deliver::Silenced`].
    pub(crate) user: Option<UserId>,
    pub(crate) outbox: Arc<dyn RoomOutbox>,
}

/// The connections of one room on one shard. The list is copied on write:
/// a shard takes a snapshot per job, so joins and leaves never wait for a
/// delivery to finish.
#[derive(Default)]
pub(crate) struct Share(Mutex<Arc<Vec<Member>>>);

impl Share {
    // A std mutex: held to clone the snapshot or to copy the list on a
    // join or leave, never across an await.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Arc<Vec<Member>>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn snapshot(&self) -> Arc<Vec<Member>> {
        Arc::clone(&self.lock())
    }
}

/// What a room sends to its connections.
#[derive(Clone)]
pub(crate) enum Deliver {
    /// A frame for every connection, framed for the wire; a chat message
    /// carries its id for the history filter.
    Frame { id: Option<MessageId>, frame: Bytes },
    /// A moderator restricted `user`: only that user's connections act.
    Silenced { user: UserId, restriction: Restriction },
}

/// One delivery to one room's share of one shard.
pub(crate) struct Job {
    pub(crate) share: Arc<Share>,
    pub(crate) what: Deliver,
}

/// The hub's shards. See the module docs.
pub(crate) struct FanOut {
    shards: Vec<mpsc::Sender<Job>>,
}

impl FanOut {
    /// Starts one shard per runtime worker, each with a channel of `queue`
    /// jobs, ending with `shutdown`.
    pub(crate) fn start(queue: usize, shutdown: &CancellationToken) -> Self {
        let workers = tokio::runtime::Handle::current().metrics().num_workers().max(1);
        let shards = (0..workers)
            .map(|_| {
                let (tx, rx) = mpsc::channel(queue.max(1));
                // Unconstrained: tokio's cooperative budget (128 resource
                // polls per task poll) would otherwise make every write after
                // the 128th of a frame look like a full socket. The task
                // yields on its own instead.
                tokio::spawn(tokio::task::unconstrained(run_shard(rx, shutdown.clone())));
                tx
            })
            .collect();
        Self { shards }
    }

    /// How many shards there are (a room keeps one [`Share`] per shard).
    pub(crate) fn len(&self) -> usize {
        self.shards.len()
    }

    /// Hands `job` to shard `shard`, waiting for room in its channel. A
    /// shard that ended (the hub shut down) drops it.
    pub(crate) async fn send(&self, shard: usize, job: Job) {
        if let Some(tx) = self.shards.get(shard) {
            let _ = tx.send(job).await;
        }
    }
}

async fn run_shard(mut rx: mpsc::Receiver<Job>, shutdown: CancellationToken) {
    // Pinned once: re-creating it per job would register a waiter on the
    // hub-wide token (a shared lock) per delivered frame.
    let cancelled = shutdown.cancelled_owned();
    tokio::pin!(cancelled);
    let mut since_yield = 0usize;
    loop {
        let job = tokio::select! {
            () = &mut cancelled => return,
            job = rx.recv() => match job {
                Some(job) => job,
                None => return,
            },
        };
        let members = job.share.snapshot();
        match &job.what {
            Deliver::Frame { id, frame } => {
                for chunk in members.chunks(YIELD_EVERY) {
                    for member in chunk {
                        member.outbox.deliver(*id, frame);
                    }
                    since_yield += chunk.len();
                    if since_yield >= YIELD_EVERY {
                        // Let the worker's other tasks (joins, reads, pings)
                        // run between chunks of a large room.
                        since_yield = 0;
                        tokio::task::yield_now().await;
                    }
                }
            }
            Deliver::Silenced { user, restriction } => {
                for member in members.iter().filter(|m| m.user == Some(*user)) {
                    member.outbox.silence(*restriction);
                }
            }
        }
    }
}
