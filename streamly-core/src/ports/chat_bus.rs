//! `ChatBus`: how chat events reach every node that has clients in a room.

use async_trait::async_trait;
use thiserror::Error;
use tokio::sync::broadcast;

use crate::domain::{ChatEvent, ChatMessage, RoomId};

/// What a [`ChatBus`] call can fail with.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ChatBusError {
    /// The bus (Redis) could not be reached; the event was not delivered.
    #[error("chat bus unavailable: {source}")]
    Unavailable {
        /// The underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// An event read from the bus could not be decoded.
    #[error("chat bus carried a malformed event: {0}")]
    Malformed(String),
}

impl ChatBusError {
    /// Wraps an underlying error as [`ChatBusError::Unavailable`].
    pub fn unavailable(source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Unavailable {
            source: Box::new(source),
        }
    }
}

/// Why [`ChatSubscription::recv`] returned no event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum SubscriptionError {
    /// This subscriber fell behind and `0` events were skipped; the next call
    /// continues with the oldest event still buffered.
    #[error("subscriber lagged and missed {0} events")]
    Lagged(u64),
    /// The bus shut down; no more events will come.
    #[error("chat bus closed")]
    Closed,
}

/// A live feed of one room's events on this node.
///
/// Both adapters fan events out through a bounded `tokio::sync::broadcast`
/// channel per room, so a slow subscriber lags (and is told how far) instead
/// of slowing the room.
#[derive(Debug)]
pub struct ChatSubscription {
    receiver: broadcast::Receiver<ChatEvent>,
}

impl ChatSubscription {
    /// Wraps a broadcast receiver (for adapters).
    pub fn new(receiver: broadcast::Receiver<ChatEvent>) -> Self {
        Self { receiver }
    }

    /// Waits for the next event.
    pub async fn recv(&mut self) -> Result<ChatEvent, SubscriptionError> {
        use broadcast::error::RecvError;
        self.receiver.recv().await.map_err(|e| match e {
            RecvError::Lagged(n) => SubscriptionError::Lagged(n),
            RecvError::Closed => SubscriptionError::Closed,
        })
    }
}

/// Publish/subscribe for chat rooms, plus each room's recent history.
#[async_trait]
pub trait ChatBus: Send + Sync {
    /// Sends an event to every subscriber of `room` on every node.
    /// [`ChatEvent::Message`] is appended to the room's history and
    /// [`ChatEvent::Deleted`] removes the message from it. `Ok` means the bus
    /// accepted the event; an error means it was not delivered.
    async fn publish(&self, room: &RoomId, event: ChatEvent) -> Result<(), ChatBusError>;

    /// Starts receiving `room`'s events published from now on.
    async fn subscribe(&self, room: &RoomId) -> Result<ChatSubscription, ChatBusError>;

    /// Up to `limit` of the room's most recent messages, oldest first.
    async fn history(&self, room: &RoomId, limit: usize) -> Result<Vec<ChatMessage>, ChatBusError>;

    /// Checks the bus can be reached (for `/health`).
    async fn ping(&self) -> Result<(), ChatBusError>;
}
