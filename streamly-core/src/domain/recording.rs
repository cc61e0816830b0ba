//! Recordings: one per recorded broadcast (a publish of a stream whose
//! `record` setting is on). The media lives in the segment sink under
//! [`Recording::prefix`]; this is what is known about it.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{StreamCursor, StreamId, UserId, ValidationError};

/// The identity of a recording: a random UUID (v4), hyphenated. Its text
/// is a valid [`StreamId`] too, so listings reuse [`StreamCursor`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct RecordingId(String);

impl RecordingId {
    /// A fresh random id.
    pub fn new_random() -> Self {
        Self(Uuid::new_v4().hyphenated().to_string())
    }

    /// Validates an id from outside: a UUID (any case, normalised to lower
    /// case hyphenated form).
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        Uuid::parse_str(s)
            .map(|u| Self(u.hyphenated().to_string()))
            .map_err(|_| ValidationError::new("recording_id", "not a UUID"))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RecordingId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for RecordingId {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Where a recording is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordingStatus {
    /// The broadcast is running; its VOD playlist grows (`EVENT`).
    Recording,
    /// Finalized: the playlist is `VOD` with `EXT-X-ENDLIST`.
    Ready,
    /// Finalized without playable media (the playlist was lost).
    Failed,
}

impl RecordingStatus {
    /// The stored text: `recording`, `ready`, `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Recording => "recording",
            Self::Ready => "ready",
            Self::Failed => "failed",
        }
    }

    /// Reads the stored text back.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        match s {
            "recording" => Ok(Self::Recording),
            "ready" => Ok(Self::Ready),
            "failed" => Ok(Self::Failed),
            _ => Err(ValidationError::new("status", "not a recording status")),
        }
    }
}

/// The sink folder every recording's files live under.
pub const RECORDINGS_PREFIX: &str = "recordings";

/// One recorded broadcast, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recording {
    /// Its identity.
    pub id: RecordingId,
    /// The stream that was broadcast.
    pub stream_id: StreamId,
    /// The stream's owner when it was recorded (who may delete it).
    pub owner: UserId,
    /// When the publish started.
    pub started_at: OffsetDateTime,
    /// When it was finalized; `None` while recording.
    pub ended_at: Option<OffsetDateTime>,
    /// Media duration written so far (the VOD playlist's `EXTINF` sum).
    pub duration_ms: u64,
    /// Media bytes written so far (init segments and segments).
    pub size_bytes: u64,
    /// See [`RecordingStatus`].
    pub status: RecordingStatus,
}

impl Recording {
    /// A new recording of `stream_id`, started now-ish at `started_at`.
    pub fn start(stream_id: StreamId, owner: UserId, started_at: OffsetDateTime) -> Self {
        Self {
            id: RecordingId::new_random(),
            stream_id,
            owner,
            started_at,
            ended_at: None,
            duration_ms: 0,
            size_bytes: 0,
            status: RecordingStatus::Recording,
        }
    }

    /// The sink folder of its files: `recordings/{id}` (never a stream's
    /// folder, which has no `/`).
    pub fn prefix(&self) -> String {
        recording_prefix(&self.id)
    }

    /// Its position in a listing (newest first, then id).
    pub fn cursor(&self) -> StreamCursor {
        StreamCursor {
            at: self.started_at,
            // A hyphenated UUID is always a valid stream id.
            id: StreamId::parse(self.id.as_str()).unwrap_or_else(|_| StreamId::new_random()),
        }
    }
}

/// `recordings/{id}`.
pub fn recording_prefix(id: &RecordingId) -> String {
    format!("{RECORDINGS_PREFIX}/{id}")
}

/// How a recording ended, for [`crate::ports::RecordingStore::finalize`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordingEnd {
    /// When.
    pub ended_at: OffsetDateTime,
    /// Final media duration.
    pub duration_ms: u64,
    /// Final media bytes.
    pub size_bytes: u64,
    /// [`RecordingStatus::Ready`] or [`RecordingStatus::Failed`].
    pub status: RecordingStatus,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_statuses_round_trip() {
        let id = RecordingId::new_random();
        assert_eq!(RecordingId::parse(id.as_str()), Ok(id.clone()));
        assert_eq!(RecordingId::parse(&id.as_str().to_uppercase()), Ok(id.clone()));
        assert!(RecordingId::parse("../x").is_err());
        assert!(StreamId::parse(id.as_str()).is_ok());
        for s in [
            RecordingStatus::Recording,
            RecordingStatus::Ready,
            RecordingStatus::Failed,
        ] {
            assert_eq!(RecordingStatus::parse(s.as_str()), Ok(s));
        }
        let r = Recording::start(
            StreamId::new_random(),
            UserId::new_random(),
            OffsetDateTime::UNIX_EPOCH,
        );
        assert_eq!(r.prefix(), format!("recordings/{}", r.id));
        assert_eq!(r.cursor().id.as_str(), r.id.as_str());
    }
}
