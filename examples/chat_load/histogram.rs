//! A latency histogram: 50 µs buckets up to 5 s, plus one overflow bucket.
//! Each reader thread fills its own; they are merged at the end.

const BUCKET_US: u64 = 50;
const BUCKETS: usize = 100_000;

/// Counts of latencies per 50 µs bucket.
pub struct Histogram {
    buckets: Vec<u64>,
}

impl Histogram {
    pub fn new() -> Self {
        Self {
            buckets: vec![0; BUCKETS + 1],
        }
    }

    pub fn record(&mut self, micros: u64) {
        let i = usize::try_from(micros / BUCKET_US)
            .unwrap_or(BUCKETS)
            .min(BUCKETS);
        self.buckets[i] += 1;
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.buckets.iter_mut().zip(&other.buckets) {
            *a += b;
        }
    }

    pub fn total(&self) -> u64 {
        self.buckets.iter().sum()
    }

    /// Upper edge of the bucket holding quantile `q`, in ms.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        let total = self.total();
        if total == 0 {
            return 0.0;
        }
        let target = ((total as f64) * q).ceil() as u64;
        let mut seen = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            seen += b;
            if seen >= target {
                return ((i as u64 + 1) * BUCKET_US) as f64 / 1000.0;
            }
        }
        f64::INFINITY
    }

    pub fn max_ms(&self) -> f64 {
        self.buckets
            .iter()
            .rposition(|b| *b > 0)
            .map_or(0.0, |i| ((i as u64 + 1) * BUCKET_US) as f64 / 1000.0)
    }
}
