//! A per-client-IP token bucket, used on the auth routes.
//!
//! Each IP gets `burst` tokens that refill at `per_second`; a request takes
//! one or is answered 429 with `Retry-After`. The table is bounded: when it
//! holds `max_clients` addresses, full (idle) buckets are dropped first.
//!
//! Buckets are keyed by [`RateLimiter::key`]: an IPv4 address as is, an IPv6
//! address by its /64 prefix (one subscriber or host is usually given a
//! whole /64, so per-address buckets would let it rotate through 2^64
//! addresses), an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, what a
//! dual-stack socket reports for IPv4 peers) as its IPv4 address.
//!
//! The client address is the TCP peer (`ConnectInfo<SocketAddr>`). Behind
//! trusted proxies ([`RateLimitConfig::trust_forwarded_for`]) it is the
//! rightmost `X-Forwarded-For` entry not added by one of them: entries further
//! left are whatever the client sent and are never used. A router served
//! without `ConnectInfo` (and without a usable forwarded address) is NOT rate
//! limited — a shared bucket would let one client lock everyone out — and a
//! warning is logged once.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
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
    /// Take the client address from `X-Forwarded-For` (only behind trusted
    /// proxies that append to it): the entry `trusted_proxy_hops` from the
    /// right, i.e. the rightmost one no trusted proxy added. Off: the TCP peer.
    pub trust_forwarded_for: bool,
    /// How many trusted proxies append to `X-Forwarded-For` in front of the
    /// platform (1 for a single reverse proxy; values below 1 count as 1).
    pub trusted_proxy_hops: usize,
}

impl Default for RateLimitConfig {
    /// 10 requests at once, then one every 2 seconds, per address.
    fn default() -> Self {
        Self {
            burst: 10,
            per_second: 0.5,
            max_clients: 100_000,
            trust_forwarded_for: false,
            trusted_proxy_hops: 1,
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
    /// Set once the "no client address" warning was logged.
    warned_no_peer: AtomicBool,
}

impl RateLimiter {
    /// A limiter with these settings.
    pub fn new(config: RateLimitConfig) -> Self {
        Self {
            config,
            buckets: Mutex::new(HashMap::new()),
            warned_no_peer: AtomicBool::new(false),
        }
    }

    /// The settings.
    pub fn config(&self) -> &RateLimitConfig {
        &self.config
    }

    /// The bucket an address counts against: IPv4 as is, IPv4-mapped IPv6 as
    /// the IPv4 address, other IPv6 addresses as their /64 network (the low 64
    /// bits zeroed).
    pub fn key(ip: IpAddr) -> IpAddr {
        match ip {
            IpAddr::V4(v4) => IpAddr::V4(v4),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => IpAddr::V6(Ipv6Addr::from_bits(v6.to_bits() & !u128::from(u64::MAX))),
            },
        }
    }

    /// Takes a token for `ip`'s bucket ([`RateLimiter::key`]) at `now`;
    /// `Err(wait)` if there is none.
    pub fn check(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        let ip = Self::key(ip);
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

/// The address `X-Forwarded-For` names for the client: the entry `hops`
/// from the right (every header line, in order, as one list). `None` when the
/// list is shorter or that entry is not an IP address.
fn forwarded_ip(headers: &HeaderMap, hops: usize) -> Option<IpAddr> {
    let entries: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let index = entries.len().checked_sub(hops.max(1))?;
    entries.get(index)?.parse::<IpAddr>().ok()
}

/// The client address to limit by, `None` when it is unknown.
fn client_ip(config: &RateLimitConfig, headers: &HeaderMap, peer: Option<SocketAddr>) -> Option<IpAddr> {
    if config.trust_forwarded_for
        && let Some(ip) = forwarded_ip(headers, config.trusted_proxy_hops)
    {
        return Some(ip);
    }
    peer.map(|p| p.ip())
}

/// Middleware: 429 when the client's bucket is empty. Requests whose client
/// address is unknown pass unlimited (warned about once).
pub async fn limit(State(limiter): State<Arc<RateLimiter>>, request: Request, next: Next) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| *addr);
    let Some(ip) = client_ip(&limiter.config, request.headers(), peer) else {
        if !limiter.warned_no_peer.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "auth rate limit disabled for requests without a client address: serve the router with \
                 `into_make_service_with_connect_info::<SocketAddr>()`"
            );
        }
        return next.run(request).await;
    };
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
    use std::net::Ipv4Addr;

    use axum::http::HeaderValue;

    use super::*;

    fn xff(lines: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for line in lines {
            headers.append("x-forwarded-for", HeaderValue::from_str(line).expect("header"));
        }
        headers
    }

    #[test]
    fn forwarded_for_uses_the_rightmost_untrusted_entry() {
        let peer = Some(SocketAddr::from(([10, 0, 0, 2], 4000)));
        let spoofed = xff(&["6.6.6.6, 1.2.3.4"]);
        let off = RateLimitConfig::default();
        assert_eq!(client_ip(&off, &spoofed, peer), Some(IpAddr::from([10, 0, 0, 2])));
        let one = RateLimitConfig {
            trust_forwarded_for: true,
            ..RateLimitConfig::default()
        };
        assert_eq!(client_ip(&one, &spoofed, peer), Some(IpAddr::from([1, 2, 3, 4])));
        let split = xff(&["6.6.6.6", "1.2.3.4, 10.0.0.9"]);
        let two = RateLimitConfig {
            trusted_proxy_hops: 2,
            ..one
        };
        assert_eq!(client_ip(&two, &split, peer), Some(IpAddr::from([1, 2, 3, 4])));
        // Too short or garbage: the peer.
        assert_eq!(
            client_ip(&two, &xff(&["1.2.3.4"]), peer),
            Some(IpAddr::from([10, 0, 0, 2]))
        );
        assert_eq!(
            client_ip(&one, &xff(&["nope"]), peer),
            Some(IpAddr::from([10, 0, 0, 2]))
        );
        assert_eq!(client_ip(&one, &HeaderMap::new(), None), None);
    }

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
    fn ipv6_is_keyed_by_its_64_and_mapped_ipv4_by_the_ipv4_address() {
        let ip = |s: &str| s.parse::<IpAddr>().expect("address");
        assert_eq!(
            RateLimiter::key(ip("2001:db8:1:2:aaaa:bbbb:cccc:dddd")),
            ip("2001:db8:1:2::")
        );
        assert_eq!(
            RateLimiter::key(ip("2001:db8:1:2::1")),
            RateLimiter::key(ip("2001:db8:1:2:ffff::9"))
        );
        assert_ne!(
            RateLimiter::key(ip("2001:db8:1:2::1")),
            RateLimiter::key(ip("2001:db8:1:3::1"))
        );
        assert_eq!(RateLimiter::key(ip("::ffff:192.0.2.7")), ip("192.0.2.7"));
        assert_eq!(RateLimiter::key(ip("192.0.2.7")), ip("192.0.2.7"));
        assert_eq!(RateLimiter::key(ip("::1")), ip("::"));

        // One /64 shares one bucket, whatever address it sends from.
        let limiter = RateLimiter::new(RateLimitConfig {
            burst: 2,
            per_second: 0.001,
            ..RateLimitConfig::default()
        });
        let t0 = Instant::now();
        assert!(limiter.check(ip("2001:db8::1"), t0).is_ok());
        assert!(limiter.check(ip("2001:db8::2:3:4"), t0).is_ok());
        assert!(limiter.check(ip("2001:db8::ffff:1"), t0).is_err());
        assert!(
            limiter.check(ip("2001:db8:0:1::1"), t0).is_ok(),
            "the next /64 is someone else"
        );
        // A mapped address and the plain IPv4 address share a bucket.
        assert!(limiter.check(ip("::ffff:10.1.1.1"), t0).is_ok());
        assert!(limiter.check(ip("10.1.1.1"), t0).is_ok());
        assert!(limiter.check(ip("::ffff:10.1.1.1"), t0).is_err());
    }

    #[test]
    fn table_is_bounded() {
        let limiter = RateLimiter::new(RateLimitConfig {
            burst: 1,
            per_second: 0.001,
            max_clients: 2,
            ..RateLimitConfig::default()
        });
        let t0 = Instant::now();
        for i in 0..2 {
            assert!(limiter.check(IpAddr::V4(Ipv4Addr::new(10, 0, 0, i)), t0).is_ok());
        }
        assert!(limiter.check(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9)), t0).is_err());
    }
}
