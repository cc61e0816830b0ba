//! Per-user token buckets (sans-IO: the caller passes the time).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use streamly_core::domain::UserId;

use crate::config::RateLimit;

/// One user's bucket.
#[derive(Debug, Clone, Copy)]
pub struct TokenBucket {
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket at `now`.
    pub fn full(limit: &RateLimit, now: Instant) -> Self {
        Self {
            tokens: f64::from(limit.burst),
            last: now,
        }
    }

    fn refill(&mut self, limit: &RateLimit, now: Instant) {
        let per = limit.per.as_secs_f64();
        let burst = f64::from(limit.burst);
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = if per <= 0.0 {
            burst
        } else {
            (self.tokens + elapsed * burst / per).min(burst)
        };
        self.last = now;
    }

    /// Takes one token, or says how long until one is available.
    pub fn try_take(&mut self, limit: &RateLimit, now: Instant) -> Result<(), Duration> {
        self.refill(limit, now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Ok(());
        }
        let burst = f64::from(limit.burst.max(1));
        let secs_per_token = limit.per.as_secs_f64() / burst;
        let wait = (1.0 - self.tokens) * secs_per_token;
        Err(Duration::from_secs_f64(wait.max(0.001)))
    }

    fn is_full(&self, limit: &RateLimit, now: Instant) -> bool {
        let mut copy = *self;
        copy.refill(limit, now);
        copy.tokens >= f64::from(limit.burst)
    }
}

/// The buckets of every user sending through this node.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    limit: RateLimit,
    // Held only for a map lookup and a few float operations.
    buckets: Mutex<HashMap<UserId, TokenBucket>>,
}

/// Above this many tracked users, full buckets are forgotten.
const SWEEP_ABOVE: usize = 4096;

impl RateLimiter {
    pub(crate) fn new(limit: RateLimit) -> Self {
        Self {
            limit,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token from `user`'s bucket or returns the wait.
    pub(crate) fn check(&self, user: UserId, now: Instant) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() > SWEEP_ABOVE {
            let limit = self.limit;
            buckets.retain(|_, b| !b.is_full(&limit, now));
        }
        buckets
            .entry(user)
            .or_insert_with(|| TokenBucket::full(&self.limit, now))
            .try_take(&self.limit, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_per_ten_seconds() {
        let limit = RateLimit::default();
        let t0 = Instant::now();
        let mut b = TokenBucket::full(&limit, t0);
        for _ in 0..5 {
            assert!(b.try_take(&limit, t0).is_ok());
        }
        let wait = b.try_take(&limit, t0).expect_err("empty");
        assert!(wait > Duration::from_millis(1900) && wait <= Duration::from_secs(2));
        assert!(b.try_take(&limit, t0 + Duration::from_secs(2)).is_ok());
        assert!(b.try_take(&limit, t0 + Duration::from_secs(2)).is_err());
    }

    #[test]
    fn limiter_is_per_user() {
        let limiter = RateLimiter::new(RateLimit {
            burst: 1,
            per: Duration::from_secs(60),
        });
        let now = Instant::now();
        let (a, b) = (UserId::new_random(), UserId::new_random());
        assert!(limiter.check(a, now).is_ok());
        assert!(limiter.check(a, now).is_err());
        assert!(limiter.check(b, now).is_ok());
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Over any sequence of attempts, a bucket never lets through more
        /// than `burst` plus what refilled in the elapsed time.
        #[test]
        fn never_exceeds_the_rate(
            burst in 1u32..20,
            per_ms in 1u64..20_000,
            gaps in proptest::collection::vec(0u64..5_000, 1..200),
        ) {
            let limit = RateLimit { burst, per: Duration::from_millis(per_ms) };
            let t0 = Instant::now();
            let mut b = TokenBucket::full(&limit, t0);
            let mut now = t0;
            let mut allowed = 0u64;
            for gap in gaps {
                now += Duration::from_millis(gap);
                match b.try_take(&limit, now) {
                    Ok(()) => allowed += 1,
                    Err(wait) => prop_assert!(wait > Duration::ZERO && wait <= limit.per + Duration::from_millis(1)),
                }
            }
            let elapsed_ms = now.duration_since(t0).as_millis() as f64;
            let bound = f64::from(burst) + elapsed_ms * f64::from(burst) / per_ms as f64;
            prop_assert!(allowed as f64 <= bound + 1e-6, "{allowed} > {bound}");
        }
    }
}
