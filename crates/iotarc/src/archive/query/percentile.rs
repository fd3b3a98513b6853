//! Percentiles: exact (nearest rank) or from a DDSketch under `approx`.
//!
//! Exact percentiles keep a series' values while they fit the query's memory budget and
//! select the ranks from them. A series with more values than that is answered by
//! narrowing passes instead ([`Narrowing`]): each pass re-reads the series, counts the
//! values of each unresolved percentile's key interval into a bounded histogram, and
//! keeps only the bucket holding the wanted rank; once that bucket holds few enough
//! values, one more pass collects and selects them. Memory is the histogram's, whatever
//! the series' length, and blocks whose footer min/max lie outside every interval are
//! skipped.

use crate::archive::sketch::Sketch;
use crate::format::stats::{total_key, ColumnStats};
use crate::model::{Value, ValueType, Values};

/// Values kept for percentiles. Boxed sketch: every window of an hourly query holds
/// one of these, and most hold `None`.
pub(super) enum PctStore {
    F64(Vec<f64>),
    I64(Vec<i64>),
    Sketch(Box<Sketch>),
    /// The percentiles, resolved: `(p, value)` in the order they were asked for.
    Resolved(Vec<(f64, Option<Value>)>),
    None,
}

impl PctStore {
    /// The store for values of type `t`: a sketch under `approx` (`sketch`), nothing for
    /// types that have no percentile.
    pub(super) fn new(t: ValueType, sketch: bool) -> PctStore {
        match (t, sketch) {
            (ValueType::F64 | ValueType::I64, true) => PctStore::Sketch(Box::default()),
            (ValueType::F64, false) => PctStore::F64(Vec::new()),
            (ValueType::I64, false) => PctStore::I64(Vec::new()),
            _ => PctStore::None,
        }
    }

    /// Drops the values held; [`PctStore::resolve_from`] must then set the answers.
    pub(super) fn drop_values(&mut self) {
        match self {
            PctStore::F64(v) => *v = Vec::new(),
            PctStore::I64(v) => *v = Vec::new(),
            _ => {}
        }
    }

    /// Keeps `v`'s values.
    pub(super) fn push(&mut self, v: &Values) {
        // A channel with integers in one place and floats in another is aggregated as
        // floats, as ColumnStats::merge does.
        if let (PctStore::I64(d), Values::F64(_)) = (&*self, v) {
            *self = PctStore::F64(d.iter().map(|&x| x as f64).collect());
        }
        if let (PctStore::F64(d), Values::I64(s)) = (&mut *self, v) {
            d.extend(s.iter().map(|&x| x as f64));
            return;
        }
        match (self, v) {
            (PctStore::F64(d), Values::F64(s)) => d.extend_from_slice(s),
            (PctStore::I64(d), Values::I64(s)) => d.extend_from_slice(s),
            (PctStore::Sketch(sk), Values::F64(s)) => s.iter().for_each(|&x| sk.add(x)),
            (PctStore::Sketch(sk), Values::I64(s)) => s.iter().for_each(|&x| sk.add(x as f64)),
            _ => {}
        }
    }

    /// Selects the percentiles `ps` from the values held and drops them: a finished
    /// series keeps only its answers.
    pub(super) fn resolve(&mut self, ps: &[f64]) {
        let keys: Option<(Vec<u64>, KeyType)> = match self {
            PctStore::F64(v) => Some((v.iter().map(|&x| f64_key(x)).collect(), KeyType::F64)),
            PctStore::I64(v) => Some((v.iter().map(|&x| i64_key(x)).collect(), KeyType::I64)),
            _ => None,
        };
        if let Some((mut keys, t)) = keys {
            let n = keys.len() as u64;
            let out = ps
                .iter()
                .map(|&p| {
                    let v = (n > 0).then(|| {
                        let k = rank(p, n) as usize;
                        t.value(*keys.select_nth_unstable(k).1)
                    });
                    (p, v)
                })
                .collect();
            *self = PctStore::Resolved(out);
        }
    }

    /// Sets the answers found by narrowing passes.
    pub(super) fn resolve_from(&mut self, answers: Vec<(f64, Option<Value>)>) {
        *self = PctStore::Resolved(answers);
    }

    /// Percentile `p` in [0, 100]: the resolved value of rank `ceil(p/100 * n)`, or the
    /// sketch's estimate; `None` if there were no values.
    pub(super) fn value(&self, p: f64) -> Option<Value> {
        match self {
            PctStore::Resolved(v) => v.iter().find(|x| x.0 == p).and_then(|x| x.1.clone()),
            PctStore::Sketch(sk) => sk.quantile(p / 100.0).map(Value::F64),
            _ => None,
        }
    }
}

/// 0-based nearest rank of percentile `p` among `n > 0` values: `ceil(p/100 * n) - 1`,
/// clamped to the values.
pub(super) fn rank(p: f64, n: u64) -> u64 {
    ((p / 100.0 * n as f64).ceil() as u64).clamp(1, n) - 1
}

/// An order-preserving u64 key of an f64 (IEEE totalOrder, as footer min/max).
fn f64_key(x: f64) -> u64 {
    (total_key(x) as u64) ^ (1 << 63)
}

/// An order-preserving u64 key of an i64.
fn i64_key(x: i64) -> u64 {
    (x as u64) ^ (1 << 63)
}

/// How keys map back to values: the window's type (integers of a mixed channel count
/// as floats, as `ColumnStats::merge` does).
#[derive(Clone, Copy, PartialEq)]
pub(super) enum KeyType {
    F64,
    I64,
}

impl KeyType {
    fn key(self, v: &Values, i: usize) -> Option<u64> {
        Some(match (self, v) {
            (KeyType::F64, Values::F64(s)) => f64_key(s[i]),
            (KeyType::F64, Values::I64(s)) => f64_key(s[i] as f64),
            (KeyType::I64, Values::I64(s)) => i64_key(s[i]),
            _ => return None,
        })
    }

    fn value(self, key: u64) -> Value {
        let k = (key ^ (1 << 63)) as i64;
        match self {
            KeyType::I64 => Value::I64(k),
            KeyType::F64 => {
                let bits = if k >= 0 { k } else { k ^ i64::MAX };
                Value::F64(f64::from_bits(bits as u64))
            }
        }
    }

    fn stat_key(self, v: Option<Value>) -> Option<u64> {
        match (self, v?) {
            (KeyType::F64, Value::F64(x)) => Some(f64_key(x)),
            (KeyType::F64, Value::I64(x)) => Some(f64_key(x as f64)),
            (KeyType::I64, Value::I64(x)) => Some(i64_key(x)),
            _ => None,
        }
    }
}

/// One wanted percentile of one window, being narrowed.
struct Target {
    /// Key type of the window's values.
    t: KeyType,
    /// Window start.
    window: i64,
    /// Percentile.
    p: f64,
    /// 0-based rank among the window's values.
    rank: u64,
    /// Values of the window with a key below `lo`.
    below: u64,
    /// Key interval holding the wanted value, inclusive.
    lo: u64,
    hi: u64,
    /// Bucket width is `1 << shift`.
    shift: u32,
    /// This pass's histogram, or (when `collect`) the keys in `[lo, hi]`.
    hist: Vec<u64>,
    collect: bool,
    keys: Vec<u64>,
    /// The answer, once found.
    done: Option<u64>,
}

/// Exact percentiles of a series too long to hold, by narrowing passes (module docs).
pub(super) struct Narrowing {
    targets: Vec<Target>,
    /// Histogram buckets per target.
    buckets: u64,
    /// A bucket holding at most this many values is collected on the next pass.
    collect_cap: u64,
}

impl Narrowing {
    /// Sets up the percentiles `ps` of every window of `windows` (start, statistics)
    /// within a budget of `budget` bytes for histograms and collected keys. Windows of
    /// types without percentiles get none.
    pub(super) fn new<'w>(
        windows: impl Iterator<Item = (i64, &'w ColumnStats)>,
        ps: &[f64],
        budget: u64,
    ) -> Narrowing {
        let mut targets = Vec::new();
        for (w, s) in windows {
            let t = match s.value_type() {
                Some(ValueType::F64) => KeyType::F64,
                Some(ValueType::I64) => KeyType::I64,
                _ => continue,
            };
            if s.count == 0 {
                continue;
            }
            let lo = t.stat_key(s.min()).unwrap_or(0);
            let hi = t.stat_key(s.max()).unwrap_or(u64::MAX);
            for &p in ps {
                targets.push(Target {
                    t,
                    window: w,
                    p,
                    rank: rank(p, s.count),
                    below: 0,
                    lo,
                    hi,
                    shift: 0,
                    hist: Vec::new(),
                    collect: false,
                    keys: Vec::new(),
                    done: (lo == hi).then_some(lo),
                });
            }
        }
        // Each target gets an equal share of the budget, as 8-byte counters; at least
        // 256 buckets, so every pass cuts an interval by 2^8 and eight passes suffice.
        let share = budget / 8 / targets.len().max(1) as u64;
        Narrowing {
            targets,
            buckets: share.clamp(256, 1 << 16),
            collect_cap: share.max(256),
        }
    }

    /// Whether every percentile is found.
    pub(super) fn finished(&self) -> bool {
        self.targets.iter().all(|x| x.done.is_some())
    }

    /// Starts a pass: sizes each open target's histogram.
    pub(super) fn begin_pass(&mut self) {
        for x in self.targets.iter_mut().filter(|x| x.done.is_none()) {
            if x.collect {
                x.keys.clear();
                continue;
            }
            let span = x.hi - x.lo;
            x.shift = 0;
            while (span >> x.shift) >= self.buckets {
                x.shift += 1;
            }
            x.hist.clear();
            x.hist.resize((span >> x.shift) as usize + 1, 0);
        }
    }

    /// The union of the open targets' key intervals as footer-comparable bounds:
    /// a block whose min/max lie outside it holds nothing this pass counts.
    pub(super) fn wanted(&self, s: &ColumnStats) -> bool {
        self.targets.iter().filter(|x| x.done.is_none()).any(|x| {
            match (x.t.stat_key(s.min()), x.t.stat_key(s.max())) {
                (Some(lo), Some(hi)) => lo <= x.hi && hi >= x.lo,
                _ => true,
            }
        })
    }

    /// Counts (or collects) the values `v[a..b]` of window `w`.
    pub(super) fn feed(&mut self, w: i64, v: &Values, a: usize, b: usize) {
        // Targets are in window order (`new` takes windows in order).
        let from = self.targets.partition_point(|x| x.window < w);
        let to = self.targets.partition_point(|x| x.window <= w);
        for x in self.targets[from..to]
            .iter_mut()
            .filter(|x| x.done.is_none())
        {
            for i in a..b {
                let Some(k) = x.t.key(v, i) else { continue };
                if k < x.lo || k > x.hi {
                    continue;
                }
                if x.collect {
                    x.keys.push(k);
                } else {
                    x.hist[((k - x.lo) >> x.shift) as usize] += 1;
                }
            }
        }
    }

    /// Ends a pass: narrows each open target to the bucket holding its rank, or
    /// selects from the collected keys.
    pub(super) fn end_pass(&mut self) {
        let cap = self.collect_cap;
        for x in self.targets.iter_mut().filter(|x| x.done.is_none()) {
            let want = x.rank.saturating_sub(x.below);
            if x.collect {
                let k = (want as usize).min(x.keys.len().saturating_sub(1));
                x.done = if x.keys.is_empty() {
                    Some(x.lo)
                } else {
                    Some(*x.keys.select_nth_unstable(k).1)
                };
                x.keys = Vec::new();
                continue;
            }
            let mut cum = 0u64;
            let mut j = x.hist.len().saturating_sub(1);
            for (i, &h) in x.hist.iter().enumerate() {
                if cum + h > want {
                    j = i;
                    break;
                }
                cum += h;
            }
            let count = x.hist.get(j).copied().unwrap_or(0);
            x.below += cum;
            let lo = x.lo + ((j as u64) << x.shift);
            let hi = lo.saturating_add((1u64 << x.shift) - 1).min(x.hi);
            (x.lo, x.hi) = (lo, hi);
            x.hist = Vec::new();
            if lo == hi {
                x.done = Some(lo);
            } else if count <= cap {
                x.collect = true;
            }
        }
    }

    /// The answers of window `w`, `(p, value)` in the order asked for.
    pub(super) fn answers(&self, w: i64) -> Vec<(f64, Option<Value>)> {
        let from = self.targets.partition_point(|x| x.window < w);
        let to = self.targets.partition_point(|x| x.window <= w);
        self.targets[from..to]
            .iter()
            .map(|x| (x.p, x.done.map(|k| x.t.value(k))))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Narrowing with the smallest budget agrees with sorting, on values that share
    /// long key prefixes, NaN, signed zeros, infinities and i64 extremes.
    #[test]
    fn narrowing_matches_sorting() {
        let mut f: Vec<f64> = (0..20_000)
            .map(|i| 1.0 + (i as f64 * 0.618).fract() * 1e-9)
            .collect();
        f.extend([
            f64::NAN,
            -f64::NAN,
            -0.0,
            0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ]);
        f.extend([f64::from_bits(1), -f64::from_bits(1)]);
        let i: Vec<i64> = (0..20_000i64)
            .map(|x| x.wrapping_mul(0x9E37_79B9_7F4A_7C15u64 as i64))
            .chain([i64::MIN, i64::MAX, 0])
            .collect();
        for vals in [Values::F64(f), Values::I64(i)] {
            let ts: Vec<i64> = (0..vals.len() as i64).collect();
            let stats = ColumnStats::compute(&vals, &ts);
            let ps = [0.0, 1.0, 50.0, 99.0, 99.99, 100.0];
            let mut store = PctStore::new(vals.value_type(), false);
            store.push(&vals);
            store.resolve(&ps);
            let mut nw = Narrowing::new(std::iter::once((0, &stats)), &ps, 0);
            let mut passes = 0;
            while !nw.finished() {
                nw.begin_pass();
                for chunk in (0..vals.len()).step_by(1000) {
                    nw.feed(0, &vals, chunk, (chunk + 1000).min(vals.len()));
                }
                nw.end_pass();
                passes += 1;
                assert!(passes <= 10, "narrowing does not converge");
            }
            for (p, v) in nw.answers(0) {
                let want = store.value(p).unwrap();
                let got = v.unwrap();
                match (&want, &got) {
                    (Value::F64(a), Value::F64(b)) => assert_eq!(a.to_bits(), b.to_bits()),
                    _ => assert_eq!(want, got),
                }
            }
        }
    }
}
