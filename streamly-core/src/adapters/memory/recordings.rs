use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::domain::{Page, PageRequest, Recording, RecordingEnd, RecordingId, RecordingStatus, StreamId};
use crate::ports::{ConflictField, RecordingStore, StoreError};

/// A [`RecordingStore`] in a `HashMap`.
#[derive(Debug, Default)]
pub struct MemoryRecordingStore {
    // A std mutex: never held across an await.
    recordings: Mutex<HashMap<RecordingId, Recording>>,
}

impl MemoryRecordingStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<RecordingId, Recording>> {
        // Every critical section ends in at most one map write: poison is harmless.
        self.recordings.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Newest first, then by id: the order of [`RecordingStore::list_by_stream`].
fn newest_first(list: &mut [Recording]) {
    list.sort_by(|a, b| b.started_at.cmp(&a.started_at).then_with(|| a.id.cmp(&b.id)));
}

#[async_trait]
impl RecordingStore for MemoryRecordingStore {
    async fn create(&self, recording: Recording) -> Result<(), StoreError> {
        let mut all = self.lock();
        if all.contains_key(&recording.id) {
            return Err(StoreError::Conflict(ConflictField::RecordingId));
        }
        all.insert(recording.id.clone(), recording);
        Ok(())
    }

    async fn update_progress(
        &self,
        id: &RecordingId,
        duration_ms: u64,
        size_bytes: u64,
    ) -> Result<(), StoreError> {
        let mut all = self.lock();
        let r = all.get_mut(id).ok_or(StoreError::NotFound)?;
        r.duration_ms = duration_ms;
        r.size_bytes = size_bytes;
        Ok(())
    }

    async fn finalize(&self, id: &RecordingId, end: RecordingEnd) -> Result<Recording, StoreError> {
        let mut all = self.lock();
        let r = all.get_mut(id).ok_or(StoreError::NotFound)?;
        r.ended_at = Some(end.ended_at);
        r.duration_ms = end.duration_ms;
        r.size_bytes = end.size_bytes;
        r.status = end.status;
        Ok(r.clone())
    }

    async fn get(&self, id: &RecordingId) -> Result<Recording, StoreError> {
        self.lock().get(id).cloned().ok_or(StoreError::NotFound)
    }

    async fn list_by_stream(
        &self,
        stream: &StreamId,
        page: &PageRequest,
    ) -> Result<Page<Recording>, StoreError> {
        let mut list: Vec<Recording> = self
            .lock()
            .values()
            .filter(|r| r.stream_id == *stream)
            .cloned()
            .collect();
        newest_first(&mut list);
        let start = match page.cursor() {
            Some(c) => list.partition_point(|r| {
                r.started_at > c.at || (r.started_at == c.at && r.id.as_str() <= c.id.as_str())
            }),
            None => 0,
        };
        let limit = page.limit() as usize;
        let more = list.len().saturating_sub(start) > limit;
        let items: Vec<Recording> = list.into_iter().skip(start).take(limit).collect();
        let next = if more {
            items.last().map(Recording::cursor)
        } else {
            None
        };
        Ok(Page { items, next })
    }

    async fn list_in_progress(&self) -> Result<Vec<Recording>, StoreError> {
        let mut list: Vec<Recording> = self
            .lock()
            .values()
            .filter(|r| r.status == RecordingStatus::Recording)
            .cloned()
            .collect();
        newest_first(&mut list);
        Ok(list)
    }

    async fn list_expired(&self, before: OffsetDateTime, limit: u32) -> Result<Vec<Recording>, StoreError> {
        let mut list: Vec<Recording> = self
            .lock()
            .values()
            .filter(|r| r.ended_at.is_some_and(|at| at < before))
            .cloned()
            .collect();
        list.sort_by(|a, b| a.ended_at.cmp(&b.ended_at).then_with(|| a.id.cmp(&b.id)));
        list.truncate(limit as usize);
        Ok(list)
    }

    async fn delete(&self, id: &RecordingId) -> Result<(), StoreError> {
        self.lock().remove(id).map(drop).ok_or(StoreError::NotFound)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
