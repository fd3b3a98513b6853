//! Queries over an archive: filters by device and channel patterns and a time range, raw
//! points or aggregates (optionally per epoch-aligned window).
//!
//! Pruning uses the manifest alone (partition window, time range, device set); only the
//! surviving segments are opened. Aggregates merge footer statistics of every block that
//! lies inside the range and inside one output window, and decode only the others.
//! Percentiles need the values themselves, so they decode every block in range.
//!
//! One concern per module: `builder` sets a query up, `select` prunes the manifest,
//! `plan` opens what is left and groups blocks into runs, `run` drives raw output
//! and aggregates, `from_index` answers aggregates from `INDEX` records alone,
//! `window` holds the per-window accumulators and `percentile` the values kept for
//! percentiles.

mod builder;
mod from_index;
mod percentile;
mod plan;
mod run;
mod select;
mod window;

pub use builder::{Query, DEFAULT_QUERY_MEMORY};

use crate::model::Value;
use std::time::Duration;

/// An aggregate function.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Agg {
    /// Present values.
    Count,
    /// Minimum (IEEE totalOrder for f64: NaN sorts above +inf).
    Min,
    /// Maximum.
    Max,
    /// Sum (exact for i64 while it fits; compensated for f64).
    Sum,
    /// Mean.
    Avg,
    /// Sample standard deviation (n - 1 in the denominator, as in SQL's `stddev`).
    Stddev,
    /// Value with the smallest timestamp.
    First,
    /// Value with the largest timestamp.
    Last,
    /// Percentile in [0, 100], nearest-rank: the value of rank `ceil(p/100 * n)`.
    Percentile(f64),
}

impl Agg {
    /// Parses `count`, `min`, `max`, `sum`, `avg`/`mean`, `stddev`, `first`, `last` or
    /// `pNN` (e.g. `p50`, `p99.9`).
    pub fn parse(s: &str) -> Option<Agg> {
        Some(match s {
            "count" => Agg::Count,
            "min" => Agg::Min,
            "max" => Agg::Max,
            "sum" => Agg::Sum,
            "avg" | "mean" => Agg::Avg,
            "stddev" => Agg::Stddev,
            "first" => Agg::First,
            "last" => Agg::Last,
            _ => {
                let p: f64 = s.strip_prefix('p')?.parse().ok()?;
                if !(0.0..=100.0).contains(&p) {
                    return None;
                }
                Agg::Percentile(p)
            }
        })
    }

    /// The name used in output headers.
    pub fn name(&self) -> String {
        match self {
            Agg::Count => "count".into(),
            Agg::Min => "min".into(),
            Agg::Max => "max".into(),
            Agg::Sum => "sum".into(),
            Agg::Avg => "avg".into(),
            Agg::Stddev => "stddev".into(),
            Agg::First => "first".into(),
            Agg::Last => "last".into(),
            Agg::Percentile(p) => format!("p{p}"),
        }
    }
}

/// One output row of an aggregate query.
#[derive(Clone, Debug, PartialEq)]
pub struct AggRow {
    /// Device name.
    pub device: String,
    /// Channel name.
    pub channel: String,
    /// Window start with `every`, else `None`.
    pub window: Option<i64>,
    /// Present values aggregated.
    pub count: u64,
    /// One value per requested aggregate, `None` where undefined (e.g. the sum of
    /// strings, the stddev of one value).
    pub values: Vec<Option<Value>>,
}

/// One output row of an aggregate query, borrowed (see [`Query::run_aggregate_each`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AggRowRef<'r> {
    /// Device name.
    pub device: &'r str,
    /// Channel name.
    pub channel: &'r str,
    /// Window start with `every`, else `None`.
    pub window: Option<i64>,
    /// Present values aggregated.
    pub count: u64,
    /// One value per requested aggregate, as in [`AggRow::values`].
    pub values: &'r [Option<Value>],
}

impl AggRowRef<'_> {
    /// The row as an owned [`AggRow`].
    pub fn to_owned(&self) -> AggRow {
        AggRow {
            device: self.device.to_owned(),
            channel: self.channel.to_owned(),
            window: self.window,
            count: self.count,
            values: self.values.to_vec(),
        }
    }
}

/// What a query did, for `--explain`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct QueryStats {
    /// Partitions in the manifest.
    pub partitions_total: usize,
    /// Partitions skipped using the manifest alone.
    pub partitions_pruned: usize,
    /// Segments in the manifest.
    pub segments_total: usize,
    /// Segments opened.
    pub segments_opened: usize,
    /// Segments planned from `INDEX` records without being opened (archive.md §9); one
    /// is opened later only if one of its blocks must be decoded.
    pub segments_from_index: usize,
    /// Blocks answered from footer statistics.
    pub blocks_from_footer: usize,
    /// Blocks decoded.
    pub blocks_decoded: usize,
    /// Devices that matched the filters.
    pub devices_matched: usize,
    /// Device patterns that matched no device.
    pub unmatched_devices: Vec<String>,
    /// Wall time.
    pub elapsed: Duration,
}

/// Relative error bound of `approx` percentiles.
pub const APPROX_RELATIVE_ERROR: f64 = crate::archive::sketch::RELATIVE_ERROR;
