//! [`MemoryOriginDirectory`]: leases in this process (tests, one machine).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use streamly_core::domain::StreamId;
use tokio::time::Instant;

use super::{OriginDirectory, OriginError, OriginLease};

/// Leases in a map, with expiry on the tokio clock (so paused-time tests
/// can expire them).
#[derive(Debug, Default)]
pub struct MemoryOriginDirectory {
    leases: Mutex<HashMap<StreamId, (OriginLease, Instant)>>,
}

impl MemoryOriginDirectory {
    /// An empty directory.
    pub fn new() -> Self {
        Self::default()
    }

    fn leases(&self) -> std::sync::MutexGuard<'_, HashMap<StreamId, (OriginLease, Instant)>> {
        self.leases
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl OriginDirectory for MemoryOriginDirectory {
    async fn claim(&self, stream: &StreamId, lease: &OriginLease, ttl: Duration) -> Result<(), OriginError> {
        self.leases()
            .insert(stream.clone(), (lease.clone(), Instant::now() + ttl));
        Ok(())
    }

    async fn release(&self, stream: &StreamId, node_id: &str) -> Result<(), OriginError> {
        let mut leases = self.leases();
        if leases.get(stream).is_some_and(|(l, _)| l.node_id == node_id) {
            leases.remove(stream);
        }
        Ok(())
    }

    async fn lookup(&self, stream: &StreamId) -> Result<Option<OriginLease>, OriginError> {
        let mut leases = self.leases();
        match leases.get(stream) {
            Some((lease, expires)) if *expires > Instant::now() => Ok(Some(lease.clone())),
            Some(_) => {
                leases.remove(stream);
                Ok(None)
            }
            None => Ok(None),
        }
    }

    async fn ping(&self) -> Result<(), OriginError> {
        Ok(())
    }
}
