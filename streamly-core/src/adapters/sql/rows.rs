//! Rows as stored, and their conversion to domain values.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::auth::StreamKeyHash;
use crate::domain::{Email, Stream, StreamId, StreamTitle, User, UserId, Username};
use crate::ports::StoreError;

#[derive(sqlx::FromRow)]
pub(super) struct UserRow {
    id: Uuid,
    username: String,
    email: String,
    password_hash: String,
    created_at: OffsetDateTime,
}

impl TryFrom<UserRow> for User {
    type Error = StoreError;

    fn try_from(row: UserRow) -> Result<Self, StoreError> {
        Ok(User {
            id: UserId::from_uuid(row.id),
            username: Username::parse(&row.username).map_err(corrupt)?,
            email: Email::parse(&row.email).map_err(corrupt)?,
            password_hash: row.password_hash,
            created_at: row.created_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct StreamRow {
    id: String,
    owner_id: Uuid,
    title: String,
    key_hash: Vec<u8>,
    live_since: Option<OffsetDateTime>,
    created_at: OffsetDateTime,
}

impl TryFrom<StreamRow> for Stream {
    type Error = StoreError;

    fn try_from(row: StreamRow) -> Result<Self, StoreError> {
        Ok(Stream {
            id: StreamId::parse(&row.id).map_err(corrupt)?,
            owner: UserId::from_uuid(row.owner_id),
            title: StreamTitle::parse(&row.title).map_err(corrupt)?,
            key_hash: StreamKeyHash::from_slice(&row.key_hash).map_err(corrupt)?,
            live_since: row.live_since,
            created_at: row.created_at,
        })
    }
}

fn corrupt(e: crate::domain::ValidationError) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

/// Converts fetched rows, failing on the first corrupt one.
pub(super) fn convert<R, T: TryFrom<R, Error = StoreError>>(rows: Vec<R>) -> Result<Vec<T>, StoreError> {
    rows.into_iter().map(T::try_from).collect()
}
