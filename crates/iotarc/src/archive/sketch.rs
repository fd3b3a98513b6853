//! A mergeable quantile sketch with a relative-error guarantee (DDSketch, Masson et al.,
//! VLDB 2019). Every value `x` with `|x| >= MIN_MAGNITUDE` is counted in the bucket
//! `ceil(log_gamma |x|)` with `gamma = (1 + a) / (1 - a)`; a quantile is answered with
//! the bucket's midpoint `2 gamma^i / (gamma + 1)`, which is within relative error `a` of
//! every value in the bucket. Values closer to zero than `MIN_MAGNITUDE` count as 0.
//! NaNs are counted separately and sort above +inf, as in the footer's totalOrder.

use std::collections::BTreeMap;

/// Relative accuracy of [`Sketch`] quantiles: the answer is within 1 % of a value whose
/// rank is the requested one.
pub const RELATIVE_ERROR: f64 = 0.01;
const MIN_MAGNITUDE: f64 = 1e-300;

/// DDSketch over f64 values.
#[derive(Clone, Debug, Default)]
pub struct Sketch {
    pos: BTreeMap<i32, u64>,
    neg: BTreeMap<i32, u64>,
    zero: u64,
    nan: u64,
    pos_inf: u64,
    neg_inf: u64,
    count: u64,
}

fn gamma() -> f64 {
    (1.0 + RELATIVE_ERROR) / (1.0 - RELATIVE_ERROR)
}

fn index(x: f64) -> i32 {
    (x.ln() / gamma().ln()).ceil() as i32
}

fn value(i: i32) -> f64 {
    let g = gamma();
    2.0 * g.powi(i) / (g + 1.0)
}

impl Sketch {
    /// Adds a value.
    pub fn add(&mut self, x: f64) {
        self.count += 1;
        if x.is_nan() {
            self.nan += 1;
        } else if x == f64::INFINITY {
            self.pos_inf += 1;
        } else if x == f64::NEG_INFINITY {
            self.neg_inf += 1;
        } else if x.abs() < MIN_MAGNITUDE {
            self.zero += 1;
        } else if x > 0.0 {
            *self.pos.entry(index(x)).or_default() += 1;
        } else {
            *self.neg.entry(index(-x)).or_default() += 1;
        }
    }

    /// Adds every value counted by `o`.
    pub fn merge(&mut self, o: &Sketch) {
        for (k, v) in &o.pos {
            *self.pos.entry(*k).or_default() += v;
        }
        for (k, v) in &o.neg {
            *self.neg.entry(*k).or_default() += v;
        }
        self.zero += o.zero;
        self.nan += o.nan;
        self.pos_inf += o.pos_inf;
        self.neg_inf += o.neg_inf;
        self.count += o.count;
    }

    /// Number of values added.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The value of nearest rank `ceil(q * n)` (q in [0, 1]), within relative error
    /// [`RELATIVE_ERROR`]; `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = self.neg_inf;
        if rank <= seen {
            return Some(f64::NEG_INFINITY);
        }
        for (&i, &c) in self.neg.iter().rev() {
            seen += c;
            if rank <= seen {
                return Some(-value(i));
            }
        }
        seen += self.zero;
        if rank <= seen {
            return Some(0.0);
        }
        for (&i, &c) in &self.pos {
            seen += c;
            if rank <= seen {
                return Some(value(i));
            }
        }
        seen += self.pos_inf;
        if rank <= seen {
            return Some(f64::INFINITY);
        }
        Some(f64::NAN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn within_relative_error(mut v in proptest::collection::vec(-1e6f64..1e6, 1..500), q in 0.0f64..=1.0) {
            let mut s = Sketch::default();
            let (a, b) = v.split_at(v.len() / 2);
            let mut s2 = Sketch::default();
            a.iter().for_each(|&x| s.add(x));
            b.iter().for_each(|&x| s2.add(x));
            s.merge(&s2);
            v.sort_by(f64::total_cmp);
            let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
            let exact = v[rank - 1];
            let got = s.quantile(q).unwrap();
            prop_assert!((got - exact).abs() <= RELATIVE_ERROR * exact.abs() + 1e-300, "{got} vs {exact}");
        }
    }
}
