//! The SQL of [`ProfileStore`](crate::ports::ProfileStore), shared by both
//! backends like [`super::queries`].

/// Implements `ProfileStore` for `$store`, whose field `pool` is a sqlx pool
/// of the backend.
macro_rules! impl_sql_profiles {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::ports::ProfileStore for $store {
            async fn profile(
                &self,
                user: $crate::domain::UserId,
            ) -> Result<$crate::domain::Profile, $crate::ports::StoreError> {
                let sql = format!("SELECT {} FROM profiles WHERE user_id = $1", super::rows::PROFILE_COLUMNS);
                let row: Option<super::rows::ProfileRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(user.as_uuid())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(super::map_err)?;
                match row {
                    Some(row) => row.try_into(),
                    None => Ok($crate::domain::Profile::empty(user)),
                }
            }

            async fn set_profile(
                &self,
                user: $crate::domain::UserId,
                display_name: &$crate::domain::DisplayName,
                bio: &$crate::domain::Bio,
            ) -> Result<$crate::domain::Profile, $crate::ports::StoreError> {
                let sql = "INSERT INTO profiles (user_id, display_name, bio) VALUES ($1, $2, $3) \
                           ON CONFLICT (user_id) DO UPDATE SET display_name = excluded.display_name, bio = excluded.bio";
                sqlx::query(sql)
                    .bind(user.as_uuid())
                    .bind(display_name.as_str())
                    .bind(bio.as_str())
                    .execute(&self.pool)
                    .await
                    .map_err(super::map_err)?;
                $crate::ports::ProfileStore::profile(self, user).await
            }

            async fn avatar(
                &self,
                user: $crate::domain::UserId,
            ) -> Result<Option<$crate::domain::Avatar>, $crate::ports::StoreError> {
                let sql = "SELECT avatar, avatar_type, avatar_updated_us FROM profiles \
                           WHERE user_id = $1 AND avatar IS NOT NULL";
                let row: Option<super::rows::AvatarRow> = sqlx::query_as(sql)
                    .bind(user.as_uuid())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(super::map_err)?;
                row.map(TryInto::try_into).transpose()
            }

            async fn set_avatar(
                &self,
                user: $crate::domain::UserId,
                avatar: Option<&$crate::domain::Avatar>,
            ) -> Result<$crate::domain::Profile, $crate::ports::StoreError> {
                let sql = "INSERT INTO profiles (user_id, avatar, avatar_type, avatar_updated_us) VALUES ($1, $2, $3, $4) \
                           ON CONFLICT (user_id) DO UPDATE SET avatar = excluded.avatar, \
                           avatar_type = excluded.avatar_type, avatar_updated_us = excluded.avatar_updated_us";
                sqlx::query(sql)
                    .bind(user.as_uuid())
                    .bind(avatar.map(|a| a.bytes.to_vec()))
                    .bind(avatar.map(|a| a.format.content_type()))
                    .bind(avatar.map(|a| super::rows::micros(a.updated_at)))
                    .execute(&self.pool)
                    .await
                    .map_err(super::map_err)?;
                $crate::ports::ProfileStore::profile(self, user).await
            }

            async fn follow(
                &self,
                follower: $crate::domain::UserId,
                followed: $crate::domain::UserId,
                limit: u32,
            ) -> Result<bool, $crate::ports::StoreError> {
                let mut tx = self.pool.begin().await.map_err(super::map_err)?;
                // As in `create_within_limit`: a no-op write to the
                // follower's row serializes one user's follows, so each
                // counts what the previous one committed.
                sqlx::query("UPDATE users SET username = username WHERE id = $1")
                    .bind(follower.as_uuid())
                    .execute(&mut *tx)
                    .await
                    .map_err(super::map_err)?;
                let (already,): (i64,) =
                    sqlx::query_as("SELECT COUNT(*) FROM follows WHERE follower_id = $1 AND followed_id = $2")
                        .bind(follower.as_uuid())
                        .bind(followed.as_uuid())
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(super::map_err)?;
                if already > 0 {
                    return Ok(false);
                }
                let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM follows WHERE follower_id = $1")
                    .bind(follower.as_uuid())
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(super::map_err)?;
                if count >= i64::from(limit) {
                    // Dropping the transaction rolls it back.
                    return Err($crate::ports::StoreError::LimitReached { limit });
                }
                sqlx::query("INSERT INTO follows (follower_id, followed_id, since_us) VALUES ($1, $2, $3)")
                    .bind(follower.as_uuid())
                    .bind(followed.as_uuid())
                    .bind(super::rows::micros($crate::domain::now_utc()))
                    .execute(&mut *tx)
                    .await
                    .map_err(super::map_err)?;
                tx.commit().await.map_err(super::map_err)?;
                Ok(true)
            }

            async fn unfollow(
                &self,
                follower: $crate::domain::UserId,
                followed: $crate::domain::UserId,
            ) -> Result<bool, $crate::ports::StoreError> {
                let done = sqlx::query("DELETE FROM follows WHERE follower_id = $1 AND followed_id = $2")
                    .bind(follower.as_uuid())
                    .bind(followed.as_uuid())
                    .execute(&self.pool)
                    .await
                    .map_err(super::map_err)?;
                Ok(done.rows_affected() > 0)
            }

            async fn is_following(
                &self,
                follower: $crate::domain::UserId,
                followed: $crate::domain::UserId,
            ) -> Result<bool, $crate::ports::StoreError> {
                let (n,): (i64,) =
                    sqlx::query_as("SELECT COUNT(*) FROM follows WHERE follower_id = $1 AND followed_id = $2")
                        .bind(follower.as_uuid())
                        .bind(followed.as_uuid())
                        .fetch_one(&self.pool)
                        .await
                        .map_err(super::map_err)?;
                Ok(n > 0)
            }

            async fn following(
                &self,
                follower: $crate::domain::UserId,
                limit: u32,
            ) -> Result<Vec<$crate::domain::Followed>, $crate::ports::StoreError> {
                let sql = "SELECT followed_id, since_us FROM follows WHERE follower_id = $1 \
                           ORDER BY since_us DESC, followed_id LIMIT $2";
                let rows: Vec<super::rows::FollowedRow> = sqlx::query_as(sql)
                    .bind(follower.as_uuid())
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(super::map_err)?;
                super::rows::convert(rows)
            }

            async fn counts(
                &self,
                user: $crate::domain::UserId,
            ) -> Result<$crate::domain::FollowCounts, $crate::ports::StoreError> {
                let sql = "SELECT (SELECT COUNT(*) FROM follows WHERE followed_id = $1), \
                                  (SELECT COUNT(*) FROM follows WHERE follower_id = $1)";
                let (followers, following): (i64, i64) = sqlx::query_as(sql)
                    .bind(user.as_uuid())
                    .fetch_one(&self.pool)
                    .await
                    .map_err(super::map_err)?;
                Ok($crate::domain::FollowCounts {
                    followers: u64::try_from(followers).unwrap_or(0),
                    following: u64::try_from(following).unwrap_or(0),
                })
            }

            async fn forget(&self, user: $crate::domain::UserId) -> Result<(), $crate::ports::StoreError> {
                let mut tx = self.pool.begin().await.map_err(super::map_err)?;
                sqlx::query("DELETE FROM follows WHERE follower_id = $1 OR followed_id = $1")
                    .bind(user.as_uuid())
                    .execute(&mut *tx)
                    .await
                    .map_err(super::map_err)?;
                sqlx::query("DELETE FROM profiles WHERE user_id = $1")
                    .bind(user.as_uuid())
                    .execute(&mut *tx)
                    .await
                    .map_err(super::map_err)?;
                tx.commit().await.map_err(super::map_err)
            }

            async fn ping(&self) -> Result<(), $crate::ports::StoreError> {
                $crate::ports::UserStore::ping(self).await
            }
        }
    };
}

pub(super) use impl_sql_profiles;
