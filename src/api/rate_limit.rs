//! A per-client-IP token bucket, used on the auth routes.
//!
//! Each IP gets `burst` tokens that refill at `per_second`; a request takes
//! one or is answered 429 with `Retry-After`. The table is bounded: when it
//! holds `max_clients` addresses, full (idle) buckets are dropped first.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;

/// Settings for [`RateLimiter`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimitConfig {
    /// Requests allowed at once.
    pub burst: u32,
    /// Tokens added per second.
    pub per_second: f64,
    /// Most distinct addresses tracked.
    pub max_clients: usize,
    /// Take the client address from the first `X-Forwarded-For` entry (only
    /// behind a trusted proxy that sets it).
    pub trust_forwarded_for: bool,
}

impl Default for RateLimitConfig {
    /// 10 requests at once, then one every 2 seconds, per address.
    fn default() -> Self {
        Self {
            burst: 10,
            per_second: 0.5,
            max_clients: 100_000,
            trust_forwarded_for: false,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// A token bucket per client IP.
#[derive(Debug)]
pub struct RateLimiter {
    config: RateLimitConfig,
    // Held only for a lookup and an arithmetic update, never across `.await`.
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

impl RateLimiter {
    /// A limiter with these settings.
    pub fn new(config: RateLimitConfig) -> Self {
        Self {
            config,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// The settings.
    pub fn config(&self) -> &RateLimitConfig {
        &self.config
    }

    /// Takes a token for `ip` at `now`; `Err(wait)` if there is none.
    pub fn check(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        let burst = f64::from(self.config.burst.max(1));
        let rate = self.config.per_second.max(f64::MIN_POSITIVE);
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= self.config.max_clients && !buckets.contains_key(&ip) {
            buckets.retain(|_, b| {
                b.tokens + now.saturating_duration_since(b.updated).as_secs_f64() * rate < burst
            });
            if buckets.len() >= self.config.max_clients {
                // Every tracked client is mid-burst: refuse newcomers rather
                // than grow without bound.
                return Err(Duration::from_secs(1));
            }
        }
        let bucket = buckets.entry(ip).or_insert(Bucket {
            tokens: burst,
            updated: now,
        });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / rate))
        }
    }
}

fn client_ip(limiter: &RateLimiter, headers: &HeaderMap, peer: Option<SocketAddr>) -> IpAddr {
    if limiter.config.trust_forwarded_for {
        let forwarded = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.trim().parse::<IpAddr>().ok());
        if let Some(ip) = forwarded {
            return ip;
        }
    }
    // Without `ConnectInfo` (a router served without it, or driven in
    // process) every request shares one bucket: safe, if strict.
    peer.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |p| p.ip())
}

/// Middleware: 429 when the client's bucket is empty.
pub async fn limit(State(limiter): State<Arc<RateLimiter>>, request: Request, next: Next) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| *addr);
    let ip = client_ip(&limiter, request.headers(), peer);
    match limiter.check(ip, Instant::now()) {
        Ok(()) => next.run(request).await,
        Err(wait) => {
            metrics::counter!("streamly_http_rate_limited_total").increment(1);
            ApiError::RateLimited {
                retry_after_secs: wait.as_secs_f64().ceil() as u64,
            }
            .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_refills() {
        let limiter = RateLimiter::new(RateLimitConfig {
            burst: 2,
            per_second: 1.0,
            ..RateLimitConfig::default()
        });
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let other = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let t0 = Instant::now();
        assert!(limiter.check(ip, t0).is_ok());
        assert!(limiter.check(ip, t0).is_ok());
        let wait = limiter.check(ip, t0).err();
        assert_eq!(wait.map(|w| w.as_secs()), Some(1));
        assert!(limiter.check(other, t0).is_ok(), "buckets are per address");
        assert!(limiter.check(ip, t0 + Duration::from_secs(1)).is_ok());
    }

    #[test]
    fn table_is_bounded() {
        let limiter = RateLimiter::new(RateLimitConfig {
            burst: 1,
            per_second: 0.001,
            max_clients: 2,
            trust_forwarded_for: false,
        });
        let t0 = Instant::now();
        for i in 0..2 {
            assert!(limiter.check(IpAddr::V4(Ipv4Addr::new(10, 0, 0, i)), t0).is_ok());
        }
        assert!(limiter.check(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9)), t0).is_err());
    }
}
