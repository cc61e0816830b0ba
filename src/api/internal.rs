//! `/api/internal/*`: the key check an ingest node asks over HTTP
//! (`streamly_core::adapters::HttpKeyValidator`).
//!
//! Served only when [`ApiConfig::internal_secret`](super::ApiConfig) is set
//! (otherwise these paths answer the JSON 404 of any unknown route); every
//! request must carry `Authorization: Bearer <STREAMLY_INTERNAL_SECRET>`,
//! compared in constant time ([`SharedSecret::verify_bearer`]), or gets a
//! 401 before its body is read. The answers follow the protocol described
//! in `streamly_core::adapters::http_keys`: 200 with the stream id grants, 403
//! with a `code` refuses.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use streamly_core::auth::{SharedSecret, StreamKey};
use streamly_core::domain::StreamId;
use streamly_core::ports::{PublishDecision, PublishRequest, RejectReason};
use utoipa::ToSchema;

use super::ApiState;
use super::error::{ApiError, ApiJson, ApiResult, ErrorBody, ErrorDetail};

/// `POST /api/internal/publish` body: what the RTMP client presented.
#[derive(Debug, Deserialize, ToSchema)]
pub struct InternalPublishRequest {
    /// The RTMP application name (`live`).
    pub app: String,
    /// The stream key (the last path segment of the publish URL); one
    /// that no stream could have is refused (403 `unknown_key`).
    pub key: String,
}

/// `POST /api/internal/publish` grant.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct InternalGrant {
    /// The stream the media is published under (now marked live).
    pub stream_id: String,
}

/// `POST /api/internal/publish_ended` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct InternalPublishEnded {
    /// The RTMP application name (may be empty).
    #[serde(default)]
    pub app: String,
    /// The stream whose publisher left (as granted).
    #[schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9_-]{1,64}$")]
    pub stream_id: String,
}

/// Answers 401 unless the request carries the shared secret.
pub(super) async fn require_secret(
    State(secret): State<Arc<SharedSecret>>,
    request: Request,
    next: Next,
) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if !secret.verify_bearer(presented) {
        tracing::warn!(path = %request.uri().path(), "internal endpoint: missing or wrong shared secret");
        return ApiError::unauthenticated("missing or wrong internal secret").into_response();
    }
    next.run(request).await
}

/// Whether `app` may publish with `key`. A grant marks the stream live.
#[utoipa::path(post, path = "/api/internal/publish", tag = "internal",
    security(("internal" = [])),
    request_body = InternalPublishRequest,
    responses(
        (status = 200, description = "Granted: publish under this stream id (now live)", body = InternalGrant),
        (status = 401, description = "Missing or wrong `Authorization: Bearer <STREAMLY_INTERNAL_SECRET>`", body = ErrorBody),
        (status = 403, description = "Refused: `unknown_key`, `unknown_app` or `already_live`", body = ErrorBody),
        (status = 404, description = "Internal endpoints are off (no internal secret configured)", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ))]
pub async fn publish(
    State(state): State<ApiState>,
    ApiJson(req): ApiJson<InternalPublishRequest>,
) -> ApiResult<Response> {
    let validator = state.key_validator.as_ref().ok_or(ApiError::Unavailable)?;
    // A key no stream could have is refused like an unknown one.
    let Ok(key) = StreamKey::parse(&req.key) else {
        return Ok(refusal(RejectReason::UnknownKey));
    };
    let request = PublishRequest { app: req.app, key };
    match validator.validate(&request).await {
        Ok(PublishDecision::Grant(id)) => Ok(Json(InternalGrant {
            stream_id: id.to_string(),
        })
        .into_response()),
        Ok(PublishDecision::Reject(reason)) => Ok(refusal(reason)),
        Err(e) => {
            tracing::error!(error = %e, "internal publish check failed");
            Err(ApiError::Unavailable)
        }
    }
}

/// A granted publish ended: the stream goes offline.
#[utoipa::path(post, path = "/api/internal/publish_ended", tag = "internal",
    security(("internal" = [])),
    request_body = InternalPublishEnded,
    responses(
        (status = 204, description = "Noted (also for a stream that no longer exists)"),
        (status = 401, description = "Missing or wrong `Authorization: Bearer <STREAMLY_INTERNAL_SECRET>`", body = ErrorBody),
        (status = 404, description = "Internal endpoints are off (no internal secret configured)", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ))]
pub async fn publish_ended(
    State(state): State<ApiState>,
    ApiJson(req): ApiJson<InternalPublishEnded>,
) -> ApiResult<StatusCode> {
    let validator = state.key_validator.as_ref().ok_or(ApiError::Unavailable)?;
    let id = StreamId::parse(&req.stream_id)?;
    validator.publish_ended(&id).await.map_err(|e| {
        tracing::error!(error = %e, stream_id = %id, "internal publish_ended failed");
        ApiError::Unavailable
    })?;
    Ok(StatusCode::NO_CONTENT)
}

/// 403 with the reason's code.
fn refusal(reason: RejectReason) -> Response {
    let code = match reason {
        RejectReason::UnknownApp => "unknown_app",
        RejectReason::AlreadyLive => "already_live",
        _ => "unknown_key",
    };
    let body = ErrorBody {
        error: ErrorDetail {
            code: code.to_owned(),
            message: format!("publish refused: {reason}"),
            field: None,
        },
    };
    (StatusCode::FORBIDDEN, Json(body)).into_response()
}
