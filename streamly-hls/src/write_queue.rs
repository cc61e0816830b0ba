//! The bounded queue between a run's frame loop and its writer (see the
//! [`packager`](crate::packager) module docs): pushing never waits; when
//! full, the oldest pending segment is dropped.

use std::collections::VecDeque;
use std::sync::Mutex;

use time::OffsetDateTime;
use tokio::sync::Notify;

use crate::segmenter::{Segment, Segmenter};

/// A finished segment on its way to the sink, with what the playlists need.
pub(crate) struct Job {
    pub(crate) segment: Segment,
    pub(crate) program_date_time: Option<OffsetDateTime>,
    pub(crate) codecs: Vec<String>,
    pub(crate) resolution: Option<(u32, u32)>,
}

impl Job {
    /// `anchor`: the first frame's timestamp and wall-clock arrival.
    pub(crate) fn new(
        segmenter: &Segmenter,
        segment: Segment,
        anchor: Option<(u32, OffsetDateTime)>,
    ) -> Self {
        // Offsets from the first frame, in the packager's timeline. Hostile
        // timestamps can put it out of range: then no date for this one.
        let program_date_time = anchor.and_then(|(ts0, t0)| {
            let offset = segment.start_ms.checked_sub(i64::from(ts0))?;
            t0.checked_add(time::Duration::milliseconds(offset))
        });
        let muxer = segmenter.muxer();
        let mut codecs = Vec::new();
        let mut resolution = None;
        if let Some(v) = muxer.video_config() {
            codecs.push(v.codec_string());
            resolution = v.dimensions;
        }
        if let Some(a) = muxer.audio_config() {
            codecs.push(a.codec_string());
        }
        Self {
            segment,
            program_date_time,
            codecs,
            resolution,
        }
    }
}

/// The bounded queue between the frame loop and the writer. Pushing never
/// waits: when full, the oldest pending job is dropped.
pub(crate) struct WriteQueue {
    capacity: usize,
    inner: Mutex<QueueState>,
    notify: Notify,
}

#[derive(Default)]
struct QueueState {
    jobs: VecDeque<Job>,
    closed: bool,
    /// A job was dropped since the writer last popped one.
    gap: bool,
    dropped: u64,
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
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `job`; returns the job dropped to make room, if any.
    pub(crate) fn push(&self, job: Job) -> Option<Job> {
        let dropped = {
            let mut q = self.lock();
            let dropped = if q.jobs.len() >= self.capacity {
                q.dropped += 1;
                q.gap = true;
                q.jobs.pop_front()
            } else {
                None
            };
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

    /// The next job, and whether jobs were dropped right before it.
    pub(crate) async fn pop(&self) -> Option<(Job, bool)> {
        loop {
            {
                let mut q = self.lock();
                if let Some(job) = q.jobs.pop_front() {
                    let gap = std::mem::take(&mut q.gap);
                    return Some((job, gap));
                }
                if q.closed {
                    return None;
                }
            }
            // `notify_one` stores a permit when nobody waits: no lost wake-up.
            self.notify.notified().await;
        }
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.lock().dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use std::time::Duration;

    fn segment(start_ms: i64) -> Segment {
        Segment {
            data: Bytes::new(),
            start_ms,
            duration: Duration::from_secs(2),
            discontinuity: false,
            has_video: true,
            has_audio: false,
            forced_cut: false,
        }
    }

    #[test]
    fn hostile_timestamps_omit_the_program_date_time_instead_of_panicking() {
        let segmenter = Segmenter::new(Duration::from_secs(2));
        let anchor = Some((u32::MAX, OffsetDateTime::now_utc()));
        for start in [i64::MAX, i64::MIN, i64::MAX / 2, -(1 << 50)] {
            let job = Job::new(&segmenter, segment(start), anchor);
            assert_eq!(job.program_date_time, None, "{start}");
        }
        let job = Job::new(&segmenter, segment(i64::from(u32::MAX) + 2000), anchor);
        assert!(job.program_date_time.is_some());
    }
}
