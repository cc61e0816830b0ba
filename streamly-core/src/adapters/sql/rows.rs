//! Rows as stored, and their conversion to domain values.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::auth::StreamKeyHash;
use crate::domain::{
    Avatar, AvatarFormat, Bio, Category, DisplayName, Email, Followed, Profile, Recording, RecordingId,
    RecordingStatus, Stream, StreamDescription, StreamDetails, StreamId, StreamTitle, Tags, User, UserId,
    Username,
};
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
    record: bool,
    description: String,
    category: Option<String>,
    tags: String,
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
            record: row.record,
            details: StreamDetails {
                description: StreamDescription::parse(&row.description).map_err(corrupt)?,
                category: row
                    .category
                    .as_deref()
                    .map(Category::parse)
                    .transpose()
                    .map_err(corrupt)?,
                tags: Tags::from_joined(&row.tags).map_err(corrupt)?,
            },
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct RecordingRow {
    id: String,
    stream_id: String,
    owner_id: Uuid,
    started_us: i64,
    ended_us: Option<i64>,
    duration_ms: i64,
    size_bytes: i64,
    status: String,
}

/// The columns of a [`RecordingRow`], in order.
pub(super) const RECORDING_COLUMNS: &str =
    "id, stream_id, owner_id, started_us, ended_us, duration_ms, size_bytes, status";

/// A time as stored: whole microseconds since the epoch.
pub(super) fn micros(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000).unwrap_or(i64::MAX)
}

pub(super) fn from_micros(us: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1_000)
        .map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// A count as stored (BIGINT), saturating.
pub(super) fn signed(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl TryFrom<RecordingRow> for Recording {
    type Error = StoreError;

    fn try_from(row: RecordingRow) -> Result<Self, StoreError> {
        Ok(Recording {
            id: RecordingId::parse(&row.id).map_err(corrupt)?,
            stream_id: StreamId::parse(&row.stream_id).map_err(corrupt)?,
            owner: UserId::from_uuid(row.owner_id),
            started_at: from_micros(row.started_us)?,
            ended_at: row.ended_us.map(from_micros).transpose()?,
            duration_ms: u64::try_from(row.duration_ms).unwrap_or(0),
            size_bytes: u64::try_from(row.size_bytes).unwrap_or(0),
            status: RecordingStatus::parse(&row.status).map_err(corrupt)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct ProfileRow {
    user_id: Uuid,
    display_name: String,
    bio: String,
    avatar_updated_us: Option<i64>,
}

/// The columns of a [`ProfileRow`], in order.
pub(super) const PROFILE_COLUMNS: &str = "user_id, display_name, bio, avatar_updated_us";

impl TryFrom<ProfileRow> for Profile {
    type Error = StoreError;

    fn try_from(row: ProfileRow) -> Result<Self, StoreError> {
        Ok(Profile {
            user: UserId::from_uuid(row.user_id),
            display_name: DisplayName::parse(&row.display_name).map_err(corrupt)?,
            bio: Bio::parse(&row.bio).map_err(corrupt)?,
            avatar_updated_at: row.avatar_updated_us.map(from_micros).transpose()?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct AvatarRow {
    avatar: Vec<u8>,
    avatar_type: String,
    avatar_updated_us: i64,
}

impl TryFrom<AvatarRow> for Avatar {
    type Error = StoreError;

    fn try_from(row: AvatarRow) -> Result<Self, StoreError> {
        let format = AvatarFormat::from_content_type(&row.avatar_type)
            .ok_or_else(|| StoreError::Corrupt(format!("avatar type {:?}", row.avatar_type)))?;
        Ok(Avatar {
            format,
            bytes: row.avatar.into(),
            updated_at: from_micros(row.avatar_updated_us)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct FollowedRow {
    followed_id: Uuid,
    since_us: i64,
}

impl TryFrom<FollowedRow> for Followed {
    type Error = StoreError;

    fn try_from(row: FollowedRow) -> Result<Self, StoreError> {
        Ok(Followed {
            user: UserId::from_uuid(row.followed_id),
            since: from_micros(row.since_us)?,
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
