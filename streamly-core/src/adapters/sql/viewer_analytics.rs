//! The SQL of [`ViewerAnalyticsStore`](crate::ports::ViewerAnalyticsStore),
//! shared by both backends like [`super::recordings`].

/// Implements `ViewerAnalyticsStore` for `$store`, whose field `pool` is a
/// sqlx pool of the backend.
macro_rules! impl_sql_viewer_analytics {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::ports::ViewerAnalyticsStore for $store {
            async fn record_sample(
                &self,
                b: &$crate::domain::BroadcastKey,
                s: &$crate::domain::ViewerSample,
            ) -> Result<bool, $crate::ports::StoreError> {
                // The cap and the write in one statement; a period a node
                // wrote before is replaced (a retried write).
                let sql = "INSERT INTO viewer_samples (stream_id, broadcast_us, node_id, at_us, period_ms, playback, chat) \
                           SELECT $1, $2, $3, $4, $5, $6, $7 \
                           WHERE (SELECT COUNT(*) FROM viewer_samples WHERE stream_id = $1 AND broadcast_us = $2) < $8 \
                           ON CONFLICT (stream_id, broadcast_us, at_us, node_id) DO UPDATE SET \
                           period_ms = excluded.period_ms, playback = excluded.playback, chat = excluded.chat";
                let done = sqlx::query(sql)
                    .bind(b.stream_id.as_str())
                    .bind(super::rows::micros(b.started_at))
                    .bind(s.node.as_str())
                    .bind(super::rows::micros(s.at))
                    .bind(i64::from(s.period_ms))
                    .bind(i64::from(s.playback))
                    .bind(i64::from(s.chat))
                    .bind(i64::from($crate::domain::MAX_SAMPLES_PER_BROADCAST))
                    .execute(&self.pool)
                    .await
                    .map_err(super::map_err)?;
                Ok(done.rows_affected() > 0)
            }

            async fn add_sessions(
                &self,
                b: &$crate::domain::BroadcastKey,
                sessions: &[$crate::domain::SessionHash],
            ) -> Result<u64, $crate::ports::StoreError> {
                if sessions.is_empty() {
                    return Ok(0);
                }
                let started = super::rows::micros(b.started_at);
                let mut tx = self.pool.begin().await.map_err(super::map_err)?;
                let (have,): (i64,) = sqlx::query_as(
                    "SELECT COUNT(*) FROM viewer_sessions WHERE stream_id = $1 AND broadcast_us = $2",
                )
                .bind(b.stream_id.as_str())
                .bind(started)
                .fetch_one(&mut *tx)
                .await
                .map_err(super::map_err)?;
                let room = i64::from($crate::domain::MAX_SESSIONS_PER_BROADCAST).saturating_sub(have);
                let mut added: u64 = 0;
                for s in sessions {
                    if i64::try_from(added).unwrap_or(i64::MAX) >= room {
                        break;
                    }
                    let done = sqlx::query(
                        "INSERT INTO viewer_sessions (stream_id, broadcast_us, session_hash) VALUES ($1, $2, $3) \
                         ON CONFLICT DO NOTHING",
                    )
                    .bind(b.stream_id.as_str())
                    .bind(started)
                    .bind(s.to_string())
                    .execute(&mut *tx)
                    .await
                    .map_err(super::map_err)?;
                    added += done.rows_affected();
                }
                tx.commit().await.map_err(super::map_err)?;
                Ok(added)
            }

            async fn get(
                &self,
                b: &$crate::domain::BroadcastKey,
            ) -> Result<$crate::domain::BroadcastAnalytics, $crate::ports::StoreError> {
                let started = super::rows::micros(b.started_at);
                let rows: Vec<(i64, i64, i64, i64)> = sqlx::query_as(
                    "SELECT at_us, MAX(period_ms), CAST(SUM(playback) AS BIGINT), CAST(SUM(chat) AS BIGINT) \
                     FROM viewer_samples WHERE stream_id = $1 AND broadcast_us = $2 \
                     GROUP BY at_us ORDER BY at_us",
                )
                .bind(b.stream_id.as_str())
                .bind(started)
                .fetch_all(&self.pool)
                .await
                .map_err(super::map_err)?;
                let points = rows
                    .into_iter()
                    .map(|(at, period_ms, playback, chat)| {
                        Ok($crate::domain::ViewerPoint {
                            at: super::rows::from_micros(at)?,
                            period_ms: u32::try_from(period_ms).unwrap_or(u32::MAX),
                            playback: u64::try_from(playback).unwrap_or(0),
                            chat: u64::try_from(chat).unwrap_or(0),
                        })
                    })
                    .collect::<Result<Vec<_>, $crate::ports::StoreError>>()?;
                let (unique,): (i64,) = sqlx::query_as(
                    "SELECT COUNT(*) FROM viewer_sessions WHERE stream_id = $1 AND broadcast_us = $2",
                )
                .bind(b.stream_id.as_str())
                .bind(started)
                .fetch_one(&self.pool)
                .await
                .map_err(super::map_err)?;
                Ok($crate::domain::BroadcastAnalytics {
                    broadcast: b.clone(),
                    points,
                    unique_sessions: u64::try_from(unique).unwrap_or(0),
                })
            }

            async fn latest(
                &self,
                stream: &$crate::domain::StreamId,
            ) -> Result<Option<$crate::domain::BroadcastKey>, $crate::ports::StoreError> {
                let row: Option<(i64,)> = sqlx::query_as(
                    "SELECT broadcast_us FROM viewer_samples WHERE stream_id = $1 \
                     ORDER BY broadcast_us DESC LIMIT 1",
                )
                .bind(stream.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err(super::map_err)?;
                row.map(|(us,)| {
                    Ok($crate::domain::BroadcastKey::new(
                        stream.clone(),
                        super::rows::from_micros(us)?,
                    ))
                })
                .transpose()
            }

            async fn delete(&self, b: &$crate::domain::BroadcastKey) -> Result<(), $crate::ports::StoreError> {
                let started = super::rows::micros(b.started_at);
                let mut tx = self.pool.begin().await.map_err(super::map_err)?;
                for table in ["viewer_samples", "viewer_sessions"] {
                    let sql = format!("DELETE FROM {table} WHERE stream_id = $1 AND broadcast_us = $2");
                    sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(b.stream_id.as_str())
                        .bind(started)
                        .execute(&mut *tx)
                        .await
                        .map_err(super::map_err)?;
                }
                tx.commit().await.map_err(super::map_err)
            }

            async fn delete_expired(
                &self,
                before: time::OffsetDateTime,
                limit: u32,
            ) -> Result<u64, $crate::ports::StoreError> {
                let before_us = super::rows::micros(before);
                // Candidates through the `at_us` index: broadcasts with an
                // old sample and no newer one.
                let expired: Vec<(String, i64)> = sqlx::query_as(
                    "SELECT DISTINCT o.stream_id, o.broadcast_us FROM viewer_samples o WHERE o.at_us < $1 \
                     AND NOT EXISTS (SELECT 1 FROM viewer_samples n WHERE n.stream_id = o.stream_id \
                     AND n.broadcast_us = o.broadcast_us AND n.at_us >= $1) \
                     ORDER BY o.broadcast_us, o.stream_id LIMIT $2",
                )
                .bind(before_us)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(super::map_err)?;
                for (stream_id, broadcast_us) in &expired {
                    let stream = $crate::domain::StreamId::parse(stream_id)
                        .map_err(|e| $crate::ports::StoreError::Corrupt(e.to_string()))?;
                    let key =
                        $crate::domain::BroadcastKey::new(stream, super::rows::from_micros(*broadcast_us)?);
                    $crate::ports::ViewerAnalyticsStore::delete(self, &key).await?;
                }
                sqlx::query(
                    "DELETE FROM viewer_sessions WHERE broadcast_us < $1 AND NOT EXISTS \
                     (SELECT 1 FROM viewer_samples s WHERE s.stream_id = viewer_sessions.stream_id \
                     AND s.broadcast_us = viewer_sessions.broadcast_us)",
                )
                .bind(before_us)
                .execute(&self.pool)
                .await
                .map_err(super::map_err)?;
                Ok(expired.len() as u64)
            }
        }
    };
}

pub(super) use impl_sql_viewer_analytics;
