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
    buckets: Mutex<Buckets>,
}

#[derive(Debug)]
struct Buckets {
    map: HashMap<UserId, TokenBucket>,
    /// Full buckets are forgotten when the map reaches this size, which is
    /// then set to twice what is left: each sweep is paid for by as many new
    /// users as it scanned (amortised O(1) per send).
    sweep_at: usize,
}

/// Users tracked before the first sweep of full buckets.
const MIN_SWEEP_AT: usize = 4096;

impl RateLimiter {
    pub(crate) fn new(limit: RateLimit) -> Self {
        Self {
            limit,
            buckets: Mutex::new(Buckets {
                map: HashMap::new(),
                sweep_at: MIN_SWEEP_AT,
            }),
        }
    }

    /// Takes a token from `user`'s bucket or returns the wait.
    pub(crate) fn check(&self, user: UserId, now: Instant) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let buckets = &mut *buckets;
        if buckets.map.len() >= buckets.sweep_at && !buckets.map.contains_key(&user) {
            let limit = self.limit;
            buckets.map.retain(|_, b| !b.is_full(&limit, now));
            buckets.sweep_at = (buckets.map.len() * 2).max(MIN_SWEEP_AT);
        }
        buckets
            .map
            .entry(user)
            .or_insert_with(|| TokenBucket::full(&self.limit, now))
            .try_take(&self.limit, now)
    }

    #[cfg(test)]
    fn tracked(&self) -> (usize, usize) {
        let b = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        (b.map.len(), b.sweep_at)
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

    #[test]
    fn sweeps_are_amortised_and_forget_full_buckets() {
        let limit = RateLimit {
            burst: 2,
            per: Duration::from_secs(10),
        };
        let limiter = RateLimiter::new(limit);
        let t0 = Instant::now();
        // Busy users (non-full buckets) are never forgotten: the threshold
        // grows with them instead of sweeping on every send.
        for _ in 0..MIN_SWEEP_AT + 10 {
            assert!(limiter.check(UserId::new_random(), t0).is_ok());
        }
        let (len, sweep_at) = limiter.tracked();
        assert_eq!(len, MIN_SWEEP_AT + 10);
        assert_eq!(sweep_at, 2 * MIN_SWEEP_AT);
        // Once they have refilled, the next sweep forgets them all.
        let later = t0 + Duration::from_secs(20);
        for _ in 0..MIN_SWEEP_AT {
            assert!(limiter.check(UserId::new_random(), later).is_ok());
        }
        let (len, _) = limiter.tracked();
        assert!(len <= MIN_SWEEP_AT + 1, "{len}");
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
