//! Per-window accumulators (`--every`): windows aligned to the Unix epoch, each with the
//! merged statistics of its values and, for percentiles, the values themselves.

use super::percentile::PctStore;
use super::plan::push_value;
use super::{Agg, Query, QueryStats};
use crate::error::Result;
use crate::format::reader::Series;
use crate::format::stats::ColumnStats;
use crate::model::{Value, ValueType, Values};

/// A (device, channel) and its per-window accumulators.
pub(super) struct SeriesWindows {
    /// Device name.
    pub(super) device: String,
    /// Channel name.
    pub(super) channel: String,
    /// Its accumulators, one per window with values.
    pub(super) windows: Windows,
}

/// The accumulators of every (device, channel) of an aggregate, in that order, and
/// what the query did.
pub(super) struct Aggregated {
    /// One per (device, channel), sorted by device, then channel.
    pub(super) series: Vec<SeriesWindows>,
    /// What the query did so far (the caller sets `elapsed`).
    pub(super) stats: QueryStats,
}

pub(super) struct WinAcc {
    pub(super) stats: ColumnStats,
    pub(super) pct: PctStore,
}

impl<'a> Query<'a> {
    /// Adds a decoded, time-sorted series to the per-window accumulators.
    pub(super) fn accumulate(
        &self,
        acc: &mut Windows,
        s: &Series,
        need_values: bool,
    ) -> Result<()> {
        let t = s.values.value_type();
        let n = s.timestamps.len();
        let mut r = 0;
        while r < n {
            let w = self.every.map_or(i64::MIN, |e| {
                s.timestamps[r].div_euclid(e).saturating_mul(e)
            });
            let e = match self.every {
                None => n,
                Some(len) => r + s.timestamps[r..].partition_point(|&t| t < w.saturating_add(len)),
            };
            let part = if (r, e) == (0, n) {
                std::borrow::Cow::Borrowed(&s.values)
            } else {
                std::borrow::Cow::Owned(slice_values(&s.values, r, e))
            };
            let wa = acc.get(w, || WinAcc::new(t, need_values && self.approx));
            wa.stats
                .merge(&ColumnStats::compute(&part, &s.timestamps[r..e]))?;
            if need_values {
                wa.push_values(&part);
            }
            r = e;
        }
        Ok(())
    }
}

/// `v[a..b]` as owned values.
fn slice_values(v: &Values, a: usize, b: usize) -> Values {
    let mut out = Values::empty(v.value_type());
    for i in a..b {
        push_value(&mut out, v, i);
    }
    out
}

/// Per-window accumulators in window order. Blocks arrive in time order (segments sorted
/// by partition, blocks by time), so almost every lookup hits the last window or appends;
/// only overlapping segments of one partition insert in the middle.
#[derive(Default)]
pub(super) struct Windows(pub(super) Vec<Window>);

/// One window's accumulator.
pub(super) struct Window {
    /// Window start (µs since the epoch; `i64::MIN` without `every`).
    pub(super) start: i64,
    /// What the window holds.
    pub(super) acc: WinAcc,
}

impl Windows {
    pub(super) fn get(&mut self, w: i64, make: impl FnOnce() -> WinAcc) -> &mut WinAcc {
        let v = &mut self.0;
        let new = |acc| Window { start: w, acc };
        let i = match v.last() {
            Some(last) if last.start == w => v.len() - 1,
            Some(last) if last.start > w => match v.binary_search_by_key(&w, |e| e.start) {
                Ok(i) => i,
                Err(i) => {
                    v.insert(i, new(make()));
                    i
                }
            },
            _ => {
                v.push(new(make()));
                v.len() - 1
            }
        };
        &mut v[i].acc
    }
}

impl WinAcc {
    pub(super) fn new(t: ValueType, sketch: bool) -> WinAcc {
        WinAcc {
            stats: ColumnStats::empty(),
            pct: PctStore::new(t, sketch),
        }
    }

    fn push_values(&mut self, v: &Values) {
        self.pct.push(v);
    }

    pub(super) fn eval(&self, g: Agg) -> Option<Value> {
        let s = &self.stats;
        match g {
            Agg::Count => Some(Value::I64(s.count as i64)),
            Agg::Min => s.min(),
            Agg::Max => s.max(),
            Agg::Sum => match s.value_type()? {
                ValueType::I64 => {
                    let x = s.sum_i128()?;
                    Some(i64::try_from(x).map_or(Value::F64(x as f64), Value::I64))
                }
                ValueType::Bool => s.sum().map(|x| Value::I64(x as i64)),
                ValueType::F64 => s.sum().map(Value::F64),
                ValueType::Str => None,
            },
            Agg::Avg => s.mean().map(Value::F64),
            Agg::Stddev => {
                if s.count < 2 {
                    return None;
                }
                let n = s.count as f64;
                s.stddev()
                    .map(|p| Value::F64((p * p * n / (n - 1.0)).sqrt()))
            }
            Agg::First => s.first().map(|x| x.1),
            Agg::Last => s.last().map(|x| x.1),
            Agg::Percentile(p) => self.pct.value(p),
        }
    }
}
