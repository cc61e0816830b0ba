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
    /// The user already has as many streams as allowed (409,
    /// `stream_limit`): deleting one makes room, so it is a conflict with
    /// the account's state, not a rate (429) or a permission (403).
    #[error("you already have {limit} streams, the most allowed; delete one first")]
    StreamLimit {
        /// The per-user limit.
        limit: u32,
    },
    /// The user already follows as many channels as allowed (409,
    /// `follow_limit`); unfollowing one makes room.
    #[error("you already follow {limit} channels, the most allowed; unfollow one first")]
    FollowLimit {
        /// The per-user limit.
        limit: u32,
    },
    /// The stream exists but is not live (on this node), so it has no
    /// live figures (409, `not_live`).
    #[error("the stream is not live")]
    NotLive,
    /// The body is larger than the configured cap (413).
    #[error("request body is too large")]
    PayloadTooLarge,
    /// The body's content type is not the one the route takes (415), e.g.
    /// not `application/json`; the message says what is expected.
    #[error("{0}")]
    UnsupportedMediaType(String),
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
    /// Every password-hashing slot is taken (503 with `Retry-After`): too
    /// many logins or registrations at once, platform-wide.
    #[error("too many sign-ins at once, retry in {retry_after_secs} s")]
    Busy {
        /// Seconds until a retry may succeed.
        retry_after_secs: u64,
    },
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
            Self::Conflict(_) | Self::StreamLimit { .. } | Self::FollowLimit { .. } | Self::NotLive => {
                StatusCode::CONFLICT
            }
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable | Self::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
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
            Self::StreamLimit { .. } => "stream_limit",
            Self::FollowLimit { .. } => "follow_limit",
            Self::NotLive => "not_live",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::Unprocessable { .. } => "validation_failed",
            Self::RateLimited { .. } => "rate_limited",
            Self::Unavailable => "unavailable",
            Self::Busy { .. } => "busy",
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
        if let Self::RateLimited { retry_after_secs } | Self::Busy { retry_after_secs } = self {
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
            AccountError::Busy { retry_after } => {
                metrics::counter!("streamly_auth_hashing_busy_total").increment(1);
                Self::Busy {
                    retry_after_secs: retry_after.as_secs_f64().ceil() as u64,
                }
            }
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
            StreamError::LimitReached { limit } => Self::StreamLimit { limit },
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
            // `ApiJson` deserializes the fields itself (`body_error`); this
            // arm is for other users of axum's `Json`, without its text,
            // which names Rust types ("expected struct RegisterRequest").
            JsonRejection::JsonDataError(_) => Self::Unprocessable {
                field: None,
                message: "the JSON body does not have the expected fields".into(),
            },
            JsonRejection::JsonSyntaxError(e) => Self::BadRequest(e.body_text()),
            JsonRejection::MissingJsonContentType(_) => {
                Self::UnsupportedMediaType("expected a JSON body with content-type application/json".into())
            }
            JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Self::PayloadTooLarge
            }
            other => Self::BadRequest(other.body_text()),
        }
    }
}

/// `axum::Json` for object bodies, with rejections turned into
/// [`ApiError`]s (so a bad body is a JSON 400/413/415/422, never axum's
/// plain-text answer). A 422 names the field at fault in JSON terms
/// ("`username` must be a string, not integer `5`"), never a Rust type.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        // axum checks the content type, the size cap and the syntax; the
        // fields are then read here, keeping the path to the one at fault.
        let Json(value) = Json::<serde_json::Value>::from_request(req, state).await?;
        // Every body of this API is an object; serde would also fill a
        // struct from an array of its fields in order.
        if !value.is_object() {
            return Err(ApiError::Unprocessable {
                field: None,
                message: format!("the body must be a JSON object, not {}", json_type(&value)),
            });
        }
        serde_path_to_error::deserialize(value)
            .map(Self)
            .map_err(body_error)
    }
}

/// A 422 for a JSON body of the wrong shape: the field (dotted path) and
/// the problem, in JSON terms.
fn body_error(e: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = e.path().to_string();
    let parent = (path != "." && !path.is_empty()).then_some(path);
    let message = e.inner().to_string();
    if let Some(name) = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.strip_suffix('`'))
    {
        let field = match &parent {
            Some(p) => format!("{p}.{name}"),
            None => name.to_owned(),
        };
        return ApiError::Unprocessable {
            message: format!("`{field}` is required"),
            field: Some(field),
        };
    }
    let subject = parent
        .as_ref()
        .map_or_else(|| "the body".to_owned(), |p| format!("`{p}`"));
    let shape = |rest: &str| {
        rest.rsplit_once(", expected ")
            .map(|(got, expected)| (json_kind(got), json_expectation(expected)))
    };
    let message = if let Some((got, expected)) = message
        .strip_prefix("invalid type: ")
        .or_else(|| message.strip_prefix("invalid value: "))
        .and_then(shape)
    {
        format!("{subject} must be {expected}, not {got}")
    } else if let Some((got, expected)) = message.strip_prefix("invalid length ").and_then(shape) {
        format!("{subject} must be {expected}, not {got} elements")
    } else if let Some(p) = &parent
        && !message.starts_with("invalid ")
    {
        // serde's other messages ("unknown variant `x`, expected one of
        // `a`, `b`", "duplicate field `x`") name JSON values only.
        format!("{p}: {}", json_expectation(&message))
    } else {
        // A domain type's own message ("invalid title: must not be empty").
        json_expectation(&message)
    };
    ApiError::Unprocessable {
        field: parent,
        message,
    }
}

/// The JSON type of a value, with an article.
fn json_type(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// serde's name for what it got, in JSON terms (`map` → `object`).
fn json_kind(unexpected: &str) -> String {
    match unexpected {
        "map" => "an object".into(),
        "sequence" => "an array".into(),
        "unit value" | "unit" => "null".into(),
        other => other.to_owned(),
    }
}

/// What serde expected, without Rust type names: `struct RegisterRequest`
/// is "a JSON object", `u32` "a non-negative integer".
fn json_expectation(expected: &str) -> String {
    const OBJECTS: &[&str] = &[
        "struct ",
        "tuple struct ",
        "unit struct ",
        "newtype struct ",
        "a map",
    ];
    const VARIANTS: &[&str] = &[
        "enum ",
        "struct variant ",
        "tuple variant ",
        "unit variant ",
        "newtype variant ",
    ];
    const UNSIGNED: &[&str] = &["u8", "u16", "u32", "u64", "u128", "usize"];
    const SIGNED: &[&str] = &["i8", "i16", "i32", "i64", "i128", "isize"];
    match expected {
        e if OBJECTS.iter().any(|p| e.starts_with(p)) => "a JSON object".into(),
        e if VARIANTS.iter().any(|p| e.starts_with(p)) => "one of the documented values".into(),
        e if UNSIGNED.contains(&e) => "a non-negative integer".into(),
        e if SIGNED.contains(&e) => "an integer".into(),
        "f32" | "f64" => "a number".into(),
        // serde_json's word for an enum read from a `Value`.
        "string or map" => "one of the documented values".into(),
        "a sequence" => "an array".into(),
        "char" => "a single character".into(),
        "option" => "null or a value".into(),
        other => other.to_owned(),
    }
}

/// Result alias for handlers.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Outer {
        name: String,
        count: u32,
        ratio: f64,
        inner: Inner,
        kind: Kind,
        tags: Vec<String>,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        flag: bool,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Kind {
        Live,
        Vod,
    }

    fn reject(value: serde_json::Value) -> (Option<String>, String) {
        let mut body = json!({
            "name": "n", "count": 1, "ratio": 0.5, "inner": {"flag": true}, "kind": "live", "tags": [],
        });
        for (k, v) in value.as_object().expect("object") {
            if v.is_null() {
                body.as_object_mut().expect("object").remove(k);
            } else {
                body[k] = v.clone();
            }
        }
        let e = serde_path_to_error::deserialize::<_, Outer>(body).expect_err("must be refused");
        match body_error(e) {
            ApiError::Unprocessable { field, message } => (field, message),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn body_errors_speak_json_not_rust() {
        let cases = [
            (
                json!({"count": "x"}),
                "count",
                "`count` must be a non-negative integer, not string \"x\"",
            ),
            (
                json!({"count": -1}),
                "count",
                "`count` must be a non-negative integer, not integer `-1`",
            ),
            (
                json!({"ratio": "x"}),
                "ratio",
                "`ratio` must be a number, not string \"x\"",
            ),
            (
                json!({"inner": 3}),
                "inner",
                "`inner` must be a JSON object, not integer `3`",
            ),
            (
                json!({"inner": {"flag": "yes"}}),
                "inner.flag",
                "`inner.flag` must be a boolean",
            ),
            (json!({"inner": {}}), "inner.flag", "`inner.flag` is required"),
            (json!({"name": null}), "name", "`name` is required"),
            (
                json!({"kind": 7}),
                "kind",
                "`kind` must be one of the documented values",
            ),
            (
                json!({"kind": "other"}),
                "kind",
                "kind: unknown variant `other`, expected",
            ),
            (
                json!({"tags": "x"}),
                "tags",
                "`tags` must be an array, not string \"x\"",
            ),
            (
                json!({"tags": [1]}),
                "tags[0]",
                "`tags[0]` must be a string, not integer `1`",
            ),
        ];
        for (patch, field, start) in cases {
            let (got_field, message) = reject(patch.clone());
            assert_eq!(got_field.as_deref(), Some(field), "{patch}: {message}");
            assert!(message.starts_with(start), "{patch}: {message}");
            for rust in ["Outer", "Inner", "Kind", "struct", "enum", "u32", "f64", "line "] {
                assert!(!message.contains(rust), "{patch}: {message}");
            }
        }
    }
}
