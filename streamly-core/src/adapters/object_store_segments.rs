//! A [`SegmentSink`] on an object store: S3 or any S3-compatible service
//! (MinIO, Ceph RGW, Cloudflare R2, s3s-fs, …), through the `object_store`
//! crate. Behind the `s3` feature.
//!
//! # Layout
//!
//! One sink owns one *prefix* of one bucket: [`SegmentPath`] `s/42.ts` is
//! stored at key `<prefix>/s/42.ts`, and [`list`](SegmentSink::list) answers
//! with paths relative to the prefix again, so several deployments (or
//! several nodes' recordings) share a bucket without seeing each other's
//! objects. Each object is written with the `Content-Type` of its extension
//! ([`SegmentPath::content_type`]), so a CDN or a player reading the bucket
//! directly gets `application/vnd.apple.mpegurl` and `video/mp2t` right.
//!
//! # Configuration
//!
//! [`ObjectStoreSegmentSink::from_url`] takes `s3://bucket/prefix` and reads
//! the standard AWS variables through `AmazonS3Builder::from_env`:
//!
//! | variable | meaning |
//! |---|---|
//! | `AWS_ENDPOINT_URL` (or `AWS_ENDPOINT`) | endpoint of an S3-compatible service; unset means AWS |
//! | `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` | static credentials (else the usual AWS chain: web identity, ECS, IMDS) |
//! | `AWS_SESSION_TOKEN` | with temporary credentials |
//! | `AWS_REGION` | the bucket's region (`us-east-1` if unset) |
//! | `AWS_ALLOW_HTTP` | `true` to allow a plain-HTTP endpoint (a local MinIO or s3s-fs) |
//!
//! The timeouts and retries of [`ObjectStoreSinkConfig`] are then applied
//! over whatever the environment said. [`ObjectStoreSegmentSink::from_builder`]
//! does the same from an explicit `AmazonS3Builder` (no environment), and
//! [`ObjectStoreSegmentSink::new`] wraps any `Arc<dyn ObjectStore>` an
//! integrator already has (its timeouts are then theirs).
//!
//! # Timeouts and retries: sized for live
//!
//! `object_store`'s defaults suit batch work: 30 s per request, up to 10
//! retries within 3 minutes. A live packager cuts a segment every ~2 s, so a
//! write that is still retrying after a few seconds is useless (the window
//! has moved on) and keeps a queue slot and a connection busy. The defaults
//! here are one segment duration per attempt (2 s, 1 s to connect), 2
//! retries, and no retry started after 4 s: a dead store costs a segment
//! writer about 4–6 s, never minutes, and the drop-oldest persistence queue
//! in front of the sink absorbs the rest. The trade-off: a long-distance
//! store, or segments much larger than ~4 MB on a slow link, need a larger
//! `request_timeout` (it covers the whole body), or writes will fail that a
//! patient client would have finished. Only idempotent requests are retried
//! (`PUT` of a whole object, `GET`, `DELETE`, `LIST`).
//!
//! # Consistency
//!
//! An S3 `PUT` replaces the object atomically (readers see the old or the
//! new body, never a part), which is what [`SegmentSink::put`] asks for; S3
//! has been strongly read-after-write consistent since 2020. Objects are
//! written with a single `PUT` (no multipart upload), which S3 allows up to
//! 5 GB: segments and playlists are far smaller.
//!
//! # TLS
//!
//! HTTPS goes through rustls with the *ring* crypto provider (the provider
//! the rest of the workspace already builds). The `s3` feature does not use
//! `object_store`'s `aws` feature, which would add aws-lc-rs (a C and CMake
//! build). rustls needs a process-wide provider: the constructors install
//! ring as the default unless the process has installed one already.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::TryStreamExt;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path as StorePath;
use object_store::{
    Attribute, Attributes, ClientConfigKey, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig,
};

use crate::ports::{SegmentPath, SegmentSink, SegmentSinkError};

/// Timeouts and retries of an S3-backed [`ObjectStoreSegmentSink`].
///
/// The defaults are sized to a live segment of about 2 s; see the
/// [module documentation](self) for the trade-off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectStoreSinkConfig {
    /// Time allowed for one request, from sending it to the end of the
    /// response body (default 2 s).
    pub request_timeout: Duration,
    /// Time allowed to open a connection, TLS included (default 1 s).
    pub connect_timeout: Duration,
    /// Retries after a failed attempt of an idempotent request (default 2).
    pub max_retries: usize,
    /// No retry is started once this much time has passed since the first
    /// attempt (default 4 s). A call therefore fails after at most about
    /// `retry_timeout + request_timeout`.
    pub retry_timeout: Duration,
}

impl Default for ObjectStoreSinkConfig {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(1),
            max_retries: 2,
            retry_timeout: Duration::from_secs(4),
        }
    }
}

impl ObjectStoreSinkConfig {
    /// The retry policy handed to `object_store`: its default exponential
    /// backoff (100 ms doubling, with jitter) capped by our counts.
    fn retry(&self) -> RetryConfig {
        RetryConfig {
            max_retries: self.max_retries,
            retry_timeout: self.retry_timeout,
            ..RetryConfig::default()
        }
    }
}

/// A [`SegmentSink`] storing each object under a prefix of an
/// [`ObjectStore`] (usually an S3 bucket).
///
/// `put` is one whole-object `PUT` with the path's `Content-Type`; `get` of
/// a missing object is `Ok(None)`; `delete` of a missing object is `Ok(())`;
/// `list` pages through the store's listing under the prefix; `ping` lists
/// a key prefix that holds nothing (one cheap request that still checks the
/// endpoint, the credentials and that the bucket exists).
///
/// The `Debug` output names the store and the prefix, never credentials.
#[derive(Clone)]
pub struct ObjectStoreSegmentSink {
    store: Arc<dyn ObjectStore>,
    /// The key prefix; [`StorePath::ROOT`] for a whole bucket.
    prefix: StorePath,
}

impl fmt::Debug for ObjectStoreSegmentSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The store's Display (`AmazonS3(bucket)`), not its Debug, which
        // would include the client configuration.
        f.debug_struct("ObjectStoreSegmentSink")
            .field("store", &format_args!("{}", self.store))
            .field("prefix", &self.prefix.as_ref())
            .finish()
    }
}

/// A failed object-store call, with what was being done and where. Its
/// message is the one `SegmentSinkError::Unavailable` shows.
#[derive(Debug, thiserror::Error)]
#[error("{operation} {location} on {store} failed: {source}")]
struct StoreFailure {
    operation: &'static str,
    /// The full key (prefix included) or a description.
    location: String,
    /// The store's Display: `AmazonS3(bucket)`.
    store: String,
    #[source]
    source: object_store::Error,
}

/// A sink that could not be set up (bad URL or configuration).
#[derive(Debug, thiserror::Error)]
#[error("segment store {url}: {reason}")]
struct SetupError {
    url: String,
    reason: String,
}

fn setup_error(url: &str, reason: impl fmt::Display) -> SegmentSinkError {
    SegmentSinkError::Unavailable {
        path: url.to_owned(),
        source: Box::new(SetupError {
            url: url.to_owned(),
            reason: reason.to_string(),
        }),
    }
}

/// Splits `s3://bucket/some/prefix` into the bucket and the prefix.
fn parse_s3_url(url: &str) -> Result<(&str, StorePath), SegmentSinkError> {
    let Some(rest) = url.strip_prefix("s3://") else {
        return Err(setup_error(url, "the URL must start with s3://"));
    };
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(setup_error(url, "the URL names no bucket"));
    }
    if bucket.contains(['@', ':', '?', '#']) {
        // Credentials or a port in the URL: refuse rather than guess (and
        // never echo them back: the message names only the rule).
        return Err(SegmentSinkError::Unavailable {
            path: "s3://…".to_owned(),
            source: Box::new(SetupError {
                url: "s3://…".to_owned(),
                reason: "the bucket name may not contain '@', ':', '?' or '#' \
                         (credentials go in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)"
                    .to_owned(),
            }),
        });
    }
    let prefix = prefix.trim_end_matches('/');
    if prefix.starts_with('/') {
        return Err(setup_error(url, "the prefix has an empty component"));
    }
    let prefix = StorePath::parse(prefix).map_err(|e| setup_error(url, e))?;
    Ok((bucket, prefix))
}

/// Makes ring rustls's process-wide provider unless one is installed
/// (reqwest is built without a provider of its own and refuses to build a
/// client without one).
fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race to another installer is fine: a provider is there.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

impl ObjectStoreSegmentSink {
    /// An S3 sink for `s3://bucket/prefix` (the prefix may be empty),
    /// configured from the standard `AWS_*` environment variables (see the
    /// [module documentation](self)) with `config`'s timeouts and retries
    /// applied over them.
    ///
    /// Nothing is sent yet: call [`ping`](SegmentSink::ping) to check the
    /// store is reachable.
    pub fn from_url(url: &str, config: &ObjectStoreSinkConfig) -> Result<Self, SegmentSinkError> {
        Self::from_builder(AmazonS3Builder::from_env(), url, config)
    }

    /// Like [`from_url`](Self::from_url), from an explicit builder (endpoint,
    /// credentials, region) instead of the environment. The URL's bucket
    /// and `config`'s timeouts and retries override the builder's.
    pub fn from_builder(
        builder: AmazonS3Builder,
        url: &str,
        config: &ObjectStoreSinkConfig,
    ) -> Result<Self, SegmentSinkError> {
        let (bucket, prefix) = parse_s3_url(url)?;
        install_crypto_provider();
        // Client keys go through `with_config` so that the environment's
        // other client settings (AWS_ALLOW_HTTP, proxies) are kept.
        let client = |key| AmazonS3ConfigKey::Client(key);
        let store = builder
            .with_bucket_name(bucket)
            .with_config(
                client(ClientConfigKey::Timeout),
                format!("{}ms", config.request_timeout.as_millis()),
            )
            .with_config(
                client(ClientConfigKey::ConnectTimeout),
                format!("{}ms", config.connect_timeout.as_millis()),
            )
            .with_retry(config.retry())
            .build()
            // object_store's builder errors name the missing or invalid
            // setting, never a credential's value.
            .map_err(|e| setup_error(url, e))?;
        Ok(Self {
            store: Arc::new(store),
            prefix,
        })
    }

    /// A sink on any object store, under `prefix` (`""`: the whole store).
    /// Timeouts and retries are the store's own, so configure them for live
    /// when building it (see [`ObjectStoreSinkConfig`]).
    pub fn new(store: Arc<dyn ObjectStore>, prefix: &str) -> Result<Self, SegmentSinkError> {
        let prefix = StorePath::parse(prefix.trim_matches('/'))
            .map_err(|e| setup_error(&format!("{store}/{prefix}"), e))?;
        Ok(Self { store, prefix })
    }

    /// The key prefix every object of this sink is stored under (`""` for
    /// none).
    pub fn prefix(&self) -> &str {
        self.prefix.as_ref()
    }

    /// The full key of `path`.
    fn key(&self, path: &SegmentPath) -> StorePath {
        // SegmentPath components are `[A-Za-z0-9_.-]`, none empty, `.` or
        // `..`: each is a valid object_store path part as it stands.
        path.as_str()
            .split('/')
            .fold(self.prefix.clone(), |key, part| key.join(part))
    }

    fn failure(
        &self,
        path: &str,
        operation: &'static str,
        location: &StorePath,
        source: object_store::Error,
    ) -> SegmentSinkError {
        SegmentSinkError::Unavailable {
            path: path.to_owned(),
            source: Box::new(StoreFailure {
                operation,
                location: location.to_string(),
                store: self.store.to_string(),
                source,
            }),
        }
    }
}

#[async_trait]
impl SegmentSink for ObjectStoreSegmentSink {
    async fn put(&self, path: &SegmentPath, data: Bytes) -> Result<(), SegmentSinkError> {
        let key = self.key(path);
        let attributes = Attributes::from_iter([(Attribute::ContentType, path.content_type())]);
        self.store
            .put_opts(&key, PutPayload::from_bytes(data), attributes.into())
            .await
            .map_err(|e| self.failure(path.as_str(), "PUT", &key, e))?;
        Ok(())
    }

    async fn get(&self, path: &SegmentPath) -> Result<Option<Bytes>, SegmentSinkError> {
        let key = self.key(path);
        let read = async { self.store.get(&key).await?.bytes().await };
        match read.await {
            Ok(data) => Ok(Some(data)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.failure(path.as_str(), "GET", &key, e)),
        }
    }

    async fn delete(&self, path: &SegmentPath) -> Result<(), SegmentSinkError> {
        let key = self.key(path);
        match self.store.delete(&key).await {
            // S3 answers 204 for a missing key; other stores say NotFound.
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.failure(path.as_str(), "DELETE", &key, e)),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<SegmentPath>, SegmentSinkError> {
        // The store lists by whole path components; `prefix` is a plain
        // string prefix (`"s1"` also matches `"s10/…"`), so list from its
        // last complete component and filter the rest here.
        let dir = match prefix.rsplit_once('/') {
            Some((dir, _)) => dir,
            None => "",
        };
        if !dir.is_empty() && SegmentPath::parse(dir).is_err() {
            // No SegmentPath lies under such a directory.
            return Ok(Vec::new());
        }
        let from = dir
            .split('/')
            .filter(|part| !part.is_empty())
            .fold(self.prefix.clone(), |from, part| from.join(part));
        let listed: Vec<_> = self
            .store
            .list(Some(&from))
            .try_collect()
            .await
            .map_err(|e| self.failure(prefix, "LIST", &from, e))?;
        Ok(listed
            .into_iter()
            .filter_map(|meta| {
                let rel: Vec<_> = meta.location.prefix_match(&self.prefix)?.collect();
                let rel: Vec<&str> = rel.iter().map(|part| part.as_ref()).collect();
                let rel = rel.join("/");
                // Keys no SegmentPath can name (written by something else)
                // are not this sink's objects.
                let path = SegmentPath::parse(&rel).ok()?;
                path.as_str().starts_with(prefix).then_some(path)
            })
            .collect())
    }

    async fn ping(&self) -> Result<(), SegmentSinkError> {
        // A listing of a prefix that holds nothing: one request, an empty
        // answer, yet it fails on a wrong endpoint, bad credentials or a
        // missing bucket (a HEAD of a missing key could not tell those
        // apart from "not found"). SegmentPath components never start
        // with '.', so no object lives under this name.
        let probe = self.prefix.clone().join(".streamly-ping");
        let mut listing = self.store.list(Some(&probe));
        listing
            .try_next()
            .await
            .map_err(|e| self.failure(self.prefix.as_ref(), "LIST", &probe, e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let (bucket, prefix) = parse_s3_url("s3://media/live/node-a/").expect("valid");
        assert_eq!((bucket, prefix.as_ref()), ("media", "live/node-a"));
        let (bucket, prefix) = parse_s3_url("s3://media").expect("valid");
        assert_eq!((bucket, prefix.as_ref()), ("media", ""));
        for bad in ["media/x", "http://media/x", "s3:///x", "s3://a//b"] {
            assert!(parse_s3_url(bad).is_err(), "{bad}");
        }
        let e = parse_s3_url("s3://AKID:SECRETKEY@media/x")
            .expect_err("credentials in the URL")
            .to_string();
        assert!(!e.contains("SECRETKEY"), "{e}");
    }

    #[test]
    fn keys_sit_under_the_prefix() {
        let store = Arc::new(object_store::memory::InMemory::new());
        let sink = ObjectStoreSegmentSink::new(store, "/a/b/").expect("valid prefix");
        assert_eq!(sink.prefix(), "a/b");
        let path = SegmentPath::parse("s/1.ts").expect("valid");
        assert_eq!(sink.key(&path).as_ref(), "a/b/s/1.ts");
        let root = ObjectStoreSegmentSink::new(Arc::new(object_store::memory::InMemory::new()), "")
            .expect("no prefix");
        assert_eq!(root.key(&path).as_ref(), "s/1.ts");
    }

    #[test]
    fn defaults_are_sized_for_live() {
        let c = ObjectStoreSinkConfig::default();
        assert!(c.request_timeout <= Duration::from_secs(2));
        assert!(c.retry_timeout + c.request_timeout < Duration::from_secs(10));
    }
}
