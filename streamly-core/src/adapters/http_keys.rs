//! [`HttpKeyValidator`]: a [`StreamKeyValidator`] that asks a remote HTTP
//! endpoint, like nginx-rtmp's `on_publish`.
//!
//! The protocol, one rule for both kinds of endpoint:
//!
//! - **Publish**: `POST <publish_url>` with `{"app": "...", "key": "..."}`
//!   (the key is in the body only, never in the URL) and, when a secret is
//!   configured, `Authorization: Bearer <secret>`.
//!   - any **2xx** grants. A JSON body `{"stream_id": "..."}` names the stream
//!     (Streamly's `POST /api/internal/publish` always sends one; an invalid
//!     id is an error, so nothing is published). With no such body (a bare
//!     `204`, nginx-rtmp style) the stream id is `key-` followed by the first
//!     32 hex digits of the key's SHA-256: stable per key, and it does not put
//!     the key itself into playback URLs.
//!   - **401** means the endpoint refused *our* credentials: an error (a
//!     misconfigured secret), not a verdict on the key.
//!   - any other **3xx or 4xx** refuses. A Streamly error body
//!     `{"error": {"code": "unknown_app" | "already_live" | ...}}` gives the
//!     reason; otherwise it is [`RejectReason::UnknownKey`].
//!   - a **5xx**, a connection failure or no answer within the timeout
//!     (default 2 s) is an error: the RTMP server refuses the publisher
//!     (`NetStream.Publish.Failed`) and logs the error, which names the
//!     endpoint and the cause but never the key.
//! - **Publish ended**: `POST <ended_url>` with `{"app": "...", "stream_id":
//!   "..."}`, same header and timeout; any 2xx is success. A failure is
//!   returned (the RTMP server logs it) and nothing waits on it beyond the
//!   timeout.
//!
//! Plain HTTP only: put a TLS-terminating proxy in front of a remote
//! endpoint on an untrusted network (HTTPS support is future work).

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::{Deserialize, Serialize};

use crate::auth::{SharedSecret, StreamKey};
use crate::domain::{StreamId, ValidationError};
use crate::ports::{PublishDecision, PublishRequest, RejectReason, StreamKeyValidator, ValidatorError};

/// Default time an endpoint gets to answer.
pub const HTTP_VALIDATOR_TIMEOUT: Duration = Duration::from_secs(2);

/// Largest answer body read (a stream id or an error fits many times over).
const MAX_ANSWER_BYTES: usize = 16 * 1024;

/// Where and how an [`HttpKeyValidator`] asks.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HttpValidatorConfig {
    /// Asked on each publish (`http://api:8080/api/internal/publish`).
    pub publish_url: String,
    /// Told when a granted publish ends; `None`: not told.
    pub ended_url: Option<String>,
    /// Sent as `Authorization: Bearer <secret>`; `None`: no header.
    pub secret: Option<SharedSecret>,
    /// Time for each call, connection included (default 2 s).
    pub timeout: Duration,
}

impl HttpValidatorConfig {
    /// A third-party endpoint (nginx-rtmp `on_publish` semantics): no end
    /// notification, no secret, the default timeout.
    pub fn new(publish_url: impl Into<String>) -> Self {
        Self {
            publish_url: publish_url.into(),
            ended_url: None,
            secret: None,
            timeout: HTTP_VALIDATOR_TIMEOUT,
        }
    }

    /// The Streamly API at `api_url` (e.g. `http://api:8080`, its
    /// `STREAMLY_API_URL`): its `/api/internal/publish` and
    /// `/api/internal/publish_ended`, authenticated with `secret`.
    pub fn streamly(api_url: &str, secret: SharedSecret) -> Self {
        let base = api_url.trim_end_matches('/');
        Self {
            publish_url: format!("{base}/api/internal/publish"),
            ended_url: Some(format!("{base}/api/internal/publish_ended")),
            secret: Some(secret),
            timeout: HTTP_VALIDATOR_TIMEOUT,
        }
    }
}

/// Why a call to the endpoint did not give an answer (boxed into
/// [`ValidatorError::Unavailable`]). None of these name the key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpValidatorError {
    /// No connection, or the connection failed mid-request.
    #[error("key check endpoint {url} unreachable: {detail}")]
    Unreachable {
        /// The endpoint.
        url: String,
        /// The client's error and its causes.
        detail: String,
    },
    /// No complete answer within the timeout.
    #[error("key check endpoint {url} did not answer within {after:?}")]
    TimedOut {
        /// The endpoint.
        url: String,
        /// The configured timeout.
        after: Duration,
    },
    /// 401: the endpoint refused this node's secret (check
    /// `STREAMLY_INTERNAL_SECRET` on both sides).
    #[error("key check endpoint {url} refused our credentials (401): check the shared secret")]
    Credentials {
        /// The endpoint.
        url: String,
    },
    /// A 5xx, or a status the endpoint should not send.
    #[error("key check endpoint {url} failed with status {status}")]
    Status {
        /// The endpoint.
        url: String,
        /// The HTTP status.
        status: u16,
    },
    /// A 2xx whose `stream_id` is not a valid stream id.
    #[error("key check endpoint {url} granted an invalid stream id: {reason}")]
    BadStreamId {
        /// The endpoint.
        url: String,
        /// What is wrong with it.
        reason: ValidationError,
    },
}

/// A [`StreamKeyValidator`] over HTTP: see the [module docs](self) for the
/// protocol.
#[derive(Debug, Clone)]
pub struct HttpKeyValidator {
    config: HttpValidatorConfig,
    publish_uri: Uri,
    ended_uri: Option<Uri>,
    auth: Option<HeaderValue>,
    client: Client<HttpConnector, Full<Bytes>>,
}

#[derive(Serialize)]
struct PublishBody<'a> {
    app: &'a str,
    key: &'a str,
}

#[derive(Serialize)]
struct EndedBody<'a> {
    app: &'a str,
    stream_id: &'a str,
}

#[derive(Deserialize)]
struct Grant {
    stream_id: String,
}

#[derive(Deserialize)]
struct Refusal {
    error: RefusalDetail,
}

#[derive(Deserialize)]
struct RefusalDetail {
    code: String,
}

impl HttpKeyValidator {
    /// Checks the URLs (absolute `http://` only) and builds the client.
    pub fn new(config: HttpValidatorConfig) -> Result<Self, ValidationError> {
        let publish_uri = parse_url("publish_url", &config.publish_url)?;
        let ended_uri = config
            .ended_url
            .as_deref()
            .map(|u| parse_url("ended_url", u))
            .transpose()?;
        let auth = config
            .secret
            .as_ref()
            .map(|s| {
                let mut value = HeaderValue::from_str(&format!("Bearer {}", s.expose()))
                    .map_err(|_| ValidationError::new("internal_secret", "is not a valid header value"))?;
                value.set_sensitive(true);
                Ok::<_, ValidationError>(value)
            })
            .transpose()?;
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(config.timeout));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Ok(Self {
            config,
            publish_uri,
            ended_uri,
            auth,
            client,
        })
    }

    /// The settings this validator was built with.
    pub fn config(&self) -> &HttpValidatorConfig {
        &self.config
    }

    /// POSTs `body` to `uri`; the status and (bounded) body of the answer.
    async fn post(&self, uri: &Uri, body: Vec<u8>) -> Result<(StatusCode, Bytes), HttpValidatorError> {
        let url = uri.to_string();
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(uri.clone())
            .header(CONTENT_TYPE, "application/json");
        if let Some(auth) = &self.auth {
            request = request.header(AUTHORIZATION, auth.clone());
        }
        let request =
            request
                .body(Full::new(Bytes::from(body)))
                .map_err(|e| HttpValidatorError::Unreachable {
                    url: url.clone(),
                    detail: e.to_string(),
                })?;
        let call = async {
            let response = self.client.request(request).await.map_err(|e| error_chain(&e))?;
            let status = response.status();
            let bytes = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
                .collect()
                .await
                .map_err(|e| format!("reading the answer: {e}"))?
                .to_bytes();
            Ok::<_, String>((status, bytes))
        };
        match tokio::time::timeout(self.config.timeout, call).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(detail)) => Err(HttpValidatorError::Unreachable { url, detail }),
            Err(_) => Err(HttpValidatorError::TimedOut {
                url,
                after: self.config.timeout,
            }),
        }
    }

    /// Maps an answer to a publish to a decision (see the module docs).
    fn decide(
        &self,
        key: &StreamKey,
        status: StatusCode,
        body: &[u8],
    ) -> Result<PublishDecision, HttpValidatorError> {
        let url = || self.publish_uri.to_string();
        if status.is_success() {
            let id = match serde_json::from_slice::<Grant>(body) {
                Ok(grant) => StreamId::parse(&grant.stream_id)
                    .map_err(|reason| HttpValidatorError::BadStreamId { url: url(), reason })?,
                Err(_) => stream_id_for_key(key),
            };
            return Ok(PublishDecision::Grant(id));
        }
        if status == StatusCode::UNAUTHORIZED {
            return Err(HttpValidatorError::Credentials { url: url() });
        }
        if status.is_redirection() || status.is_client_error() {
            let reason = match serde_json::from_slice::<Refusal>(body) {
                Ok(r) if r.error.code == "unknown_app" => RejectReason::UnknownApp,
                Ok(r) if r.error.code == "already_live" => RejectReason::AlreadyLive,
                _ => RejectReason::UnknownKey,
            };
            return Ok(PublishDecision::Reject(reason));
        }
        Err(HttpValidatorError::Status {
            url: url(),
            status: status.as_u16(),
        })
    }
}

/// The stream id a bodiless grant publishes under: `key-` and the first 32
/// hex digits (128 bits) of the key's SHA-256.
pub fn stream_id_for_key(key: &StreamKey) -> StreamId {
    let hex = key.hash().to_hex();
    // 4 + 32 characters of `[a-z0-9-]`: always a valid id.
    StreamId::parse(&format!("key-{}", &hex[..32])).unwrap_or_else(|_| StreamId::new_random())
}

fn parse_url(field: &'static str, url: &str) -> Result<Uri, ValidationError> {
    let uri: Uri = url
        .parse()
        .map_err(|_| ValidationError::new(field, format!("{url:?} is not a URL")))?;
    match (uri.scheme_str(), uri.authority()) {
        (Some("http"), Some(_)) => Ok(uri),
        (Some("https"), _) => Err(ValidationError::new(
            field,
            "https is not supported: use http behind a TLS-terminating proxy",
        )),
        _ => Err(ValidationError::new(field, "must be an absolute http:// URL")),
    }
}

/// An error and its causes on one line (the client's top-level error alone
/// says only "client error (Connect)").
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn json(value: &impl Serialize) -> Vec<u8> {
    // Serializing a struct of strings to a Vec cannot fail.
    serde_json::to_vec(value).unwrap_or_default()
}

#[async_trait]
impl StreamKeyValidator for HttpKeyValidator {
    async fn validate(&self, request: &PublishRequest) -> Result<PublishDecision, ValidatorError> {
        let body = json(&PublishBody {
            app: &request.app,
            key: request.key.expose(),
        });
        let (status, answer) = self
            .post(&self.publish_uri, body)
            .await
            .map_err(ValidatorError::unavailable)?;
        self.decide(&request.key, status, &answer)
            .map_err(ValidatorError::unavailable)
    }

    async fn publish_ended(&self, stream: &StreamId) -> Result<(), ValidatorError> {
        let Some(uri) = &self.ended_uri else {
            return Ok(());
        };
        // The app is not kept per stream here; ids are unique across apps.
        let body = json(&EndedBody {
            app: "",
            stream_id: stream.as_str(),
        });
        let (status, _) = self.post(uri, body).await.map_err(ValidatorError::unavailable)?;
        if status.is_success() {
            Ok(())
        } else if status == StatusCode::UNAUTHORIZED {
            Err(ValidatorError::unavailable(HttpValidatorError::Credentials {
                url: uri.to_string(),
            }))
        } else {
            Err(ValidatorError::unavailable(HttpValidatorError::Status {
                url: uri.to_string(),
                status: status.as_u16(),
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validator() -> HttpKeyValidator {
        HttpKeyValidator::new(HttpValidatorConfig::new("http://127.0.0.1:9/publish")).expect("valid")
    }

    fn key() -> StreamKey {
        StreamKey::parse("a-key").expect("key")
    }

    #[test]
    fn answers_map_to_decisions() {
        let v = validator();
        let grant = |status: u16, body: &str| {
            v.decide(
                &key(),
                StatusCode::from_u16(status).expect("status"),
                body.as_bytes(),
            )
        };
        assert_eq!(
            grant(200, r#"{"stream_id":"demo"}"#).expect("ok"),
            PublishDecision::Grant(StreamId::parse("demo").expect("id"))
        );
        let derived = stream_id_for_key(&key());
        assert!(derived.as_str().starts_with("key-") && !derived.as_str().contains("a-key"));
        assert_eq!(
            grant(204, "").expect("ok"),
            PublishDecision::Grant(derived.clone())
        );
        assert_eq!(grant(200, "OK").expect("ok"), PublishDecision::Grant(derived));
        assert!(matches!(
            grant(200, r#"{"stream_id":"../etc"}"#),
            Err(HttpValidatorError::BadStreamId { .. })
        ));
        assert_eq!(
            grant(403, "").expect("ok"),
            PublishDecision::Reject(RejectReason::UnknownKey)
        );
        assert_eq!(
            grant(302, "").expect("ok"),
            PublishDecision::Reject(RejectReason::UnknownKey)
        );
        assert_eq!(
            grant(403, r#"{"error":{"code":"already_live","message":"x"}}"#).expect("ok"),
            PublishDecision::Reject(RejectReason::AlreadyLive)
        );
        assert!(matches!(
            grant(401, ""),
            Err(HttpValidatorError::Credentials { .. })
        ));
        assert!(matches!(
            grant(503, ""),
            Err(HttpValidatorError::Status { status: 503, .. })
        ));
    }

    #[test]
    fn only_absolute_http_urls() {
        for bad in [
            "https://api/publish",
            "/api/internal/publish",
            "api:8080",
            "not a url",
        ] {
            assert!(
                HttpKeyValidator::new(HttpValidatorConfig::new(bad)).is_err(),
                "{bad}"
            );
        }
        let secret = SharedSecret::parse("a-shared-secret-of-some-length").expect("secret");
        let v =
            HttpKeyValidator::new(HttpValidatorConfig::streamly("http://api:8080/", secret)).expect("valid");
        assert_eq!(v.config().publish_url, "http://api:8080/api/internal/publish");
        assert!(!format!("{v:?}").contains("a-shared-secret"));
    }

    #[tokio::test]
    async fn a_closed_port_is_a_clear_error_without_the_key() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        drop(listener);
        let v =
            HttpKeyValidator::new(HttpValidatorConfig::new(format!("http://{addr}/publish"))).expect("valid");
        let request = PublishRequest {
            app: "live".into(),
            key: StreamKey::parse("never-in-logs").expect("key"),
        };
        let err = v.validate(&request).await.expect_err("refused");
        let text = err.to_string();
        assert!(
            text.contains("unreachable") && text.contains(&addr.to_string()),
            "{text}"
        );
        assert!(!text.contains("never-in-logs"), "{text}");
    }
}
