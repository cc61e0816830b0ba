//! The REST API: JSON over HTTP, built on axum.
//!
//! | route | what |
//! |---|---|
//! | `POST /api/auth/register`, `POST /api/auth/login` | accounts (rate limited per IP) |
//! | `GET /api/auth/me`, `DELETE /api/auth/me` | the token's user; delete the account and its streams |
//! | `POST/GET /api/streams`, `GET /api/streams/mine` | create, list live (`?category=&sort=`), list yours |
//! | `GET /api/search?q=` | streams by title, tags or streamer, live first |
//! | `GET/PATCH/DELETE /api/streams/{id}`, `POST /api/streams/{id}/key` | one stream; writes are owner-only (404 for others) |
//! | `GET /api/streams/{id}/health`, `GET /api/streams/{id}/health/events` | a live stream's ingest health, owner-only (409 `not_live` when offline); the second pushes it every second (server-sent events) |
//! | `GET /api/streams/{id}/analytics` | a broadcast's viewers over time, peak, average, unique, watch time; owner-only |
//! | `GET /api/streams/{id}/recordings`, `GET/DELETE /api/recordings/{id}` | past broadcasts (public); delete is owner-only (403) |
//! | `GET /api/users/{username}`, `GET /api/users/{username}/avatar` | a channel: profile, follower counts, streams; its avatar |
//! | `PATCH /api/profile`, `PUT/DELETE /api/profile/avatar` | your display name, bio and avatar |
//! | `PUT/DELETE /api/users/{username}/follow`, `GET /api/following` | follows; the channels you follow, live first |
//! | `GET /health`, `GET /metrics`, `GET /api/openapi.json` | operations |
//! | `POST /api/internal/publish`, `POST /api/internal/publish_ended` | the key check for ingest nodes (only with an internal secret) |
//!
//! Errors are `{"error": {"code", "message"}}` ([`ApiError`]); see `docs/api.md`.

mod analytics;
mod auth;
mod channels;
mod error;
mod health;
mod internal;
mod metrics;
mod openapi;
mod rate_limit;
mod recordings;
mod security;
mod stream_health;
mod streams;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::{MethodRouter, any, delete, get, patch, post, put};
use metrics_exporter_prometheus::PrometheusHandle;
use streamly_core::adapters::MemoryProfileStore;
use streamly_core::auth::SharedSecret;
use streamly_core::domain::{RoomId, StreamId, UserId};
use streamly_core::ports::{ProfileStore, StreamKeyValidator};
use streamly_core::services::{Accounts, Streams};
use tower_http::set_header::SetResponseHeaderLayer;

pub use analytics::{AnalyticsQuery, ViewerAnalyticsView, ViewerPointView};
pub use auth::{AuthResponse, AuthUser, LoginRequest, RegisterRequest, UserView};
pub use channels::{
    ChannelView, FollowView, FollowedChannelView, MaybeAuthUser, ProfileUpdateRequest, ProfileView,
};
pub use error::{ApiError, ApiJson, ApiResult, ErrorBody, ErrorDetail};
pub use health::{CheckResult, Dependencies, HealthReport};
pub use internal::{InternalGrant, InternalPublishEnded, InternalPublishRequest};
pub use metrics::prometheus_handle;
pub use openapi::ApiDoc;
pub use rate_limit::{RateLimitConfig, RateLimiter};
pub use recordings::RecordingView;
pub use security::{OriginPolicy, content_security_policy};
pub use stream_health::{
    AudioHealthView, HealthWarningView, StreamHealthSource, StreamHealthView, VideoHealthView,
};
pub use streams::{
    CreatedStreamResponse, OwnedStreamView, OwnerView, RotatedKeyResponse, StreamTitleRequest,
    StreamUpdateRequest, StreamView,
};

/// Every route the API serves, as `(method, OpenAPI path)`: [`router`] is
/// built from this list (nothing else is routed besides the JSON 404s), and
/// the OpenAPI test checks it against the document both ways.
pub const ROUTES: &[(&str, &str)] = &[
    ("post", "/api/auth/register"),
    ("post", "/api/auth/login"),
    ("get", "/api/auth/me"),
    ("delete", "/api/auth/me"),
    ("post", "/api/streams"),
    ("get", "/api/streams"),
    ("get", "/api/streams/mine"),
    ("get", "/api/search"),
    ("get", "/api/streams/{id}"),
    ("patch", "/api/streams/{id}"),
    ("delete", "/api/streams/{id}"),
    ("post", "/api/streams/{id}/key"),
    ("get", "/api/streams/{id}/health"),
    ("get", "/api/streams/{id}/health/events"),
    ("get", "/api/streams/{id}/analytics"),
    ("get", "/api/streams/{id}/recordings"),
    ("get", "/api/recordings/{id}"),
    ("delete", "/api/recordings/{id}"),
    ("get", "/api/users/{username}"),
    ("get", "/api/users/{username}/avatar"),
    ("patch", "/api/profile"),
    ("put", "/api/profile/avatar"),
    ("delete", "/api/profile/avatar"),
    ("put", "/api/users/{username}/follow"),
    ("delete", "/api/users/{username}/follow"),
    ("get", "/api/following"),
    ("get", "/health"),
    ("get", "/metrics"),
    ("get", "/api/openapi.json"),
    ("post", "/api/internal/publish"),
    ("post", "/api/internal/publish_ended"),
];

/// How many viewers a room has (the chat server counts them).
pub trait ViewerCounts: Send + Sync {
    /// Viewers connected to `room` (the platform's: on every node sharing
    /// the chat bus, 0 when this node has no client in the room).
    fn viewers(&self, room: &RoomId) -> u64;
}

/// A [`ViewerCounts`] that always answers 0 (no chat attached).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoViewers;

impl ViewerCounts for NoViewers {
    fn viewers(&self, _room: &RoomId) -> u64 {
        0
    }
}

/// The URLs the API hands out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrls {
    /// Base HTTP URL without a trailing slash, e.g. `http://localhost:8080`.
    pub http: String,
    /// RTMP URL publishers use, without the key, e.g. `rtmp://localhost:1935/live`.
    pub rtmp: String,
    /// Base of the playback URLs handed out (default: `http`). With ingest
    /// nodes apart from the API, the URL viewers reach them at (any ingest
    /// node: it redirects to the stream's origin).
    pub playback: String,
    /// Base of the chat URLs handed out (default: `http`): the chat nodes.
    pub chat: String,
}

impl PublicUrls {
    /// Trims trailing slashes. Playback and chat URLs start with `http`.
    pub fn new(http: impl Into<String>, rtmp: impl Into<String>) -> Self {
        let http = http.into().trim_end_matches('/').to_owned();
        Self {
            playback: http.clone(),
            chat: http.clone(),
            http,
            rtmp: rtmp.into().trim_end_matches('/').to_owned(),
        }
    }

    /// Playback URLs start with `base` (the ingest nodes') instead.
    #[must_use]
    pub fn with_playback_base(mut self, base: &str) -> Self {
        self.playback = base.trim_end_matches('/').to_owned();
        self
    }

    /// Chat URLs start with `base` (the chat nodes') instead.
    #[must_use]
    pub fn with_chat_base(mut self, base: &str) -> Self {
        self.chat = base.trim_end_matches('/').to_owned();
        self
    }

    /// `<playback>/hls/<id>/index.m3u8`.
    pub fn playback_url(&self, id: &StreamId) -> String {
        format!("{}/hls/{id}/index.m3u8", self.playback)
    }

    /// `<playback>/hls/<id>/thumbnail.jpg` (see [`crate::thumbnails`]).
    pub fn thumbnail_url(&self, id: &StreamId) -> String {
        format!("{}/hls/{id}/thumbnail.jpg", self.playback)
    }

    /// `ws(s)://<host>/ws?room=<id>`.
    pub fn chat_url(&self, id: &StreamId) -> String {
        format!("{}/ws?room={id}", self.chat_ws_base())
    }

    /// The chat base with its WebSocket scheme (`ws://`, `wss://`).
    pub fn chat_ws_base(&self) -> String {
        if let Some(rest) = self.chat.strip_prefix("https://") {
            format!("wss://{rest}")
        } else if let Some(rest) = self.chat.strip_prefix("http://") {
            format!("ws://{rest}")
        } else {
            self.chat.clone()
        }
    }
}

/// API settings.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// URLs handed out in responses.
    pub urls: PublicUrls,
    /// Origins allowed to call the API cross-site (`*` for any); empty: none.
    pub cors_origins: Vec<String>,
    /// Largest request body accepted, in bytes (larger: 413).
    pub body_limit: usize,
    /// Rate limit on register and login, per client IP.
    pub auth_rate_limit: RateLimitConfig,
    /// The service-to-service secret (`STREAMLY_INTERNAL_SECRET`). Set, the
    /// `/api/internal/*` key check is served to callers presenting it;
    /// unset (the default), those paths are not routed (404).
    pub internal_secret: Option<SharedSecret>,
}

impl ApiConfig {
    /// Defaults (64 KiB bodies, no cross-site origins) for these URLs.
    pub fn new(urls: PublicUrls) -> Self {
        Self {
            urls,
            cors_origins: Vec::new(),
            body_limit: 64 * 1024,
            auth_rate_limit: RateLimitConfig::default(),
            internal_secret: None,
        }
    }
}

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    accounts: Accounts,
    streams: Streams,
    viewers: Arc<dyn ViewerCounts>,
    urls: Arc<PublicUrls>,
    dependencies: Dependencies,
    metrics: PrometheusHandle,
    on_scrape: Option<Arc<dyn Fn() + Send + Sync>>,
    on_delete: Option<OnDelete>,
    on_user_delete: Option<OnUserDelete>,
    key_validator: Option<Arc<dyn StreamKeyValidator>>,
    stream_health: Option<stream_health::SharedHealthSource>,
    recordings: Option<crate::recordings::Recordings>,
    profiles: Arc<dyn ProfileStore>,
    avatars: crate::avatars::AvatarProcessor,
    viewer_analytics: Option<analytics::SharedAnalyticsStore>,
}

/// The hook [`ApiState::on_delete`] installs.
type OnDelete = Arc<dyn Fn(&StreamId) + Send + Sync>;

/// The hook [`ApiState::on_user_delete`] installs.
type OnUserDelete = Arc<dyn Fn(UserId) + Send + Sync>;

impl std::fmt::Debug for ApiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiState")
            .field("urls", &self.urls)
            .field("dependencies", &self.dependencies)
            .finish_non_exhaustive()
    }
}

impl ApiState {
    /// State over the services. `/health` pings `dependencies`; viewer
    /// counts come from `viewers`.
    pub fn new(
        accounts: Accounts,
        streams: Streams,
        viewers: Arc<dyn ViewerCounts>,
        urls: PublicUrls,
        dependencies: Dependencies,
    ) -> Self {
        Self {
            accounts,
            streams,
            viewers,
            urls: Arc::new(urls),
            dependencies,
            metrics: prometheus_handle(),
            on_scrape: None,
            on_delete: None,
            on_user_delete: None,
            key_validator: None,
            stream_health: None,
            recordings: None,
            profiles: Arc::new(MemoryProfileStore::new()),
            avatars: crate::avatars::AvatarProcessor::default(),
            viewer_analytics: None,
        }
    }

    /// Runs `collect` before each `/metrics` render (to set gauges read from
    /// other parts, like chat connections).
    pub fn on_scrape(mut self, collect: impl Fn() + Send + Sync + 'static) -> Self {
        self.on_scrape = Some(Arc::new(collect));
        self
    }

    /// Runs `stop` after a stream was deleted through the API (to disconnect
    /// its publisher: the platform closes it through the RTMP hub).
    pub fn on_delete(mut self, stop: impl Fn(&StreamId) + Send + Sync + 'static) -> Self {
        self.on_delete = Some(Arc::new(stop));
        self
    }

    /// Runs `gone` after an account was deleted through the API (its streams
    /// went first, each through [`ApiState::on_delete`]): the platform
    /// closes the user's chat connections with it.
    pub fn on_user_delete(mut self, gone: impl Fn(UserId) + Send + Sync + 'static) -> Self {
        self.on_user_delete = Some(Arc::new(gone));
        self
    }
}

impl ApiState {
    /// The key check `/api/internal/publish` runs (the platform passes its
    /// `StoreKeyValidator`); without one those endpoints answer 503.
    pub fn key_validator(mut self, validator: Arc<dyn StreamKeyValidator>) -> Self {
        self.key_validator = Some(validator);
        self
    }

    /// The recordings `/api/streams/{id}/recordings` and
    /// `/api/recordings/{id}` answer from; without them every stream has
    /// none.
    pub fn recordings(mut self, recordings: crate::recordings::Recordings) -> Self {
        self.recordings = Some(recordings);
        self
    }

    /// Where profiles, avatars and follows are kept (the platform: its
    /// database); without one, in memory (lost on restart).
    pub fn profiles(mut self, profiles: Arc<dyn ProfileStore>) -> Self {
        self.profiles = profiles;
        self
    }

    /// Where `GET /api/streams/{id}/analytics` reads; without one every
    /// stream has none.
    pub fn viewer_analytics(mut self, store: Arc<dyn streamly_core::ports::ViewerAnalyticsStore>) -> Self {
        self.viewer_analytics = Some(store);
        self
    }

    /// Where `GET /api/streams/{id}/health` reads live figures (the
    /// platform: its RTMP hub); without one every stream is `not_live`.
    pub fn stream_health(mut self, source: Arc<dyn StreamHealthSource>) -> Self {
        self.stream_health = Some(source);
        self
    }
}

/// The API routes (`/api/*`, `/health`, `/metrics`) with their body cap,
/// auth rate limit, CORS and `Origin` check. Unknown `/api` paths answer a
/// JSON 404, wrong methods a JSON 405.
pub fn router(state: ApiState, config: &ApiConfig) -> Router {
    let limiter = Arc::new(RateLimiter::new(config.auth_rate_limit));
    let policy = Arc::new(OriginPolicy {
        allowed: config.cors_origins.clone(),
        own: Some(config.urls.http.clone()),
    });
    // The routes come from `ROUTES` only, so the OpenAPI test (which checks
    // `ROUTES` against the document) covers every served route.
    let mut paths: BTreeMap<&str, MethodRouter<ApiState>> = BTreeMap::new();
    for (method, path) in ROUTES {
        let Some(handler) = endpoint(method, path) else {
            tracing::error!(method, path, "ROUTES entry without a handler: not served");
            continue;
        };
        let merged = match paths.remove(path) {
            Some(existing) => existing.merge(handler),
            None => handler,
        };
        paths.insert(path, merged);
    }
    let mut api = Router::new();
    let mut operations = Router::new();
    for (path, mut handler) in paths {
        if path.starts_with(INTERNAL_PREFIX) {
            // Not routed at all without a secret: the JSON 404 answers.
            let Some(secret) = &config.internal_secret else {
                continue;
            };
            handler = handler.route_layer(middleware::from_fn_with_state(
                Arc::new(secret.clone()),
                internal::require_secret,
            ));
        }
        if RATE_LIMITED.contains(&path) {
            handler = handler.route_layer(middleware::from_fn_with_state(limiter.clone(), rate_limit::limit));
        }
        if path.starts_with("/api") {
            api = api.route(path, handler);
        } else {
            operations = operations.route(path, handler);
        }
    }
    let api = api
        .route("/api", get(api_not_found))
        .route("/api/{*rest}", any(api_not_found))
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(
            policy.clone(),
            security::check_origin,
        ))
        .layer(policy.cors_layer());
    Router::new()
        .merge(api)
        .merge(operations)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(config.body_limit))
        .with_state(state)
}

/// Paths served only with an internal secret, and behind it.
const INTERNAL_PREFIX: &str = "/api/internal/";

/// `/health` and `/metrics` alone, for a node without the API role (ingest,
/// chat), with the same body cap; unknown `/api` paths answer a JSON 404.
pub fn operations_router(state: ApiState, config: &ApiConfig) -> Router {
    Router::new()
        .route("/health", get(health::health))
        .route("/metrics", get(metrics::metrics))
        .route("/api", get(api_not_found))
        .route("/api/{*rest}", any(api_not_found))
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(config.body_limit))
        .with_state(state)
}

/// Paths behind the per-IP auth rate limit.
const RATE_LIMITED: &[&str] = &["/api/auth/register", "/api/auth/login"];

/// The handler of one [`ROUTES`] entry; `None` for a pair it does not know.
fn endpoint(method: &str, path: &str) -> Option<MethodRouter<ApiState>> {
    Some(match (method, path) {
        ("post", "/api/auth/register") => post(auth::register),
        ("post", "/api/auth/login") => post(auth::login),
        ("get", "/api/auth/me") => get(auth::me),
        ("delete", "/api/auth/me") => delete(auth::delete_me),
        ("post", "/api/streams") => post(streams::create),
        ("get", "/api/streams") => get(streams::list_live),
        ("get", "/api/streams/mine") => get(streams::list_mine),
        ("get", "/api/search") => get(streams::search),
        ("get", "/api/streams/{id}") => get(streams::get),
        ("patch", "/api/streams/{id}") => patch(streams::update),
        ("delete", "/api/streams/{id}") => delete(streams::delete),
        ("post", "/api/streams/{id}/key") => post(streams::rotate_key),
        ("get", "/api/streams/{id}/health") => get(stream_health::health),
        ("get", "/api/streams/{id}/health/events") => get(stream_health::health_events),
        ("get", "/api/streams/{id}/analytics") => get(analytics::analytics),
        ("get", "/api/streams/{id}/recordings") => get(recordings::list),
        ("get", "/api/recordings/{id}") => get(recordings::get),
        ("delete", "/api/recordings/{id}") => delete(recordings::delete),
        ("get", "/api/users/{username}") => get(channels::channel),
        ("get", "/api/users/{username}/avatar") => get(channels::avatar),
        ("patch", "/api/profile") => patch(channels::update_profile),
        // The image's own cap, over the API's JSON one.
        ("put", "/api/profile/avatar") => {
            put(channels::upload_avatar).layer(DefaultBodyLimit::max(crate::avatars::AVATAR_UPLOAD_MAX_BYTES))
        }
        ("delete", "/api/profile/avatar") => delete(channels::delete_avatar),
        ("put", "/api/users/{username}/follow") => put(channels::follow),
        ("delete", "/api/users/{username}/follow") => delete(channels::unfollow),
        ("get", "/api/following") => get(channels::following),
        ("get", "/health") => get(health::health),
        ("get", "/metrics") => get(metrics::metrics),
        ("get", "/api/openapi.json") => get(openapi::openapi_json),
        ("post", "/api/internal/publish") => post(internal::publish),
        ("post", "/api/internal/publish_ended") => post(internal::publish_ended),
        _ => return None,
    })
}

/// Adds security headers (nosniff, frame and referrer policy, `csp`) to every
/// response that lacks them, and HTTP metrics, to a whole app router.
pub fn harden(router: Router, csp: &str) -> Router {
    let mut router = router.layer(middleware::from_fn(metrics::track));
    for (name, value) in security::security_headers(csp) {
        router = router.layer(SetResponseHeaderLayer::if_not_present(name, value));
    }
    router
}

async fn api_not_found() -> ApiError {
    ApiError::NotFound("no such API route".into())
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_has_a_handler() {
        for (method, path) in ROUTES {
            assert!(endpoint(method, path).is_some(), "{method} {path} has no handler");
        }
        for path in RATE_LIMITED {
            assert!(ROUTES.iter().any(|(_, p)| p == path), "{path} is not a route");
        }
    }
}
