//! f64 codecs. All are bit-exact: values are handled as their IEEE 754 bit patterns, and
//! DECIMAL only maps a value to an integer when decoding reproduces the original bits.

use super::FormatVersion;
use super::bytes::{put_varint, Cursor};
use super::int::{self, Allowed};
use super::intstream;
use super::{gorilla, pco_chunk, scratch, Options};
use crate::error::{Error, Result, Rule};

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
/// DECIMAL whose exceptions are mostly decimals at a second exponent: those are stored
/// as integer streams of positions and mantissas ("patches"), the rest raw.
pub const DECIMAL_PATCHED: u8 = 6;
/// pcodec chunk (format.md §10.6), format version 5.
pub const PCO: u8 = super::pco_chunk::F64_CODEC;

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
    FloatCodec::from_id(codec).map_or("unknown", FloatCodec::name)
}

/// An f64 codec (format.md §10.1), typed like [`int::IntCodec`]: decoding dispatches on
/// it exhaustively, and each codec knows the format version that introduced it.
///
/// ```
/// use iotarc::codec::float::FloatCodec;
/// use iotarc::codec::FormatVersion;
/// assert_eq!(FloatCodec::from_id(6), Some(FloatCodec::DecimalPatched));
/// assert_eq!(FloatCodec::Split.since(), FormatVersion::V2);
/// assert_eq!(FloatCodec::from_id(8), None);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FloatCodec {
    /// [`RAW`].
    Raw,
    /// [`CONST`].
    Const,
    /// [`RLE`].
    Rle,
    /// [`GORILLA_XOR`].
    GorillaXor,
    /// [`DECIMAL`].
    Decimal,
    /// [`SPLIT`].
    Split,
    /// [`DECIMAL_PATCHED`].
    DecimalPatched,
    /// [`PCO`].
    Pco,
}

impl FloatCodec {
    /// The codec with id `id`, if any version defines one.
    pub const fn from_id(id: u8) -> Option<FloatCodec> {
        Some(match id {
            RAW => FloatCodec::Raw,
            CONST => FloatCodec::Const,
            RLE => FloatCodec::Rle,
            GORILLA_XOR => FloatCodec::GorillaXor,
            DECIMAL => FloatCodec::Decimal,
            SPLIT => FloatCodec::Split,
            DECIMAL_PATCHED => FloatCodec::DecimalPatched,
            PCO => FloatCodec::Pco,
            _ => return None,
        })
    }

    /// The id stored in a chunk and a ColumnEntry.
    pub const fn id(self) -> u8 {
        match self {
            FloatCodec::Raw => RAW,
            FloatCodec::Const => CONST,
            FloatCodec::Rle => RLE,
            FloatCodec::GorillaXor => GORILLA_XOR,
            FloatCodec::Decimal => DECIMAL,
            FloatCodec::Split => SPLIT,
            FloatCodec::DecimalPatched => DECIMAL_PATCHED,
            FloatCodec::Pco => PCO,
        }
    }

    /// The first format version that defines the codec.
    pub const fn since(self) -> FormatVersion {
        match self {
            FloatCodec::Split => FormatVersion::V2,
            FloatCodec::DecimalPatched => FormatVersion::V3,
            FloatCodec::Pco => pco_chunk::SINCE_VERSION,
            _ => FormatVersion::V1,
        }
    }

    /// Human-readable name (for stats and errors).
    pub const fn name(self) -> &'static str {
        match self {
            FloatCodec::Raw => "raw",
            FloatCodec::Const => "const",
            FloatCodec::Rle => "rle",
            FloatCodec::GorillaXor => "gorilla-xor",
            FloatCodec::Decimal => "decimal",
            FloatCodec::Split => "split",
            FloatCodec::DecimalPatched => "decimal-patched",
            FloatCodec::Pco => "pco",
        }
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

/// Candidate decimal exponents from a sample, smallest first: each one that first lets
/// at least 75 % of the sampled values be exact decimals, then each later one that covers
/// more of them (at most three of these); and each exponent that is the smallest for at
/// least a quarter of the values, as the main exponent of DECIMAL_PATCHED. Empty if
/// most values are not short decimals.
///
/// One fixed coverage rule is not enough: a series of integers with a few long decimals
/// (Beijing's O3: 97 % integers, 3 % with four decimals) is far smaller at e = 0 with
/// exceptions than at e = 4, while a series of one-decimal values wants e = 1. Where
/// converted readings dominate for a while (O3 in late 2013: 63 % four-decimal values),
/// integers at e = 0 with the rest as patches at e = 4 beat one stream at e = 4. The
/// caller ranks every candidate and keeps the smallest.
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
    let mut covering = 0;
    for (e, &h) in hist.iter().enumerate() {
        acc += h;
        let covers = h > 0 && 4 * acc >= 3 * sampled && covering < 3;
        covering += covers as usize;
        if covers || 4 * h >= sampled {
            out.push(e);
        }
    }
    out
}

/// DECIMAL exceptions: (position, raw bits).
type Exceptions = Vec<(usize, u64)>;

/// Mantissas at exponent `e` (exception positions repeat the previous mantissa) and the
/// exceptions; `None` when more than `max_exc` of the values are exceptions.
fn decimal_parts(v: &[f64], e: usize, max_exc: usize) -> Option<(Vec<i64>, Exceptions)> {
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
                if exc.len() > max_exc {
                    return None;
                }
            }
        }
    }
    Some((mant, exc))
}

/// The exceptions of a DECIMAL_PATCHED block: those that are decimals at `e2` as
/// position gaps and mantissas, the others raw.
struct Patches {
    e2: usize,
    gaps: Vec<i64>,
    mant: Vec<i64>,
    raw: Exceptions,
}

impl Patches {
    /// Splits `exc` at the exponent that is the smallest for most of them; `None` if
    /// none is a short decimal.
    fn split(exc: &Exceptions) -> Option<Patches> {
        let mut hist = [0usize; MAX_EXPONENT as usize + 1];
        for &(_, b) in exc {
            if let Some(e) = min_exponent(f64::from_bits(b)) {
                hist[e] += 1;
            }
        }
        let (e2, &top) = hist
            .iter()
            .enumerate()
            .max_by_key(|&(e, h)| (*h, usize::MAX - e))?;
        if top == 0 {
            return None;
        }
        let mut p = Patches {
            e2,
            gaps: Vec::with_capacity(top),
            mant: Vec::with_capacity(top),
            raw: Vec::new(),
        };
        let mut next = 0;
        for &(pos, b) in exc {
            match decimal_mantissa(f64::from_bits(b), e2) {
                Some(m) => {
                    p.gaps.push((pos - next) as i64);
                    p.mant.push(m);
                    next = pos + 1;
                }
                None => p.raw.push((pos, b)),
            }
        }
        Some(p)
    }

    /// Estimated size of the patch streams, as [`int::estimate`] ranks integer codecs.
    fn estimate(&self, opts: &Options) -> usize {
        2 + EXCEPTION_BYTES * self.raw.len()
            + int::estimate(&self.gaps, opts)
            + int::estimate(&self.mant, opts)
    }
}

/// Approximate bytes per raw exception (a position gap and a bit pattern).
const EXCEPTION_BYTES: usize = 9;

/// Appends DECIMAL's exception list.
fn put_exceptions(out: &mut Vec<u8>, exc: &[(usize, u64)]) {
    put_varint(out, exc.len() as u64);
    let mut next = 0;
    for &(pos, bits) in exc {
        put_varint(out, (pos - next) as u64);
        out.extend_from_slice(&bits.to_le_bytes());
        next = pos + 1;
    }
}

/// What a decimal block stores besides its main mantissas.
enum Rest<'a> {
    /// Raw exceptions only: DECIMAL.
    Raw(&'a [(usize, u64)]),
    /// Patches and their own raw exceptions: DECIMAL_PATCHED.
    Patched(&'a Patches),
}

/// The DECIMAL or DECIMAL_PATCHED encoding and the format version it needs.
fn write_decimal(
    e: usize,
    mant: &[i64],
    rest: Rest,
    opts: &Options,
) -> (Vec<u8>, FormatVersion) {
    let mut out = Vec::with_capacity(mant.len() + 16);
    let mut version = FormatVersion::V1;
    match rest {
        Rest::Raw(exc) => {
            out.push(DECIMAL);
            out.push(e as u8);
            put_exceptions(&mut out, exc);
        }
        Rest::Patched(p) => {
            out.push(DECIMAL_PATCHED);
            out.push(e as u8);
            put_exceptions(&mut out, &p.raw);
            out.push(p.e2 as u8);
            put_varint(&mut out, p.gaps.len() as u64);
            for s in [&p.gaps, &p.mant] {
                let (_, v) =
                    int::encode_versioned(s, Allowed::DECIMAL_INNER, false, opts, &mut out);
                version = version.max(v);
            }
            version = version.max(FormatVersion::V3);
        }
    }
    let (_, v) = int::encode_versioned(mant, Allowed::DECIMAL_MAIN, false, opts, &mut out);
    (out, version.max(v))
}

/// The DECIMAL or DECIMAL_PATCHED encoding at the best candidate exponent. Candidates
/// are ranked by estimated size (raw exceptions cost about 9 bytes each) and only the
/// winner is encoded, unless it has patches: their estimate is coarse for short patch
/// streams (a few rain readings), so then the best plain candidate is encoded too and the
/// smaller kept, and patches never cost bytes.
fn encode_decimal(v: &[f64], opts: &Options) -> Option<(Vec<u8>, FormatVersion)> {
    /// (estimate, e, mantissas, exceptions or patches)
    type Plain = (usize, usize, Vec<i64>, Exceptions);
    type Patched = (usize, usize, Vec<i64>, Patches);
    let cands = candidate_exponents(v);
    let mut plain: Option<Plain> = None;
    let mut patched: Option<Patched> = None;
    for &e in &cands {
        let Some((mant, exc)) = decimal_parts(v, e, v.len() * 3 / 4 + 1) else {
            continue;
        };
        if cands.len() == 1 && exc.is_empty() {
            return Some(write_decimal(e, &mant, Rest::Raw(&exc), opts));
        }
        let base = int::estimate(&mant, opts);
        if let Some(p) = Patches::split(&exc) {
            let est = base + p.estimate(opts);
            if patched.as_ref().is_none_or(|b| est < b.0) {
                patched = Some((est, e, mant.clone(), p));
            }
        }
        // More than a quarter of exceptions is never the best plain encoding.
        let est = base + EXCEPTION_BYTES * exc.len();
        if 4 * exc.len() <= v.len() + 4 && plain.as_ref().is_none_or(|b| est < b.0) {
            plain = Some((est, e, mant, exc));
        }
    }
    let plain_bytes = |p: &Plain| write_decimal(p.1, &p.2, Rest::Raw(&p.3), opts);
    let patched_bytes = |q: &Patched| write_decimal(q.1, &q.2, Rest::Patched(&q.3), opts);
    match (plain, patched) {
        (Some(p), Some(q)) if q.0 < p.0 => {
            let (a, b) = (plain_bytes(&p), patched_bytes(&q));
            Some(if b.0.len() < a.0.len() { b } else { a })
        }
        (Some(p), _) => Some(plain_bytes(&p)),
        (None, Some(q)) => Some(patched_bytes(&q)),
        (None, None) => None,
    }
}

/// Appends the best encoding of `v` (codec byte then payload) and returns the codec.
pub fn encode(v: &[f64], opts: &Options, out: &mut Vec<u8>) -> u8 {
    encode_versioned(v, opts, out).0
}

/// [`encode`], also returning the lowest format version that can decode what was
/// written (a writer stamps its file with the highest of these, format.md §14).
pub fn encode_versioned(v: &[f64], opts: &Options, out: &mut Vec<u8>) -> (u8, FormatVersion) {
    let n = v.len();
    let bits: Vec<u64> = v.iter().map(|x| x.to_bits()).collect();
    if n == 0 || bits.iter().all(|&b| b == bits[0]) {
        out.push(CONST);
        out.extend_from_slice(&bits.first().copied().unwrap_or(0).to_le_bytes());
        return (CONST, FormatVersion::V1);
    }
    // (bytes, format version); the codec is bytes[0].
    let mut best: Option<(Vec<u8>, FormatVersion)> = None;
    fn consider(best: &mut Option<(Vec<u8>, FormatVersion)>, bytes: Vec<u8>, version: FormatVersion) {
        if best.as_ref().is_none_or(|b| bytes.len() < b.0.len()) {
            *best = Some((bytes, version));
        }
    }
    if int::run_count(&bits) <= n / 8 {
        let mut buf = vec![RLE];
        int::encode_rle_bits(&bits, &mut buf);
        consider(&mut best, buf, FormatVersion::V1);
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
        consider(&mut best, buf, FormatVersion::V1);
        // Byte planes of the bit patterns: high-entropy floats (every mantissa bit
        // noise) cost Gorilla its control bits plus every mantissa bit; split planes store
        // the random low planes raw and entropy-code the sign/exponent plane.
        let mut buf = vec![SPLIT];
        let as_int: Vec<i64> = bits.iter().map(|&b| b as i64).collect();
        intstream::encode(&as_int, false, opts, &mut buf);
        consider(&mut best, buf, FormatVersion::V2);
    }
    let best_len = best.as_ref().map_or(usize::MAX, |b| b.0.len());
    if let Some(level) = opts.pco_level {
        if pco_chunk::promising(v, best_len, Some(level)) {
            let mut buf = Vec::new();
            if pco_chunk::encode(v, PCO, level, &mut buf) {
                consider(&mut best, buf, pco_chunk::SINCE_VERSION);
            }
        }
    }
    if best.as_ref().is_none_or(|b| b.0.len() > 1 + 8 * n) {
        let mut buf = Vec::with_capacity(1 + 8 * n);
        buf.push(RAW);
        for b in &bits {
            buf.extend_from_slice(&b.to_le_bytes());
        }
        consider(&mut best, buf, FormatVersion::V1);
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
    let Some(kind) = FloatCodec::from_id(codec).filter(|k| k.since() <= c.version()) else {
        return Err(Error::corrupt_rule(
            Rule::C(21),
            format!(
                "f64 codec {codec} is unknown in format version {}",
                c.version()
            ),
            Some(at),
        ));
    };
    match kind {
        FloatCodec::Raw => {
            let bytes = c.take(n.saturating_mul(8), "RAW f64 values")?;
            for (o, b) in out.iter_mut().zip(bytes.chunks_exact(8)) {
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                *o = f64::from_bits(u64::from_le_bytes(a));
            }
        }
        FloatCodec::Const => out.fill(f64::from_bits(c.u64("CONST f64")?)),
        FloatCodec::Rle => int::decode_rle(c, out, f64::from_bits)?,
        FloatCodec::GorillaXor => gorilla::decode_xor(c, out)?,
        FloatCodec::Decimal => decode_decimal(c, out)?,
        FloatCodec::DecimalPatched => decode_decimal_patched(c, out)?,
        FloatCodec::Pco => pco_chunk::decode(c, out)?,
        FloatCodec::Split => scratch::with_ints(n, |ints| {
            intstream::decode(c, ints)?;
            for (o, &b) in out.iter_mut().zip(ints.iter()) {
                *o = f64::from_bits(b as u64);
            }
            Ok::<(), Error>(())
        })?,
    }
    Ok(codec)
}

/// Reads a decimal exponent (0..=18).
fn read_exponent(c: &mut Cursor, rule: Rule, what: &str) -> Result<usize> {
    let at = c.pos() as u64;
    let e = c.u8(what)?;
    if e > MAX_EXPONENT {
        return Err(Error::corrupt_rule(
            rule,
            format!("{what} {e} exceeds {MAX_EXPONENT}"),
            Some(at),
        ));
    }
    Ok(e as usize)
}

/// Reads DECIMAL's exception list (strictly increasing positions below `n`).
fn read_exceptions(c: &mut Cursor, n: usize) -> Result<Exceptions> {
    let at = c.pos() as u64;
    // Each exception takes at least 9 bytes, so the count is bounded by what remains.
    let nexc = c.varint_max(
        (n as u64).min(c.remaining() as u64 / 9),
        "DECIMAL exception count",
    )?;
    let mut exc = Vec::with_capacity(nexc);
    let mut next = 0u64;
    for _ in 0..nexc {
        let gap = c.varint("DECIMAL exception gap")?;
        let pos = next
            .checked_add(gap)
            .filter(|&p| p < n as u64)
            .ok_or_else(|| {
                Error::corrupt_rule(
                    Rule::C(46),
                    "DECIMAL exception position out of range",
                    Some(at),
                )
            })?;
        exc.push((pos as usize, c.u64("DECIMAL exception bits")?));
        next = pos + 1;
    }
    Ok(exc)
}

/// Decodes an integer sequence into `out` as mantissas at exponent `e`.
fn decode_mantissas(
    c: &mut Cursor,
    allowed: Allowed,
    e: usize,
    rule: Rule,
    what: &str,
    out: &mut [f64],
) -> Result<()> {
    let at = c.pos() as u64;
    let p = POW10[e];
    let bad = scratch::with_ints(out.len(), |mant| {
        int::decode(c, allowed, mant)?;
        // Sticky flag instead of an early return keeps the loop branch-free.
        let mut bad = false;
        for (o, &m) in out.iter_mut().zip(mant.iter()) {
            bad |= m.unsigned_abs() > MAX_MANTISSA as u64;
            *o = m as f64 / p;
        }
        Ok::<bool, Error>(bad)
    })?;
    if bad {
        return Err(Error::corrupt_rule(
            rule,
            format!("{what} exceeds 2^53"),
            Some(at),
        ));
    }
    Ok(())
}

fn decode_decimal(c: &mut Cursor, out: &mut [f64]) -> Result<()> {
    let e = read_exponent(c, Rule::C(44), "DECIMAL exponent")?;
    let exc = read_exceptions(c, out.len())?;
    decode_mantissas(
        c,
        Allowed::DECIMAL_MAIN,
        e,
        Rule::C(44),
        "DECIMAL mantissa",
        out,
    )?;
    for (pos, bits) in exc {
        out[pos] = f64::from_bits(bits);
    }
    Ok(())
}

fn decode_decimal_patched(c: &mut Cursor, out: &mut [f64]) -> Result<()> {
    let n = out.len();
    let e = read_exponent(c, Rule::C(44), "DECIMAL_PATCHED exponent")?;
    let raw = read_exceptions(c, n)?;
    let e2 = read_exponent(c, Rule::C(56), "DECIMAL_PATCHED patch exponent")?;
    let at = c.pos() as u64;
    let np = c
        .varint_max((n - raw.len()) as u64, "DECIMAL_PATCHED patch count")
        .map_err(|e| e.or_rule(Rule::C(56)))?;
    if np == 0 {
        return Err(Error::corrupt_rule(
            Rule::C(56),
            "DECIMAL_PATCHED patch count 0",
            Some(at),
        ));
    }
    let mut gaps = vec![0i64; np];
    int::decode(c, Allowed::DECIMAL_INNER, &mut gaps)?;
    let mut patch = vec![0.0; np];
    decode_mantissas(
        c,
        Allowed::DECIMAL_INNER,
        e2,
        Rule::C(56),
        "DECIMAL_PATCHED patch mantissa",
        &mut patch,
    )?;
    decode_mantissas(
        c,
        Allowed::DECIMAL_MAIN,
        e,
        Rule::C(44),
        "DECIMAL_PATCHED mantissa",
        out,
    )?;
    // Patch positions, merged with the raw ones to check that no position is both.
    let mut raw_at = raw.iter().map(|r| r.0).peekable();
    let mut next = 0u64;
    for (&gap, &x) in gaps.iter().zip(&patch) {
        let pos = u64::try_from(gap)
            .ok()
            .and_then(|g| next.checked_add(g))
            .filter(|&p| p < n as u64)
            .ok_or_else(|| {
                Error::corrupt_rule(
                    Rule::C(56),
                    format!("DECIMAL_PATCHED patch gap {gap} leads out of range"),
                    Some(at),
                )
            })? as usize;
        while raw_at.next_if(|&r| r < pos).is_some() {}
        if raw_at.peek() == Some(&pos) {
            return Err(Error::corrupt_rule(
                Rule::C(56),
                format!("DECIMAL_PATCHED position {pos} is both a patch and an exception"),
                Some(at),
            ));
        }
        out[pos] = x;
        next = pos as u64 + 1;
    }
    for (pos, bits) in raw {
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
        // C21
        let v = noisy(500);
        let mut out = Vec::new();
        let no_pco = Options {
            pco_level: None,
            ..Options::default()
        };
        assert_eq!(encode(&v, &no_pco, &mut out), SPLIT);
        let mut back = vec![0.0; v.len()];
        let e = decode(&mut Cursor::new(&out).with_version(FormatVersion::V1), &mut back).unwrap_err();
        assert!(e.is_corruption());
        assert!(e.to_string().contains("f64 codec 5 is unknown"), "{e}");
    }

    /// Integer readings with stretches of unit-converted ones (multiples of 0.2142, four
    /// decimals), as Beijing's O3 in 2013.
    fn mixed_precision(n: usize) -> Vec<f64> {
        let mut level = 600i64;
        let mut x = 7u64;
        (0..n)
            .map(|i| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                level = (level + (x >> 59) as i64 - 16).clamp(5, 3000);
                if (i / 100) % 3 == 1 {
                    (level * 2142) as f64 / 1e4
                } else {
                    (level / 10) as f64
                }
            })
            .collect()
    }

    #[test]
    fn patched_wins_on_mixed_precision() {
        let mut v = mixed_precision(4096);
        v[5] = f64::from_bits(0x7ff8_0000_dead_beef);
        v[150] = -0.0;
        v[151] = 4.666_666_666_666_67;
        let (codec, len) = rt(&v);
        assert_eq!(codec, DECIMAL_PATCHED);
        // Against DECIMAL at either exponent: the integers with 1/3 raw exceptions, or
        // every value at four decimals.
        for e in [0, 4] {
            let (mant, exc) = decimal_parts(&v, e, v.len()).unwrap();
            let plain = write_decimal(e, &mant, Rest::Raw(&exc), &Options::default()).0;
            assert!(
                len * 10 < plain.len() * 8,
                "e = {e}: {len} vs {}",
                plain.len()
            );
        }
    }

    #[test]
    fn patched_is_corrupt_before_format_version_3() {
        // C21
        let v = mixed_precision(600);
        let mut out = Vec::new();
        assert_eq!(encode(&v, &Options::default(), &mut out), DECIMAL_PATCHED);
        let mut back = vec![0.0; v.len()];
        for version in [FormatVersion::V1, FormatVersion::V2] {
            let e = decode(&mut Cursor::new(&out).with_version(version), &mut back).unwrap_err();
            assert!(e.to_string().contains("f64 codec 6 is unknown"), "{e}");
        }
    }

    /// Readings at one decimal that mostly step by a few tenths and now and then jump
    /// (a CO2 sensor's): bit-packed mantissa deltas pay the widest jump's width on every
    /// value, PCO about the steps' entropy.
    fn jumpy_decimals(n: usize) -> Vec<f64> {
        let mut x = 11u64;
        let mut next = move || {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            x
        };
        let mut level = 6000i64;
        (0..n)
            .map(|_| {
                let mut step: i64 = (0..4).map(|_| (next() >> 62) as i64).sum::<i64>() - 6;
                if next() % 50 == 0 {
                    step += (next() >> 53) as i64 - 1024;
                }
                level = (level + step).clamp(3000, 20000);
                level as f64 / 10.0
            })
            .collect()
    }

    /// format.md §10.3, C45: in v5 the main mantissas of DECIMAL may be PCO; an earlier
    /// file holding the same chunk is corrupt.
    #[test]
    fn decimal_mantissas_may_be_pco_from_version_5() {
        let v = jumpy_decimals(4096);
        let (codec, len) = rt(&v);
        assert_eq!(codec, DECIMAL);
        let mut out = Vec::new();
        let (_, version) = encode_versioned(&v, &Options::default(), &mut out);
        // DECIMAL, e = 1, no exceptions, then the inner codec.
        assert_eq!(out[..4], [DECIMAL, 1, 0, int::PCO]);
        assert_eq!(version, FormatVersion::V5);
        let no_pco = Options {
            pco_level: None,
            ..Options::default()
        };
        let mut plain = Vec::new();
        encode(&v, &no_pco, &mut plain);
        // Measured 1913 bytes against 2111 without PCO.
        assert!(len * 100 < plain.len() * 95, "{len} vs {}", plain.len());
        let mut back = vec![0.0; v.len()];
        let e = decode(&mut Cursor::new(&out).with_version(FormatVersion::V4), &mut back).unwrap_err();
        assert!(e.is_corruption());
        assert!(e.to_string().contains("integer codec 8 is unknown"), "{e}");
    }

    /// C45: DECIMAL_PATCHED's gaps and patch mantissas are followed by another
    /// sequence, so they may not be PCO, whose payload does not delimit itself.
    #[test]
    fn pco_patch_sequences_are_corrupt() {
        // C45
        let mut good = patched_bytes(&[], 1, 0, 25);
        // codec, e, exc_count, e2, patch_count, then the gaps' codec
        assert_eq!(good[5], int::CONST);
        good[5] = int::PCO;
        let mut back = [0.0; 4];
        let e = decode(&mut Cursor::new(&good).with_version(FormatVersion::V5), &mut back).unwrap_err();
        assert!(e.is_corruption());
        assert!(e.to_string().contains("not allowed here"), "{e}");
    }

    /// A DECIMAL_PATCHED payload over 4 values: e = 0, the given raw exceptions
    /// (position gap, bits), e2 = 1, `np` patches with CONST gap `gap` and CONST mantissa
    /// `pm`, and CONST main mantissa 7.
    fn patched_bytes(raw: &[(u8, u64)], np: u8, gap: i64, pm: i64) -> Vec<u8> {
        let mut b = vec![DECIMAL_PATCHED, 0, raw.len() as u8];
        for &(g, bits) in raw {
            b.push(g);
            b.extend_from_slice(&bits.to_le_bytes());
        }
        b.extend_from_slice(&[1, np]);
        for x in [gap, pm, 7] {
            b.push(int::CONST);
            b.extend_from_slice(&x.to_le_bytes());
        }
        b
    }

    fn decode4(bytes: &[u8]) -> Result<[f64; 4]> {
        let mut out = [0.0; 4];
        let mut c = Cursor::new(bytes);
        decode(&mut c, &mut out)?;
        c.finish("DECIMAL_PATCHED")?;
        Ok(out)
    }

    #[test]
    fn patched_layout_decodes_as_specified() {
        // Patches at 1 and 3 (gaps 1, 1) holding 2.5; a raw -0.0 at 0; the rest 7.
        let bytes = patched_bytes(&[(0, (-0.0f64).to_bits())], 2, 1, 25);
        let got = decode4(&bytes).unwrap();
        let bits: Vec<u64> = got.iter().map(|x| x.to_bits()).collect();
        let want: Vec<u64> = [-0.0, 2.5, 7.0, 2.5]
            .iter()
            .map(|x: &f64| x.to_bits())
            .collect();
        assert_eq!(bits, want);
    }

    #[test]
    fn bad_patches_are_corrupt() {
        // C56
        let cases: [(Vec<u8>, &str); 6] = [
            (patched_bytes(&[], 0, 0, 1), "patch count 0"),
            (patched_bytes(&[], 5, 0, 1), "patch count"),
            (patched_bytes(&[], 1, -1, 1), "patch gap -1"),
            (patched_bytes(&[], 2, 2, 1), "patch gap 2"),
            (
                patched_bytes(&[(1, 0)], 1, 1, 1),
                "both a patch and an exception",
            ),
            (
                patched_bytes(&[], 1, 0, (1 << 53) + 1),
                "patch mantissa exceeds 2^53",
            ),
        ];
        for (bytes, what) in cases {
            let e = decode4(&bytes).unwrap_err();
            assert!(e.is_corruption(), "{what}: {e}");
            assert!(e.to_string().contains(what), "{what}: {e}");
        }
        let mut bytes = patched_bytes(&[], 1, 0, 1);
        bytes[3] = 19; // e2
        let e = decode4(&bytes).unwrap_err();
        assert!(
            e.to_string().contains("patch exponent 19 exceeds 18"),
            "{e}"
        );
        // Every truncation is an error, never a panic.
        let bytes = patched_bytes(&[(0, 0)], 2, 1, 25);
        for cut in 0..bytes.len() {
            assert!(decode4(&bytes[..cut]).is_err(), "cut at {cut}");
        }
    }

    proptest! {
        #[test]
        fn mixed_precisions_with_specials(m in proptest::collection::vec(-50000i64..50000, 1..600),
                                          e in proptest::collection::vec(0usize..6, 1..4),
                                          run in 1usize..80,
                                          sp in proptest::collection::vec((any::<prop::sample::Index>(), special()), 0..8)) {
            // Runs of values at a few exponents, as mixed-precision series have them.
            let mut v: Vec<f64> = m.iter().enumerate()
                .map(|(i, &x)| x as f64 / POW10[e[(i / run) % e.len()]])
                .collect();
            for (i, x) in sp { let k = i.index(v.len()); v[k] = x; }
            rt(&v);
        }
    }

    #[test]
    fn bad_exponent_is_corrupt() {
        // C44
        let bytes = [DECIMAL, 19, 0, int::CONST, 0, 0, 0, 0, 0, 0, 0, 0];
        let mut out = [0.0; 3];
        assert!(decode(&mut Cursor::new(&bytes), &mut out)
            .unwrap_err()
            .is_corruption());
    }
}
