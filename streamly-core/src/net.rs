//! Admission helpers shared by every listener (RTMP, HTTP): a per-address
//! connection cap and a throttle for log lines that hostile traffic could
//! otherwise turn into a flood. Plain state, no sockets, no clock of its own:
//! callers pass `now`.
//!
//! ```
//! use std::net::IpAddr;
//! use std::time::{Duration, Instant};
//! use streamly_core::net::{AddrCaps, Throttle};
//!
//! let caps = AddrCaps::new(2);
//! let ip: IpAddr = "192.0.2.7".parse().unwrap();
//! let a = caps.try_acquire(ip).expect("first slot");
//! let _b = caps.try_acquire(ip).expect("second slot");
//! assert!(caps.try_acquire(ip).is_none(), "the third is refused");
//! drop(a);
//! assert!(caps.try_acquire(ip).is_some(), "a slot freed up");
//!
//! let junk = Throttle::new(Duration::from_secs(10));
//! let t0 = Instant::now();
//! assert_eq!(junk.hit(t0), Some(1)); // the first one is reported at once
//! assert_eq!(junk.hit(t0 + Duration::from_secs(1)), None); // then counted
//! assert_eq!(junk.hit(t0 + Duration::from_secs(11)), Some(2)); // and summed up
//! ```

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The key a peer address is counted under: IPv4 addresses (and IPv4-mapped
/// IPv6 ones) as they are, other IPv6 addresses by their /64, since one
/// subscriber routinely holds a whole /64.
pub fn addr_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(prefix))
            }
        },
    }
}

/// Counts open connections per peer address ([`addr_key`]) and refuses more
/// than `per_addr` from one. Cheap to clone (shared counts).
#[derive(Debug, Clone)]
pub struct AddrCaps {
    per_addr: usize,
    // A std mutex: held for one map update, never across an await.
    counts: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl AddrCaps {
    /// A cap of `per_addr` connections per address (0 is taken as 1).
    pub fn new(per_addr: usize) -> Self {
        Self {
            per_addr: per_addr.max(1),
            counts: Arc::default(),
        }
    }

    /// The cap per address.
    pub fn per_addr(&self) -> usize {
        self.per_addr
    }

    /// A slot for a connection from `ip`, or `None` when that address
    /// already holds `per_addr`. The slot is given back when dropped.
    pub fn try_acquire(&self, ip: IpAddr) -> Option<AddrSlot> {
        let key = addr_key(ip);
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let count = counts.entry(key).or_insert(0);
        if *count >= self.per_addr {
            return None;
        }
        *count += 1;
        Some(AddrSlot {
            key,
            counts: Arc::clone(&self.counts),
        })
    }

    /// Connections open from `ip` now.
    pub fn open_from(&self, ip: IpAddr) -> usize {
        let counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        counts.get(&addr_key(ip)).copied().unwrap_or(0)
    }

    /// Addresses with at least one connection open.
    pub fn addresses(&self) -> usize {
        self.counts.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

/// One connection's place in an [`AddrCaps`]; dropping it frees the place.
#[derive(Debug)]
pub struct AddrSlot {
    key: IpAddr,
    counts: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl Drop for AddrSlot {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = counts.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.key);
            }
        }
    }
}

/// Turns a stream of events into at most one report per `period`: the first
/// event is reported at once, the ones after it are counted and reported,
/// summed, by the first event after the period has passed.
#[derive(Debug)]
pub struct Throttle {
    period: Duration,
    // A std mutex: two fields updated together, never held across an await.
    state: Mutex<ThrottleState>,
}

#[derive(Debug, Default)]
struct ThrottleState {
    last_report: Option<Instant>,
    pending: u64,
}

impl Throttle {
    /// At most one report per `period`.
    pub fn new(period: Duration) -> Self {
        Self {
            period,
            state: Mutex::default(),
        }
    }

    /// The period between reports.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// Counts one event at `now`; `Some(n)` when a report is due, `n` being
    /// the events since the last report (this one included).
    pub fn hit(&self, now: Instant) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.pending += 1;
        let due = state
            .last_report
            .is_none_or(|last| now.saturating_duration_since(last) >= self.period);
        if !due {
            return None;
        }
        state.last_report = Some(now);
        Some(std::mem::take(&mut state.pending))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_counts_by_slash_64_and_mapped_v4_as_v4() {
        let caps = AddrCaps::new(1);
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        let _slot = caps.try_acquire(a);
        assert!(caps.try_acquire(b).is_none(), "same /64");
        assert!(caps.try_acquire(other).is_some(), "another /64");
        let v4: IpAddr = "192.0.2.1".parse().unwrap();
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        let _v4 = caps.try_acquire(v4);
        assert!(caps.try_acquire(mapped).is_none());
    }

    #[test]
    fn slots_are_given_back_and_entries_removed() {
        let caps = AddrCaps::new(3);
        let ip = IpAddr::V4([198, 51, 100, 1].into());
        let slots: Vec<_> = (0..3).filter_map(|_| caps.try_acquire(ip)).collect();
        assert_eq!(slots.len(), 3);
        assert_eq!(caps.open_from(ip), 3);
        drop(slots);
        assert_eq!(caps.open_from(ip), 0);
        assert_eq!(caps.addresses(), 0);
    }

    #[test]
    fn throttle_reports_once_per_period() {
        let t = Throttle::new(Duration::from_secs(1));
        let t0 = Instant::now();
        assert_eq!(t.hit(t0), Some(1));
        for ms in 1..100 {
            assert_eq!(t.hit(t0 + Duration::from_millis(ms * 5)), None);
        }
        assert_eq!(t.hit(t0 + Duration::from_secs(1)), Some(100));
        assert_eq!(t.hit(t0 + Duration::from_millis(1500)), None);
    }
}
