//! A log-bucketed latency histogram: constant memory, percentiles within 2 %.

use std::time::Duration;

/// Bucket `k` holds latencies in `[1.02^k, 1.02^(k+1))` microseconds.
const GROWTH: f64 = 1.02;
const BUCKETS: usize = 1400; // 1.02^1400 µs is far beyond any real latency

/// Counts of latencies, for p50/p99 reports.
#[derive(Clone, Debug)]
pub struct LatencyHist {
    counts: Vec<u64>,
    total: u64,
    max: Duration,
}

impl Default for LatencyHist {
    fn default() -> Self {
        LatencyHist {
            counts: vec![0; BUCKETS],
            total: 0,
            max: Duration::ZERO,
        }
    }
}

impl LatencyHist {
    /// Records `n` observations of `d`.
    pub fn record(&mut self, d: Duration, n: u64) {
        let us = d.as_secs_f64() * 1e6;
        let k = if us <= 1.0 {
            0
        } else {
            ((us.ln() / GROWTH.ln()) as usize).min(BUCKETS - 1)
        };
        self.counts[k] += n;
        self.total += n;
        self.max = self.max.max(d);
    }

    /// Observations recorded.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// Largest observation.
    pub fn max(&self) -> Duration {
        self.max
    }

    /// The `q`-quantile (0..=1), as the upper edge of its bucket: at most 2 % above the
    /// true value. `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        if self.total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (k, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let us = GROWTH.powi(k as i32 + 1);
                return Some(Duration::from_secs_f64(us / 1e6).min(self.max));
            }
        }
        Some(self.max)
    }

    /// Adds another histogram's counts.
    pub fn merge(&mut self, o: &LatencyHist) {
        for (a, b) in self.counts.iter_mut().zip(&o.counts) {
            *a += b;
        }
        self.total += o.total;
        self.max = self.max.max(o.max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_within_two_percent() {
        let mut h = LatencyHist::default();
        for ms in 1..=1000u64 {
            h.record(Duration::from_millis(ms), 1);
        }
        let p50 = h.quantile(0.5).unwrap().as_secs_f64() * 1e3;
        let p99 = h.quantile(0.99).unwrap().as_secs_f64() * 1e3;
        assert!((500.0..=510.0).contains(&p50), "{p50}");
        assert!((990.0..=1000.0).contains(&p99), "{p99}");
        assert_eq!(h.count(), 1000);
        assert!(LatencyHist::default().quantile(0.5).is_none());
    }
}
