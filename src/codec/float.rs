//! f64 codecs. All are bit-exact: values are handled as their IEEE 754 bit patterns, and
//! DECIMAL only maps a value to an integer when decoding reproduces the original bits.

use super::bytes::{put_varint, Cursor};
use super::int::{self, Allowed};
use super::intstream;
use super::{gorilla, scratch, Options};
use crate::error::{Error, Result};

/// `n` little-endian bit patterns.
pub const RAW: u8 = 0;
/// One bit pattern repeated.
pub const CONST: u8 = 1;
/// Runs of (bit pattern, length).
pub const RLE: u8 = 2;
/// Gorilla XOR bit stream.
pub const GORILLA_XOR: u8 = 3;
/// Decimal-scaled integers with exceptions.
pub const DECIMAL: u8 = 4;
/// Bit patterns as an IntStream, whose split byte planes suit high-entropy floats.
pub const SPLIT: u8 = 5;

/// Largest decimal exponent; 10^18 is exact in f64 and 2^53 / 10^18 still leaves
/// nine significant digits.
pub const MAX_EXPONENT: u8 = 18;
/// Largest mantissa magnitude: every integer up to 2^53 converts to f64 exactly.
const MAX_MANTISSA: i64 = 1 << 53;

/// Exact powers of ten 10^0 ..= 10^18.
const POW10: [f64; 19] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18,
];

/// Human-readable codec name.
pub fn name(codec: u8) -> &'static str {
    match codec {
        RAW => "raw",
        CONST => "const",
        RLE => "rle",
        GORILLA_XOR => "gorilla-xor",
        DECIMAL => "decimal",
        SPLIT => "split",
        _ => "unknown",
    }
}

/// The mantissa of `v` at exponent `e`, if `(m as f64) / 10^e` reproduces `v` bit for bit.
#[inline(always)]
fn decimal_mantissa(v: f64, e: usize) -> Option<i64> {
    let x = v * POW10[e];
    // Adding and removing 1.5 * 2^52 rounds to an integer without a libm call (x86-64's
    // baseline has no round instruction). It rounds ties to even rather than away from
    // zero; either is fine because the result is verified below.
    const MAGIC: f64 = 6_755_399_441_055_744.0;
    let m = if x.abs() < 2_251_799_813_685_248.0 {
        (x + MAGIC) - MAGIC
    } else {
        x.round()
    };
    // Written so that NaN (which fails every comparison) is rejected too.
    if m.is_nan() || m.abs() > MAX_MANTISSA as f64 {
        return None;
    }
    let m = m as i64;
    ((m as f64 / POW10[e]).to_bits() == v.to_bits()).then_some(m)
}

/// Smallest exponent at which `v` is an exact decimal, if any.
fn min_exponent(v: f64) -> Option<usize> {
    (0..=MAX_EXPONENT as usize).find(|&e| decimal_mantissa(v, e).is_some())
}

/// Candidate decimal exponents from a sample, at most three, smallest first: each one
/// that first lets at least 75 % of the sampled values be exact decimals, then each later
/// one that covers more of them. Empty if most values are not short decimals.
///
/// One fixed coverage rule is not enough: a series of integers with a few long decimals
/// (Beijing's O3: 97 % integers, 3 % with four decimals) is far smaller at e = 0 with
/// exceptions than at e = 4, while a series of one-decimal values wants e = 1. The
/// caller encodes each candidate and keeps the smallest.
fn candidate_exponents(v: &[f64]) -> Vec<usize> {
    const SAMPLE: usize = 256;
    let step = (v.len() / SAMPLE).max(1);
    let mut hist = [0usize; MAX_EXPONENT as usize + 1];
    let mut sampled = 0usize;
    for &x in v.iter().step_by(step) {
        sampled += 1;
        if let Some(e) = min_exponent(x) {
            hist[e] += 1;
        }
    }
    let mut out = Vec::new();
    let mut acc = 0;
    for (e, &h) in hist.iter().enumerate() {
        acc += h;
        if h > 0 && 4 * acc >= 3 * sampled && out.len() < 3 {
            out.push(e);
        }
    }
    out
}

/// DECIMAL exceptions: (position, raw bits).
type Exceptions = Vec<(usize, u64)>;

/// Mantissas at exponent `e` (exception positions repeat the previous mantissa) and the
/// exceptions; `None` when more than a quarter of the values are exceptions.
fn decimal_parts(v: &[f64], e: usize) -> Option<(Vec<i64>, Exceptions)> {
    let mut mant = Vec::with_capacity(v.len());
    let mut exc: Exceptions = Vec::new();
    let mut prev = 0i64;
    for (i, &x) in v.iter().enumerate() {
        match decimal_mantissa(x, e) {
            Some(m) => {
                prev = m;
                mant.push(m);
            }
            None => {
                exc.push((i, x.to_bits()));
                mant.push(prev);
                if exc.len() > v.len() / 4 + 1 {
                    return None;
                }
            }
        }
    }
    Some((mant, exc))
}

/// The DECIMAL encoding and the format version its inner integer codec needs.
fn write_decimal(e: usize, mant: &[i64], exc: &[(usize, u64)], opts: &Options) -> (Vec<u8>, u16) {
    let mut out = Vec::with_capacity(mant.len() + 16);
    out.push(DECIMAL);
    out.push(e as u8);
    put_varint(&mut out, exc.len() as u64);
    let mut last = None;
    for &(pos, bits) in exc {
        let gap = match last {
            None => pos,
            Some(p) => pos - p - 1,
        };
        last = Some(pos);
        put_varint(&mut out, gap as u64);
        out.extend_from_slice(&bits.to_le_bytes());
    }
    let (_, version) = int::encode_versioned(mant, Allowed::DECIMAL_INNER, false, opts, &mut out);
    (out, version)
}

/// The DECIMAL encoding at the best candidate exponent. With several candidates they are
/// ranked by estimated size (exceptions cost about 9 bytes each) and only the winner is
/// encoded.
fn encode_decimal(v: &[f64], opts: &Options) -> Option<(Vec<u8>, u16)> {
    let cands = candidate_exponents(v);
    let mut best: Option<(usize, usize, Vec<i64>, Exceptions)> = None;
    for &e in &cands {
        let Some((mant, exc)) = decimal_parts(v, e) else {
            continue;
        };
        if cands.len() == 1 {
            return Some(write_decimal(e, &mant, &exc, opts));
        }
        let est = exc.len() * 9 + int::estimate(&mant, opts);
        if best.as_ref().is_none_or(|b| est < b.1) {
            best = Some((e, est, mant, exc));
        }
    }
    best.map(|(e, _, mant, exc)| write_decimal(e, &mant, &exc, opts))
}

/// Appends the best encoding of `v` (codec byte then payload) and returns the codec.
pub fn encode(v: &[f64], opts: &Options, out: &mut Vec<u8>) -> u8 {
    encode_versioned(v, opts, out).0
}

/// [`encode`], also returning the lowest format version that can decode what was
/// written (a writer stamps its file with the highest of these, format.md §14).
pub fn encode_versioned(v: &[f64], opts: &Options, out: &mut Vec<u8>) -> (u8, u16) {
    let n = v.len();
    let bits: Vec<u64> = v.iter().map(|x| x.to_bits()).collect();
    if n == 0 || bits.iter().all(|&b| b == bits[0]) {
        out.push(CONST);
        out.extend_from_slice(&bits.first().copied().unwrap_or(0).to_le_bytes());
        return (CONST, 1);
    }
    // (bytes, format version); the codec is bytes[0].
    let mut best: Option<(Vec<u8>, u16)> = None;
    fn consider(best: &mut Option<(Vec<u8>, u16)>, bytes: Vec<u8>, version: u16) {
        if best.as_ref().is_none_or(|b| bytes.len() < b.0.len()) {
            *best = Some((bytes, version));
        }
    }
    if int::run_count(&bits) <= n / 8 {
        let mut buf = vec![RLE];
        int::encode_rle_bits(&bits, &mut buf);
        consider(&mut best, buf, 1);
    }
    let mut decimal_small = false;
    if let Some((buf, version)) = encode_decimal(v, opts) {
        // Below 2 bytes per value Gorilla cannot win on real data; skip the trial.
        decimal_small = buf.len() < 2 * n;
        consider(&mut best, buf, version);
    }
    if !decimal_small || opts.exhaustive {
        let mut buf = vec![GORILLA_XOR];
        gorilla::encode_xor(&bits, &mut buf);
        consider(&mut best, buf, 1);
        // Byte planes of the bit patterns: high-entropy floats (every mantissa bit
        // noise) cost Gorilla its control bits plus every mantissa bit; split planes store
        // the random low planes raw and entropy-code the sign/exponent plane.
        let mut buf = vec![SPLIT];
        let as_int: Vec<i64> = bits.iter().map(|&b| b as i64).collect();
        intstream::encode(&as_int, false, opts, &mut buf);
        consider(&mut best, buf, 2);
    }
    if best.as_ref().is_none_or(|b| b.0.len() > 1 + 8 * n) {
        let mut buf = Vec::with_capacity(1 + 8 * n);
        buf.push(RAW);
        for b in &bits {
            buf.extend_from_slice(&b.to_le_bytes());
        }
        consider(&mut best, buf, 1);
    }
    let (bytes, version) = best.expect("at least one candidate");
    out.extend_from_slice(&bytes);
    (bytes[0], version)
}

/// Decodes `out.len()` values (codec byte then payload) and returns the codec id.
///
/// # Errors
/// Unknown codec or a corrupt/truncated payload.
pub fn decode(c: &mut Cursor, out: &mut [f64]) -> Result<u8> {
    let at = c.pos() as u64;
    let codec = c.u8("f64 codec")?;
    let n = out.len();
    match codec {
        RAW => {
            let bytes = c.take(n.saturating_mul(8), "RAW f64 values")?;
            for (o, b) in out.iter_mut().zip(bytes.chunks_exact(8)) {
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                *o = f64::from_bits(u64::from_le_bytes(a));
            }
        }
        CONST => out.fill(f64::from_bits(c.u64("CONST f64")?)),
        RLE => int::decode_rle(c, out, f64::from_bits)?,
        GORILLA_XOR => gorilla::decode_xor(c, out)?,
        DECIMAL => decode_decimal(c, out)?,
        SPLIT if c.version() >= 2 => scratch::with_ints(n, |ints| {
            intstream::decode(c, ints)?;
            for (o, &b) in out.iter_mut().zip(ints.iter()) {
                *o = f64::from_bits(b as u64);
            }
            Ok::<(), Error>(())
        })?,
        _ => {
            return Err(Error::corrupt(
                format!(
                    "f64 codec {codec} is unknown in format version {}",
                    c.version()
                ),
                Some(at),
            ))
        }
    }
    Ok(codec)
}

fn decode_decimal(c: &mut Cursor, out: &mut [f64]) -> Result<()> {
    let at = c.pos() as u64;
    let n = out.len();
    let e = c.u8("DECIMAL exponent")?;
    if e > MAX_EXPONENT {
        return Err(Error::corrupt(
            format!("DECIMAL exponent {e} exceeds 18"),
            Some(at),
        ));
    }
    let nexc = c.varint_max(n as u64, "DECIMAL exception count")?;
    let mut exc = Vec::with_capacity(nexc);
    let mut next = 0u64;
    for _ in 0..nexc {
        let gap = c.varint("DECIMAL exception gap")?;
        let pos = next
            .checked_add(gap)
            .filter(|&p| p < n as u64)
            .ok_or_else(|| Error::corrupt("DECIMAL exception position out of range", Some(at)))?;
        exc.push((pos as usize, c.u64("DECIMAL exception bits")?));
        next = pos + 1;
    }
    let p = POW10[e as usize];
    let bad = scratch::with_ints(n, |mant| {
        int::decode(c, Allowed::DECIMAL_INNER, mant)?;
        // Sticky flag instead of an early return keeps the loop branch-free.
        let mut bad = false;
        for (o, &m) in out.iter_mut().zip(mant.iter()) {
            bad |= m.unsigned_abs() > MAX_MANTISSA as u64;
            *o = m as f64 / p;
        }
        Ok::<bool, Error>(bad)
    })?;
    if bad {
        return Err(Error::corrupt("DECIMAL mantissa exceeds 2^53", Some(at)));
    }
    for (pos, bits) in exc {
        out[pos] = f64::from_bits(bits);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rt(v: &[f64]) -> (u8, usize) {
        let mut out = Vec::new();
        let codec = encode(v, &Options::default(), &mut out);
        let mut back = vec![0.0; v.len()];
        let mut c = Cursor::new(&out);
        assert_eq!(decode(&mut c, &mut back).unwrap(), codec);
        c.finish("x").unwrap();
        let a: Vec<u64> = v.iter().map(|x| x.to_bits()).collect();
        let b: Vec<u64> = back.iter().map(|x| x.to_bits()).collect();
        assert_eq!(a, b, "codec {}", name(codec));
        (codec, out.len())
    }

    fn special() -> impl Strategy<Value = f64> {
        prop_oneof![
            any::<f64>(),
            any::<u64>().prop_map(f64::from_bits),
            Just(-0.0),
            Just(0.0),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(f64::from_bits(0x7ff8_0000_dead_beef)),
            Just(f64::from_bits(0xfff0_0000_0000_0001)),
            Just(f64::MIN_POSITIVE / 3.0),
            Just(5e-324),
            (-100000i64..100000).prop_map(|m| m as f64 / 10.0),
            (-100000i64..100000).prop_map(|m| m as f64 / 1000.0),
        ]
    }

    proptest! {
        #[test]
        fn any_values(v in proptest::collection::vec(special(), 0..300)) { rt(&v); }

        #[test]
        fn decimals_with_specials(m in proptest::collection::vec(-5000i64..5000, 1..400),
                                  e in 0usize..6, sp in proptest::collection::vec((any::<prop::sample::Index>(), special()), 0..8)) {
            let mut v: Vec<f64> = m.iter().map(|&x| x as f64 / POW10[e]).collect();
            for (i, x) in sp { let k = i.index(v.len()); v[k] = x; }
            rt(&v);
        }
    }

    #[test]
    fn decimal_wins_on_sensor_values() {
        let v: Vec<f64> = (0..4096)
            .map(|i| ((i as f64 * 0.01).sin() * 100.0).round() / 10.0 + 20.0)
            .collect();
        let (codec, len) = rt(&v);
        assert_eq!(codec, DECIMAL);
        assert!(len < 4096, "{len}");
    }

    /// Amplitudes whose every mantissa bit is noise (tools/gen's vibration), with
    /// special values among them.
    fn noisy(n: usize) -> Vec<f64> {
        let mut x = 3u64;
        let mut unit = move || {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 11) as f64 / (1u64 << 53) as f64
        };
        (0..n)
            .map(|i| match i % 1000 {
                7 => f64::from_bits(0x7ff8_0000_dead_beef),
                8 => -0.0,
                9 => 5e-324,
                _ => {
                    let g = unit() + unit() + unit() + unit() - 2.0;
                    0.35 * (1.0 + 0.26 * g).abs() + 1e-4 * unit()
                }
            })
            .collect()
    }

    #[test]
    fn split_wins_on_high_entropy_floats() {
        let v = noisy(8192);
        let (codec, len) = rt(&v);
        assert_eq!(codec, SPLIT);
        let mut gorilla = Vec::new();
        let bits: Vec<u64> = v.iter().map(|x| x.to_bits()).collect();
        gorilla::encode_xor(&bits, &mut gorilla);
        // Measured 6.6 bytes per value against Gorilla's 7.0 on this data.
        assert!(len * 100 < gorilla.len() * 97, "{len} vs {}", gorilla.len());
    }

    #[test]
    fn split_is_corrupt_in_format_version_1() {
        let v = noisy(500);
        let mut out = Vec::new();
        assert_eq!(encode(&v, &Options::default(), &mut out), SPLIT);
        let mut back = vec![0.0; v.len()];
        let e = decode(&mut Cursor::new(&out).with_version(1), &mut back).unwrap_err();
        assert!(e.is_corruption());
        assert!(e.to_string().contains("f64 codec 5 is unknown"), "{e}");
    }

    #[test]
    fn bad_exponent_is_corrupt() {
        let bytes = [DECIMAL, 19, 0, int::CONST, 0, 0, 0, 0, 0, 0, 0, 0];
        let mut out = [0.0; 3];
        assert!(decode(&mut Cursor::new(&bytes), &mut out)
            .unwrap_err()
            .is_corruption());
    }
}
