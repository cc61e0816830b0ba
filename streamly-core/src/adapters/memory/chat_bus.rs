use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use async_trait::async_trait;
use tokio::sync::broadcast;

use crate::domain::{ChatEvent, ChatMessage, RoomId};
use crate::ports::{ChatBus, ChatBusError, ChatSubscription};

/// Default number of events a room buffers for slow subscribers.
pub const DEFAULT_ROOM_CAPACITY: usize = 1024;
/// Default number of messages kept per room.
pub const DEFAULT_HISTORY_LEN: usize = 100;

struct Room {
    sender: broadcast::Sender<ChatEvent>,
    history: VecDeque<ChatMessage>,
}

/// A [`ChatBus`] for one process: a bounded `broadcast` channel and a
/// history ring buffer per room.
pub struct MemoryChatBus {
    room_capacity: usize,
    history_len: usize,
    // A std mutex: held only to look up or create a room, never across await.
    rooms: Mutex<HashMap<RoomId, Room>>,
}

impl std::fmt::Debug for MemoryChatBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryChatBus")
            .field("room_capacity", &self.room_capacity)
            .field("history_len", &self.history_len)
            .finish_non_exhaustive()
    }
}

impl Default for MemoryChatBus {
    fn default() -> Self {
        Self::new(DEFAULT_ROOM_CAPACITY, DEFAULT_HISTORY_LEN)
    }
}

impl MemoryChatBus {
    /// A bus buffering `room_capacity` events per room for slow subscribers
    /// and keeping the last `history_len` messages of each room.
    pub fn new(room_capacity: usize, history_len: usize) -> Self {
        Self {
            room_capacity: room_capacity.max(1),
            history_len,
            rooms: Mutex::new(HashMap::new()),
        }
    }

    fn with_room<T>(&self, room: &RoomId, f: impl FnOnce(&mut Room) -> T) -> T {
        // Each critical section leaves the room consistent: poison is harmless.
        let mut rooms = self.rooms.lock().unwrap_or_else(|p| p.into_inner());
        let room = rooms.entry(room.clone()).or_insert_with(|| Room {
            sender: broadcast::channel(self.room_capacity).0,
            history: VecDeque::new(),
        });
        f(room)
    }
}

#[async_trait]
impl ChatBus for MemoryChatBus {
    async fn publish(&self, room: &RoomId, event: ChatEvent) -> Result<(), ChatBusError> {
        let history_len = self.history_len;
        self.with_room(room, |r| {
            match &event {
                ChatEvent::Message(m) => {
                    if r.history.len() == history_len {
                        r.history.pop_front();
                    }
                    if history_len > 0 {
                        r.history.push_back(m.clone());
                    }
                }
                ChatEvent::Deleted { id } => r.history.retain(|m| m.id != *id),
                _ => {}
            }
            // No subscribers is not an error: the event is in history.
            let _ = r.sender.send(event);
        });
        Ok(())
    }

    async fn subscribe(&self, room: &RoomId) -> Result<ChatSubscription, ChatBusError> {
        Ok(ChatSubscription::new(
            self.with_room(room, |r| r.sender.subscribe()),
        ))
    }

    async fn history(&self, room: &RoomId, limit: usize) -> Result<Vec<ChatMessage>, ChatBusError> {
        Ok(self.with_room(room, |r| {
            let skip = r.history.len().saturating_sub(limit);
            r.history.iter().skip(skip).cloned().collect()
        }))
    }

    async fn ping(&self) -> Result<(), ChatBusError> {
        Ok(())
    }
}
