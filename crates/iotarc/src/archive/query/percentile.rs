//! Values kept for percentiles: exact (every value, selected by nearest rank) or a
//! DDSketch under `approx`.

use crate::archive::sketch::Sketch;
use crate::model::{Value, ValueType, Values};

/// Values kept for percentiles. Boxed sketch: every window of an hourly query holds
/// one of these, and most hold `None`.
pub(super) enum PctStore {
    F64(Vec<f64>),
    I64(Vec<i64>),
    Sketch(Box<Sketch>),
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

    /// Percentile `p` in [0, 100] of the values kept, nearest-rank (the value of rank
    /// `ceil(p/100 * n)`), or the sketch's estimate; `None` if nothing was kept.
    pub(super) fn value(&self, p: f64) -> Option<Value> {
        let rank = |n: usize| ((p / 100.0 * n as f64).ceil() as usize).clamp(1, n.max(1)) - 1;
        match self {
            PctStore::F64(v) if !v.is_empty() => {
                let mut v = v.clone();
                let k = rank(v.len());
                Some(Value::F64(*v.select_nth_unstable_by(k, f64::total_cmp).1))
            }
            PctStore::I64(v) if !v.is_empty() => {
                let mut v = v.clone();
                let k = rank(v.len());
                Some(Value::I64(*v.select_nth_unstable(k).1))
            }
            PctStore::Sketch(sk) => sk.quantile(p / 100.0).map(Value::F64),
            _ => None,
        }
    }
}
