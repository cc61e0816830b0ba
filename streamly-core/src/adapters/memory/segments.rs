use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use async_trait::async_trait;
use bytes::Bytes;

use crate::ports::{SegmentPath, SegmentSink, SegmentSinkError};

/// Default memory budget of a [`MemorySegmentSink`]: 512 MiB.
pub const DEFAULT_MEMORY_BUDGET: usize = 512 * 1024 * 1024;

#[derive(Default)]
struct Contents {
    objects: HashMap<SegmentPath, Bytes>,
    /// Paths in the order they were (last) written: the eviction order.
    order: VecDeque<SegmentPath>,
    bytes: usize,
}

/// A [`SegmentSink`] in memory, bounded by a byte budget: when a write would
/// exceed it, the oldest-written objects are evicted first.
pub struct MemorySegmentSink {
    budget: usize,
    // A std mutex: every operation is a few map updates, never across await.
    contents: Mutex<Contents>,
}

impl std::fmt::Debug for MemorySegmentSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemorySegmentSink")
            .field("budget", &self.budget)
            .field("bytes", &self.stored_bytes())
            .finish()
    }
}

impl Default for MemorySegmentSink {
    fn default() -> Self {
        Self::new(DEFAULT_MEMORY_BUDGET)
    }
}

impl MemorySegmentSink {
    /// A sink that keeps at most `budget` bytes.
    pub fn new(budget: usize) -> Self {
        Self {
            budget,
            contents: Mutex::new(Contents::default()),
        }
    }

    /// Total bytes stored now.
    pub fn stored_bytes(&self) -> usize {
        self.lock().bytes
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Contents> {
        // Each critical section restores the invariants before returning.
        self.contents.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Contents {
    fn remove(&mut self, path: &SegmentPath) {
        if let Some(old) = self.objects.remove(path) {
            self.bytes -= old.len();
            self.order.retain(|p| p != path);
        }
    }
}

#[async_trait]
impl SegmentSink for MemorySegmentSink {
    async fn put(&self, path: &SegmentPath, data: Bytes) -> Result<(), SegmentSinkError> {
        if data.len() > self.budget {
            return Err(SegmentSinkError::TooLarge {
                path: path.to_string(),
                size: data.len(),
                limit: self.budget,
            });
        }
        let mut c = self.lock();
        c.remove(path);
        while c.bytes + data.len() > self.budget {
            let Some(oldest) = c.order.pop_front() else { break };
            if let Some(old) = c.objects.remove(&oldest) {
                c.bytes -= old.len();
                tracing::debug!(path = %oldest, "memory segment sink evicted object");
            }
        }
        c.bytes += data.len();
        c.order.push_back(path.clone());
        c.objects.insert(path.clone(), data);
        Ok(())
    }

    async fn get(&self, path: &SegmentPath) -> Result<Option<Bytes>, SegmentSinkError> {
        Ok(self.lock().objects.get(path).cloned())
    }

    async fn delete(&self, path: &SegmentPath) -> Result<(), SegmentSinkError> {
        self.lock().remove(path);
        Ok(())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<SegmentPath>, SegmentSinkError> {
        Ok(self
            .lock()
            .objects
            .keys()
            .filter(|p| p.as_str().starts_with(prefix))
            .cloned()
            .collect())
    }

    async fn ping(&self) -> Result<(), SegmentSinkError> {
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
    async fn evicts_oldest_when_over_budget() {
        let sink = MemorySegmentSink::new(10);
        sink.put(&p("a/1.ts"), Bytes::from_static(b"1234"))
            .await
            .expect("put");
        sink.put(&p("a/2.ts"), Bytes::from_static(b"5678"))
            .await
            .expect("put");
        sink.put(&p("a/3.ts"), Bytes::from_static(b"9abc"))
            .await
            .expect("put");
        assert_eq!(sink.get(&p("a/1.ts")).await.expect("get"), None);
        assert!(sink.get(&p("a/3.ts")).await.expect("get").is_some());
        assert_eq!(sink.stored_bytes(), 8);
        assert!(matches!(
            sink.put(&p("big"), Bytes::from(vec![0; 11])).await,
            Err(SegmentSinkError::TooLarge { .. })
        ));
    }

    #[tokio::test]
    async fn overwrite_and_delete() {
        let sink = MemorySegmentSink::new(100);
        sink.put(&p("x"), Bytes::from_static(b"old")).await.expect("put");
        sink.put(&p("x"), Bytes::from_static(b"newer"))
            .await
            .expect("put");
        assert_eq!(
            sink.get(&p("x")).await.expect("get"),
            Some(Bytes::from_static(b"newer"))
        );
        assert_eq!(sink.stored_bytes(), 5);
        assert_eq!(sink.list("").await.expect("list"), vec![p("x")]);
        assert!(sink.list("y").await.expect("list").is_empty());
        sink.delete(&p("x")).await.expect("delete");
        sink.delete(&p("x")).await.expect("deleting twice is fine");
        assert_eq!(sink.stored_bytes(), 0);
    }
}
