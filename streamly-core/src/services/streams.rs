//! Streams: create, rotate keys, list, go live and offline.

use std::sync::Arc;

use thiserror::Error;

use crate::auth::StreamKey;
use crate::domain::{
    Category, Page, PageRequest, Stream, StreamDescription, StreamDetails, StreamId, StreamTitle, Tags,
    UserId, ValidationError, paginate, sort_live_first,
};
use crate::ports::{ConflictField, StoreError, StreamStore};

/// What a [`Streams`] call can fail with.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StreamError {
    /// An input was malformed.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// No such stream, or it belongs to someone else (deliberately the same).
    #[error("stream not found")]
    NotFound,
    /// A generated id or key collided (practically impossible; retry).
    #[error("{0} collided")]
    Conflict(ConflictField),
    /// The OS could not supply randomness for a key.
    #[error("could not generate a stream key: {0}")]
    Randomness(String),
    /// The owner already has as many streams as the per-user limit allows
    /// ([`Streams::with_max_per_owner`]); deleting one makes room.
    #[error("you already have {limit} streams, the most allowed; delete one first")]
    LimitReached {
        /// The per-user limit.
        limit: u32,
    },
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for StreamError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Self::NotFound,
            StoreError::Conflict(f) => Self::Conflict(f),
            StoreError::LimitReached { limit } => Self::LimitReached { limit },
            other => Self::Store(other),
        }
    }
}

/// A stream just created, with its key in plaintext: the only time the key
/// is available, apart from [`Streams::rotate_key`].
#[derive(Debug, Clone)]
pub struct CreatedStream {
    /// The stored stream.
    pub stream: Stream,
    /// Its key, to show to the owner once.
    pub key: StreamKey,
}

/// Streams a user may own unless configured otherwise
/// ([`Streams::with_max_per_owner`]).
pub const DEFAULT_MAX_STREAMS_PER_USER: u32 = 20;

/// Stream management for owners, and live state for ingest.
#[derive(Clone)]
pub struct Streams {
    store: Arc<dyn StreamStore>,
    max_per_owner: u32,
}

impl std::fmt::Debug for Streams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Streams").finish_non_exhaustive()
    }
}

impl Streams {
    /// Streams over a store, at most [`DEFAULT_MAX_STREAMS_PER_USER`] per
    /// user.
    pub fn new(store: Arc<dyn StreamStore>) -> Self {
        Self {
            store,
            max_per_owner: DEFAULT_MAX_STREAMS_PER_USER,
        }
    }

    /// At most `max` streams per user ([`Streams::create`] refuses more with
    /// [`StreamError::LimitReached`]; streams a user already has above a
    /// lowered limit are kept).
    pub fn with_max_per_owner(mut self, max: u32) -> Self {
        self.max_per_owner = max;
        self
    }

    /// The per-user stream limit.
    pub fn max_per_owner(&self) -> u32 {
        self.max_per_owner
    }

    /// The store (for health checks and the key validator).
    pub fn store(&self) -> &Arc<dyn StreamStore> {
        &self.store
    }

    /// Creates a stream for `owner` with a fresh id and key, unless `owner`
    /// already has [`Streams::max_per_owner`] streams.
    pub async fn create(&self, owner: UserId, title: &str) -> Result<CreatedStream, StreamError> {
        let title = StreamTitle::parse(title)?;
        let key = new_key()?;
        let stream = Stream {
            id: StreamId::new_random(),
            owner,
            title,
            key_hash: key.hash(),
            live_since: None,
            created_at: crate::domain::now_utc(),
            record: true,
            details: crate::domain::StreamDetails::default(),
        };
        self.store
            .create_within_limit(stream.clone(), self.max_per_owner)
            .await?;
        tracing::info!(stream_id = %stream.id, owner = %owner, "stream created");
        Ok(CreatedStream { stream, key })
    }

    /// Any stream by id (public information).
    pub async fn get(&self, id: &StreamId) -> Result<Stream, StreamError> {
        Ok(self.store.get(id).await?)
    }

    /// A stream `owner` owns; someone else's stream is [`StreamError::NotFound`].
    pub async fn get_owned(&self, owner: UserId, id: &StreamId) -> Result<Stream, StreamError> {
        let stream = self.store.get(id).await?;
        if stream.owner != owner {
            return Err(StreamError::NotFound);
        }
        Ok(stream)
    }

    /// Replaces the key of a stream `owner` owns; the old key stops working.
    pub async fn rotate_key(&self, owner: UserId, id: &StreamId) -> Result<StreamKey, StreamError> {
        self.get_owned(owner, id).await?;
        let key = new_key()?;
        self.store.set_key_hash(id, &key.hash()).await?;
        tracing::info!(stream_id = %id, "stream key rotated");
        Ok(key)
    }

    /// Renames a stream `owner` owns.
    pub async fn set_title(&self, owner: UserId, id: &StreamId, title: &str) -> Result<Stream, StreamError> {
        let title = StreamTitle::parse(title)?;
        self.get_owned(owner, id).await?;
        Ok(self.store.set_title(id, &title).await?)
    }

    /// Turns recording of a stream `owner` owns on or off.
    pub async fn set_record(
        &self,
        owner: UserId,
        id: &StreamId,
        record: bool,
    ) -> Result<Stream, StreamError> {
        self.get_owned(owner, id).await?;
        let stream = self.store.set_record(id, record).await?;
        tracing::info!(stream_id = %id, record, "stream recording setting changed");
        Ok(stream)
    }

    /// Changes the description, category or tags of a stream `owner` owns:
    /// each `Some` replaces that field (`category: Some(None)` clears it),
    /// `None` keeps it. Every input is validated before anything is written.
    pub async fn set_details(
        &self,
        owner: UserId,
        id: &StreamId,
        edit: DetailsEdit<'_>,
    ) -> Result<Stream, StreamError> {
        let description = edit.description.map(StreamDescription::parse).transpose()?;
        let category = match edit.category {
            Some(Some(c)) => Some(Some(Category::parse(c)?)),
            Some(None) => Some(None),
            None => None,
        };
        let tags = edit.tags.map(Tags::parse).transpose()?;
        let current = self.get_owned(owner, id).await?;
        let details = StreamDetails {
            description: description.unwrap_or(current.details.description),
            category: category.unwrap_or(current.details.category),
            tags: tags.unwrap_or(current.details.tags),
        };
        let stream = self.store.set_details(id, &details).await?;
        tracing::info!(stream_id = %id, "stream details changed");
        Ok(stream)
    }

    /// Streams whose title or tags match `q` ([`crate::domain::search_words`];
    /// each word a prefix of one of theirs, all required), live ones first,
    /// at most `limit`. A query without a letter or digit matches nothing.
    pub async fn search(&self, q: &str, limit: usize) -> Result<Vec<Stream>, StreamError> {
        let words = crate::domain::search_words(q);
        Ok(self.store.search(&words, limit).await?)
    }

    /// One page of the live streams, as [`Streams::list_live_page`], of one
    /// category only when `category` is given.
    pub async fn list_live_page_in(
        &self,
        req: &PageRequest,
        category: Option<Category>,
    ) -> Result<Page<Stream>, StreamError> {
        let Some(category) = category else {
            return self.list_live_page(req).await;
        };
        let mut live = self.store.list_live_in(category).await?;
        sort_live_first(&mut live);
        Ok(paginate(live, req, |s| s.live_since.unwrap_or(s.created_at)))
    }

    /// Deletes a stream `owner` owns.
    pub async fn delete(&self, owner: UserId, id: &StreamId) -> Result<(), StreamError> {
        self.get_owned(owner, id).await?;
        self.store.delete(id).await?;
        tracing::info!(stream_id = %id, "stream deleted");
        Ok(())
    }

    /// Live streams, most recently started first.
    pub async fn list_live(&self) -> Result<Vec<Stream>, StreamError> {
        Ok(self.store.list_live().await?)
    }

    /// A user's streams, newest first.
    pub async fn list_by_owner(&self, owner: UserId) -> Result<Vec<Stream>, StreamError> {
        Ok(self.store.list_by_owner(owner).await?)
    }

    /// One page of [`Streams::list_live`] (by live-since, then id).
    ///
    /// The store reads the whole live set and the page is cut here: the live
    /// set is bounded by what the ingest nodes accept; what the page bounds
    /// is the answer and the work per item (owner, viewers) above it.
    pub async fn list_live_page(&self, req: &PageRequest) -> Result<Page<Stream>, StreamError> {
        let mut live = self.store.list_live().await?;
        // The store's order already; sorted again so the cursor's order is
        // this function's, whatever the adapter.
        sort_live_first(&mut live);
        Ok(paginate(live, req, |s| s.live_since.unwrap_or(s.created_at)))
    }

    /// One page of [`Streams::list_by_owner`] (by creation, then id). The
    /// store reads the owner's streams (bounded by the per-user limit).
    pub async fn list_by_owner_page(
        &self,
        owner: UserId,
        req: &PageRequest,
    ) -> Result<Page<Stream>, StreamError> {
        let mut mine = self.store.list_by_owner(owner).await?;
        crate::domain::sort_newest_first(&mut mine);
        Ok(paginate(mine, req, |s| s.created_at))
    }

    /// Marks a stream live from now.
    pub async fn go_live(&self, id: &StreamId) -> Result<(), StreamError> {
        self.store.set_live(id, Some(crate::domain::now_utc())).await?;
        tracing::info!(stream_id = %id, "stream is live");
        Ok(())
    }

    /// Marks a stream offline.
    pub async fn go_offline(&self, id: &StreamId) -> Result<(), StreamError> {
        self.store.set_live(id, None).await?;
        tracing::info!(stream_id = %id, "stream is offline");
        Ok(())
    }
}

/// The fields of [`Streams::set_details`] to change, unvalidated.
#[derive(Debug, Clone, Copy, Default)]
pub struct DetailsEdit<'a> {
    /// A new description (empty: none).
    pub description: Option<&'a str>,
    /// A new category slug, or `Some(None)` to clear it.
    pub category: Option<Option<&'a str>>,
    /// New tags (replacing all of them).
    pub tags: Option<&'a [String]>,
}

fn new_key() -> Result<StreamKey, StreamError> {
    StreamKey::generate().map_err(|e| StreamError::Randomness(e.to_string()))
}
