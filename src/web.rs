//! The web UI: plain HTML, CSS and JavaScript modules from `web/`, embedded
//! in the binary (no build step, nothing fetched from elsewhere).
//!
//! Pages: `/` (live streams, and the channels you follow), `/watch/{id}`
//! (player and chat), `/c/{username}` (a channel), `/signin`, `/signup`,
//! `/dashboard`; assets under `/assets/`; `/ui-config.json` tells
//! the pages where an operator's hls.js is, if any. An hls.js file the
//! operator supplies ([`UiConfig::serve_hls_js`]) is served from memory at
//! [`HLS_JS_PATH`], same origin, so the CSP stays `script-src 'self'`.

use axum::Router;
use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;

/// Where an hls.js given to [`UiConfig::serve_hls_js`] is served.
pub const HLS_JS_PATH: &str = "/assets/vendor/hls.min.js";

/// Web UI settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct UiConfig {
    /// Leave the UI out (API, HLS and chat only).
    pub disabled: bool,
    /// URL of an hls.js build, preferred by the watch page wherever Media
    /// Source Extensions work (it plays the LL-HLS playlist in low-latency
    /// mode; Chromium's native HLS does not). Its origin, when it has one,
    /// is added to the CSP's `script-src`.
    pub hls_js_url: Option<String>,
    /// An hls.js file served by the platform itself at [`HLS_JS_PATH`]
    /// (see [`UiConfig::serve_hls_js`]).
    pub hls_js_file: Option<HlsJsFile>,
}

/// An hls.js build read from disk at start, served from memory.
#[derive(Clone, PartialEq, Eq)]
pub struct HlsJsFile {
    path: std::path::PathBuf,
    bytes: Bytes,
}

impl std::fmt::Debug for HlsJsFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HlsJsFile")
            .field("path", &self.path)
            .field("len", &self.bytes.len())
            .finish()
    }
}

impl UiConfig {
    /// The UI with hls.js at `url` (when given).
    pub fn with_hls_js(url: Option<String>) -> Self {
        Self {
            disabled: false,
            hls_js_url: url,
            hls_js_file: None,
        }
    }

    /// The UI serving the hls.js build at `path` (`dist/hls.min.js` of the
    /// npm package) at [`HLS_JS_PATH`], and pointing the pages there. The
    /// file is read once, now.
    ///
    /// # Errors
    ///
    /// The file cannot be read, or is empty.
    pub fn serve_hls_js(path: impl Into<std::path::PathBuf>) -> std::io::Result<Self> {
        let path = path.into();
        let bytes = std::fs::read(&path)?;
        if bytes.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{} is empty", path.display()),
            ));
        }
        Ok(Self {
            disabled: false,
            hls_js_url: Some(HLS_JS_PATH.to_owned()),
            hls_js_file: Some(HlsJsFile {
                path,
                bytes: Bytes::from(bytes),
            }),
        })
    }
}

const INDEX: &str = include_str!("../web/index.html");
const WATCH: &str = include_str!("../web/watch.html");
const SIGNIN: &str = include_str!("../web/signin.html");
const SIGNUP: &str = include_str!("../web/signup.html");
const DASHBOARD: &str = include_str!("../web/dashboard.html");
const CHANNEL: &str = include_str!("../web/channel.html");
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
        "chart.js",
        "text/javascript; charset=utf-8",
        include_str!("../web/assets/chart.js"),
    ),
    (
        "player.js",
        "text/javascript; charset=utf-8",
        include_str!("../web/assets/player.js"),
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
    (
        "channel.js",
        "text/javascript; charset=utf-8",
        include_str!("../web/assets/channel.js"),
    ),
    (
        "profile.js",
        "text/javascript; charset=utf-8",
        include_str!("../web/assets/profile.js"),
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
    let mut router = Router::new();
    if let Some(file) = &config.hls_js_file {
        let bytes = file.bytes.clone();
        router = router.route(
            HLS_JS_PATH,
            get(move || async move {
                (
                    [
                        (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
                        (header::CACHE_CONTROL, "no-cache"),
                    ],
                    bytes,
                )
            }),
        );
    }
    router
        .route("/", get(|| async { html(StatusCode::OK, INDEX) }))
        .route("/watch/{id}", get(|| async { html(StatusCode::OK, WATCH) }))
        .route("/signin", get(|| async { html(StatusCode::OK, SIGNIN) }))
        .route("/signup", get(|| async { html(StatusCode::OK, SIGNUP) }))
        .route("/dashboard", get(|| async { html(StatusCode::OK, DASHBOARD) }))
        .route("/c/{username}", get(|| async { html(StatusCode::OK, CHANNEL) }))
        .route("/assets/{name}", get(asset))
        .route(
            "/ui-config.json",
            get(move || async move { ([(header::CONTENT_TYPE, "application/json")], public) }),
        )
        .fallback(|| async { html(StatusCode::NOT_FOUND, NOT_FOUND) })
}

/// The CSP for the whole app, allowing the operator's hls.js origin and
/// the playback and chat hosts of `urls` where they differ from the API's
/// (ingest and chat nodes apart: the pages load thumbnails, playlists and
/// the chat WebSocket from there).
pub fn content_security_policy(config: &UiConfig, urls: &crate::api::PublicUrls) -> String {
    let mut others = Vec::new();
    if urls.playback != urls.http {
        others.push(urls.playback.clone());
    }
    if urls.chat != urls.http {
        others.push(urls.chat.clone());
        others.push(urls.chat_ws_base());
    }
    let others: Vec<&str> = others.iter().map(String::as_str).collect();
    crate::api::content_security_policy(config.hls_js_url.as_deref(), &others)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tower::ServiceExt as _;

    #[test]
    fn the_csp_allows_separate_playback_and_chat_hosts_only_when_set() {
        let same = crate::api::PublicUrls::new("https://tv.example", "rtmp://tv.example/live");
        let csp = content_security_policy(&UiConfig::default(), &same);
        assert!(csp.contains("img-src 'self' data:;"), "{csp}");
        assert!(csp.contains("connect-src 'self';"), "{csp}");
        let apart = same
            .with_playback_base("https://live.tv.example")
            .with_chat_base("https://chat.tv.example");
        let csp = content_security_policy(&UiConfig::default(), &apart);
        assert!(
            csp.contains(
                "img-src 'self' data: https://live.tv.example https://chat.tv.example wss://chat.tv.example;"
            ),
            "{csp}"
        );
        assert!(
            csp.contains(
                "connect-src 'self' https://live.tv.example https://chat.tv.example wss://chat.tv.example;"
            ),
            "{csp}"
        );
    }

    #[tokio::test]
    async fn serves_an_operator_hls_js_same_origin() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hls.min.js");
        std::fs::write(&path, "/* hls.js */").unwrap();
        let config = UiConfig::serve_hls_js(&path).unwrap();
        assert_eq!(config.hls_js_url.as_deref(), Some(HLS_JS_PATH));
        assert!(
            content_security_policy(
                &config,
                &crate::api::PublicUrls::new("http://localhost:8080", "rtmp://localhost/live")
            )
            .contains("script-src 'self';")
        );
        let request = axum::http::Request::get(HLS_JS_PATH)
            .body(axum::body::Body::empty())
            .unwrap();
        let response = router(&config).oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(
            response.headers()[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/javascript")
        );
        let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        assert_eq!(&body[..], b"/* hls.js */");

        // Without a file the path is the UI's 404 page.
        let request = axum::http::Request::get(HLS_JS_PATH)
            .body(axum::body::Body::empty())
            .unwrap();
        let response = router(&UiConfig::default()).oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);

        assert!(UiConfig::serve_hls_js(dir.path().join("missing.js")).is_err());
    }
}
