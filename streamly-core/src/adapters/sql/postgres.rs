//! The PostgreSQL store: shared state for several nodes.

use std::str::FromStr;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use super::map_err;
use crate::ports::StoreError;

/// Users and streams in a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user@host/db`) and runs the migrations.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(PgConnectOptions::from_str(url).map_err(map_err)?).await
    }

    /// Connects with explicit options (for example a `search_path` that puts
    /// the tables in their own schema) and runs the migrations.
    pub async fn connect_with(options: PgConnectOptions) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await
            .map_err(map_err)?;
        sqlx::migrate!("migrations/postgres")
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

impl PostgresStore {
    /// The search's SQL and its `tsquery`: each word (letters and digits
    /// only) as a prefix term, all of them required.
    fn search_sql(words: &[String]) -> (String, String) {
        let query = words
            .iter()
            .map(|w| format!("{w}:*"))
            .collect::<Vec<_>>()
            .join(" & ");
        let sql = format!(
            "SELECT {} FROM streams WHERE search @@ to_tsquery('simple', $1)",
            super::queries::STREAM_COLUMNS
        );
        (sql, query)
    }
}

super::queries::impl_sql_stores!(PostgresStore);
super::recordings::impl_sql_recordings!(PostgresStore);
super::profiles::impl_sql_profiles!(PostgresStore);
super::viewer_analytics::impl_sql_viewer_analytics!(PostgresStore);
