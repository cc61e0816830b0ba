//! The SQL of [`RecordingStore`](crate::ports::RecordingStore), shared by
//! both backends like [`super::queries`].

/// Implements `RecordingStore` for `$store`, whose field `pool` is a sqlx
/// pool of the backend.
macro_rules! impl_sql_recordings {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::ports::RecordingStore for $store {
            async fn create(&self, r: $crate::domain::Recording) -> Result<(), $crate::ports::StoreError> {
                let sql = "INSERT INTO recordings (id, stream_id, owner_id, started_us, ended_us, duration_ms, size_bytes, status) \
                           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
                sqlx::query(sql)
                    .bind(r.id.as_str())
                    .bind(r.stream_id.as_str())
                    .bind(r.owner.as_uuid())
                    .bind(super::rows::micros(r.started_at))
                    .bind(r.ended_at.map(super::rows::micros))
                    .bind(super::rows::signed(r.duration_ms))
                    .bind(super::rows::signed(r.size_bytes))
                    .bind(r.status.as_str())
                    .execute(&self.pool)
                    .await
                    .map_err(|e| match super::map_err(e) {
                        $crate::ports::StoreError::Conflict(_) => $crate::ports::StoreError::Conflict(
                            $crate::ports::ConflictField::RecordingId,
                        ),
                        other => other,
                    })?;
                Ok(())
            }

            async fn update_progress(
                &self,
                id: &$crate::domain::RecordingId,
                duration_ms: u64,
                size_bytes: u64,
            ) -> Result<(), $crate::ports::StoreError> {
                let done = sqlx::query("UPDATE recordings SET duration_ms = $1, size_bytes = $2 WHERE id = $3")
                    .bind(super::rows::signed(duration_ms))
                    .bind(super::rows::signed(size_bytes))
                    .bind(id.as_str())
                    .execute(&self.pool)
                    .await
                    .map_err(super::map_err)?;
                super::expect_one(done.rows_affected())
            }

            async fn finalize(
                &self,
                id: &$crate::domain::RecordingId,
                end: $crate::domain::RecordingEnd,
            ) -> Result<$crate::domain::Recording, $crate::ports::StoreError> {
                let sql = "UPDATE recordings SET ended_us = $1, duration_ms = $2, size_bytes = $3, status = $4 WHERE id = $5";
                let done = sqlx::query(sql)
                    .bind(super::rows::micros(end.ended_at))
                    .bind(super::rows::signed(end.duration_ms))
                    .bind(super::rows::signed(end.size_bytes))
                    .bind(end.status.as_str())
                    .bind(id.as_str())
                    .execute(&self.pool)
                    .await
                    .map_err(super::map_err)?;
                super::expect_one(done.rows_affected())?;
                $crate::ports::RecordingStore::get(self, id).await
            }

            async fn get(
                &self,
                id: &$crate::domain::RecordingId,
            ) -> Result<$crate::domain::Recording, $crate::ports::StoreError> {
                let sql = format!("SELECT {} FROM recordings WHERE id = $1", super::rows::RECORDING_COLUMNS);
                let row: super::rows::RecordingRow = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(id.as_str())
                    .fetch_one(&self.pool)
                    .await
                    .map_err(super::map_err)?;
                row.try_into()
            }

            async fn list_by_stream(
                &self,
                stream: &$crate::domain::StreamId,
                page: &$crate::domain::PageRequest,
            ) -> Result<$crate::domain::Page<$crate::domain::Recording>, $crate::ports::StoreError> {
                let cols = super::rows::RECORDING_COLUMNS;
                // One more than the page: whether there is a next one.
                let fetch = i64::from(page.limit()) + 1;
                let rows: Vec<super::rows::RecordingRow> = match page.cursor() {
                    Some(c) => {
                        let sql = format!(
                            "SELECT {cols} FROM recordings WHERE stream_id = $1 \
                             AND (started_us < $2 OR (started_us = $2 AND id > $3)) \
                             ORDER BY started_us DESC, id ASC LIMIT $4"
                        );
                        sqlx::query_as(sqlx::AssertSqlSafe(sql))
                            .bind(stream.as_str())
                            .bind(super::rows::micros(c.at))
                            .bind(c.id.as_str())
                            .bind(fetch)
                            .fetch_all(&self.pool)
                            .await
                    }
                    None => {
                        let sql = format!(
                            "SELECT {cols} FROM recordings WHERE stream_id = $1 \
                             ORDER BY started_us DESC, id ASC LIMIT $2"
                        );
                        sqlx::query_as(sqlx::AssertSqlSafe(sql))
                            .bind(stream.as_str())
                            .bind(fetch)
                            .fetch_all(&self.pool)
                            .await
                    }
                }
                .map_err(super::map_err)?;
                let mut items: Vec<$crate::domain::Recording> = super::rows::convert(rows)?;
                let more = items.len() > page.limit() as usize;
                items.truncate(page.limit() as usize);
                let next = if more {
                    items.last().map($crate::domain::Recording::cursor)
                } else {
                    None
                };
                Ok($crate::domain::Page { items, next })
            }

            async fn list_in_progress(
                &self,
            ) -> Result<Vec<$crate::domain::Recording>, $crate::ports::StoreError> {
                let sql = format!(
                    "SELECT {} FROM recordings WHERE status = 'recording' ORDER BY started_us DESC, id ASC",
                    super::rows::RECORDING_COLUMNS
                );
                let rows: Vec<super::rows::RecordingRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(super::map_err)?;
                super::rows::convert(rows)
            }

            async fn list_expired(
                &self,
                before: time::OffsetDateTime,
                limit: u32,
            ) -> Result<Vec<$crate::domain::Recording>, $crate::ports::StoreError> {
                let sql = format!(
                    "SELECT {} FROM recordings WHERE ended_us IS NOT NULL AND ended_us < $1 \
                     ORDER BY ended_us ASC, id ASC LIMIT $2",
                    super::rows::RECORDING_COLUMNS
                );
                let rows: Vec<super::rows::RecordingRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(super::rows::micros(before))
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(super::map_err)?;
                super::rows::convert(rows)
            }

            async fn delete(&self, id: &$crate::domain::RecordingId) -> Result<(), $crate::ports::StoreError> {
                let done = sqlx::query("DELETE FROM recordings WHERE id = $1")
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

pub(super) use impl_sql_recordings;
