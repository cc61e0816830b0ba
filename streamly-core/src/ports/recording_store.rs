//! `RecordingStore`: what is known about each recorded broadcast (its media
//! is in the [`SegmentSink`](super::SegmentSink), under
//! [`Recording::prefix`]).

use async_trait::async_trait;
use time::OffsetDateTime;

use super::StoreError;
use crate::domain::{Page, PageRequest, Recording, RecordingEnd, RecordingId, StreamId};

/// Recordings storage.
#[async_trait]
pub trait RecordingStore: Send + Sync {
    /// Stores a new recording; [`StoreError::Conflict`] if the id exists.
    async fn create(&self, recording: Recording) -> Result<(), StoreError>;

    /// Records how much has been written so far of a recording still in
    /// progress; [`StoreError::NotFound`] if absent.
    async fn update_progress(
        &self,
        id: &RecordingId,
        duration_ms: u64,
        size_bytes: u64,
    ) -> Result<(), StoreError>;

    /// Ends a recording and returns it; [`StoreError::NotFound`] if absent.
    async fn finalize(&self, id: &RecordingId, end: RecordingEnd) -> Result<Recording, StoreError>;

    /// Looks a recording up; [`StoreError::NotFound`] if absent.
    async fn get(&self, id: &RecordingId) -> Result<Recording, StoreError>;

    /// A page of a stream's recordings, most recently started first (then
    /// by id): the cursor is [`Recording::cursor`].
    async fn list_by_stream(
        &self,
        stream: &StreamId,
        page: &PageRequest,
    ) -> Result<Page<Recording>, StoreError>;

    /// Every recording still in progress (status `recording`): after a
    /// crash, the ones to finalize.
    async fn list_in_progress(&self) -> Result<Vec<Recording>, StoreError>;

    /// Up to `limit` finalized recordings that ended before `before`, the
    /// oldest first: the ones retention deletes.
    async fn list_expired(&self, before: OffsetDateTime, limit: u32) -> Result<Vec<Recording>, StoreError>;

    /// Deletes a recording's row; [`StoreError::NotFound`] if absent.
    async fn delete(&self, id: &RecordingId) -> Result<(), StoreError>;

    /// Checks the store can be reached (for `/health`).
    async fn ping(&self) -> Result<(), StoreError>;
}
