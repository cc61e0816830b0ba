//! The bounded queue between a stream's task and the [`SegmentSink`]
//! writer: pushing never waits. When more than `capacity` segments wait,
//! the oldest pending segment is dropped (ingest never waits on storage);
//! a playlist replaces the pending write of the same playlist (only the
//! newest matters); deletions are never dropped.
//!
//! [`SegmentSink`]: streamly_core::ports::SegmentSink

use std::collections::VecDeque;
use std::sync::Mutex;

use bytes::Bytes;
use streamly_core::ports::{SegmentPath, SegmentSink};
use tokio::sync::Notify;

/// One write for the sink.
#[derive(Debug)]
pub(crate) enum Job {
    /// A segment or init segment: dropped first when the sink falls behind.
    Segment(SegmentPath, Bytes),
    /// A playlist: replaces a pending write of the same path.
    Playlist(SegmentPath, Bytes),
    /// Remove a file.
    Delete(SegmentPath),
}

/// What a queue writes, and so how it is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The live window's files, replaced or deleted seconds later:
    /// [`SegmentSink::put_live`] (they only have to outlive the process).
    Live,
    /// A recording's files, kept: [`SegmentSink::put`].
    Recording,
}

#[derive(Default)]
struct QueueState {
    jobs: VecDeque<Job>,
    /// Live segments the sink took, not yet told to the stream's task.
    stored: Vec<SegmentPath>,
    closed: bool,
    dropped: u64,
}

/// See the module docs.
pub(crate) struct WriteQueue {
    capacity: usize,
    inner: Mutex<QueueState>,
    notify: Notify,
}

impl WriteQueue {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            inner: Mutex::new(QueueState::default()),
            notify: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState> {
        // Each critical section is a few deque operations.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `job`; returns the path of a segment dropped to make room.
    pub(crate) fn push(&self, job: Job) -> Option<SegmentPath> {
        let dropped = {
            let mut q = self.lock();
            let mut dropped = None;
            match &job {
                Job::Playlist(path, _) => q.jobs.retain(|j| !matches!(j, Job::Playlist(p, _) if p == path)),
                Job::Segment(..) => {
                    let segments = q.jobs.iter().filter(|j| matches!(j, Job::Segment(..))).count();
                    if segments >= self.capacity
                        && let Some(i) = q.jobs.iter().position(|j| matches!(j, Job::Segment(..)))
                        && let Some(Job::Segment(path, _)) = q.jobs.remove(i)
                    {
                        q.dropped += 1;
                        dropped = Some(path);
                    }
                }
                Job::Delete(_) => {}
            }
            q.jobs.push_back(job);
            dropped
        };
        self.notify.notify_one();
        dropped
    }

    /// No more jobs: the writer ends once the queue is empty.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.notify.notify_one();
    }

    /// Segments dropped so far.
    pub(crate) fn dropped(&self) -> u64 {
        self.lock().dropped
    }

    async fn pop(&self) -> Option<Job> {
        loop {
            {
                let mut q = self.lock();
                if let Some(job) = q.jobs.pop_front() {
                    return Some(job);
                }
                if q.closed {
                    return None;
                }
            }
            // `notify_one` stores a permit when nobody waits: no lost wake-up.
            self.notify.notified().await;
        }
    }

    /// The live segments the sink took since the last call.
    pub(crate) fn take_stored(&self) -> Vec<SegmentPath> {
        std::mem::take(&mut self.lock().stored)
    }

    /// Writes the jobs to `sink` in order until the queue is closed and
    /// empty, stored as `kind` says. Failures are logged; returns how many
    /// writes failed.
    pub(crate) async fn drain_into(&self, sink: &dyn SegmentSink, stream: &str, kind: Kind) -> u64 {
        let mut failed = 0;
        while let Some(job) = self.pop().await {
            let result = match (&job, kind) {
                (Job::Segment(path, data) | Job::Playlist(path, data), Kind::Live) => {
                    sink.put_live(path, data.clone()).await
                }
                (Job::Segment(path, data) | Job::Playlist(path, data), Kind::Recording) => {
                    sink.put(path, data.clone()).await
                }
                (Job::Delete(path), _) => sink.delete(path).await,
            };
            match (result, job) {
                (Err(e), _) => {
                    failed += 1;
                    tracing::warn!(stream, error = %e, "segment sink write failed");
                }
                (Ok(()), Job::Segment(path, _)) if kind == Kind::Live => self.lock().stored.push(path),
                (Ok(()), _) => {}
            }
        }
        failed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(s: &str) -> SegmentPath {
        SegmentPath::parse(s).unwrap_or_else(|_| unreachable!())
    }

    #[test]
    fn the_oldest_segment_goes_first_playlists_coalesce_deletes_stay() {
        let q = WriteQueue::new(2);
        assert!(q.push(Job::Segment(path("s/1.m4s"), Bytes::new())).is_none());
        assert!(
            q.push(Job::Playlist(path("s/index.m3u8"), Bytes::from("a")))
                .is_none()
        );
        assert!(q.push(Job::Delete(path("s/0.m4s"))).is_none());
        assert!(q.push(Job::Segment(path("s/2.m4s"), Bytes::new())).is_none());
        assert!(
            q.push(Job::Playlist(path("s/index.m3u8"), Bytes::from("b")))
                .is_none()
        );
        assert_eq!(
            q.push(Job::Segment(path("s/3.m4s"), Bytes::new())),
            Some(path("s/1.m4s"))
        );
        let jobs: Vec<String> = q
            .lock()
            .jobs
            .iter()
            .map(|j| match j {
                Job::Segment(p, _) => format!("put {p}"),
                Job::Playlist(p, d) => format!("put {p} {}", String::from_utf8_lossy(d)),
                Job::Delete(p) => format!("delete {p}"),
            })
            .collect();
        assert_eq!(
            jobs,
            [
                "delete s/0.m4s",
                "put s/2.m4s",
                "put s/index.m3u8 b",
                "put s/3.m4s"
            ]
        );
        assert_eq!(q.dropped(), 1);
    }
}
