//! `SegmentSink`: where finished HLS segments and playlists are persisted
//! (recordings, nodes that serve from shared storage). Live viewers are
//! served from each stream's in-memory window, not from here.

use std::fmt;

use async_trait::async_trait;
use bytes::Bytes;
use thiserror::Error;

use crate::domain::ValidationError;

/// Longest segment path accepted.
pub const SEGMENT_PATH_MAX_LEN: usize = 255;

/// A relative path inside a sink, like `<stream-id>/42.ts`.
///
/// One to eight `/`-separated components of `[A-Za-z0-9_.-]`, none empty,
/// none `.` or `..`, none starting with `.`: such a path can never escape the
/// sink's root, on any adapter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SegmentPath(String);

impl SegmentPath {
    /// Validates a path from outside (for example an HTTP request path).
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        let err = |reason: &str| Err(ValidationError::new("path", reason));
        if s.is_empty() || s.len() > SEGMENT_PATH_MAX_LEN {
            return err("must be 1 to 255 characters");
        }
        let mut components = 0;
        for component in s.split('/') {
            components += 1;
            if component.is_empty() || component.starts_with('.') {
                return err("components must be non-empty and not start with '.'");
            }
            if !component
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
            {
                return err("may contain only letters, digits, '_', '-', '.' and '/'");
            }
        }
        if components > 8 {
            return err("has too many components");
        }
        Ok(Self(s.to_owned()))
    }

    /// The path as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The `Content-Type` for this path's extension.
    pub fn content_type(&self) -> &'static str {
        match self.0.rsplit_once('.').map(|(_, ext)| ext) {
            Some("m3u8") => "application/vnd.apple.mpegurl",
            Some("ts") => "video/mp2t",
            Some("m4s") | Some("mp4") => "video/mp4",
            Some("aac") => "audio/aac",
            _ => "application/octet-stream",
        }
    }
}

impl fmt::Display for SegmentPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a [`SegmentSink`] call can fail with.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SegmentSinkError {
    /// The storage failed (disk full, permission denied, object store down).
    #[error("segment storage unavailable at {path}: {source}")]
    Unavailable {
        /// The path being read or written.
        path: String,
        /// The underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The object is larger than this sink accepts.
    #[error("{path} is {size} bytes, more than the sink's limit of {limit}")]
    TooLarge {
        /// The path being written.
        path: String,
        /// Its size.
        size: usize,
        /// The sink's limit.
        limit: usize,
    },
}

/// Storage for HLS output, addressed by [`SegmentPath`].
///
/// `put` must be atomic: a reader sees the old object or the whole new one,
/// never a part.
#[async_trait]
pub trait SegmentSink: Send + Sync {
    /// Stores `data` at `path`, replacing what was there.
    async fn put(&self, path: &SegmentPath, data: Bytes) -> Result<(), SegmentSinkError>;
    /// Stores a live object: a segment or playlist of a live window, which
    /// the window replaces or deletes seconds later. Atomic like
    /// [`put`](Self::put), but it only has to outlive the process, not the
    /// machine: after a power loss the stream is over and the next start's
    /// recovery ends its playlists. The default is `put`;
    /// [`FsSegmentSink`](crate::adapters::FsSegmentSink) skips the flush to
    /// disk (`fdatasync`), which cost about 13 % of ingest CPU.
    async fn put_live(&self, path: &SegmentPath, data: Bytes) -> Result<(), SegmentSinkError> {
        self.put(path, data).await
    }

    /// Reads the object at `path`; `Ok(None)` if there is none.
    async fn get(&self, path: &SegmentPath) -> Result<Option<Bytes>, SegmentSinkError>;

    /// Removes the object at `path`; removing a missing object is not an error.
    async fn delete(&self, path: &SegmentPath) -> Result<(), SegmentSinkError>;

    /// Every object whose path starts with `prefix` (`""`: all), in no
    /// particular order. Used at start to clean up what an earlier process
    /// left behind.
    async fn list(&self, prefix: &str) -> Result<Vec<SegmentPath>, SegmentSinkError>;

    /// Checks the storage is usable (for `/health`).
    async fn ping(&self) -> Result<(), SegmentSinkError>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn paths() {
        for ok in ["a/index.m3u8", "demo/12.ts", "x"] {
            assert!(SegmentPath::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "/a", "a/", "../a", "a/../b", "a//b", ".hidden", "a\\b", "a b", "a/./b",
        ] {
            assert!(SegmentPath::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            SegmentPath::parse("s/index.m3u8").map(|p| p.content_type()),
            Ok("application/vnd.apple.mpegurl")
        );
    }

    proptest! {
        #[test]
        fn accepted_paths_never_climb(s in ".{0,300}") {
            if let Ok(p) = SegmentPath::parse(&s) {
                prop_assert!(!p.as_str().starts_with('/'));
                prop_assert!(p.as_str().split('/').all(|c| c != ".." && c != "." && !c.is_empty()));
            }
        }
    }
}
