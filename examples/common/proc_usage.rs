//! A process's memory and CPU time, read from /proc: what the load
//! generators report for the server under test and for themselves.

/// (RSS bytes, CPU seconds) of process `pid` (a number, or `self`).
pub fn proc_usage(pid: impl std::fmt::Display) -> Option<(u64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kb: u64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // Linux reports CPU time in clock ticks of 1/100 s (USER_HZ).
    Some((rss_kb * 1024, (utime + stime) / 100.0))
}
