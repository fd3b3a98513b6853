//! A small PRNG and deterministic math, written here so that a corpus never changes with a
//! dependency upgrade or a platform's libm: SplitMix64 seeds xoshiro256** (Blackman and
//! Vigna), and every floating-point step uses only IEEE 754 basic operations (`+ - * /`,
//! `sqrt`, `round`), which are correctly rounded everywhere. `sin` is a polynomial below.

/// One SplitMix64 step: advances `state` and returns 64 well-mixed bits.
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// xoshiro256**: 256 bits of state, period 2^256 - 1, passes BigCrush.
#[derive(Clone, Debug)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// A generator for `seed` (any value, 0 included).
    pub fn new(seed: u64) -> Rng {
        let mut sm = seed;
        let mut s = [0u64; 4];
        for x in &mut s {
            *x = splitmix64(&mut sm);
        }
        Rng { s }
    }

    /// An independent generator for sub-stream `stream` of `seed` (e.g. one per device).
    pub fn stream(seed: u64, stream: u64) -> Rng {
        let mut sm = stream ^ 0x6A09_E667_F3BC_C908;
        Rng::new(seed ^ splitmix64(&mut sm))
    }

    /// Next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in [0, 1), 53 bits.
    #[inline]
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in [0, n) (Lemire's multiply-shift; the tiny bias is irrelevant here).
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// Uniform in [lo, hi].
    #[inline]
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo) as u64 + 1) as i64
    }

    /// True with probability `p`.
    #[inline]
    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.f64() < p
    }

    /// Approximately standard normal: Irwin-Hall sum of four uniforms, rescaled to unit
    /// variance (tails end at ±3.46, which suits sensor noise).
    #[inline]
    pub fn normal(&mut self) -> f64 {
        let s = self.f64() + self.f64() + self.f64() + self.f64();
        (s - 2.0) * 1.732_050_807_568_877_2
    }

    /// Picks one element of a non-empty slice.
    pub fn pick<T: Copy>(&mut self, v: &[T]) -> T {
        v[self.below(v.len() as u64) as usize]
    }
}

/// sin(2π·turns) from basic operations only: range reduction to [-1/4, 1/4] turn, then an
/// odd Taylor polynomial to x^13 (absolute error below 1e-9).
pub fn sin_turns(turns: f64) -> f64 {
    // Reduce to [-0.5, 0.5).
    let mut x = turns - (turns + 0.5).floor();
    // Fold into [-0.25, 0.25]: sin(π - a) = sin(a).
    if x > 0.25 {
        x = 0.5 - x;
    } else if x < -0.25 {
        x = -0.5 - x;
    }
    let a = x * std::f64::consts::TAU;
    let a2 = a * a;
    // Horner form of a - a^3/3! + a^5/5! - ... - a^11/11! + a^13/13!.
    let mut p = 1.0 / 6_227_020_800.0;
    p = p * a2 - 1.0 / 39_916_800.0;
    p = p * a2 + 1.0 / 362_880.0;
    p = p * a2 - 1.0 / 5_040.0;
    p = p * a2 + 1.0 / 120.0;
    p = p * a2 - 1.0 / 6.0;
    a + a * a2 * p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xoshiro_reference_values() {
        // First outputs of xoshiro256** from state [1, 2, 3, 4] (reference implementation).
        let mut r = Rng { s: [1, 2, 3, 4] };
        let got: Vec<u64> = (0..4).map(|_| r.next_u64()).collect();
        assert_eq!(got, [11520, 0, 1509978240, 1215971899390074240]);
    }

    #[test]
    fn splitmix_reference_value() {
        let mut s = 0u64;
        assert_eq!(splitmix64(&mut s), 0xE220_A839_7B1D_CDAF);
    }

    #[test]
    fn sin_is_accurate() {
        for i in -2000..=2000 {
            let t = i as f64 / 997.0;
            let e = (sin_turns(t) - (t * std::f64::consts::TAU).sin()).abs();
            assert!(e < 1e-9, "{t}: {e}");
        }
    }

    #[test]
    fn normal_has_unit_variance() {
        let mut r = Rng::new(7);
        let n = 200_000;
        let (mut s, mut s2) = (0.0, 0.0);
        for _ in 0..n {
            let x = r.normal();
            s += x;
            s2 += x * x;
        }
        let mean = s / n as f64;
        let var = s2 / n as f64 - mean * mean;
        assert!(
            mean.abs() < 0.01 && (var - 1.0).abs() < 0.02,
            "{mean} {var}"
        );
    }
}
