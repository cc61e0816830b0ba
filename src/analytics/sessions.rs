//! The playback sessions a node serves: the web player adds
//! `?session=<random id>` to its playlist URL (LL-HLS blocking reloads keep
//! the query), and [`track_playback`] notes each one whose playlist request
//! succeeded. Requests without a valid id are served but not counted.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use streamly_core::domain::{SessionHash, StreamId};

/// Sessions one stream tracks per period at most; more are not counted.
pub const MAX_SESSIONS_PER_STREAM: usize = 10_000;
/// Streams tracked per period at most (only streams whose playlist was
/// served, so at most the live ones).
pub const MAX_TRACKED_STREAMS: usize = 1_000;

/// The sessions seen since the last [`take`](Self::take), by stream, as
/// hashes (never the id sent). Cheap to clone (shared).
#[derive(Debug, Clone, Default)]
pub struct PlaybackSessions {
    // A std mutex: never held across an await.
    seen: Arc<Mutex<HashMap<StreamId, HashSet<SessionHash>>>>,
}

impl PlaybackSessions {
    /// No sessions yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Notes `session` playing `stream`. `false` when it was not counted:
    /// the id is malformed (see [`SessionHash::of`]) or a bound was
    /// reached.
    pub fn saw(&self, stream: &StreamId, session: &str) -> bool {
        let Some(hash) = SessionHash::of(stream, session) else {
            return false;
        };
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if !seen.contains_key(stream) && seen.len() >= MAX_TRACKED_STREAMS {
            return false;
        }
        let sessions = seen.entry(stream.clone()).or_default();
        if sessions.len() >= MAX_SESSIONS_PER_STREAM && !sessions.contains(&hash) {
            return false;
        }
        sessions.insert(hash);
        true
    }

    /// The sessions seen since the last call, emptied.
    pub fn take(&self) -> HashMap<StreamId, HashSet<SessionHash>> {
        std::mem::take(&mut *self.seen.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// The stream and session id of a playlist request
/// (`/hls/{id}/{name}.m3u8?…&session=…`), if it carries one.
fn playlist_session(path: &str, query: Option<&str>) -> Option<(StreamId, String)> {
    let rest = path.strip_prefix("/hls/")?;
    let (id, file) = rest.split_once('/')?;
    if !file.ends_with(".m3u8") || file.contains('/') {
        return None;
    }
    let session = query?.split('&').find_map(|pair| pair.strip_prefix("session="))?;
    Some((StreamId::parse(id).ok()?, session.to_owned()))
}

/// Middleware on the HLS routes: counts the session of every playlist
/// request answered with a success (unknown streams answer 404, so they
/// never take a slot).
pub async fn track_playback(
    State(sessions): State<PlaybackSessions>,
    request: Request,
    next: Next,
) -> Response {
    let seen = playlist_session(request.uri().path(), request.uri().query());
    let response = next.run(request).await;
    if let Some((stream, session)) = seen
        && response.status().is_success()
        && !sessions.saw(&stream, &session)
    {
        metrics::counter!("streamly_playback_sessions_refused_total").increment(1);
    }
    response
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn playlist_requests_with_a_session() {
        let id = StreamId::new_random();
        let path = format!("/hls/{id}/index.m3u8");
        assert_eq!(
            playlist_session(&path, Some("_HLS_msn=4&_HLS_part=1&session=abcdefgh12")),
            Some((id.clone(), "abcdefgh12".to_owned()))
        );
        assert_eq!(playlist_session(&path, Some("_HLS_msn=4")), None);
        assert_eq!(playlist_session(&path, None), None);
        let segment = format!("/hls/{id}/abc_1.m4s");
        assert_eq!(playlist_session(&segment, Some("session=abcdefgh12")), None);
        assert_eq!(
            playlist_session("/hls/not%20an%20id/index.m3u8", Some("session=abcdefgh12")),
            None
        );
    }

    #[test]
    fn sessions_are_deduplicated_validated_and_bounded() {
        let sessions = PlaybackSessions::new();
        let id = StreamId::new_random();
        assert!(sessions.saw(&id, "session-0000"));
        assert!(sessions.saw(&id, "session-0000"));
        assert!(!sessions.saw(&id, "bad id"));
        assert!(!sessions.saw(&id, &"x".repeat(65)));
        for i in 1..MAX_SESSIONS_PER_STREAM {
            assert!(sessions.saw(&id, &format!("session-{i:04}")));
        }
        assert!(!sessions.saw(&id, "one-too-many"));
        assert!(sessions.saw(&id, "session-0002"), "a known one still counts");
        let taken = sessions.take();
        assert_eq!(taken[&id].len(), MAX_SESSIONS_PER_STREAM);
        assert!(sessions.take().is_empty());
        for _ in 0..MAX_TRACKED_STREAMS {
            assert!(sessions.saw(&StreamId::new_random(), "session-0001"));
        }
        assert!(!sessions.saw(&StreamId::new_random(), "session-0001"));
    }
}
