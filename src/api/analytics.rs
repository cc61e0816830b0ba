//! `GET /api/streams/{id}/analytics`: a broadcast's viewers over time,
//! peak, average, unique viewers and watch time, for the stream's owner
//! (its dashboard polls it). See `docs/analytics.md`.
//!
//! The broadcast is the live one, else the stream's last one with
//! samples, or with `?recording=<id>` the one that recording recorded.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use streamly_core::domain::{BroadcastAnalytics, BroadcastKey, RecordingId, StreamId};
use streamly_core::ports::{StoreError, ViewerAnalyticsStore};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

use super::ApiState;
use super::auth::AuthUser;
use super::error::{ApiError, ApiResult, ErrorBody};
use crate::recordings::Recordings;

/// The shared form [`ApiState::viewer_analytics`] keeps.
pub(super) type SharedAnalyticsStore = Arc<dyn ViewerAnalyticsStore>;

/// Which broadcast to show.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AnalyticsQuery {
    /// A recording of the stream: its broadcast's analytics. Absent: the
    /// live broadcast, else the last one.
    pub recording: Option<String>,
}

/// A broadcast's viewer analytics.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ViewerAnalyticsView {
    /// When the broadcast started (RFC 3339); `null` when the stream has
    /// none with analytics.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub broadcast_started_at: Option<OffsetDateTime>,
    /// Whether this broadcast is live now (its points grow).
    pub live: bool,
    /// One point per sampling period, oldest first.
    pub points: Vec<ViewerPointView>,
    /// The most concurrent viewers of any period.
    pub peak_viewers: u64,
    /// Mean concurrent viewers over the sampled periods.
    pub average_viewers: f64,
    /// Distinct playback sessions (players that sent a session id).
    pub unique_viewers: u64,
    /// Viewer-seconds: each period's viewers times its length.
    pub watch_time_s: f64,
}

/// One sampling period, every node summed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ViewerPointView {
    /// The period's start (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: OffsetDateTime,
    /// The period's length, seconds.
    pub period_s: f64,
    /// Concurrent viewers: the larger of `playback` and `chat`.
    pub viewers: u64,
    /// Playback sessions that loaded a playlist during the period.
    pub playback: u64,
    /// Chat connections at the end of the period.
    pub chat: u64,
}

impl ViewerAnalyticsView {
    fn new(a: &BroadcastAnalytics, live: bool) -> Self {
        Self {
            broadcast_started_at: Some(a.broadcast.started_at),
            live,
            points: a
                .points
                .iter()
                .map(|p| ViewerPointView {
                    at: p.at,
                    period_s: f64::from(p.period_ms) / 1000.0,
                    viewers: p.viewers(),
                    playback: p.playback,
                    chat: p.chat,
                })
                .collect(),
            peak_viewers: a.peak(),
            average_viewers: a.average(),
            unique_viewers: a.unique_sessions,
            watch_time_s: a.watch_time_s(),
        }
    }

    fn none() -> Self {
        Self {
            broadcast_started_at: None,
            live: false,
            points: Vec::new(),
            peak_viewers: 0,
            average_viewers: 0.0,
            unique_viewers: 0,
            watch_time_s: 0.0,
        }
    }
}

/// Viewer analytics of a stream you own: concurrent viewers per sampling
/// period, peak, average, unique viewers and watch time of its live (else
/// last) broadcast, or of the broadcast a recording of it recorded.
#[utoipa::path(get, path = "/api/streams/{id}/analytics", tag = "streams",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Stream id"), AnalyticsQuery),
    responses(
        (status = 200, description = "The broadcast's analytics (`broadcast_started_at` null when there is none)", body = ViewerAnalyticsView),
        (status = 400, description = "A malformed query", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such stream, or not yours; or no such recording of it", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ))]
pub async fn analytics(
    State(state): State<ApiState>,
    AuthUser(user): AuthUser,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<AnalyticsQuery>, QueryRejection>,
) -> ApiResult<Json<ViewerAnalyticsView>> {
    let Path(raw) = path.map_err(|_| ApiError::stream_not_found())?;
    let id = StreamId::parse(&raw).map_err(|_| ApiError::stream_not_found())?;
    let stream = state.streams.get(&id).await?;
    if stream.owner != user.id {
        return Err(ApiError::stream_not_found());
    }
    let recording = query
        .map_err(|e| ApiError::BadRequest(e.body_text()))?
        .0
        .recording;
    let Some(store) = &state.viewer_analytics else {
        return Ok(Json(ViewerAnalyticsView::none()));
    };
    let live = stream
        .live_since
        .map(|since| BroadcastKey::new(id.clone(), since));
    let key = match recording {
        Some(raw) => Some(recording_broadcast(&state, &id, &raw).await?),
        None => match &live {
            Some(key) => Some(key.clone()),
            None => store.latest(&id).await?,
        },
    };
    let Some(key) = key else {
        return Ok(Json(ViewerAnalyticsView::none()));
    };
    let analytics = store.get(&key).await?;
    Ok(Json(ViewerAnalyticsView::new(
        &analytics,
        live.as_ref() == Some(&key),
    )))
}

/// The broadcast of recording `raw` of stream `id`.
async fn recording_broadcast(state: &ApiState, id: &StreamId, raw: &str) -> ApiResult<BroadcastKey> {
    let not_found = || ApiError::NotFound("no such recording of this stream".into());
    let rid = RecordingId::parse(raw).map_err(|_| not_found())?;
    let recordings = state.recordings.as_ref().ok_or_else(not_found)?;
    let r = recordings.store().get(&rid).await.map_err(|e| match e {
        StoreError::NotFound => not_found(),
        other => other.into(),
    })?;
    if r.stream_id != *id {
        return Err(not_found());
    }
    Ok(Recordings::broadcast(&r))
}
