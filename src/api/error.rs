//! The API's error type and its JSON form: `{"error": {"code", "message"}}`.
//!
//! Every failure a client can cause maps to a 4xx with a stable `code`;
//! only failures of the platform itself (a store that is down) are 5xx.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use streamly_core::domain::ValidationError;
use streamly_core::ports::StoreError;
use streamly_core::services::{AccountError, StreamError};
use utoipa::ToSchema;

/// What went wrong, as the API reports it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The body is not valid JSON, or a parameter is malformed (400).
    #[error("{0}")]
    BadRequest(String),
    /// No token, a bad token, or wrong credentials (401).
    #[error("{message}")]
    Unauthorized {
        /// `unauthenticated` or `invalid_credentials`.
        code: &'static str,
        /// For humans.
        message: String,
    },
    /// The request is understood but refused (403), e.g. a foreign `Origin`.
    #[error("{0}")]
    Forbidden(String),
    /// No such resource, or not yours (404).
    #[error("{0}")]
    NotFound(String),
    /// The method is not allowed on this path (405).
    #[error("method not allowed")]
    MethodNotAllowed,
    /// A unique value is taken (409).
    #[error("{0}")]
    Conflict(String),
    /// The body is larger than the configured cap (413).
    #[error("request body is too large")]
    PayloadTooLarge,
    /// The body is not `application/json` (415).
    #[error("expected a JSON body with content-type application/json")]
    UnsupportedMediaType,
    /// The JSON is well-formed but a field is missing or invalid (422).
    #[error("{message}")]
    Unprocessable {
        /// The offending field, when known.
        field: Option<String>,
        /// For humans.
        message: String,
    },
    /// Too many requests from this address (429).
    #[error("too many requests, retry in {retry_after_secs} s")]
    RateLimited {
        /// Seconds until a retry may succeed.
        retry_after_secs: u64,
    },
    /// A dependency (store) failed (503); details go to the log only.
    #[error("service temporarily unavailable")]
    Unavailable,
    /// A bug or an unexpected failure (500); details go to the log only.
    #[error("internal error")]
    Internal,
}

/// The JSON body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// The inside of [`ErrorBody`].
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable machine-readable code, e.g. `validation_failed`, `conflict`.
    pub code: String,
    /// A sentence for humans.
    pub message: String,
    /// The request field the error is about, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ApiError {
    /// 401 with code `unauthenticated`.
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::Unauthorized {
            code: "unauthenticated",
            message: message.into(),
        }
    }

    /// 404 for a stream.
    pub fn stream_not_found() -> Self {
        Self::NotFound("stream not found".into())
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable `code` string.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad_request",
            Self::Unauthorized { code, .. } => code,
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Conflict(_) => "conflict",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::Unprocessable { .. } => "validation_failed",
            Self::RateLimited { .. } => "rate_limited",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal",
        }
    }

    /// The JSON body.
    pub fn body(&self) -> ErrorBody {
        let field = match self {
            Self::Unprocessable { field, .. } => field.clone(),
            _ => None,
        };
        ErrorBody {
            error: ErrorDetail {
                code: self.code().to_owned(),
                message: self.to_string(),
                field,
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status(), Json(self.body())).into_response();
        if let Self::RateLimited { retry_after_secs } = self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs.max(1)));
        }
        response
    }
}

impl From<ValidationError> for ApiError {
    fn from(e: ValidationError) -> Self {
        Self::Unprocessable {
            field: Some(e.field.to_owned()),
            message: e.to_string(),
        }
    }
}

fn store_failure(e: &StoreError) -> ApiError {
    tracing::error!(error = %e, "store failure");
    match e {
        StoreError::Unavailable { .. } => ApiError::Unavailable,
        _ => ApiError::Internal,
    }
}

impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::Invalid(v) => v.into(),
            AccountError::Conflict(field) => Self::Conflict(format!("{field} is already taken")),
            AccountError::InvalidCredentials => Self::Unauthorized {
                code: "invalid_credentials",
                message: "invalid login or password".into(),
            },
            AccountError::Unauthenticated(_) => Self::unauthenticated("token is invalid or expired"),
            AccountError::Store(s) => store_failure(&s),
            other => {
                tracing::error!(error = %other, "account failure");
                Self::Internal
            }
        }
    }
}

impl From<StreamError> for ApiError {
    fn from(e: StreamError) -> Self {
        match e {
            StreamError::Invalid(v) => v.into(),
            StreamError::NotFound => Self::stream_not_found(),
            StreamError::Store(s) => store_failure(&s),
            other => {
                tracing::error!(error = %other, "stream failure");
                Self::Internal
            }
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Self::NotFound("not found".into()),
            StoreError::Conflict(f) => Self::Conflict(format!("{f} is already taken")),
            other => store_failure(&other),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::JsonDataError(e) => Self::Unprocessable {
                field: None,
                message: e.body_text(),
            },
            JsonRejection::JsonSyntaxError(e) => Self::BadRequest(e.body_text()),
            JsonRejection::MissingJsonContentType(_) => Self::UnsupportedMediaType,
            JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Self::PayloadTooLarge
            }
            other => Self::BadRequest(other.body_text()),
        }
    }
}

/// `axum::Json`, with rejections turned into [`ApiError`]s (so a bad body is
/// a JSON 400/413/415/422, never axum's plain-text answer).
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let Json(value) = Json::<T>::from_request(req, state).await?;
        Ok(Self(value))
    }
}

/// Result alias for handlers.
pub type ApiResult<T> = Result<T, ApiError>;
