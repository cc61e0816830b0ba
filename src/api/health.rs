//! `GET /health`: each dependency's state; 503 when one is down.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use streamly_core::ports::{ChatBus, SegmentSink, StreamStore, UserStore};
use utoipa::ToSchema;

use super::ApiState;

/// How long one dependency may take to answer a ping.
const PING_TIMEOUT: Duration = Duration::from_secs(3);

/// The dependencies `/health` pings.
#[derive(Clone, Default)]
pub struct Dependencies {
    /// Accounts store.
    pub users: Option<Arc<dyn UserStore>>,
    /// Streams store.
    pub streams: Option<Arc<dyn StreamStore>>,
    /// Chat bus.
    pub chat: Option<Arc<dyn ChatBus>>,
    /// Segment storage.
    pub segments: Option<Arc<dyn SegmentSink>>,
    /// The shared stream → origin-node leases.
    pub origins: Option<Arc<dyn crate::origin::OriginDirectory>>,
}

impl std::fmt::Debug for Dependencies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dependencies")
            .field("users", &self.users.is_some())
            .field("streams", &self.streams.is_some())
            .field("chat", &self.chat.is_some())
            .field("segments", &self.segments.is_some())
            .field("origins", &self.origins.is_some())
            .finish()
    }
}

/// One dependency's state.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CheckResult {
    /// `up` or `down`.
    pub status: String,
    /// How long the ping took, in milliseconds.
    pub latency_ms: u64,
    /// Why it is down: `unavailable` or `timeout` (the detail is only
    /// logged, never sent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `/health` body.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HealthReport {
    /// `ok` when every dependency is up, else `degraded`.
    pub status: String,
    /// Per dependency this node uses: `users`, `streams`, `chat_bus`,
    /// `segments`, `origins`.
    pub checks: BTreeMap<String, CheckResult>,
}

/// Pings one dependency. The failure's detail (which may name hosts, users
/// or paths) goes to the log only; the public answer says `unavailable` or
/// `timeout`.
async fn probe<E: std::fmt::Display>(
    name: &'static str,
    ping: impl Future<Output = Result<(), E>>,
) -> CheckResult {
    let started = Instant::now();
    let outcome = tokio::time::timeout(PING_TIMEOUT, ping).await;
    let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let error = match outcome {
        Ok(Ok(())) => None,
        Ok(Err(e)) => {
            tracing::warn!(dependency = name, error = %e, "health check failed");
            Some("unavailable".to_owned())
        }
        Err(_) => {
            tracing::warn!(
                dependency = name,
                timeout_secs = PING_TIMEOUT.as_secs(),
                "health check timed out"
            );
            Some("timeout".to_owned())
        }
    };
    CheckResult {
        status: if error.is_none() { "up" } else { "down" }.to_owned(),
        latency_ms,
        error,
    }
}

impl Dependencies {
    /// Pings every dependency concurrently.
    pub async fn check(&self) -> HealthReport {
        let users = async {
            match &self.users {
                Some(s) => Some(probe("users", s.ping()).await),
                None => None,
            }
        };
        let streams = async {
            match &self.streams {
                Some(s) => Some(probe("streams", s.ping()).await),
                None => None,
            }
        };
        let chat = async {
            match &self.chat {
                Some(s) => Some(probe("chat_bus", s.ping()).await),
                None => None,
            }
        };
        let segments = async {
            match &self.segments {
                Some(s) => Some(probe("segments", s.ping()).await),
                None => None,
            }
        };
        let origins = async {
            match &self.origins {
                Some(s) => Some(probe("origins", s.ping()).await),
                None => None,
            }
        };
        let (users, streams, chat, segments, origins) = tokio::join!(users, streams, chat, segments, origins);
        let checks: BTreeMap<String, CheckResult> = [
            ("users", users),
            ("streams", streams),
            ("chat_bus", chat),
            ("segments", segments),
            ("origins", origins),
        ]
        .into_iter()
        .filter_map(|(name, r)| r.map(|r| (name.to_owned(), r)))
        .collect();
        let ok = checks.values().all(|c| c.status == "up");
        HealthReport {
            status: if ok { "ok" } else { "degraded" }.to_owned(),
            checks,
        }
    }
}

/// Liveness and dependency health.
#[utoipa::path(get, path = "/health", tag = "operations",
    responses(
        (status = 200, description = "Every dependency is up", body = HealthReport),
        (status = 503, description = "A dependency is down", body = HealthReport),
    ))]
pub async fn health(State(state): State<ApiState>) -> (StatusCode, Json<HealthReport>) {
    let report = state.dependencies.check().await;
    let status = if report.status == "ok" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(report))
}
