//! A [`SegmentSink`] on the local filesystem.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use bytes::Bytes;

use crate::ports::{SegmentPath, SegmentSink, SegmentSinkError};

/// Stores each object as a file under a root directory.
///
/// Writes are atomic: the data goes to a hidden temporary file in the same
/// directory, is flushed to disk ([`put`](SegmentSink::put); not for
/// [`put_live`](SegmentSink::put_live), which only has to outlive the
/// process), then renamed over the target, so a reader (or a crash) never
/// sees half a segment. [`SegmentPath`] cannot contain `..` or
/// absolute components, so no path escapes the root; leftover temporary
/// files (names start with `.`) are never served because such paths are
/// refused.
#[derive(Debug, Clone)]
pub struct FsSegmentSink {
    root: PathBuf,
}

impl FsSegmentSink {
    /// A sink rooted at `root`, which is created if missing.
    pub async fn open(root: impl Into<PathBuf>) -> Result<Self, SegmentSinkError> {
        let root = root.into();
        tokio::fs::create_dir_all(&root)
            .await
            .map_err(|e| unavailable(&root.display().to_string(), e))?;
        Ok(Self { root })
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn full_path(&self, path: &SegmentPath) -> PathBuf {
        self.root.join(path.as_str())
    }

    async fn write(&self, path: &SegmentPath, data: Bytes, flush: Flush) -> Result<(), SegmentSinkError> {
        let target = self.full_path(path);
        let dir = target.parent().unwrap_or(&self.root).to_owned();
        // One blocking job for the whole write: tokio::fs would hand each
        // step (mkdir, create, every write, sync, rename) to the blocking
        // pool on its own, a thread wake-up each, and copy the data into
        // its own buffer on the way.
        let written =
            tokio::task::spawn_blocking(move || write_atomically(&dir, &target, &data, flush)).await;
        match written {
            Ok(result) => result.map_err(|e| unavailable(path.as_str(), e)),
            Err(e) => Err(unavailable(path.as_str(), std::io::Error::other(e))),
        }
    }
}

/// Whether a write waits for the data to reach the disk before the rename.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flush {
    ToDisk,
    No,
}

/// Writes `data` to a hidden temporary file in `dir`, flushes it to disk
/// (with [`Flush::ToDisk`]) and renames it over `target`; on failure the
/// temporary file is removed.
fn write_atomically(dir: &Path, target: &Path, data: &[u8], flush: Flush) -> std::io::Result<()> {
    use std::io::Write;
    let name = target.file_name().and_then(|n| n.to_str()).unwrap_or("object");
    // Random, not pid + counter: containers sharing a volume all run as
    // pid 1.
    let tmp = dir.join(format!(".{name}.{}.tmp", uuid::Uuid::new_v4().simple()));
    // The directory is made on the first write into it, not checked on
    // every one.
    let create = || match std::fs::File::create(&tmp) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir)?;
            std::fs::File::create(&tmp)
        }
        other => other,
    };
    let write = || {
        let mut file = create()?;
        file.write_all(data)?;
        if flush == Flush::ToDisk {
            file.sync_data()?;
        }
        std::fs::rename(&tmp, target)
    };
    write().inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

fn unavailable(path: &str, e: std::io::Error) -> SegmentSinkError {
    SegmentSinkError::Unavailable {
        path: path.to_owned(),
        source: Box::new(e),
    }
}

#[async_trait]
impl SegmentSink for FsSegmentSink {
    async fn put(&self, path: &SegmentPath, data: Bytes) -> Result<(), SegmentSinkError> {
        self.write(path, data, Flush::ToDisk).await
    }

    async fn put_live(&self, path: &SegmentPath, data: Bytes) -> Result<(), SegmentSinkError> {
        self.write(path, data, Flush::No).await
    }

    async fn get(&self, path: &SegmentPath) -> Result<Option<Bytes>, SegmentSinkError> {
        match tokio::fs::read(self.full_path(path)).await {
            Ok(data) => Ok(Some(Bytes::from(data))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            // A directory at that path is "no such object", not a failure.
            Err(e) if e.kind() == std::io::ErrorKind::IsADirectory => Ok(None),
            Err(e) => Err(unavailable(path.as_str(), e)),
        }
    }

    async fn delete(&self, path: &SegmentPath) -> Result<(), SegmentSinkError> {
        match tokio::fs::remove_file(self.full_path(path)).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(unavailable(path.as_str(), e)),
            _ => Ok(()),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<SegmentPath>, SegmentSinkError> {
        let mut found = Vec::new();
        // Directories to read, as paths relative to the root; SegmentPath
        // has at most 8 components, deeper ones cannot be objects.
        let mut dirs = vec![(String::new(), 0)];
        while let Some((rel, depth)) = dirs.pop() {
            let dir = self.root.join(&rel);
            let mut entries = match tokio::fs::read_dir(&dir).await {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(unavailable(&dir.display().to_string(), e)),
            };
            while let Some(entry) = entries
                .next_entry()
                .await
                .map_err(|e| unavailable(&dir.display().to_string(), e))?
            {
                let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                    continue;
                };
                let path = if rel.is_empty() {
                    name
                } else {
                    format!("{rel}/{name}")
                };
                let kind = entry.file_type().await.map_err(|e| unavailable(&path, e))?;
                if kind.is_dir() && depth < 7 {
                    dirs.push((path, depth + 1));
                } else if kind.is_file()
                    && path.starts_with(prefix)
                    && let Ok(p) = SegmentPath::parse(&path)
                {
                    // Hidden temporary files fail to parse: never listed.
                    found.push(p);
                }
            }
        }
        Ok(found)
    }

    async fn ping(&self) -> Result<(), SegmentSinkError> {
        let meta = tokio::fs::metadata(&self.root)
            .await
            .map_err(|e| unavailable(&self.root.display().to_string(), e))?;
        if meta.permissions().readonly() {
            return Err(unavailable(
                &self.root.display().to_string(),
                std::io::Error::new(
                    std::io::ErrorKind::PermissionDenied,
                    "segment directory is read-only",
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> SegmentPath {
        SegmentPath::parse(s).expect("valid path")
    }

    #[tokio::test]
    async fn put_get_delete_and_no_temp_files_left() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sink = FsSegmentSink::open(dir.path().join("hls")).await.expect("open");
        sink.put(&p("s1/0.ts"), Bytes::from_static(b"segment"))
            .await
            .expect("put");
        sink.put(&p("s1/0.ts"), Bytes::from_static(b"again"))
            .await
            .expect("overwrite");
        assert_eq!(
            sink.get(&p("s1/0.ts")).await.expect("get"),
            Some(Bytes::from_static(b"again"))
        );
        assert_eq!(sink.get(&p("s1/1.ts")).await.expect("get"), None);
        assert_eq!(
            sink.get(&p("s1")).await.expect("directory is not an object"),
            None
        );
        let names: Vec<_> = std::fs::read_dir(dir.path().join("hls/s1"))
            .expect("dir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("0.ts")]);
        sink.put(&p("s2/a/b.ts"), Bytes::from_static(b"deep"))
            .await
            .expect("put");
        let mut listed = sink.list("").await.expect("list");
        listed.sort();
        assert_eq!(listed, vec![p("s1/0.ts"), p("s2/a/b.ts")]);
        assert_eq!(sink.list("s2/").await.expect("list"), vec![p("s2/a/b.ts")]);
        sink.delete(&p("s1/0.ts")).await.expect("delete");
        sink.delete(&p("s1/0.ts")).await.expect("delete again");
        sink.ping().await.expect("healthy");
    }
}
