use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::domain::{
    BroadcastAnalytics, BroadcastKey, MAX_SAMPLES_PER_BROADCAST, MAX_SESSIONS_PER_BROADCAST, NodeId,
    SessionHash, StreamId, ViewerPoint, ViewerSample,
};
use crate::ports::{StoreError, ViewerAnalyticsStore};

/// What is kept of one broadcast.
#[derive(Debug, Default)]
struct Broadcast {
    /// By period start, then node.
    samples: BTreeMap<(OffsetDateTime, NodeId), ViewerSample>,
    sessions: HashSet<SessionHash>,
}

/// A [`ViewerAnalyticsStore`] in a `HashMap`.
#[derive(Debug, Default)]
pub struct MemoryViewerAnalyticsStore {
    // A std mutex: never held across an await.
    broadcasts: Mutex<HashMap<BroadcastKey, Broadcast>>,
}

impl MemoryViewerAnalyticsStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<BroadcastKey, Broadcast>> {
        // Every critical section ends in at most one map write: poison is harmless.
        self.broadcasts.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl ViewerAnalyticsStore for MemoryViewerAnalyticsStore {
    async fn record_sample(
        &self,
        broadcast: &BroadcastKey,
        sample: &ViewerSample,
    ) -> Result<bool, StoreError> {
        let mut all = self.lock();
        let b = all.entry(broadcast.clone()).or_default();
        if b.samples.len() >= MAX_SAMPLES_PER_BROADCAST as usize {
            return Ok(false);
        }
        b.samples.insert((sample.at, sample.node.clone()), sample.clone());
        Ok(true)
    }

    async fn add_sessions(
        &self,
        broadcast: &BroadcastKey,
        sessions: &[SessionHash],
    ) -> Result<u64, StoreError> {
        let mut all = self.lock();
        let b = all.entry(broadcast.clone()).or_default();
        let mut added = 0;
        for s in sessions {
            if b.sessions.len() >= MAX_SESSIONS_PER_BROADCAST as usize {
                break;
            }
            if b.sessions.insert(*s) {
                added += 1;
            }
        }
        Ok(added)
    }

    async fn get(&self, broadcast: &BroadcastKey) -> Result<BroadcastAnalytics, StoreError> {
        let all = self.lock();
        let mut points: Vec<ViewerPoint> = Vec::new();
        let mut unique_sessions = 0;
        if let Some(b) = all.get(broadcast) {
            unique_sessions = b.sessions.len() as u64;
            for s in b.samples.values() {
                match points.last_mut() {
                    Some(p) if p.at == s.at => {
                        p.period_ms = p.period_ms.max(s.period_ms);
                        p.playback += u64::from(s.playback);
                        p.chat += u64::from(s.chat);
                    }
                    _ => points.push(ViewerPoint {
                        at: s.at,
                        period_ms: s.period_ms,
                        playback: u64::from(s.playback),
                        chat: u64::from(s.chat),
                    }),
                }
            }
        }
        Ok(BroadcastAnalytics {
            broadcast: broadcast.clone(),
            points,
            unique_sessions,
        })
    }

    async fn latest(&self, stream: &StreamId) -> Result<Option<BroadcastKey>, StoreError> {
        Ok(self
            .lock()
            .iter()
            .filter(|(k, b)| k.stream_id == *stream && !b.samples.is_empty())
            .map(|(k, _)| k.clone())
            .max_by_key(|k| k.started_at))
    }

    async fn delete(&self, broadcast: &BroadcastKey) -> Result<(), StoreError> {
        self.lock().remove(broadcast);
        Ok(())
    }

    async fn delete_expired(&self, before: OffsetDateTime, limit: u32) -> Result<u64, StoreError> {
        let mut all = self.lock();
        let mut expired: Vec<(OffsetDateTime, BroadcastKey)> = all
            .iter()
            .filter_map(|(k, b)| {
                let last = b.samples.keys().next_back().map(|(at, _)| *at);
                last.filter(|at| *at < before).map(|at| (at, k.clone()))
            })
            .collect();
        expired.sort();
        expired.truncate(limit as usize);
        for (_, k) in &expired {
            all.remove(k);
        }
        all.retain(|k, b| !(b.samples.is_empty() && k.started_at < before));
        Ok(expired.len() as u64)
    }
}
