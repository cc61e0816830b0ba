//! File descriptors: [`raise_nofile_limit`] at start, then an [`FdBudget`]
//! that splits the limit between the listeners, so that one flooded port
//! cannot take the descriptors another needs.
//!
//! Every connection is one descriptor. The budget keeps a reserve for what
//! is not a connection (segment files, database and Redis pools, logs, the
//! listeners themselves), gives RTMP an eighth of the rest (publishers are
//! few) and HTTP (API, HLS viewers, chat WebSockets) the remainder. Each
//! listener's total cap is then at most its share: a flood of one port fills
//! its own share and waits in that port's accept queue, the others keep
//! theirs.
//!
//! | `RLIMIT_NOFILE` | reserve | RTMP | HTTP |
//! |---:|---:|---:|---:|
//! | 1,024 | 64 | 120 | 840 |
//! | 65,536 | 4,096 | 7,680 | 53,760 |
//!
//! (`RtmpConfig::max_connections` defaults to 1,000, `HttpLimits` to 16,384:
//! the budget only ever lowers them.)
//!
//! ```
//! use streamly::fd_budget::FdBudget;
//!
//! let budget = FdBudget::platform(1024);
//! assert_eq!((budget.reserve, budget.rtmp, budget.http), (64, 120, 840));
//! let chat_only = FdBudget::http_only(1024);
//! assert_eq!((chat_only.rtmp, chat_only.http), (0, 960));
//! // An ingest node asking for more publishers gets at most half the rest.
//! let ingest = FdBudget::with_rtmp(20_000, 6_000);
//! assert_eq!((ingest.reserve, ingest.rtmp, ingest.http), (1_250, 6_000, 12_750));
//! assert_eq!(FdBudget::with_rtmp(1024, 5_000).rtmp, 480);
//! assert_eq!(FdBudget::with_rtmp(1024, 10).rtmp, 120);
//! ```

/// How a descriptor limit is shared. Numbers of descriptors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct FdBudget {
    /// The limit that was split.
    pub limit: u64,
    /// Kept for files, pools, logs and listeners: a sixteenth, at least 64.
    pub reserve: usize,
    /// The RTMP listener's share (its `max_connections` at most).
    pub rtmp: usize,
    /// The HTTP listener's share (its `HttpLimits::max_connections` at most).
    pub http: usize,
}

impl FdBudget {
    /// RTMP and HTTP in one process (the platform, `rtmp_to_hls`).
    pub fn platform(limit: u64) -> Self {
        let (reserve, rest) = Self::reserve(limit);
        let rtmp = rest / 8;
        Self {
            limit,
            reserve,
            rtmp,
            http: rest - rtmp,
        }
    }

    /// [`platform`](Self::platform), with `rtmp` descriptors for the RTMP
    /// listener when more than its eighth is asked for (an ingest node
    /// with many publishers and few viewers): at most half of what is left
    /// after the reserve; HTTP keeps the rest.
    pub fn with_rtmp(limit: u64, rtmp: usize) -> Self {
        let mut budget = Self::platform(limit);
        let rest = budget.rtmp + budget.http;
        budget.rtmp = rtmp.min(rest / 2).max(budget.rtmp);
        budget.http = rest - budget.rtmp;
        budget
    }

    /// One HTTP listener (the chat server).
    pub fn http_only(limit: u64) -> Self {
        let (reserve, rest) = Self::reserve(limit);
        Self {
            limit,
            reserve,
            rtmp: 0,
            http: rest,
        }
    }

    /// [`platform`](Self::platform) over this process's soft limit now.
    pub fn platform_now() -> Self {
        Self::platform(nofile_limit())
    }

    fn reserve(limit: u64) -> (usize, usize) {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let reserve = (limit / 16).max(64).min(limit);
        (reserve, limit - reserve)
    }
}

/// This process's soft `RLIMIT_NOFILE` (1,024 where it cannot be read).
pub fn nofile_limit() -> u64 {
    match rlimit::Resource::NOFILE.get() {
        Ok((soft, _)) => soft,
        Err(_) => 1024,
    }
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit, logs what was granted
/// and returns the soft limit in force. A process started with the usual
/// soft limit of 1,024 would otherwise run out of descriptors long before
/// its connection caps. Failure is logged, not fatal: the budget then
/// splits what there is.
pub fn raise_nofile_limit() -> u64 {
    let before = nofile_limit();
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(granted) => {
            tracing::info!(before, granted, "RLIMIT_NOFILE raised to the hard limit");
            granted
        }
        Err(e) => {
            tracing::warn!(limit = before, error = %e, "could not raise RLIMIT_NOFILE");
            before
        }
    }
}
