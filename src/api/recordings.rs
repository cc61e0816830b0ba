//! `/api/streams/{id}/recordings`, `/api/recordings/{id}`: a stream's past
//! broadcasts. Reading is public (like the stream itself); deleting is the
//! owner's (403 for anyone else). The media is served apart, under
//! `/recordings/{id}/` ([`crate::recordings::router`]).

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use streamly_core::domain::{Page, Recording, RecordingId, RecordingStatus, StreamId};
use streamly_core::ports::StoreError;
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::ApiState;
use super::auth::AuthUser;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::streams::{PageQuery, next_page_headers};
use crate::recordings::DOWNLOAD_MP4;

/// A recording as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RecordingView {
    /// Recording id (a UUID).
    pub id: String,
    /// The stream that was broadcast.
    pub stream_id: String,
    /// `recording` (the broadcast is running: the playlist grows),
    /// `ready`, or `failed` (nothing playable survived a crash).
    #[schema(pattern = "^(recording|ready|failed)$")]
    pub status: String,
    /// When the broadcast started (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub started_at: OffsetDateTime,
    /// When it was finalized (RFC 3339); `null` while recording.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub ended_at: Option<OffsetDateTime>,
    /// Media duration in milliseconds (while recording: as of the last
    /// progress update, every 10 s of media).
    pub duration_ms: u64,
    /// Media bytes (same caveat).
    pub size_bytes: u64,
    /// The VOD playlist (HLS over fMP4; `EVENT` while recording).
    pub playlist_url: String,
    /// The whole recording as one MP4 file (fragmented: see
    /// docs/recordings.md).
    pub mp4_url: String,
    /// The broadcast's first live thumbnail (JPEG), or a placeholder image
    /// when none was made (no `ffmpeg` on the ingest node).
    #[schema(value_type = Option<String>)]
    pub thumbnail_url: Option<String>,
}

impl ApiState {
    fn recording_view(&self, r: &Recording) -> RecordingView {
        let base = format!("{}/recordings/{}", self.urls.http, r.id);
        RecordingView {
            id: r.id.to_string(),
            stream_id: r.stream_id.to_string(),
            status: r.status.as_str().to_owned(),
            started_at: r.started_at,
            ended_at: r.ended_at,
            duration_ms: r.duration_ms,
            size_bytes: r.size_bytes,
            playlist_url: format!("{base}/{}", streamly_hls::recording::RECORDING_PLAYLIST),
            mp4_url: format!("{base}/{DOWNLOAD_MP4}"),
            thumbnail_url: Some(format!("{base}/{}", crate::thumbnails::THUMBNAIL_FILE)),
        }
    }

    async fn recording(&self, path: Result<Path<String>, PathRejection>) -> ApiResult<Recording> {
        let not_found = || ApiError::NotFound("no such recording".into());
        let Path(raw) = path.map_err(|_| not_found())?;
        let id = RecordingId::parse(&raw).map_err(|_| not_found())?;
        let recordings = self.recordings.as_ref().ok_or_else(not_found)?;
        recordings.store().get(&id).await.map_err(|e| match e {
            StoreError::NotFound => not_found(),
            other => other.into(),
        })
    }
}

/// A stream's recordings, most recently started first (then by id); one
/// page at a time: follow `X-Next-Cursor` (or `Link`). Public.
#[utoipa::path(get, path = "/api/streams/{id}/recordings", tag = "recordings",
    params(("id" = String, Path, description = "Stream id"), PageQuery),
    responses(
        (status = 200, description = "A page of the stream's recordings", body = Vec<RecordingView>, headers(
            ("X-Next-Cursor" = String, description = "Cursor of the next page; absent on the last page"),
            ("Link" = String, description = "`<url of the next page>; rel=\"next\"`; absent on the last page"),
        )),
        (status = 400, description = "`limit` out of range or malformed, or a cursor this API did not return", body = ErrorBody),
        (status = 404, description = "No such stream", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> ApiResult<(HeaderMap, Json<Vec<RecordingView>>)> {
    let Path(raw) = path.map_err(|_| ApiError::stream_not_found())?;
    let id = StreamId::parse(&raw).map_err(|_| ApiError::stream_not_found())?;
    let req = PageQuery::page(query)?;
    state.streams.get(&id).await?;
    let Some(recordings) = &state.recordings else {
        return Ok((HeaderMap::new(), Json(Vec::new())));
    };
    let Page { items, next } = recordings.store().list_by_stream(&id, &req).await?;
    let views = items.iter().map(|r| state.recording_view(r)).collect();
    let path = format!("/api/streams/{id}/recordings");
    Ok((next_page_headers(&path, &req, next.as_ref()), Json(views)))
}

/// One recording. Public.
#[utoipa::path(get, path = "/api/recordings/{id}", tag = "recordings",
    params(("id" = String, Path, description = "Recording id")),
    responses(
        (status = 200, description = "The recording", body = RecordingView),
        (status = 404, description = "No such recording", body = ErrorBody),
    ))]
pub async fn get(
    State(state): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<RecordingView>> {
    let r = state.recording(path).await?;
    Ok(Json(state.recording_view(&r)))
}

/// Delete a recording of yours: its files, then its record. One still
/// recording can be deleted too: the rest of the broadcast is removed as
/// it ends.
#[utoipa::path(delete, path = "/api/recordings/{id}", tag = "recordings",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Recording id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Not your recording (or a cross-site request from an origin that is not allowed)", body = ErrorBody),
        (status = 404, description = "No such recording", body = ErrorBody),
    ))]
pub async fn delete(
    State(state): State<ApiState>,
    AuthUser(user): AuthUser,
    path: Result<Path<String>, PathRejection>,
) -> ApiResult<StatusCode> {
    let r = state.recording(path).await?;
    if r.owner != user.id {
        return Err(ApiError::Forbidden("this recording is not yours".into()));
    }
    let Some(recordings) = &state.recordings else {
        return Err(ApiError::NotFound("no such recording".into()));
    };
    match recordings.delete(&r).await {
        Ok(()) | Err(StoreError::NotFound) => {}
        Err(e) => return Err(e.into()),
    }
    tracing::info!(recording = %r.id, status = RecordingStatus::as_str(r.status), "recording deleted by its owner");
    Ok(StatusCode::NO_CONTENT)
}
