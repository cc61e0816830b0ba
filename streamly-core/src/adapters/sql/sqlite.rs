//! The SQLite store: an embedded database file, no server to run.

use std::str::FromStr;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::map_err;
use crate::ports::StoreError;

/// Users and streams in a SQLite database (WAL mode, foreign keys on).
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url`
    /// (`sqlite://streamly.db`, `sqlite::memory:`) and runs its migrations.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(map_err)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // With WAL, NORMAL loses no committed data on a process crash.
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        // An in-memory database lives per connection: keep exactly one.
        let max = if url.contains(":memory:") { 1 } else { 8 };
        let pool = SqlitePoolOptions::new()
            .max_connections(max)
            .connect_with(options)
            .await
            .map_err(map_err)?;
        sqlx::migrate!("migrations/sqlite")
            .run(&pool)
            .await
            .map_err(StoreError::unavailable)?;
        Ok(Self { pool })
    }

    /// Closes the pool, waiting for connections to finish.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

impl SqliteStore {
    /// The search's SQL and its FTS5 query: each word quoted (words are
    /// letters and digits only) as a prefix term, all of them required.
    fn search_sql(words: &[String]) -> (String, String) {
        let query = words
            .iter()
            .map(|w| format!("\"{w}\"*"))
            .collect::<Vec<_>>()
            .join(" ");
        let sql = format!(
            "SELECT {} FROM streams WHERE id IN (SELECT id FROM streams_fts WHERE streams_fts MATCH $1)",
            super::queries::STREAM_COLUMNS
        );
        (sql, query)
    }
}

super::queries::impl_sql_stores!(SqliteStore);
super::recordings::impl_sql_recordings!(SqliteStore);
super::profiles::impl_sql_profiles!(SqliteStore);
super::viewer_analytics::impl_sql_viewer_analytics!(SqliteStore);
