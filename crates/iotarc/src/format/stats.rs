//! Per-column block statistics (the `Stats` structure of the footer): computing them from
//! values, merging them across blocks, and their on-disk encoding.
//!
//! f64 sums use Neumaier compensated summation into a (hi, lo) pair; i64 sums are exact
//! i128. f64 min/max follow IEEE 754 totalOrder over every present value, NaN included.

use crate::codec::bytes::{put_str, put_svarint, put_varint, Cursor};
use crate::codec::StrValues;
use crate::error::{Error, Result, Rule};
use crate::model::{Value, ValueType, Values};
use std::cmp::Ordering;

/// A compensated sum: the represented value is `hi + lo`, where `lo` collects the rounding
/// error of every addition into `hi` (Neumaier's variant of Kahan summation). Once `hi`
/// is not finite, `lo` stays 0.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CompSum {
    /// Running sum.
    pub hi: f64,
    /// Accumulated rounding error.
    pub lo: f64,
}

impl CompSum {
    /// Adds `x`.
    #[inline(always)]
    pub fn add(&mut self, x: f64) {
        let s = self.hi + x;
        if s.is_finite() {
            let e = if self.hi.abs() >= x.abs() {
                (self.hi - s) + x
            } else {
                (x - s) + self.hi
            };
            self.lo += e;
        } else {
            self.lo = 0.0;
        }
        self.hi = s;
    }

    /// Adds another compensated sum.
    pub fn merge(&mut self, o: &CompSum) {
        self.add(o.hi);
        if self.hi.is_finite() {
            self.lo += o.lo;
        }
    }

    /// Normalizes the pair so that `hi` is the sum rounded to f64 and `lo` the rest
    /// (TwoSum), as the spec requires of stored statistics.
    pub fn finish(self) -> CompSum {
        if !self.hi.is_finite() {
            return CompSum {
                hi: self.hi,
                lo: 0.0,
            };
        }
        let s = self.hi + self.lo;
        if !s.is_finite() {
            return CompSum { hi: s, lo: 0.0 };
        }
        let bb = s - self.hi;
        let e = (self.hi - (s - bb)) + (self.lo - bb);
        CompSum { hi: s, lo: e }
    }

    /// The sum rounded to f64.
    pub fn value(&self) -> f64 {
        if self.hi.is_finite() {
            self.hi + self.lo
        } else {
            self.hi
        }
    }
}

/// IEEE 754 totalOrder key: comparing keys as i64 orders
/// -NaN < -inf < ... < -0.0 < +0.0 < ... < +inf < +NaN.
#[inline(always)]
pub fn total_key(x: f64) -> i64 {
    let b = x.to_bits() as i64;
    b ^ (((b >> 63) as u64) >> 1) as i64
}

/// Type-specific statistics.
#[derive(Clone, Debug, PartialEq)]
pub enum TypedStats {
    /// f64 column.
    F64 {
        /// NaN values among the present ones.
        nan_count: u64,
        /// totalOrder minimum.
        min: f64,
        /// totalOrder maximum.
        max: f64,
        /// First value.
        first: f64,
        /// Last value.
        last: f64,
        /// Compensated sum.
        sum: CompSum,
        /// Compensated sum of squares.
        sumsq: CompSum,
    },
    /// i64 column.
    I64 {
        /// Minimum.
        min: i64,
        /// Maximum.
        max: i64,
        /// First value.
        first: i64,
        /// Last value.
        last: i64,
        /// Exact sum.
        sum: i128,
        /// Compensated sum of squares.
        sumsq: CompSum,
    },
    /// bool column.
    Bool {
        /// Number of `true` values.
        true_count: u64,
        /// First value.
        first: bool,
        /// Last value.
        last: bool,
    },
    /// string column.
    Str {
        /// Bytewise minimum.
        min: String,
        /// Bytewise maximum.
        max: String,
        /// First value.
        first: String,
        /// Last value.
        last: String,
    },
}

/// Statistics of one column over a set of rows. `typed` is `None` when `count` is 0.
#[derive(Clone, Debug, PartialEq)]
pub struct ColumnStats {
    /// Present values.
    pub count: u64,
    /// Timestamp of the first present value.
    pub first_ts: i64,
    /// Timestamp of the last present value.
    pub last_ts: i64,
    /// Type-specific part; `None` iff `count == 0`.
    pub typed: Option<TypedStats>,
}

impl ColumnStats {
    /// The same statistics as f64 when they are i64 (others are returned unchanged):
    /// min, max, first and last convert exactly when they are below 2^53 in magnitude
    /// and round to nearest otherwise; the exact i128 sum becomes a compensated sum of
    /// its nearest f64 and the remainder.
    pub fn widen_to_f64(&self) -> ColumnStats {
        let Some(TypedStats::I64 {
            min,
            max,
            first,
            last,
            sum,
            sumsq,
        }) = &self.typed
        else {
            return self.clone();
        };
        let hi = *sum as f64;
        let mut s = CompSum::default();
        s.add(hi);
        s.add((*sum - hi as i128) as f64);
        ColumnStats {
            typed: Some(TypedStats::F64 {
                nan_count: 0,
                min: *min as f64,
                max: *max as f64,
                first: *first as f64,
                last: *last as f64,
                sum: s,
                sumsq: *sumsq,
            }),
            ..self.clone()
        }
    }

    /// Statistics of nothing.
    pub fn empty() -> ColumnStats {
        ColumnStats {
            count: 0,
            first_ts: 0,
            last_ts: 0,
            typed: None,
        }
    }

    /// Computes statistics of `values`, whose timestamps are `ts` (same length).
    pub fn compute(values: &Values, ts: &[i64]) -> ColumnStats {
        let n = values.len();
        debug_assert_eq!(n, ts.len());
        if n == 0 {
            return ColumnStats::empty();
        }
        let typed = match values {
            Values::F64(v) => {
                let (mut lo, mut hi) = (v[0], v[0]);
                let (mut sum, mut sumsq) = (CompSum::default(), CompSum::default());
                let mut nan = 0u64;
                for &x in v {
                    if total_key(x) < total_key(lo) {
                        lo = x;
                    }
                    if total_key(x) > total_key(hi) {
                        hi = x;
                    }
                    nan += x.is_nan() as u64;
                    sum.add(x);
                    sumsq.add(x * x);
                }
                TypedStats::F64 {
                    nan_count: nan,
                    min: lo,
                    max: hi,
                    first: v[0],
                    last: v[n - 1],
                    sum: sum.finish(),
                    sumsq: sumsq.finish(),
                }
            }
            Values::I64(v) => {
                let mut sum = 0i128;
                let mut sumsq = CompSum::default();
                for &x in v {
                    sum += x as i128;
                    add_square(&mut sumsq, x);
                }
                TypedStats::I64 {
                    min: *v.iter().min().unwrap_or(&0),
                    max: *v.iter().max().unwrap_or(&0),
                    first: v[0],
                    last: v[n - 1],
                    sum,
                    sumsq: sumsq.finish(),
                }
            }
            Values::Bool(v) => TypedStats::Bool {
                true_count: v.iter().filter(|&&b| b).count() as u64,
                first: v[0],
                last: v[n - 1],
            },
            Values::Str(v) => str_stats(v),
        };
        ColumnStats {
            count: n as u64,
            first_ts: ts[0],
            last_ts: ts[n - 1],
            typed: Some(typed),
        }
    }

    /// The value type, if any value is present.
    pub fn value_type(&self) -> Option<ValueType> {
        Some(match self.typed.as_ref()? {
            TypedStats::F64 { .. } => ValueType::F64,
            TypedStats::I64 { .. } => ValueType::I64,
            TypedStats::Bool { .. } => ValueType::Bool,
            TypedStats::Str { .. } => ValueType::Str,
        })
    }

    /// Folds `o` into `self`. First/last follow the timestamps (ties keep `self`'s first
    /// and `o`'s last, so merging in row order is exact).
    ///
    /// i64 and f64 statistics merge as f64 (see [`ColumnStats::widen_to_f64`]): a
    /// channel that carried integers in one place and floats in another aggregates as
    /// floats.
    ///
    /// # Errors
    /// [`crate::ErrorKind::InvalidInput`] if the two sides hold other different value
    /// types; [`crate::ErrorKind::Corrupt`] if i64 sums overflow i128 (only corrupt
    /// statistics can make them).
    pub fn merge(&mut self, o: &ColumnStats) -> Result<()> {
        match (&self.typed, &o.typed) {
            (Some(TypedStats::F64 { .. }), Some(TypedStats::I64 { .. })) => {
                return self.merge(&o.widen_to_f64());
            }
            (Some(TypedStats::I64 { .. }), Some(TypedStats::F64 { .. })) => {
                *self = self.widen_to_f64();
                return self.merge(o);
            }
            _ => {}
        }
        let Some(ot) = &o.typed else { return Ok(()) };
        let Some(st) = &mut self.typed else {
            *self = o.clone();
            return Ok(());
        };
        let take_first = o.first_ts < self.first_ts;
        let take_last = o.last_ts >= self.last_ts;
        match (st, ot) {
            (
                TypedStats::F64 {
                    nan_count,
                    min,
                    max,
                    first,
                    last,
                    sum,
                    sumsq,
                },
                TypedStats::F64 {
                    nan_count: n2,
                    min: lo2,
                    max: hi2,
                    first: f2,
                    last: l2,
                    sum: s2,
                    sumsq: q2,
                },
            ) => {
                *nan_count += n2;
                if total_key(*lo2) < total_key(*min) {
                    *min = *lo2;
                }
                if total_key(*hi2) > total_key(*max) {
                    *max = *hi2;
                }
                sum.merge(s2);
                sumsq.merge(q2);
                if take_first {
                    *first = *f2;
                }
                if take_last {
                    *last = *l2;
                }
            }
            (
                TypedStats::I64 {
                    min,
                    max,
                    first,
                    last,
                    sum,
                    sumsq,
                },
                TypedStats::I64 {
                    min: lo2,
                    max: hi2,
                    first: f2,
                    last: l2,
                    sum: s2,
                    sumsq: q2,
                },
            ) => {
                // Valid blocks' sums cannot overflow i128 (|sum| <= 2^20 rows * 2^63), but a
                // footer's stored sum is any i128 the file holds: report it as corrupt
                // instead of overflowing (a panic with overflow checks, a wrapped sum
                // without). Found by the segment_open fuzz target.
                let Some(total) = sum.checked_add(*s2) else {
                    return Err(Error::corrupt("i64 statistics: sum overflows i128", None));
                };
                *min = (*min).min(*lo2);
                *max = (*max).max(*hi2);
                *sum = total;
                sumsq.merge(q2);
                if take_first {
                    *first = *f2;
                }
                if take_last {
                    *last = *l2;
                }
            }
            (
                TypedStats::Bool {
                    true_count,
                    first,
                    last,
                },
                TypedStats::Bool {
                    true_count: t2,
                    first: f2,
                    last: l2,
                },
            ) => {
                *true_count += t2;
                if take_first {
                    *first = *f2;
                }
                if take_last {
                    *last = *l2;
                }
            }
            (
                TypedStats::Str {
                    min,
                    max,
                    first,
                    last,
                },
                TypedStats::Str {
                    min: lo2,
                    max: hi2,
                    first: f2,
                    last: l2,
                },
            ) => {
                if lo2 < min {
                    min.clone_from(lo2);
                }
                if hi2 > max {
                    max.clone_from(hi2);
                }
                if take_first {
                    first.clone_from(f2);
                }
                if take_last {
                    last.clone_from(l2);
                }
            }
            (a, b) => {
                return Err(Error::invalid_input(format!(
                    "cannot combine {} and {} statistics: the channel changes type in this range",
                    type_of(a),
                    type_of(b)
                )))
            }
        }
        self.count += o.count;
        if take_first {
            self.first_ts = o.first_ts;
        }
        if take_last {
            self.last_ts = o.last_ts;
        }
        Ok(())
    }

    /// Minimum as a [`Value`].
    pub fn min(&self) -> Option<Value> {
        Some(match self.typed.as_ref()? {
            TypedStats::F64 { min, .. } => Value::F64(*min),
            TypedStats::I64 { min, .. } => Value::I64(*min),
            TypedStats::Bool { true_count, .. } => Value::Bool(*true_count == self.count),
            TypedStats::Str { min, .. } => Value::Str(min.clone()),
        })
    }

    /// Maximum as a [`Value`].
    pub fn max(&self) -> Option<Value> {
        Some(match self.typed.as_ref()? {
            TypedStats::F64 { max, .. } => Value::F64(*max),
            TypedStats::I64 { max, .. } => Value::I64(*max),
            TypedStats::Bool { true_count, .. } => Value::Bool(*true_count > 0),
            TypedStats::Str { max, .. } => Value::Str(max.clone()),
        })
    }

    /// First present value and its timestamp.
    pub fn first(&self) -> Option<(i64, Value)> {
        Some((
            self.first_ts,
            match self.typed.as_ref()? {
                TypedStats::F64 { first, .. } => Value::F64(*first),
                TypedStats::I64 { first, .. } => Value::I64(*first),
                TypedStats::Bool { first, .. } => Value::Bool(*first),
                TypedStats::Str { first, .. } => Value::Str(first.clone()),
            },
        ))
    }

    /// Last present value and its timestamp.
    pub fn last(&self) -> Option<(i64, Value)> {
        Some((
            self.last_ts,
            match self.typed.as_ref()? {
                TypedStats::F64 { last, .. } => Value::F64(*last),
                TypedStats::I64 { last, .. } => Value::I64(*last),
                TypedStats::Bool { last, .. } => Value::Bool(*last),
                TypedStats::Str { last, .. } => Value::Str(last.clone()),
            },
        ))
    }

    /// Sum as f64 (compensated for f64, exact i128 rounded once for i64, true count for
    /// bool); `None` for strings or no values.
    pub fn sum(&self) -> Option<f64> {
        match self.typed.as_ref()? {
            TypedStats::F64 { sum, .. } => Some(sum.value()),
            TypedStats::I64 { sum, .. } => Some(*sum as f64),
            TypedStats::Bool { true_count, .. } => Some(*true_count as f64),
            TypedStats::Str { .. } => None,
        }
    }

    /// Exact integer sum for i64 columns.
    pub fn sum_i128(&self) -> Option<i128> {
        match self.typed.as_ref()? {
            TypedStats::I64 { sum, .. } => Some(*sum),
            _ => None,
        }
    }

    /// Arithmetic mean.
    pub fn mean(&self) -> Option<f64> {
        match self.typed.as_ref()? {
            TypedStats::I64 { sum, .. } => Some(mean_i128(*sum, self.count)),
            _ => Some(self.sum()? / self.count as f64),
        }
    }

    /// Population standard deviation, from the sum and sum of squares. A NaN among the
    /// values (or an infinity, whose square minus itself is NaN) gives NaN, as it does for
    /// [`sum`](Self::sum) and [`mean`](Self::mean).
    pub fn stddev(&self) -> Option<f64> {
        let n = self.count as f64;
        let (sum, sumsq) = match self.typed.as_ref()? {
            TypedStats::F64 { sum, sumsq, .. } => (sum.value(), *sumsq),
            TypedStats::I64 { sum, sumsq, .. } => (*sum as f64, *sumsq),
            TypedStats::Bool { true_count, .. } => {
                let p = *true_count as f64 / n;
                return Some(clamp_residue(p * (1.0 - p)).sqrt());
            }
            TypedStats::Str { .. } => return None,
        };
        let mean = sum / n;
        // sumsq - n*mean^2, with the subtraction done in compensated arithmetic.
        let mut acc = sumsq;
        acc.add(-(sum * mean));
        Some(clamp_residue(acc.value() / n).sqrt())
    }
}

/// A variance with a negative rounding residue (a true variance of 0 computed as
/// `sumsq - sum * mean` can come out slightly below 0) clamped to 0. NaN passes through:
/// `f64::max` would turn it into 0 and hide a NaN input.
fn clamp_residue(var: f64) -> f64 {
    if var < 0.0 {
        0.0
    } else {
        var
    }
}

fn mean_i128(sum: i128, n: u64) -> f64 {
    let n = n as i128;
    let q = sum / n;
    let r = sum % n;
    q as f64 + r as f64 / n as f64
}

fn type_of(t: &TypedStats) -> &'static str {
    match t {
        TypedStats::F64 { .. } => "f64",
        TypedStats::I64 { .. } => "i64",
        TypedStats::Bool { .. } => "bool",
        TypedStats::Str { .. } => "string",
    }
}

#[inline(always)]
fn add_square(acc: &mut CompSum, x: i64) {
    let sq = (x as i128) * (x as i128);
    let hi = sq as f64;
    acc.add(hi);
    acc.add((sq - hi as i128) as f64);
}

fn str_stats(v: &StrValues) -> TypedStats {
    let mut it = v.iter();
    let first = it.next().unwrap_or("");
    let (mut min, mut max) = (first, first);
    for s in it {
        if s < min {
            min = s;
        }
        if s > max {
            max = s;
        }
    }
    TypedStats::Str {
        min: min.to_owned(),
        max: max.to_owned(),
        first: first.to_owned(),
        last: v.get(v.len() - 1).unwrap_or("").to_owned(),
    }
}

/// Appends the on-disk `Stats` structure. `ts_min` is the block's first timestamp.
pub fn write(s: &ColumnStats, ts_min: i64, out: &mut Vec<u8>) {
    put_varint(out, s.count);
    let Some(t) = &s.typed else { return };
    put_varint(out, s.first_ts.wrapping_sub(ts_min) as u64);
    put_varint(out, s.last_ts.wrapping_sub(ts_min) as u64);
    match t {
        TypedStats::F64 {
            nan_count,
            min,
            max,
            first,
            last,
            sum,
            sumsq,
        } => {
            put_varint(out, *nan_count);
            for x in [
                *min, *max, *first, *last, sum.hi, sum.lo, sumsq.hi, sumsq.lo,
            ] {
                out.extend_from_slice(&x.to_bits().to_le_bytes());
            }
        }
        TypedStats::I64 {
            min,
            max,
            first,
            last,
            sum,
            sumsq,
        } => {
            for x in [*min, *max, *first, *last] {
                put_svarint(out, x);
            }
            out.extend_from_slice(&sum.to_le_bytes());
            out.extend_from_slice(&sumsq.hi.to_bits().to_le_bytes());
            out.extend_from_slice(&sumsq.lo.to_bits().to_le_bytes());
        }
        TypedStats::Bool {
            true_count,
            first,
            last,
        } => {
            put_varint(out, *true_count);
            out.push(*first as u8);
            out.push(*last as u8);
        }
        TypedStats::Str {
            min,
            max,
            first,
            last,
        } => {
            for x in [min, max, first, last] {
                put_str(out, x);
            }
        }
    }
}

/// Reads a `Stats` structure for a column of type `t` in a block of `rows` rows spanning
/// `[ts_min, ts_min + span]`.
///
/// # Errors
/// Corrupt if `count > rows`, timestamp offsets exceed the span or are out of order,
/// `nan_count`/`true_count` exceed `count`, min > max, or a bool byte is not 0/1.
pub fn read(
    c: &mut Cursor,
    t: ValueType,
    rows: u64,
    ts_min: i64,
    span: u64,
) -> Result<ColumnStats> {
    let at = c.pos() as u64;
    let bad = |what: String| Error::corrupt_rule(Rule::C(26), what, Some(at));
    let count = c.varint("stats count")?;
    if count > rows {
        return Err(bad(format!("stats count {count} exceeds row count {rows}")));
    }
    if count == 0 {
        return Ok(ColumnStats::empty());
    }
    let f = c.varint("stats first_ts offset")?;
    let l = c.varint("stats last_ts offset")?;
    if f > span || l > span || f > l {
        return Err(bad(format!(
            "stats timestamp offsets {f}..{l} outside block span {span}"
        )));
    }
    let (first_ts, last_ts) = (ts_min.wrapping_add(f as i64), ts_min.wrapping_add(l as i64));
    let typed = match t {
        ValueType::F64 => {
            let nan_count = c.varint("stats nan_count")?;
            let mut x = [0f64; 8];
            for v in x.iter_mut() {
                *v = c.f64("f64 stats")?;
            }
            if nan_count > count || total_key(x[0]).cmp(&total_key(x[1])) == Ordering::Greater {
                return Err(bad("f64 stats: nan_count > count or min > max".into()));
            }
            TypedStats::F64 {
                nan_count,
                min: x[0],
                max: x[1],
                first: x[2],
                last: x[3],
                sum: CompSum { hi: x[4], lo: x[5] },
                sumsq: CompSum { hi: x[6], lo: x[7] },
            }
        }
        ValueType::I64 => {
            let min = c.svarint("i64 stats min")?;
            let max = c.svarint("i64 stats max")?;
            let first = c.svarint("i64 stats first")?;
            let last = c.svarint("i64 stats last")?;
            let sum = c.i128("i64 stats sum")?;
            let hi = c.f64("i64 stats sumsq")?;
            let lo = c.f64("i64 stats sumsq")?;
            if min > max {
                return Err(bad(format!("i64 stats min {min} > max {max}")));
            }
            TypedStats::I64 {
                min,
                max,
                first,
                last,
                sum,
                sumsq: CompSum { hi, lo },
            }
        }
        ValueType::Bool => {
            let true_count = c.varint("bool stats true_count")?;
            let first = c.u8("bool stats first")?;
            let last = c.u8("bool stats last")?;
            if true_count > count || first > 1 || last > 1 {
                return Err(bad("bool stats out of range".into()));
            }
            TypedStats::Bool {
                true_count,
                first: first == 1,
                last: last == 1,
            }
        }
        ValueType::Str => {
            let min = c.str("string stats min")?.to_owned();
            let max = c.str("string stats max")?.to_owned();
            let first = c.str("string stats first")?.to_owned();
            let last = c.str("string stats last")?.to_owned();
            if min > max {
                return Err(bad("string stats min > max".into()));
            }
            TypedStats::Str {
                min,
                max,
                first,
                last,
            }
        }
    };
    Ok(ColumnStats {
        count,
        first_ts,
        last_ts,
        typed: Some(typed),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn total_order() {
        let xs = [
            f64::from_bits(0xfff8_0000_0000_0001),
            f64::NEG_INFINITY,
            -1.0,
            -0.0,
            0.0,
            5e-324,
            1.0,
            f64::INFINITY,
            f64::NAN,
        ];
        for w in xs.windows(2) {
            assert!(total_key(w[0]) < total_key(w[1]), "{:?} < {:?}", w[0], w[1]);
        }
    }

    #[test]
    fn compensated_sum_is_exact_where_naive_fails() {
        let mut s = CompSum::default();
        for x in [1e100, 1.0, -1e100] {
            s.add(x);
        }
        assert_eq!(s.value(), 1.0);
        let mut s = CompSum::default();
        s.add(f64::INFINITY);
        s.add(1.0);
        assert_eq!(s.value(), f64::INFINITY);
    }

    #[test]
    fn stddev_propagates_nan_and_clamps_residue() {
        let f = |v: &[f64]| {
            let ts: Vec<i64> = (0..v.len() as i64).collect();
            ColumnStats::compute(&Values::F64(v.to_vec()), &ts)
        };
        let s = f(&[1.0, f64::NAN, 3.0]);
        assert!(s.sum().unwrap().is_nan() && s.mean().unwrap().is_nan());
        assert!(s.stddev().unwrap().is_nan());
        assert!(f(&[1.0, f64::INFINITY]).stddev().unwrap().is_nan());
        // Equal values: the rounding residue of sumsq - n * mean^2 is tiny, never NaN.
        let sd = f(&[0.1; 10]).stddev().unwrap();
        assert!((0.0..1e-6).contains(&sd), "{sd}");
        assert_eq!(f(&[1.0, 3.0]).stddev(), Some(1.0));
    }

    proptest! {
        #[test]
        fn stddev_is_nan_exactly_when_a_value_is(
            v in proptest::collection::vec(prop_oneof![9 => -1e6f64..1e6, 1 => Just(f64::NAN)], 1..50),
        ) {
            let ts: Vec<i64> = (0..v.len() as i64).collect();
            let sd = ColumnStats::compute(&Values::F64(v.clone()), &ts).stddev().unwrap();
            if v.iter().any(|x| x.is_nan()) {
                prop_assert!(sd.is_nan());
            } else {
                prop_assert!(sd >= 0.0, "{sd}");
            }
        }

        #[test]
        fn merge_equals_whole(v in proptest::collection::vec(-1e6f64..1e6, 2..200), cut in any::<prop::sample::Index>()) {
            let ts: Vec<i64> = (0..v.len() as i64).collect();
            let k = cut.index(v.len());
            let whole = ColumnStats::compute(&Values::F64(v.clone()), &ts);
            let mut a = ColumnStats::compute(&Values::F64(v[..k].to_vec()), &ts[..k]);
            a.merge(&ColumnStats::compute(&Values::F64(v[k..].to_vec()), &ts[k..])).unwrap();
            prop_assert_eq!(a.count, whole.count);
            prop_assert_eq!(a.min(), whole.min());
            prop_assert_eq!(a.max(), whole.max());
            prop_assert_eq!(a.first(), whole.first());
            prop_assert_eq!(a.last(), whole.last());
            let exact: f64 = v.iter().sum();
            prop_assert!((a.sum().unwrap() - exact).abs() <= 1e-6 * exact.abs().max(1.0));
        }

        #[test]
        fn i64_stats_roundtrip(v in proptest::collection::vec(any::<i64>(), 1..50)) {
            let ts: Vec<i64> = (0..v.len() as i64).map(|i| i * 10).collect();
            let s = ColumnStats::compute(&Values::I64(v.clone()), &ts);
            prop_assert_eq!(s.sum_i128().unwrap(), v.iter().map(|&x| x as i128).sum::<i128>());
            let mut out = Vec::new();
            write(&s, 0, &mut out);
            let back = read(&mut Cursor::new(&out), ValueType::I64, v.len() as u64, 0, ts[v.len()-1] as u64).unwrap();
            prop_assert_eq!(back, s);
        }
    }
}
