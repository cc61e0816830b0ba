//! Channels (issue 14): a user's public page data, their profile and avatar,
//! and follows.
//!
//! - `GET /api/users/{username}`: the channel — profile, follower counts,
//!   the user's streams (live first) and, for a signed-in caller, whether
//!   they follow it. Past broadcasts are each stream's recordings
//!   (`GET /api/streams/{id}/recordings`).
//! - `GET /api/users/{username}/avatar`: the avatar image (cacheable).
//! - `PATCH /api/profile`, `PUT`/`DELETE /api/profile/avatar`: your profile.
//! - `PUT`/`DELETE /api/users/{username}/follow`, `GET /api/following`.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use streamly_core::domain::{
    Bio, DisplayName, FOLLOW_LIMIT, Profile, Stream, User, Username, avatar_version, sort_live_first,
};
use streamly_core::ports::StoreError;
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::ApiState;
use super::auth::AuthUser;
use super::error::{ApiError, ApiJson, ApiResult, ErrorBody};
use super::streams::StreamView;
use crate::avatars::AvatarError;

/// A user's public profile.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ProfileView {
    /// Username (the channel is `/c/{username}`).
    pub username: String,
    /// Display name; empty when none was set (show the username).
    pub display_name: String,
    /// Bio (empty: none); line feeds separate paragraphs.
    pub bio: String,
    /// The avatar image, `null` without one. The URL changes with each
    /// upload, so it can be cached for long.
    pub avatar_url: Option<String>,
}

/// `GET /api/users/{username}` answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ChannelView {
    /// The profile.
    #[serde(flatten)]
    pub profile: ProfileView,
    /// When the account was created (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    /// Accounts following this one.
    pub followers: u64,
    /// Accounts this one follows.
    pub following: u64,
    /// Whether the caller follows this channel: `null` without a token.
    pub followed_by_you: Option<bool>,
    /// The user's streams, live ones first (then newest first).
    pub streams: Vec<StreamView>,
}

/// `PATCH /api/profile` body: the fields to change (none: nothing changes).
#[derive(Debug, Deserialize, ToSchema)]
pub struct ProfileUpdateRequest {
    /// A display name, 0–50 characters (empty: none; surrounding
    /// whitespace is trimmed), one line, the title's rules.
    #[schema(
        max_length = 50,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F\\u00AD\\u0600-\\u0605\\u061C\\u06DD\\u070F\\u0890\\u0891\\u08E2\\u180E\\u200B\\u200E\\u200F\\u202A-\\u202E\\u2060-\\u2064\\u2066-\\u206F\\uFEFF\\uFFF9-\\uFFFB]*$"
    )]
    pub display_name: Option<String>,
    /// A bio, 0–500 characters (empty: none); line feeds allowed,
    /// otherwise the description's rules.
    #[schema(
        max_length = 500,
        pattern = "^[^\\u0000-\\u0009\\u000B-\\u001F\\u007F-\\u009F\\u00AD\\u0600-\\u0605\\u061C\\u06DD\\u070F\\u0890\\u0891\\u08E2\\u180E\\u200B\\u200E\\u200F\\u202A-\\u202E\\u2060-\\u2064\\u2066-\\u206F\\uFEFF\\uFFF9-\\uFFFB]*$"
    )]
    pub bio: Option<String>,
}

/// A follow's state after `PUT` or `DELETE /api/users/{username}/follow`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FollowView {
    /// Whether you follow the channel now.
    pub following: bool,
    /// Its follower count now.
    pub followers: u64,
}

/// One entry of `GET /api/following`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FollowedChannelView {
    /// The channel's profile.
    pub channel: ProfileView,
    /// Whether one of its streams is live now.
    pub live: bool,
    /// Its live streams (empty when offline).
    pub live_streams: Vec<StreamView>,
    /// Since when you follow it (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub since: OffsetDateTime,
}

/// An image file in a request or response body (its schema only).
#[derive(Debug, ToSchema)]
#[schema(value_type = String, format = Binary)]
#[allow(dead_code)] // Only its schema is used.
pub struct ImageFile(pub Vec<u8>);

/// The caller a bearer token names, if the request carries one: public
/// endpoints that say more to a signed-in caller. A token that is sent but
/// invalid is still a 401, as everywhere.
#[derive(Debug, Clone)]
pub struct MaybeAuthUser(pub Option<User>);

impl FromRequestParts<ApiState> for MaybeAuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, Self::Rejection> {
        if !parts.headers.contains_key(header::AUTHORIZATION) {
            return Ok(Self(None));
        }
        let AuthUser(user) = AuthUser::from_request_parts(parts, state).await?;
        Ok(Self(Some(user)))
    }
}

impl ApiState {
    /// The user a `{username}` path names; 404 for a malformed or unknown
    /// one.
    async fn user_named(&self, path: Result<Path<String>, PathRejection>) -> ApiResult<User> {
        let not_found = || ApiError::NotFound("no such user".into());
        let Path(raw) = path.map_err(|_| not_found())?;
        let username = Username::parse(&raw).map_err(|_| not_found())?;
        // A username holds no '@', so it never matches an email.
        self.accounts
            .users()
            .find_by_login(username.as_str())
            .await?
            .ok_or_else(not_found)
    }

    fn profile_view(&self, user: &User, profile: &Profile) -> ProfileView {
        ProfileView {
            username: user.username.to_string(),
            display_name: profile.display_name.as_str().to_owned(),
            bio: profile.bio.as_str().to_owned(),
            avatar_url: profile.avatar_updated_at.map(|at| {
                format!(
                    "{}/api/users/{}/avatar?v={}",
                    self.urls.http,
                    user.username,
                    avatar_version(at)
                )
            }),
        }
    }

    async fn stream_views(&self, streams: &[Stream]) -> ApiResult<Vec<StreamView>> {
        let mut views = Vec::with_capacity(streams.len());
        for stream in streams {
            views.push(self.view(stream).await?);
        }
        Ok(views)
    }
}

/// A user's channel: profile, follower counts and streams (live first).
/// Public; with a token, also whether you follow it.
#[utoipa::path(get, path = "/api/users/{username}", tag = "channels",
    params(("username" = String, Path, description = "Username (any case)")),
    responses(
        (status = 200, description = "The channel", body = ChannelView),
        (status = 401, description = "A token was sent and is invalid or expired", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ))]
pub async fn channel(
    State(state): State<ApiState>,
    MaybeAuthUser(caller): MaybeAuthUser,
    path: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<ChannelView>> {
    let user = state.user_named(path).await?;
    let profile = state.profiles.profile(user.id).await?;
    let counts = state.profiles.counts(user.id).await?;
    let followed_by_you = match &caller {
        Some(caller) => Some(state.profiles.is_following(caller.id, user.id).await?),
        None => None,
    };
    let mut streams = state.streams.list_by_owner(user.id).await?;
    sort_live_first(&mut streams);
    Ok(Json(ChannelView {
        profile: state.profile_view(&user, &profile),
        created_at: user.created_at,
        followers: counts.followers,
        following: counts.following,
        followed_by_you,
        streams: state.stream_views(&streams).await?,
    }))
}

/// A user's avatar (PNG or JPEG, at most 256 × 256). Public; cacheable
/// for a day (its URL carries its version), with an `ETag`.
#[utoipa::path(get, path = "/api/users/{username}/avatar", tag = "channels",
    params(
        ("username" = String, Path, description = "Username (any case)"),
        ("v" = Option<String>, Query, description = "The version in `avatar_url` (only for caches: any value serves the current avatar)"),
    ),
    responses(
        (status = 200, description = "The image", content_type = "image/png", body = ImageFile,
            headers(("ETag" = String, description = "The avatar's version"), ("Cache-Control" = String, description = "`public, max-age=86400`"))),
        (status = 304, description = "Not modified (`If-None-Match` matched)"),
        (status = 404, description = "No such user, or no avatar", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ))]
pub async fn avatar(
    State(state): State<ApiState>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> ApiResult<Response> {
    let user = state.user_named(path).await?;
    let avatar = state
        .profiles
        .avatar(user.id)
        .await?
        .ok_or_else(|| ApiError::NotFound("this user has no avatar".into()))?;
    let etag = format!("\"{}\"", avatar.version());
    let etag_value = HeaderValue::from_str(&etag).map_err(|_| ApiError::Internal)?;
    let cache = (
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == etag || tag.trim() == "*"));
    if matches {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag_value), cache]).into_response());
    }
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(avatar.format.content_type()),
            ),
            (header::ETAG, etag_value),
            cache,
        ],
        avatar.bytes,
    )
        .into_response())
}

/// Change your display name and bio.
#[utoipa::path(patch, path = "/api/profile", tag = "channels",
    security(("bearer" = [])),
    request_body = ProfileUpdateRequest,
    responses(
        (status = 200, description = "Your profile", body = ProfileView),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Cross-site request from an origin that is not allowed", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not a JSON body", body = ErrorBody),
        (status = 422, description = "Invalid display name or bio (`field` names it)", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ))]
pub async fn update_profile(
    State(state): State<ApiState>,
    AuthUser(user): AuthUser,
    ApiJson(req): ApiJson<ProfileUpdateRequest>,
) -> ApiResult<Json<ProfileView>> {
    let current = state.profiles.profile(user.id).await?;
    let display_name = match &req.display_name {
        Some(s) => DisplayName::parse(s)?,
        None => current.display_name,
    };
    let bio = match &req.bio {
        Some(s) => Bio::parse(s)?,
        None => current.bio,
    };
    let profile = state.profiles.set_profile(user.id, &display_name, &bio).await?;
    Ok(Json(state.profile_view(&user, &profile)))
}

/// Upload your avatar: the body is the image (`Content-Type: image/png` or
/// `image/jpeg`, at most 1 MiB and 4096 × 4096 pixels). It is decoded,
/// cropped to a square, scaled to at most 256 × 256 and re-encoded; only
/// that copy is kept.
#[utoipa::path(put, path = "/api/profile/avatar", tag = "channels",
    security(("bearer" = [])),
    request_body(content = ImageFile, content_type = "image/png", description = "A PNG or JPEG image (`image/png` or `image/jpeg`)"),
    responses(
        (status = 200, description = "Your profile, with the new `avatar_url`", body = ProfileView),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Cross-site request from an origin that is not allowed", body = ErrorBody),
        (status = 413, description = "Over 1 MiB", body = ErrorBody),
        (status = 415, description = "Not `image/png` or `image/jpeg`", body = ErrorBody),
        (status = 422, description = "Not a valid image of its type, or over 4096 pixels on a side (a decompression bomb)", body = ErrorBody),
        (status = 503, description = "Too many uploads at once (`busy`, with Retry-After), or the store is unavailable", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait (with `busy`)"))),
    ))]
pub async fn upload_avatar(
    State(state): State<ApiState>,
    AuthUser(user): AuthUser,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<ProfileView>> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge
        } else {
            ApiError::BadRequest("the request body could not be read".into())
        }
    })?;
    let avatar = state
        .avatars
        .process(content_type, body)
        .await
        .map_err(|e| match e {
            AvatarError::UnsupportedType => ApiError::UnsupportedMediaType(e.to_string()),
            AvatarError::NotAnImage(_) | AvatarError::TooLarge => ApiError::Unprocessable {
                field: Some("avatar".into()),
                message: e.to_string(),
            },
            AvatarError::Busy => ApiError::Busy { retry_after_secs: 1 },
            AvatarError::Internal => ApiError::Internal,
        })?;
    let profile = state.profiles.set_avatar(user.id, Some(&avatar)).await?;
    tracing::info!(user_id = %user.id, bytes = avatar.bytes.len(), format = %avatar.format, "avatar updated");
    Ok(Json(state.profile_view(&user, &profile)))
}

/// Remove your avatar.
#[utoipa::path(delete, path = "/api/profile/avatar", tag = "channels",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Your profile, without an avatar", body = ProfileView),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Cross-site request from an origin that is not allowed", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ))]
pub async fn delete_avatar(
    State(state): State<ApiState>,
    AuthUser(user): AuthUser,
) -> ApiResult<Json<ProfileView>> {
    let profile = state.profiles.set_avatar(user.id, None).await?;
    Ok(Json(state.profile_view(&user, &profile)))
}

/// Follow a channel (again: no change). You can follow up to 500.
#[utoipa::path(put, path = "/api/users/{username}/follow", tag = "channels",
    security(("bearer" = [])),
    params(("username" = String, Path, description = "Username (any case)")),
    responses(
        (status = 200, description = "You follow it", body = FollowView),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Cross-site request from an origin that is not allowed", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 409, description = "`follow_limit`: you already follow 500 channels, unfollow one first; `conflict`: that is you", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ))]
pub async fn follow(
    State(state): State<ApiState>,
    AuthUser(caller): AuthUser,
    path: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<FollowView>> {
    let user = state.user_named(path).await?;
    if user.id == caller.id {
        // A conflict with who you are, not an invalid request: the same
        // request from anyone else is fine.
        return Err(ApiError::Conflict("you cannot follow yourself".into()));
    }
    match state.profiles.follow(caller.id, user.id, FOLLOW_LIMIT).await {
        Ok(_) => {}
        Err(StoreError::LimitReached { limit }) => return Err(ApiError::FollowLimit { limit }),
        Err(e) => return Err(e.into()),
    }
    let followers = state.profiles.counts(user.id).await?.followers;
    Ok(Json(FollowView {
        following: true,
        followers,
    }))
}

/// Stop following a channel (not following: no change).
#[utoipa::path(delete, path = "/api/users/{username}/follow", tag = "channels",
    security(("bearer" = [])),
    params(("username" = String, Path, description = "Username (any case)")),
    responses(
        (status = 200, description = "You do not follow it", body = FollowView),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Cross-site request from an origin that is not allowed", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ))]
pub async fn unfollow(
    State(state): State<ApiState>,
    AuthUser(caller): AuthUser,
    path: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<FollowView>> {
    let user = state.user_named(path).await?;
    state.profiles.unfollow(caller.id, user.id).await?;
    let followers = state.profiles.counts(user.id).await?.followers;
    Ok(Json(FollowView {
        following: false,
        followers,
    }))
}

/// The channels you follow: live ones first (most recently live first),
/// then the others, most recently followed first. At most 500 (the follow
/// limit), in one response.
#[utoipa::path(get, path = "/api/following", tag = "channels",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The channels you follow", body = Vec<FollowedChannelView>),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ))]
pub async fn following(
    State(state): State<ApiState>,
    AuthUser(caller): AuthUser,
) -> ApiResult<Json<Vec<FollowedChannelView>>> {
    let followed = state.profiles.following(caller.id, FOLLOW_LIMIT).await?;
    // One query for what is live, instead of one per channel.
    let mut live_by_owner: HashMap<_, Vec<Stream>> = HashMap::new();
    for stream in state.streams.list_live().await? {
        live_by_owner.entry(stream.owner).or_default().push(stream);
    }
    let mut entries = Vec::with_capacity(followed.len());
    for f in followed {
        let user = match state.accounts.users().get(f.user).await {
            Ok(user) => user,
            // Deleted meanwhile (the in-memory store keeps no cascade).
            Err(StoreError::NotFound) => continue,
            Err(e) => return Err(e.into()),
        };
        let profile = state.profiles.profile(user.id).await?;
        let live = live_by_owner.remove(&user.id).unwrap_or_default();
        let newest_live = live.iter().filter_map(|s| s.live_since).max();
        entries.push((
            newest_live,
            FollowedChannelView {
                channel: state.profile_view(&user, &profile),
                live: !live.is_empty(),
                live_streams: state.stream_views(&live).await?,
                since: f.since,
            },
        ));
    }
    // Live first, most recently live first; the rest keep the store's
    // order (most recently followed first): the sort is stable.
    entries.sort_by_key(|(newest_live, _)| std::cmp::Reverse(*newest_live));
    Ok(Json(entries.into_iter().map(|(_, view)| view).collect()))
}
