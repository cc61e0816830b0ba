//! The web UI: plain HTML, CSS and JavaScript modules from `web/`, embedded
//! in the binary (no build step, nothing fetched from elsewhere).
//!
//! Pages: `/` (live streams), `/watch/{id}` (player and chat), `/signin`,
//! `/signup`, `/dashboard`; assets under `/assets/`; `/ui-config.json` tells
//! the pages where an operator's hls.js is, if any.

use axum::Router;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;

/// Web UI settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct UiConfig {
    /// Leave the UI out (API, HLS and chat only).
    pub disabled: bool,
    /// URL of an hls.js build the operator serves, used by browsers without
    /// native HLS. Its origin is added to the CSP's `script-src`.
    pub hls_js_url: Option<String>,
}

impl UiConfig {
    /// The UI with hls.js at `url` (when given).
    pub fn with_hls_js(url: Option<String>) -> Self {
        Self {
            disabled: false,
            hls_js_url: url,
        }
    }
}

const INDEX: &str = include_str!("../web/index.html");
const WATCH: &str = include_str!("../web/watch.html");
const SIGNIN: &str = include_str!("../web/signin.html");
const SIGNUP: &str = include_str!("../web/signup.html");
const DASHBOARD: &str = include_str!("../web/dashboard.html");
const NOT_FOUND: &str = include_str!("../web/notfound.html");

/// `(file name, content type, bytes)` under `/assets/`.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("../web/assets/style.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../web/assets/app.js"),
    ),
    (
        "home.js",
        "text/javascript; charset=utf-8",
        include_str!("../web/assets/home.js"),
    ),
    (
        "watch.js",
        "text/javascript; charset=utf-8",
        include_str!("../web/assets/watch.js"),
    ),
    (
        "auth.js",
        "text/javascript; charset=utf-8",
        include_str!("../web/assets/auth.js"),
    ),
    (
        "dashboard.js",
        "text/javascript; charset=utf-8",
        include_str!("../web/assets/dashboard.js"),
    ),
];

#[derive(Serialize)]
struct PublicUiConfig {
    hls_js_url: Option<String>,
}

fn html(status: StatusCode, body: &'static str) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, content_type, body)) => (
            [
                (header::CONTENT_TYPE, *content_type),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            *body,
        )
            .into_response(),
        None => html(StatusCode::NOT_FOUND, NOT_FOUND),
    }
}

/// The UI routes (empty when [`UiConfig::disabled`]).
pub fn router(config: &UiConfig) -> Router {
    if config.disabled {
        return Router::new();
    }
    let public = serde_json::to_string(&PublicUiConfig {
        hls_js_url: config.hls_js_url.clone(),
    })
    .unwrap_or_else(|_| "{}".to_owned());
    Router::new()
        .route("/", get(|| async { html(StatusCode::OK, INDEX) }))
        .route("/watch/{id}", get(|| async { html(StatusCode::OK, WATCH) }))
        .route("/signin", get(|| async { html(StatusCode::OK, SIGNIN) }))
        .route("/signup", get(|| async { html(StatusCode::OK, SIGNUP) }))
        .route("/dashboard", get(|| async { html(StatusCode::OK, DASHBOARD) }))
        .route("/assets/{name}", get(asset))
        .route(
            "/ui-config.json",
            get(move || async move { ([(header::CONTENT_TYPE, "application/json")], public) }),
        )
        .fallback(|| async { html(StatusCode::NOT_FOUND, NOT_FOUND) })
}

/// The CSP for the whole app, allowing the operator's hls.js origin.
pub fn content_security_policy(config: &UiConfig) -> String {
    crate::api::content_security_policy(config.hls_js_url.as_deref())
}
