use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::auth::StreamKeyHash;
use crate::domain::{
    Category, Stream, StreamDetails, StreamId, StreamTitle, UserId, sort_live_first, sort_newest_first,
};
use crate::ports::{ConflictField, StoreError, StreamStore};

/// A [`StreamStore`] in a `HashMap`.
#[derive(Debug, Default)]
pub struct MemoryStreamStore {
    // A std mutex: never held across an await.
    streams: Mutex<HashMap<StreamId, Stream>>,
}

impl MemoryStreamStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<StreamId, Stream>> {
        // Every critical section ends in at most one map write: poison is harmless.
        self.streams.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn update<T>(&self, id: &StreamId, f: impl FnOnce(&mut Stream) -> T) -> Result<T, StoreError> {
        self.lock().get_mut(id).map(f).ok_or(StoreError::NotFound)
    }
}

fn owned_by(streams: &HashMap<StreamId, Stream>, owner: UserId) -> u64 {
    streams.values().filter(|s| s.owner == owner).count() as u64
}

fn insert(streams: &mut HashMap<StreamId, Stream>, stream: Stream) -> Result<(), StoreError> {
    if streams.contains_key(&stream.id) {
        return Err(StoreError::Conflict(ConflictField::StreamId));
    }
    if streams.values().any(|s| s.key_hash == stream.key_hash) {
        return Err(StoreError::Conflict(ConflictField::StreamKey));
    }
    streams.insert(stream.id.clone(), stream);
    Ok(())
}

#[async_trait]
impl StreamStore for MemoryStreamStore {
    async fn create(&self, stream: Stream) -> Result<(), StoreError> {
        insert(&mut self.lock(), stream)
    }

    async fn create_within_limit(&self, stream: Stream, limit: u32) -> Result<(), StoreError> {
        // Counted and inserted under one lock: atomic.
        let mut streams = self.lock();
        if owned_by(&streams, stream.owner) >= u64::from(limit) {
            return Err(StoreError::LimitReached { limit });
        }
        insert(&mut streams, stream)
    }

    async fn count_by_owner(&self, owner: UserId) -> Result<u64, StoreError> {
        Ok(owned_by(&self.lock(), owner))
    }

    async fn get(&self, id: &StreamId) -> Result<Stream, StoreError> {
        self.lock().get(id).cloned().ok_or(StoreError::NotFound)
    }

    async fn find_by_key_hash(&self, hash: &StreamKeyHash) -> Result<Option<Stream>, StoreError> {
        Ok(self.lock().values().find(|s| s.key_hash == *hash).cloned())
    }

    async fn list_by_owner(&self, owner: UserId) -> Result<Vec<Stream>, StoreError> {
        let mut list: Vec<Stream> = self
            .lock()
            .values()
            .filter(|s| s.owner == owner)
            .cloned()
            .collect();
        sort_newest_first(&mut list);
        Ok(list)
    }

    async fn list_live(&self) -> Result<Vec<Stream>, StoreError> {
        let mut list: Vec<Stream> = self.lock().values().filter(|s| s.is_live()).cloned().collect();
        sort_live_first(&mut list);
        Ok(list)
    }

    async fn set_title(&self, id: &StreamId, title: &StreamTitle) -> Result<Stream, StoreError> {
        self.update(id, |s| {
            s.title = title.clone();
            s.clone()
        })
    }

    async fn list_live_in(&self, category: Category) -> Result<Vec<Stream>, StoreError> {
        let mut list: Vec<Stream> = self
            .lock()
            .values()
            .filter(|s| s.is_live() && s.details.category == Some(category))
            .cloned()
            .collect();
        sort_live_first(&mut list);
        Ok(list)
    }

    async fn set_details(&self, id: &StreamId, details: &StreamDetails) -> Result<Stream, StoreError> {
        self.update(id, |s| {
            s.details = details.clone();
            s.clone()
        })
    }

    async fn search(&self, words: &[String], limit: usize) -> Result<Vec<Stream>, StoreError> {
        if words.is_empty() {
            return Ok(Vec::new());
        }
        let mut found: Vec<Stream> = self
            .lock()
            .values()
            .filter(|s| {
                let text = format!("{} {}", s.title, s.details.tags.joined()).to_lowercase();
                let own: Vec<&str> = text
                    .split(|c: char| !c.is_alphanumeric())
                    .filter(|w| !w.is_empty())
                    .collect();
                words
                    .iter()
                    .all(|w| own.iter().any(|o| o.starts_with(w.as_str())))
            })
            .cloned()
            .collect();
        crate::domain::sort_search_results(&mut found);
        found.truncate(limit);
        Ok(found)
    }

    async fn set_record(&self, id: &StreamId, record: bool) -> Result<Stream, StoreError> {
        self.update(id, |s| {
            s.record = record;
            s.clone()
        })
    }

    async fn set_key_hash(&self, id: &StreamId, hash: &StreamKeyHash) -> Result<(), StoreError> {
        let mut streams = self.lock();
        if !streams.contains_key(id) {
            return Err(StoreError::NotFound);
        }
        if streams.values().any(|s| s.key_hash == *hash && s.id != *id) {
            return Err(StoreError::Conflict(ConflictField::StreamKey));
        }
        let stream = streams.get_mut(id).ok_or(StoreError::NotFound)?;
        stream.key_hash = *hash;
        Ok(())
    }

    async fn set_live(&self, id: &StreamId, since: Option<OffsetDateTime>) -> Result<(), StoreError> {
        self.update(id, |s| s.live_since = since)
    }

    async fn delete(&self, id: &StreamId) -> Result<(), StoreError> {
        self.lock().remove(id).map(drop).ok_or(StoreError::NotFound)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
