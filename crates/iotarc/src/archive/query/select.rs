//! Pruning from the manifest alone: which segments may hold matching points, and which
//! of their devices match. Nothing is opened here.

use super::{Query, QueryStats};
use crate::archive::manifest::Manifest;
use std::collections::BTreeSet;

/// The segments a query must read, pruned from the manifest alone.
pub(super) struct Selection {
    /// Indices into the manifest's segments.
    pub(super) kept: Vec<usize>,
    /// Per kept segment, the indices of its devices that match.
    pub(super) matched: Vec<Vec<usize>>,
    pub(super) stats: QueryStats,
}

impl<'a> Query<'a> {
    /// Prunes `m` to the segments that may hold matching points: partition and time
    /// range from the manifest, then the devices of each segment that match, for
    /// segments that have a matching channel.
    pub(super) fn select(&self, m: &Manifest) -> Selection {
        let unit = m.partition;
        let mut stats = QueryStats {
            segments_total: m.segments.len(),
            ..Default::default()
        };
        let all_partitions: BTreeSet<i64> = m.segments.iter().map(|s| s.partition).collect();
        stats.partitions_total = all_partitions.len();
        let mut kept = Vec::new();
        // Per kept segment, the indices of its devices that match.
        let mut matched: Vec<Vec<usize>> = Vec::new();
        let mut matched_patterns = vec![false; self.devices.len()];
        let literals: Option<Vec<String>> = self
            .devices
            .iter()
            .map(|g| g.is_literal().then(|| g.as_str()))
            .collect();
        for (i, s) in m.segments.iter().enumerate() {
            let pend = unit.window_end(s.partition);
            if !self.range.overlaps(s.partition, pend.saturating_sub(1))
                || !self.range.overlaps(s.min_ts, s.max_ts)
            {
                continue;
            }
            let mut hits = Vec::new();
            match &literals {
                // Exact names: binary search in the segment's sorted device list rather
                // than a comparison with each of its (possibly thousands of) devices.
                Some(names) if !names.is_empty() => {
                    for (k, name) in names.iter().enumerate() {
                        if let Ok(d) = s.devices.binary_search(name) {
                            matched_patterns[k] = true;
                            hits.push(d);
                        }
                    }
                    hits.sort_unstable();
                    hits.dedup();
                }
                _ => {
                    for (d, name) in s.devices.iter().enumerate() {
                        let mut hit = self.devices.is_empty();
                        for (k, g) in self.devices.iter().enumerate() {
                            if g.matches(name) {
                                matched_patterns[k] = true;
                                hit = true;
                            }
                        }
                        if hit {
                            hits.push(d);
                        }
                    }
                }
            }
            // Devices count as matched (for the "no such device" note) even where the
            // segment lacks the channel.
            if !hits.is_empty() && s.channels.iter().any(|c| self.channel_matches(&c.name)) {
                kept.push(i);
                matched.push(hits);
            }
        }
        stats.unmatched_devices = self
            .devices
            .iter()
            .zip(&matched_patterns)
            .filter(|(_, &hit)| !hit)
            .map(|(g, _)| g.as_str())
            .collect();
        let live: BTreeSet<i64> = kept.iter().map(|&i| m.segments[i].partition).collect();
        stats.partitions_pruned = stats.partitions_total - live.len();
        Selection {
            kept,
            matched,
            stats,
        }
    }
}
