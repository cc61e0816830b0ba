//! SQL stores for [`UserStore`] and
//! [`StreamStore`]: SQLite (feature `sqlite`, the
//! zero-setup default) and PostgreSQL (feature `postgres`).
//!
//! Both run the same queries (`$n` placeholders work on both) over their own
//! versioned migrations (`migrations/sqlite`, `migrations/postgres`, applied
//! by `sqlx::migrate!` when a store is opened). [`connect`] picks the backend
//! from the URL scheme.

#[cfg(feature = "postgres")]
mod postgres;
mod profiles;
mod queries;
mod recordings;
mod rows;
#[cfg(feature = "sqlite")]
mod sqlite;
mod viewer_analytics;

use std::sync::Arc;

#[cfg(feature = "postgres")]
pub use postgres::PostgresStore;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;

use crate::ports::{ProfileStore, RecordingStore, StoreError, StreamStore, UserStore, ViewerAnalyticsStore};

/// Both stores of one database, ready to hand to the services.
#[derive(Clone)]
pub struct SqlStores {
    /// The users table.
    pub users: Arc<dyn UserStore>,
    /// The streams table.
    pub streams: Arc<dyn StreamStore>,
    /// The recordings table.
    pub recordings: Arc<dyn RecordingStore>,
    /// The profiles and follows tables.
    pub profiles: Arc<dyn ProfileStore>,
    /// The viewer analytics tables.
    pub viewer_analytics: Arc<dyn ViewerAnalyticsStore>,
}

impl std::fmt::Debug for SqlStores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlStores").finish_non_exhaustive()
    }
}

/// Opens the database at `url` (`sqlite://path.db`, `sqlite::memory:` or
/// `postgres://…`), runs its migrations and returns its stores.
///
/// # Errors
/// [`StoreError::Unavailable`] when the database cannot be reached or
/// migrated, or when the URL's scheme names a backend this build lacks.
pub async fn connect(url: &str) -> Result<SqlStores, StoreError> {
    #[cfg(feature = "sqlite")]
    if url.starts_with("sqlite:") {
        let store = Arc::new(SqliteStore::connect(url).await?);
        return Ok(SqlStores {
            users: store.clone(),
            streams: store.clone(),
            recordings: store.clone(),
            profiles: store.clone(),
            viewer_analytics: store,
        });
    }
    #[cfg(feature = "postgres")]
    if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        let store = Arc::new(PostgresStore::connect(url).await?);
        return Ok(SqlStores {
            users: store.clone(),
            streams: store.clone(),
            recordings: store.clone(),
            profiles: store.clone(),
            viewer_analytics: store,
        });
    }
    let scheme = url.split(':').next().unwrap_or_default();
    Err(StoreError::unavailable(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        format!("no store for database URL scheme {scheme:?} in this build (features: sqlite, postgres)"),
    )))
}

/// Maps a driver error to a [`StoreError`], turning unique violations into
/// [`StoreError::Conflict`] with the column that collided.
fn map_err(e: sqlx::Error) -> StoreError {
    use crate::ports::ConflictField;
    if let sqlx::Error::Database(db) = &e
        && db.is_unique_violation()
    {
        // Postgres names the constraint; SQLite puts "table.column" in the message.
        let hint = format!("{} {}", db.constraint().unwrap_or_default(), db.message());
        let field = if hint.contains("username") {
            ConflictField::Username
        } else if hint.contains("email") {
            ConflictField::Email
        } else if hint.contains("key_hash") {
            ConflictField::StreamKey
        } else {
            ConflictField::StreamId
        };
        return StoreError::Conflict(field);
    }
    if let sqlx::Error::RowNotFound = e {
        return StoreError::NotFound;
    }
    StoreError::unavailable(e)
}

/// An update that should touch exactly one row touched none: not found.
fn expect_one(rows_affected: u64) -> Result<(), StoreError> {
    if rows_affected == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}
