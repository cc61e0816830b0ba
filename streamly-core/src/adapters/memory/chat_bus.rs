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

/// A room exists only while it has a subscriber or some history: rooms
/// are created by `subscribe` or by a `publish` that leaves history, never by
/// `history`, and swept once both are gone.
struct Room {
    /// Allocated on the first subscription (`room_capacity` slots), dropped
    /// again when a publish or sweep finds no receiver left.
    sender: Option<broadcast::Sender<ChatEvent>>,
    history: VecDeque<ChatMessage>,
}

impl Room {
    fn subscribers(&self) -> usize {
        self.sender.as_ref().map_or(0, broadcast::Sender::receiver_count)
    }

    /// Frees the broadcast buffer when nobody listens; whether the room can
    /// go altogether.
    fn release(&mut self) -> bool {
        if self.subscribers() == 0 {
            self.sender = None;
        }
        self.sender.is_none() && self.history.is_empty()
    }
}

/// Rooms kept before the first sweep of unused ones.
const MIN_SWEEP_AT: usize = 64;

struct Rooms {
    map: HashMap<RoomId, Room>,
    /// Sweep unused rooms when the map reaches this size (twice the size
    /// left by the last sweep): amortised O(1) per room created.
    sweep_at: usize,
}

/// A [`ChatBus`] for one process: a bounded `broadcast` channel and a
/// history ring buffer per room.
pub struct MemoryChatBus {
    room_capacity: usize,
    history_len: usize,
    // A std mutex: held only to look up, create or remove a room, never
    // across await.
    rooms: Mutex<Rooms>,
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
            rooms: Mutex::new(Rooms {
                map: HashMap::new(),
                sweep_at: MIN_SWEEP_AT,
            }),
        }
    }

    /// Rooms currently held (with a subscriber or some history).
    pub fn room_count(&self) -> usize {
        let mut rooms = self.lock();
        rooms.map.retain(|_, r| !r.release());
        rooms.map.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Rooms> {
        // Each critical section leaves the rooms consistent: poison is harmless.
        self.rooms.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Rooms {
    /// The room, created if needed; sweeps unused rooms first when the map
    /// has doubled since the last sweep.
    fn entry(&mut self, room: &RoomId) -> &mut Room {
        if !self.map.contains_key(room) && self.map.len() >= self.sweep_at {
            self.map.retain(|_, r| !r.release());
            self.sweep_at = (self.map.len() * 2).max(MIN_SWEEP_AT);
        }
        self.map.entry(room.clone()).or_insert_with(|| Room {
            sender: None,
            history: VecDeque::new(),
        })
    }
}

#[async_trait]
impl ChatBus for MemoryChatBus {
    async fn publish(&self, room: &RoomId, event: ChatEvent) -> Result<(), ChatBusError> {
        let history_len = self.history_len;
        let mut rooms = self.lock();
        let keeps_history = history_len > 0 && matches!(event, ChatEvent::Message(_));
        if !keeps_history && !rooms.map.contains_key(room) {
            // Nobody listens and nothing is kept: no room to create.
            return Ok(());
        }
        let r = rooms.entry(room);
        match &event {
            ChatEvent::Message(m) if history_len > 0 => {
                if r.history.len() >= history_len {
                    r.history.pop_front();
                }
                r.history.push_back(m.clone());
            }
            ChatEvent::Deleted { id } => r.history.retain(|m| m.id != *id),
            _ => {}
        }
        if let Some(sender) = &r.sender {
            // No subscribers is not an error: the event is in history.
            let _ = sender.send(event);
        }
        if r.release() {
            rooms.map.remove(room);
        }
        Ok(())
    }

    async fn subscribe(&self, room: &RoomId) -> Result<ChatSubscription, ChatBusError> {
        let capacity = self.room_capacity;
        let mut rooms = self.lock();
        let r = rooms.entry(room);
        let sender = r.sender.get_or_insert_with(|| broadcast::channel(capacity).0);
        Ok(ChatSubscription::new(sender.subscribe()))
    }

    async fn history(&self, room: &RoomId, limit: usize) -> Result<Vec<ChatMessage>, ChatBusError> {
        let rooms = self.lock();
        Ok(rooms.map.get(room).map_or_else(Vec::new, |r| {
            let skip = r.history.len().saturating_sub(limit);
            r.history.iter().skip(skip).cloned().collect()
        }))
    }

    async fn ping(&self) -> Result<(), ChatBusError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::domain::{ChatAuthor, ChatText, MessageId, UserId, Username};

    fn room(name: &str) -> RoomId {
        RoomId::parse(name).unwrap()
    }

    fn message(room: &RoomId) -> ChatMessage {
        ChatMessage {
            id: MessageId::new_random(),
            room: room.clone(),
            author: ChatAuthor {
                id: UserId::new_random(),
                username: Username::parse("alice").unwrap(),
            },
            text: ChatText::parse("hi").unwrap(),
            sent_at: time::OffsetDateTime::now_utc(),
        }
    }

    #[tokio::test]
    async fn history_reads_create_no_room() {
        let bus = MemoryChatBus::default();
        for i in 0..1000 {
            assert!(bus.history(&room(&format!("r{i}")), 10).await.unwrap().is_empty());
        }
        assert_eq!(bus.room_count(), 0);
    }

    #[tokio::test]
    async fn rooms_without_subscribers_or_history_are_evicted() {
        let bus = MemoryChatBus::default();
        for i in 0..1000 {
            let sub = bus.subscribe(&room(&format!("r{i}"))).await.unwrap();
            drop(sub);
        }
        // Swept as new rooms come in: never more than about twice the live ones.
        assert!(
            bus.lock().map.len() <= 2 * MIN_SWEEP_AT,
            "{}",
            bus.lock().map.len()
        );
        assert_eq!(bus.room_count(), 0);
        // A deletion or presence in an unknown room creates nothing.
        bus.publish(
            &room("x"),
            ChatEvent::Deleted {
                id: MessageId::new_random(),
            },
        )
        .await
        .unwrap();
        assert_eq!(bus.room_count(), 0);
    }

    #[tokio::test]
    async fn history_keeps_a_room_and_deleting_it_all_evicts_it() {
        let bus = MemoryChatBus::default();
        let r = room("kept");
        let m = message(&r);
        bus.publish(&r, ChatEvent::Message(m.clone())).await.unwrap();
        assert_eq!(bus.room_count(), 1);
        assert!(
            bus.lock().map.get(&r).unwrap().sender.is_none(),
            "no buffer without subscribers"
        );
        let mut sub = bus.subscribe(&r).await.unwrap();
        bus.publish(&r, ChatEvent::Deleted { id: m.id }).await.unwrap();
        assert!(matches!(sub.recv().await, Ok(ChatEvent::Deleted { .. })));
        assert_eq!(bus.room_count(), 1, "a subscriber keeps the room");
        drop(sub);
        assert_eq!(bus.room_count(), 0);
        assert!(bus.history(&r, 10).await.unwrap().is_empty());
    }
}
