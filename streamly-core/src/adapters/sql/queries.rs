//! The SQL both backends run, and the trait implementations generated from
//! it for each backend's store type (the code is identical; only the pool
//! type differs, which is what the macro abstracts).

pub(super) const INSERT_USER: &str = "INSERT INTO users (id, username, username_canonical, email, password_hash, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6)";

pub(super) const INSERT_STREAM: &str = "INSERT INTO streams (id, owner_id, title, key_hash, live_since, created_at, record, description, category, tags) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

/// The columns of a [`super::rows::StreamRow`], in order.
pub(super) const STREAM_COLUMNS: &str =
    "id, owner_id, title, key_hash, live_since, created_at, record, description, category, tags";

/// Implements `UserStore` and `StreamStore` for `$store`, whose field `pool`
/// is a sqlx pool of the backend.
macro_rules! impl_sql_stores {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::ports::UserStore for $store {
            async fn create(
                &self,
                new: $crate::domain::NewUser,
            ) -> Result<$crate::domain::User, $crate::ports::StoreError> {
                let user = $crate::domain::User {
                    id: $crate::domain::UserId::new_random(),
                    username: new.username,
                    email: new.email,
                    password_hash: new.password_hash,
                    created_at: $crate::domain::now_utc(),
                };
                sqlx::query(super::queries::INSERT_USER)
                    .bind(user.id.as_uuid())
                    .bind(user.username.as_str())
                    .bind(user.username.canonical())
                    .bind(user.email.as_str())
                    .bind(&user.password_hash)
                    .bind(user.created_at)
                    .execute(&self.pool)
                    .await
                    .map_err(super::map_err)?;
                Ok(user)
            }

            async fn get(
                &self,
                id: $crate::domain::UserId,
            ) -> Result<$crate::domain::User, $crate::ports::StoreError> {
                let sql = "SELECT id, username, email, password_hash, created_at FROM users WHERE id = $1";
                let row: super::rows::UserRow = sqlx::query_as(sql)
                    .bind(id.as_uuid())
                    .fetch_one(&self.pool)
                    .await
                    .map_err(super::map_err)?;
                row.try_into()
            }

            async fn find_by_login(
                &self,
                login: &str,
            ) -> Result<Option<$crate::domain::User>, $crate::ports::StoreError> {
                let login = login.trim().to_lowercase();
                let sql = "SELECT id, username, email, password_hash, created_at FROM users WHERE username_canonical = $1 OR email = $1";
                let row: Option<super::rows::UserRow> = sqlx::query_as(sql)
                    .bind(login)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(super::map_err)?;
                row.map(TryInto::try_into).transpose()
            }

            async fn set_password_hash(
                &self,
                id: $crate::domain::UserId,
                hash: &str,
            ) -> Result<(), $crate::ports::StoreError> {
                let done = sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
                    .bind(hash)
                    .bind(id.as_uuid())
                    .execute(&self.pool)
                    .await
                    .map_err(super::map_err)?;
                super::expect_one(done.rows_affected())
            }

            async fn delete(&self, id: $crate::domain::UserId) -> Result<(), $crate::ports::StoreError> {
                // The schema's ON DELETE CASCADE takes any stream left behind.
                let done = sqlx::query("DELETE FROM users WHERE id = $1")
                    .bind(id.as_uuid())
                    .execute(&self.pool)
                    .await
                    .map_err(super::map_err)?;
                super::expect_one(done.rows_affected())
            }

            async fn ping(&self) -> Result<(), $crate::ports::StoreError> {
                sqlx::query("SELECT 1").execute(&self.pool).await.map_err(super::map_err)?;
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl $crate::ports::StreamStore for $store {
            async fn create(&self, stream: $crate::domain::Stream) -> Result<(), $crate::ports::StoreError> {
                sqlx::query(super::queries::INSERT_STREAM)
                    .bind(stream.id.as_str())
                    .bind(stream.owner.as_uuid())
                    .bind(stream.title.as_str())
                    .bind(&stream.key_hash.as_bytes()[..])
                    .bind(stream.live_since)
                    .bind(stream.created_at)
                    .bind(stream.record)
                    .bind(stream.details.description.as_str())
                    .bind(stream.details.category.map(|c| c.as_str()))
                    .bind(stream.details.tags.joined())
                    .execute(&self.pool)
                    .await
                    .map_err(super::map_err)?;
                Ok(())
            }

            async fn create_within_limit(
                &self,
                stream: $crate::domain::Stream,
                limit: u32,
            ) -> Result<(), $crate::ports::StoreError> {
                let mut tx = self.pool.begin().await.map_err(super::map_err)?;
                // A no-op write to the owner's row first: Postgres locks that
                // row and SQLite takes its write lock, so concurrent
                // creations for one owner run one after the other and each
                // counts the rows the previous one committed.
                sqlx::query("UPDATE users SET username = username WHERE id = $1")
                    .bind(stream.owner.as_uuid())
                    .execute(&mut *tx)
                    .await
                    .map_err(super::map_err)?;
                let (owned,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM streams WHERE owner_id = $1")
                    .bind(stream.owner.as_uuid())
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(super::map_err)?;
                if owned >= i64::from(limit) {
                    // Dropping the transaction rolls it back.
                    return Err($crate::ports::StoreError::LimitReached { limit });
                }
                sqlx::query(super::queries::INSERT_STREAM)
                    .bind(stream.id.as_str())
                    .bind(stream.owner.as_uuid())
                    .bind(stream.title.as_str())
                    .bind(&stream.key_hash.as_bytes()[..])
                    .bind(stream.live_since)
                    .bind(stream.created_at)
                    .bind(stream.record)
                    .bind(stream.details.description.as_str())
                    .bind(stream.details.category.map(|c| c.as_str()))
                    .bind(stream.details.tags.joined())
                    .execute(&mut *tx)
                    .await
                    .map_err(super::map_err)?;
                tx.commit().await.map_err(super::map_err)
            }

            async fn count_by_owner(
                &self,
                owner: $crate::domain::UserId,
            ) -> Result<u64, $crate::ports::StoreError> {
                let (owned,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM streams WHERE owner_id = $1")
                    .bind(owner.as_uuid())
                    .fetch_one(&self.pool)
                    .await
                    .map_err(super::map_err)?;
                Ok(u64::try_from(owned).unwrap_or(0))
            }

            async fn get(
                &self,
                id: &$crate::domain::StreamId,
            ) -> Result<$crate::domain::Stream, $crate::ports::StoreError> {
                let sql = "SELECT id, owner_id, title, key_hash, live_since, created_at, record, description, category, tags FROM streams WHERE id = $1";
                let row: super::rows::StreamRow = sqlx::query_as(sql)
                    .bind(id.as_str())
                    .fetch_one(&self.pool)
                    .await
                    .map_err(super::map_err)?;
                row.try_into()
            }

            async fn find_by_key_hash(
                &self,
                hash: &$crate::auth::StreamKeyHash,
            ) -> Result<Option<$crate::domain::Stream>, $crate::ports::StoreError> {
                let sql = "SELECT id, owner_id, title, key_hash, live_since, created_at, record, description, category, tags FROM streams WHERE key_hash = $1";
                let row: Option<super::rows::StreamRow> = sqlx::query_as(sql)
                    .bind(&hash.as_bytes()[..])
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(super::map_err)?;
                row.map(TryInto::try_into).transpose()
            }

            async fn list_by_owner(
                &self,
                owner: $crate::domain::UserId,
            ) -> Result<Vec<$crate::domain::Stream>, $crate::ports::StoreError> {
                let sql = "SELECT id, owner_id, title, key_hash, live_since, created_at, record, description, category, tags FROM streams WHERE owner_id = $1";
                let rows: Vec<super::rows::StreamRow> = sqlx::query_as(sql)
                    .bind(owner.as_uuid())
                    .fetch_all(&self.pool)
                    .await
                    .map_err(super::map_err)?;
                // Sorted here, not in SQL: SQLite keeps times as RFC 3339
                // text, whose order is not chronological.
                let mut streams = super::rows::convert(rows)?;
                $crate::domain::sort_newest_first(&mut streams);
                Ok(streams)
            }

            async fn list_live(&self) -> Result<Vec<$crate::domain::Stream>, $crate::ports::StoreError> {
                let sql = "SELECT id, owner_id, title, key_hash, live_since, created_at, record, description, category, tags FROM streams WHERE live_since IS NOT NULL";
                let rows: Vec<super::rows::StreamRow> =
                    sqlx::query_as(sql).fetch_all(&self.pool).await.map_err(super::map_err)?;
                let mut streams = super::rows::convert(rows)?;
                $crate::domain::sort_live_first(&mut streams);
                Ok(streams)
            }

            async fn set_title(
                &self,
                id: &$crate::domain::StreamId,
                title: &$crate::domain::StreamTitle,
            ) -> Result<$crate::domain::Stream, $crate::ports::StoreError> {
                let done = sqlx::query("UPDATE streams SET title = $1 WHERE id = $2")
                    .bind(title.as_str())
                    .bind(id.as_str())
                    .execute(&self.pool)
                    .await
                    .map_err(super::map_err)?;
                super::expect_one(done.rows_affected())?;
                $crate::ports::StreamStore::get(self, id).await
            }

            async fn list_live_in(
                &self,
                category: $crate::domain::Category,
            ) -> Result<Vec<$crate::domain::Stream>, $crate::ports::StoreError> {
                let sql = format!(
                    "SELECT {} FROM streams WHERE live_since IS NOT NULL AND category = $1",
                    super::queries::STREAM_COLUMNS
                );
                let rows: Vec<super::rows::StreamRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(category.as_str())
                    .fetch_all(&self.pool)
                    .await
                    .map_err(super::map_err)?;
                let mut streams = super::rows::convert(rows)?;
                $crate::domain::sort_live_first(&mut streams);
                Ok(streams)
            }

            async fn set_details(
                &self,
                id: &$crate::domain::StreamId,
                details: &$crate::domain::StreamDetails,
            ) -> Result<$crate::domain::Stream, $crate::ports::StoreError> {
                let done = sqlx::query(
                    "UPDATE streams SET description = $1, category = $2, tags = $3 WHERE id = $4",
                )
                .bind(details.description.as_str())
                .bind(details.category.map(|c| c.as_str()))
                .bind(details.tags.joined())
                .bind(id.as_str())
                .execute(&self.pool)
                .await
                .map_err(super::map_err)?;
                super::expect_one(done.rows_affected())?;
                $crate::ports::StreamStore::get(self, id).await
            }

            async fn search(
                &self,
                words: &[String],
                limit: usize,
            ) -> Result<Vec<$crate::domain::Stream>, $crate::ports::StoreError> {
                if words.is_empty() {
                    return Ok(Vec::new());
                }
                let (sql, query) = <$store>::search_sql(words);
                let rows: Vec<super::rows::StreamRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(query)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(super::map_err)?;
                // Only constant SQL (the words are bound). Every match is
                // read and ordered here (SQLite keeps times
                // as text): the search is bounded by what it matches.
                let mut streams = super::rows::convert(rows)?;
                $crate::domain::sort_search_results(&mut streams);
                streams.truncate(limit);
                Ok(streams)
            }

            async fn set_record(
                &self,
                id: &$crate::domain::StreamId,
                record: bool,
            ) -> Result<$crate::domain::Stream, $crate::ports::StoreError> {
                let done = sqlx::query("UPDATE streams SET record = $1 WHERE id = $2")
                    .bind(record)
                    .bind(id.as_str())
                    .execute(&self.pool)
                    .await
                    .map_err(super::map_err)?;
                super::expect_one(done.rows_affected())?;
                $crate::ports::StreamStore::get(self, id).await
            }

            async fn set_key_hash(
                &self,
                id: &$crate::domain::StreamId,
                hash: &$crate::auth::StreamKeyHash,
            ) -> Result<(), $crate::ports::StoreError> {
                let done = sqlx::query("UPDATE streams SET key_hash = $1 WHERE id = $2")
                    .bind(&hash.as_bytes()[..])
                    .bind(id.as_str())
                    .execute(&self.pool)
                    .await
                    .map_err(super::map_err)?;
                super::expect_one(done.rows_affected())
            }

            async fn set_live(
                &self,
                id: &$crate::domain::StreamId,
                since: Option<time::OffsetDateTime>,
            ) -> Result<(), $crate::ports::StoreError> {
                let done = sqlx::query("UPDATE streams SET live_since = $1 WHERE id = $2")
                    .bind(since)
                    .bind(id.as_str())
                    .execute(&self.pool)
                    .await
                    .map_err(super::map_err)?;
                super::expect_one(done.rows_affected())
            }

            async fn delete(&self, id: &$crate::domain::StreamId) -> Result<(), $crate::ports::StoreError> {
                let done = sqlx::query("DELETE FROM streams WHERE id = $1")
                    .bind(id.as_str())
                    .execute(&self.pool)
                    .await
                    .map_err(super::map_err)?;
                super::expect_one(done.rows_affected())
            }

            async fn ping(&self) -> Result<(), $crate::ports::StoreError> {
                sqlx::query("SELECT 1").execute(&self.pool).await.map_err(super::map_err)?;
                Ok(())
            }
        }
    };
}

pub(super) use impl_sql_stores;
