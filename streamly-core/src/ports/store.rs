//! `UserStore` and `StreamStore`: where accounts and streams are kept.

use async_trait::async_trait;
use thiserror::Error;
use time::OffsetDateTime;

use crate::auth::StreamKeyHash;
use crate::domain::{Category, NewUser, Stream, StreamDetails, StreamId, StreamTitle, User, UserId};

/// Which unique value a write collided with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConflictField {
    /// Another user has this username (compared without regard to case).
    Username,
    /// Another user has this email.
    Email,
    /// Another stream has this id.
    StreamId,
    /// Another stream has this key hash.
    StreamKey,
    /// Another recording has this id.
    RecordingId,
}

impl std::fmt::Display for ConflictField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Username => "username",
            Self::Email => "email",
            Self::StreamId => "stream id",
            Self::StreamKey => "stream key",
            Self::RecordingId => "recording id",
        })
    }
}

/// What a [`UserStore`] or [`StreamStore`] call can fail with.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A unique value is already taken.
    #[error("{0} is already taken")]
    Conflict(ConflictField),
    /// The record asked for does not exist.
    #[error("not found")]
    NotFound,
    /// The backing store could not be reached or failed; retrying may help.
    #[error("store unavailable: {source}")]
    Unavailable {
        /// The underlying driver error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A stored row could not be turned back into a domain value.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The owner already has as many streams as the limit given to
    /// [`StreamStore::create_within_limit`] allows.
    #[error("the owner already has {limit} streams")]
    LimitReached {
        /// The limit that was reached.
        limit: u32,
    },
}

impl StoreError {
    /// Wraps a driver error as [`StoreError::Unavailable`].
    pub fn unavailable(source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Unavailable {
            source: Box::new(source),
        }
    }
}

/// Accounts storage.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Creates a user with a fresh id. Fails with
    /// [`StoreError::Conflict`] if the username (any case) or email is taken.
    async fn create(&self, new: NewUser) -> Result<User, StoreError>;

    /// Looks a user up by id; [`StoreError::NotFound`] if absent.
    async fn get(&self, id: UserId) -> Result<User, StoreError>;

    /// Looks a user up by username (any case) or email; `Ok(None)` if absent.
    async fn find_by_login(&self, login: &str) -> Result<Option<User>, StoreError>;

    /// Replaces a user's password hash (after an upgrade from bcrypt).
    async fn set_password_hash(&self, id: UserId, hash: &str) -> Result<(), StoreError>;

    /// Deletes a user; [`StoreError::NotFound`] if absent. Their username
    /// and email are free again at once. The user's streams are the
    /// [`StreamStore`]'s: delete them first (the SQL schema also cascades,
    /// the in-memory stores do not).
    async fn delete(&self, id: UserId) -> Result<(), StoreError>;

    /// Checks the store can be reached (for `/health`).
    async fn ping(&self) -> Result<(), StoreError>;
}

/// Streams storage.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait StreamStore: Send + Sync {
    /// Stores a new stream. [`StoreError::Conflict`] if the id or key hash
    /// already exists.
    async fn create(&self, stream: Stream) -> Result<(), StoreError>;

    /// Stores a new stream unless its owner already has `limit` streams
    /// ([`StoreError::LimitReached`]). The count and the insert are one
    /// atomic step: concurrent creations for one owner never overshoot.
    /// Otherwise as [`StreamStore::create`].
    async fn create_within_limit(&self, stream: Stream, limit: u32) -> Result<(), StoreError>;

    /// How many streams a user owns.
    async fn count_by_owner(&self, owner: UserId) -> Result<u64, StoreError>;

    /// Looks a stream up by id; [`StoreError::NotFound`] if absent.
    async fn get(&self, id: &StreamId) -> Result<Stream, StoreError>;

    /// Looks a stream up by the hash of its current key.
    async fn find_by_key_hash(&self, hash: &StreamKeyHash) -> Result<Option<Stream>, StoreError>;

    /// The streams a user owns, newest first.
    async fn list_by_owner(&self, owner: UserId) -> Result<Vec<Stream>, StoreError>;

    /// The streams that are live, most recently started first.
    async fn list_live(&self) -> Result<Vec<Stream>, StoreError>;

    /// Changes a stream's title and returns the updated stream.
    async fn set_title(&self, id: &StreamId, title: &StreamTitle) -> Result<Stream, StoreError>;

    /// The live streams filed under `category`, most recently started first.
    async fn list_live_in(&self, category: Category) -> Result<Vec<Stream>, StoreError>;

    /// Replaces a stream's description, category and tags and returns the
    /// updated stream.
    async fn set_details(&self, id: &StreamId, details: &StreamDetails) -> Result<Stream, StoreError>;

    /// Streams whose title or tags hold every one of `words` (lowercase
    /// letters and digits, from [`crate::domain::search_words`]) as the
    /// start of one of their words, any case; live ones first (most
    /// recently started first), then the others newest first; at most
    /// `limit`. No words: none. (SQLite: FTS5; Postgres: full-text search
    /// with prefix queries; memory: the same rule by hand.)
    async fn search(&self, words: &[String], limit: usize) -> Result<Vec<Stream>, StoreError>;

    /// Turns recording of its broadcasts on or off and returns the updated
    /// stream.
    async fn set_record(&self, id: &StreamId, record: bool) -> Result<Stream, StoreError>;

    /// Replaces the key hash; the old key stops working at once.
    async fn set_key_hash(&self, id: &StreamId, hash: &StreamKeyHash) -> Result<(), StoreError>;

    /// Marks a stream live since `since`, or offline with `None`.
    async fn set_live(&self, id: &StreamId, since: Option<OffsetDateTime>) -> Result<(), StoreError>;

    /// Deletes a stream; [`StoreError::NotFound`] if absent.
    async fn delete(&self, id: &StreamId) -> Result<(), StoreError>;

    /// Checks the store can be reached (for `/health`).
    async fn ping(&self) -> Result<(), StoreError>;
}
