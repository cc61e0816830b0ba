//! CORS, the `Origin` check on writes, and security headers.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_http::cors::{AllowOrigin, CorsLayer};

use super::error::ApiError;

/// Which browser origins may call the API from other sites.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OriginPolicy {
    /// Origins (`https://example.com`) allowed besides the platform's own;
    /// `*` allows any.
    pub allowed: Vec<String>,
    /// The platform's own public origin (`http://localhost:8080`).
    pub own: Option<String>,
}

impl OriginPolicy {
    fn allows(&self, origin: &str, host: Option<&str>) -> bool {
        if self
            .allowed
            .iter()
            .any(|o| o == "*" || o.eq_ignore_ascii_case(origin))
        {
            return true;
        }
        if self
            .own
            .as_deref()
            .is_some_and(|o| o.eq_ignore_ascii_case(origin))
        {
            return true;
        }
        // Same origin as the Host the browser used.
        let origin_host = origin.split_once("://").map(|(_, rest)| rest);
        matches!((origin_host, host), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h))
    }

    /// The CORS layer for the API: the configured origins may send
    /// `Authorization` and JSON with any of the API's methods.
    pub fn cors_layer(&self) -> CorsLayer {
        let base = CorsLayer::new()
            .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
            .max_age(std::time::Duration::from_secs(600));
        if self.allowed.iter().any(|o| o == "*") {
            return base.allow_origin(AllowOrigin::any());
        }
        let list: Vec<HeaderValue> = self
            .allowed
            .iter()
            .filter_map(|o| HeaderValue::from_str(o.trim_end_matches('/')).ok())
            .collect();
        base.allow_origin(AllowOrigin::list(list))
    }
}

/// Middleware: a state-changing request whose `Origin` is neither the
/// platform's own nor an allowed one gets 403 (defence in depth; tokens are
/// not cookies, so this is not the only guard).
pub async fn check_origin(State(policy): State<Arc<OriginPolicy>>, request: Request, next: Next) -> Response {
    let writes = !matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if writes && let Some(origin) = request.headers().get(header::ORIGIN) {
        let host = request.headers().get(header::HOST).and_then(|h| h.to_str().ok());
        let allowed = origin.to_str().map(|o| policy.allows(o, host)).unwrap_or(false);
        if !allowed {
            return ApiError::Forbidden("requests from this origin are not allowed".into()).into_response();
        }
    }
    next.run(request).await
}

/// The Content-Security-Policy for the web UI. `hls_js_url` (an operator's
/// hls.js) adds its origin to `script-src`; `media_origins` (the playback
/// and chat bases the API hands out, when they are other hosts) are added
/// to `img-src` (thumbnails), `media-src` and `connect-src` (playlists,
/// segments, the chat WebSocket). `connect-src 'self'` covers the chat
/// WebSocket on the same host (CSP 3 browsers match `ws(s):` against
/// `'self'`) and allows no other host.
pub fn content_security_policy(hls_js_url: Option<&str>, media_origins: &[&str]) -> String {
    let extra_script = hls_js_url
        .and_then(origin_of)
        .map(|o| format!(" {o}"))
        .unwrap_or_default();
    let mut extra = String::new();
    for origin in media_origins.iter().filter_map(|u| origin_of(u)) {
        if !extra.split(' ').any(|o| o == origin) {
            extra.push(' ');
            extra.push_str(&origin);
        }
    }
    format!(
        "default-src 'self'; script-src 'self'{extra_script}; style-src 'self'; img-src 'self' data:{extra}; \
         media-src 'self' blob:{extra}; worker-src 'self' blob:; connect-src 'self'{extra}; \
         object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// `scheme://host[:port]` of an absolute URL; `None` for anything else
/// (or for characters a CSP source cannot hold).
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next()?;
    let clean = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-.:[]+".contains(&b))
    };
    (clean(scheme) && clean(host)).then(|| format!("{scheme}://{host}"))
}

/// Headers added to every response that does not set them itself.
pub fn security_headers(csp: &str) -> Vec<(HeaderName, HeaderValue)> {
    let mut headers = vec![
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("strict-origin-when-cross-origin"),
        ),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            HeaderValue::from_static("same-origin"),
        ),
    ];
    if let Ok(v) = HeaderValue::from_str(csp) {
        headers.push((header::CONTENT_SECURITY_POLICY, v));
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        let p = OriginPolicy {
            allowed: vec!["https://a.example".into()],
            own: Some("http://localhost:8080".into()),
        };
        assert!(p.allows("https://a.example", None));
        assert!(p.allows("http://localhost:8080", None));
        assert!(p.allows("http://10.0.0.5:8080", Some("10.0.0.5:8080")));
        assert!(!p.allows("https://evil.example", Some("10.0.0.5:8080")));
    }

    #[test]
    fn csp_names_hls_js_origin() {
        let csp = content_security_policy(Some("https://cdn.example/hls.min.js"), &[]);
        assert!(csp.contains("script-src 'self' https://cdn.example;"), "{csp}");
        assert!(content_security_policy(None, &[]).contains("script-src 'self';"));
        assert!(content_security_policy(None, &[]).contains("connect-src 'self';"));
        assert!(!content_security_policy(None, &[]).contains("ws:"));
    }

    #[test]
    fn csp_names_separate_playback_and_chat_origins() {
        let csp = content_security_policy(
            None,
            &[
                "https://live.example:8443",
                "wss://chat.example/ws",
                "https://live.example:8443",
                "bad url; script-src *",
            ],
        );
        let extra = " https://live.example:8443 wss://chat.example";
        assert!(csp.contains(&format!("img-src 'self' data:{extra};")), "{csp}");
        assert!(csp.contains(&format!("media-src 'self' blob:{extra};")), "{csp}");
        assert!(csp.contains(&format!("connect-src 'self'{extra};")), "{csp}");
        assert!(
            csp.contains("script-src 'self';"),
            "no script from those origins: {csp}"
        );
    }
}
