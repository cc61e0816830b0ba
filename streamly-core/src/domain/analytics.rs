//! Viewer analytics of a broadcast: concurrent viewers over time, written
//! as per-node samples (summed on read), and the hashed playback sessions
//! seen (unique viewers). See `docs/analytics.md`.

use std::fmt;

use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::{StreamId, ValidationError};

/// Sample rows one broadcast keeps at most (every node's samples count):
/// 20 000 is 55 hours of one node sampling every 10 s. Samples beyond it
/// are dropped.
pub const MAX_SAMPLES_PER_BROADCAST: u32 = 20_000;

/// Distinct playback sessions one broadcast keeps at most; sessions beyond
/// it are not stored, so the unique count stops there (about: several
/// nodes may each add a batch at the limit).
pub const MAX_SESSIONS_PER_BROADCAST: u32 = 100_000;

/// Shortest session id a player may send.
pub const SESSION_ID_MIN_LEN: usize = 8;
/// Longest session id a player may send.
pub const SESSION_ID_MAX_LEN: usize = 64;

/// One broadcast: a publish of a stream, named by the time the stream went
/// live (its `live_since`, whole microseconds), which every node reads from
/// the shared stream store. A recording of the broadcast starts at the same
/// instant ([`Recording::started_at`](super::Recording::started_at)).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BroadcastKey {
    /// The stream.
    pub stream_id: StreamId,
    /// When the broadcast started, truncated to whole microseconds.
    pub started_at: OffsetDateTime,
}

impl BroadcastKey {
    /// The broadcast of `stream_id` that started at `started_at`
    /// (truncated to whole microseconds, as the stores keep it).
    pub fn new(stream_id: StreamId, started_at: OffsetDateTime) -> Self {
        let started_at = started_at
            .replace_nanosecond(started_at.nanosecond() / 1_000 * 1_000)
            .unwrap_or(started_at);
        Self {
            stream_id,
            started_at,
        }
    }
}

/// The node that wrote a sample: 1 to 64 ASCII letters, digits, `-` or `_`
/// (the platform uses a UUID per process).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(String);

impl NodeId {
    /// Validates a node id.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(ValidationError::new("node_id", "1 to 64 letters, digits, - or _"))
        }
    }

    /// A node named by a UUID (hyphenated).
    pub fn from_uuid(id: uuid::Uuid) -> Self {
        Self(id.hyphenated().to_string())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A playback session id as stored: the first 16 bytes of
/// SHA-256(stream id, `:`, session id), never the id the player sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionHash([u8; 16]);

impl SessionHash {
    /// The hash of a player's session id for `stream`, or `None` when the
    /// id is not 8 to 64 ASCII letters, digits, `-` or `_` (such requests
    /// are not counted).
    pub fn of(stream: &StreamId, session: &str) -> Option<Self> {
        let ok = (SESSION_ID_MIN_LEN..=SESSION_ID_MAX_LEN).contains(&session.len())
            && session
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok {
            return None;
        }
        let mut h = Sha256::new();
        h.update(stream.as_str().as_bytes());
        h.update(b":");
        h.update(session.as_bytes());
        let digest = h.finalize();
        let mut out = [0u8; 16];
        out.copy_from_slice(&digest[..16]);
        Some(Self(out))
    }
}

/// 32 lower-case hex digits: the stored form.
impl fmt::Display for SessionHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// What one node saw of a broadcast during one sampling period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewerSample {
    /// The node.
    pub node: NodeId,
    /// The start of the period (aligned to the period, so every node's
    /// samples of a period share it), whole microseconds.
    pub at: OffsetDateTime,
    /// The period's length, ms.
    pub period_ms: u32,
    /// Distinct playback sessions that loaded a playlist on this node
    /// during the period.
    pub playback: u32,
    /// Chat connections to the stream's room on this node at the end of
    /// the period.
    pub chat: u32,
}

/// One period of a broadcast, every node's samples summed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ViewerPoint {
    /// The start of the period.
    pub at: OffsetDateTime,
    /// The period's length, ms (the longest any node used).
    pub period_ms: u32,
    /// Playback sessions, all nodes.
    pub playback: u64,
    /// Chat connections, all nodes.
    pub chat: u64,
}

impl ViewerPoint {
    /// Concurrent viewers: the larger of playback sessions and chat
    /// connections (the web watch page opens both, so a viewer is in each;
    /// the larger also counts the ones only in one).
    pub fn viewers(&self) -> u64 {
        self.playback.max(self.chat)
    }
}

/// A broadcast's viewer analytics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BroadcastAnalytics {
    /// The broadcast.
    pub broadcast: BroadcastKey,
    /// Its periods, oldest first.
    pub points: Vec<ViewerPoint>,
    /// Distinct playback sessions seen (capped at
    /// [`MAX_SESSIONS_PER_BROADCAST`]).
    pub unique_sessions: u64,
}

impl BroadcastAnalytics {
    /// The most concurrent viewers of any period.
    pub fn peak(&self) -> u64 {
        self.points.iter().map(ViewerPoint::viewers).max().unwrap_or(0)
    }

    /// Mean concurrent viewers over the sampled periods.
    pub fn average(&self) -> f64 {
        if self.points.is_empty() {
            return 0.0;
        }
        let total: u64 = self.points.iter().map(ViewerPoint::viewers).sum();
        total as f64 / self.points.len() as f64
    }

    /// Viewer-seconds: each period's viewers times its length.
    pub fn watch_time_s(&self) -> f64 {
        self.points
            .iter()
            .map(|p| p.viewers() as f64 * f64::from(p.period_ms) / 1000.0)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn session_ids_are_validated_and_hashed_per_stream() {
        let a = StreamId::new_random();
        let b = StreamId::new_random();
        let h = SessionHash::of(&a, "abcdEFGH-1234_x").unwrap();
        assert_eq!(h.to_string().len(), 32);
        assert_eq!(Some(h), SessionHash::of(&a, "abcdEFGH-1234_x"));
        assert_ne!(Some(h), SessionHash::of(&b, "abcdEFGH-1234_x"));
        for bad in ["short", "has space 123", "é-accented-id", &"x".repeat(65), ""] {
            assert_eq!(SessionHash::of(&a, bad), None, "{bad:?}");
        }
        assert!(SessionHash::of(&a, &"x".repeat(64)).is_some());
    }

    #[test]
    fn peak_average_and_watch_time() {
        let at = OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap();
        let point = |playback, chat| ViewerPoint {
            at,
            period_ms: 10_000,
            playback,
            chat,
        };
        let a = BroadcastAnalytics {
            broadcast: BroadcastKey::new(StreamId::new_random(), at),
            points: vec![point(2, 1), point(4, 5), point(0, 0)],
            unique_sessions: 4,
        };
        assert_eq!(a.peak(), 5);
        assert!((a.average() - 7.0 / 3.0).abs() < 1e-9);
        assert!((a.watch_time_s() - 70.0).abs() < 1e-9);
        let empty = BroadcastAnalytics { points: vec![], ..a };
        assert_eq!(
            (empty.peak(), empty.average(), empty.watch_time_s()),
            (0, 0.0, 0.0)
        );
    }

    #[test]
    fn node_ids() {
        assert!(NodeId::parse("0b5f7a7e-8d4c-4c1e-9a43-6f1d2b3c4d5e").is_ok());
        assert!(NodeId::parse("").is_err());
        assert!(NodeId::parse("a b").is_err());
        assert!(NodeId::parse(&"n".repeat(65)).is_err());
    }
}
