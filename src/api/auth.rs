//! `/api/auth/*`: register, log in, who am I; and the [`AuthUser`] extractor.

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use streamly_core::domain::User;
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::ApiState;
use super::error::{ApiError, ApiJson, ApiResult, ErrorBody};

/// `POST /api/auth/register` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RegisterRequest {
    /// 3–32 of `[A-Za-z0-9_]`, unique without regard to case.
    #[schema(min_length = 3, max_length = 32, pattern = "^[A-Za-z0-9_]{3,32}$")]
    pub username: String,
    /// A plausible email address (`name@example.com`: one `@`, a dotted
    /// domain, no spaces or control characters; at most 254 bytes once
    /// lowercased), unique.
    #[schema(
        max_length = 254,
        pattern = "^[\\t\\n\\u000B\\f\\r \\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]*[^\\t\\n\\u000B\\f\\r \\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000@\\u0000-\\u001F\\u007F-\\u009F]+@[^\\t\\n\\u000B\\f\\r \\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000@.\\u0000-\\u001F\\u007F-\\u009F]+(\\.[^\\t\\n\\u000B\\f\\r \\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000@.\\u0000-\\u001F\\u007F-\\u009F]+)+[\\t\\n\\u000B\\f\\r \\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]*$"
    )]
    pub email: String,
    /// 8–1,024 characters, not only whitespace, control or invisible
    /// (format) characters.
    #[schema(
        min_length = 8,
        max_length = 1024,
        pattern = "[^\\t\\n\\u000B\\f\\r \\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000\\u0000-\\u001F\\u007F-\\u009F\\u00AD\\u0600-\\u0605\\u061C\\u06DD\\u070F\\u0890\\u0891\\u08E2\\u180E\\u200B-\\u200F\\u202A-\\u202E\\u2060-\\u2064\\u2066-\\u206F\\uFEFF\\uFFF9-\\uFFFB]"
    )]
    pub password: String,
}

/// `POST /api/auth/login` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    /// Username or email.
    #[schema(max_length = 254)]
    pub login: String,
    /// The password (longer than 1,024 characters: refused as wrong).
    #[schema(max_length = 1024)]
    pub password: String,
}

/// A user as the API shows it (never the password hash).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UserView {
    /// User id (UUID).
    pub id: String,
    /// Username as typed at registration.
    pub username: String,
    /// Email address (lowercase). Only shown to the user themselves.
    pub email: String,
    /// When the account was created (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.to_string(),
            username: u.username.to_string(),
            email: u.email.to_string(),
            created_at: u.created_at,
        }
    }
}

/// A token and its user.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuthResponse {
    /// JWT (HS256) for `Authorization: Bearer <token>`.
    pub token: String,
    /// The signed-in user.
    pub user: UserView,
}

/// The user a valid `Authorization: Bearer` token names; rejects with 401.
#[derive(Debug, Clone)]
pub struct AuthUser(pub User);

impl FromRequestParts<ApiState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, Self::Rejection> {
        let token = bearer_token(parts)?;
        let user = state.accounts.authenticate(token).await?;
        Ok(Self(user))
    }
}

fn bearer_token(parts: &Parts) -> Result<&str, ApiError> {
    let value = parts
        .headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthenticated("missing Authorization: Bearer token"))?;
    let value = value
        .to_str()
        .map_err(|_| ApiError::unauthenticated("malformed Authorization header"))?;
    let (scheme, token) = value
        .split_once(' ')
        .ok_or_else(|| ApiError::unauthenticated("expected Authorization: Bearer <token>"))?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ApiError::unauthenticated(
            "expected Authorization: Bearer <token>",
        ));
    }
    Ok(token.trim())
}

/// Create an account and sign in.
#[utoipa::path(post, path = "/api/auth/register", tag = "auth",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Registered", body = AuthResponse),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 409, description = "Username or email taken", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not a JSON body", body = ErrorBody),
        (status = 422, description = "Invalid field", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
        (status = 503, description = "Too many sign-ins at once (`busy`, with Retry-After), or the store is down", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait (with `busy`)"))),
    ))]
pub async fn register(
    State(state): State<ApiState>,
    ApiJson(req): ApiJson<RegisterRequest>,
) -> ApiResult<impl IntoResponse> {
    let session = state
        .accounts
        .register(&req.username, &req.email, &req.password)
        .await?;
    metrics::counter!("streamly_users_registered_total").increment(1);
    Ok((
        StatusCode::CREATED,
        Json(AuthResponse {
            token: session.token,
            user: UserView::from(&session.user),
        }),
    ))
}

/// Sign in with username or email and password.
#[utoipa::path(post, path = "/api/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = AuthResponse),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Unknown login or wrong password", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not a JSON body", body = ErrorBody),
        (status = 422, description = "Missing field", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
        (status = 503, description = "Too many sign-ins at once (`busy`, with Retry-After), or the store is down", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait (with `busy`)"))),
    ))]
pub async fn login(
    State(state): State<ApiState>,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<Json<AuthResponse>> {
    let session = state.accounts.login(&req.login, &req.password).await?;
    Ok(Json(AuthResponse {
        token: session.token,
        user: UserView::from(&session.user),
    }))
}

/// The signed-in user.
#[utoipa::path(get, path = "/api/auth/me", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The user", body = UserView),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
    ))]
pub async fn me(AuthUser(user): AuthUser) -> Json<UserView> {
    Json(UserView::from(&user))
}

/// Delete your account: your streams go first (a publisher live on this
/// node is disconnected and the stream's HLS window dropped, as with
/// `DELETE /api/streams/{id}`), then the user; your chat connections are
/// closed and your token stops working everywhere.
#[utoipa::path(delete, path = "/api/auth/me", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Cross-site request from an origin that is not allowed", body = ErrorBody),
        (status = 503, description = "The store is unavailable; nothing or only some streams were deleted, retry", body = ErrorBody),
    ))]
pub async fn delete_me(State(state): State<ApiState>, AuthUser(user): AuthUser) -> ApiResult<StatusCode> {
    delete_streams_of(&state, &user).await?;
    match state.accounts.users().delete(user.id).await {
        // A concurrent delete of the same account got there first.
        Ok(()) | Err(streamly_core::ports::StoreError::NotFound) => {}
        Err(e) => return Err(e.into()),
    }
    // A stream created while this ran (its request authenticated before the
    // user was gone) would be orphaned in a store without a cascade.
    delete_streams_of(&state, &user).await?;
    // Profile, avatar and follows both ways (the SQL stores cascaded).
    state.profiles.forget(user.id).await?;
    tracing::info!(user_id = %user.id, "account deleted");
    if let Some(gone) = &state.on_user_delete {
        gone(user.id);
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes every stream `user` owns, each through the stream-delete hook.
async fn delete_streams_of(state: &ApiState, user: &User) -> ApiResult<()> {
    for stream in state.streams.list_by_owner(user.id).await? {
        match state.streams.delete(user.id, &stream.id).await {
            Ok(()) | Err(streamly_core::services::StreamError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
        if let Some(stop) = &state.on_delete {
            stop(&stream.id);
        }
    }
    Ok(())
}
