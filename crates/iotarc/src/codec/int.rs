//! Integer codecs, used for i64 columns, timestamps and decimal mantissas.
//!
//! Each encoding is a codec byte followed by its payload; the value count comes from the
//! enclosing structure. The encoder tries the transforms that fit the data and keeps the
//! smallest result.

use super::FormatVersion;
use super::bits::bit_width;
use super::bytes::{put_varint, Cursor};
use super::{gorilla, intstream, pco_chunk, Options};
use crate::error::{Error, Result, Rule};

/// `n` little-endian i64 values.
pub const RAW: u8 = 0;
/// One i64 repeated.
pub const CONST: u8 = 1;
/// `first + i * step`.
pub const LINEAR: u8 = 2;
/// IntStream of the values.
pub const FOR: u8 = 3;
/// First value, then an IntStream of deltas.
pub const DELTA: u8 = 4;
/// First value, first delta, then an IntStream of delta-of-deltas.
pub const DOD: u8 = 5;
/// Runs of (value, length).
pub const RLE: u8 = 6;
/// Gorilla delta-of-delta bit stream.
pub const GORILLA_DOD: u8 = 7;
/// pcodec chunk (format.md §10.6), format version 5; not a DECIMAL inner codec.
pub const PCO: u8 = super::pco_chunk::INT_CODEC;

/// Human-readable codec name (for stats and errors); "unknown" for an id no version
/// defines.
pub fn name(codec: u8) -> &'static str {
    IntCodec::from_id(codec).map_or("unknown", IntCodec::name)
}

/// An integer codec (format.md §10.1), typed: decoding dispatches on it exhaustively,
/// and each codec knows the format version that introduced it, so an id a file's
/// version does not define is refused in one place.
///
/// ```
/// use iotarc::codec::int::IntCodec;
/// use iotarc::codec::FormatVersion;
/// assert_eq!(IntCodec::from_id(8), Some(IntCodec::Pco));
/// assert_eq!(IntCodec::Pco.since(), FormatVersion::V5);
/// assert_eq!(IntCodec::from_id(9), None);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IntCodec {
    /// [`RAW`].
    Raw,
    /// [`CONST`].
    Const,
    /// [`LINEAR`].
    Linear,
    /// [`FOR`].
    For,
    /// [`DELTA`].
    Delta,
    /// [`DOD`].
    Dod,
    /// [`RLE`].
    Rle,
    /// [`GORILLA_DOD`].
    GorillaDod,
    /// [`PCO`].
    Pco,
}

impl IntCodec {
    /// The codec with id `id`, if any version defines one.
    pub const fn from_id(id: u8) -> Option<IntCodec> {
        Some(match id {
            RAW => IntCodec::Raw,
            CONST => IntCodec::Const,
            LINEAR => IntCodec::Linear,
            FOR => IntCodec::For,
            DELTA => IntCodec::Delta,
            DOD => IntCodec::Dod,
            RLE => IntCodec::Rle,
            GORILLA_DOD => IntCodec::GorillaDod,
            PCO => IntCodec::Pco,
            _ => return None,
        })
    }

    /// The id stored in a chunk and a ColumnEntry.
    pub const fn id(self) -> u8 {
        match self {
            IntCodec::Raw => RAW,
            IntCodec::Const => CONST,
            IntCodec::Linear => LINEAR,
            IntCodec::For => FOR,
            IntCodec::Delta => DELTA,
            IntCodec::Dod => DOD,
            IntCodec::Rle => RLE,
            IntCodec::GorillaDod => GORILLA_DOD,
            IntCodec::Pco => PCO,
        }
    }

    /// The first format version that defines the codec.
    pub const fn since(self) -> FormatVersion {
        match self {
            IntCodec::Pco => pco_chunk::SINCE_VERSION,
            _ => FormatVersion::V1,
        }
    }

    /// Human-readable name (for stats and errors).
    pub const fn name(self) -> &'static str {
        match self {
            IntCodec::Raw => "raw",
            IntCodec::Const => "const",
            IntCodec::Linear => "linear",
            IntCodec::For => "for",
            IntCodec::Delta => "delta",
            IntCodec::Dod => "dod",
            IntCodec::Rle => "rle",
            IntCodec::GorillaDod => "gorilla-dod",
            IntCodec::Pco => "pco",
        }
    }
}

/// Which codecs a context permits (a set of codec ids as a bit mask).
#[derive(Clone, Copy, Debug)]
pub struct Allowed(u16);

impl Allowed {
    /// Every integer codec: i64 columns and timestamps.
    pub const ALL: Allowed = Allowed(0x1ff);
    /// The codecs legal for DECIMAL_PATCHED's patch gaps and patch mantissas: those
    /// whose payload delimits itself, since another sequence follows it.
    pub const DECIMAL_INNER: Allowed =
        Allowed(1 << CONST | 1 << LINEAR | 1 << FOR | 1 << DELTA | 1 << DOD | 1 << RLE);
    /// The codecs legal for the main mantissa sequence of DECIMAL and DECIMAL_PATCHED,
    /// which runs to the end of the chunk: the inner codecs and, from v5, PCO.
    pub const DECIMAL_MAIN: Allowed = Allowed(Self::DECIMAL_INNER.0 | 1 << PCO);

    fn has(self, c: u8) -> bool {
        c < 16 && self.0 & (1 << c) != 0
    }
}

/// Number of runs of equal values.
pub fn run_count<T: PartialEq>(v: &[T]) -> usize {
    if v.is_empty() {
        return 0;
    }
    1 + v.windows(2).filter(|w| w[0] != w[1]).count()
}

fn encode_rle(v: &[u64], out: &mut Vec<u8>) {
    put_varint(out, run_count(v) as u64);
    let mut i = 0;
    while i < v.len() {
        let mut j = i + 1;
        while j < v.len() && v[j] == v[i] {
            j += 1;
        }
        out.extend_from_slice(&v[i].to_le_bytes());
        put_varint(out, (j - i) as u64);
        i = j;
    }
}

/// Decodes an RLE payload of `out.len()` bit patterns, mapping each through `f`.
pub(crate) fn decode_rle<T: Copy>(
    c: &mut Cursor,
    out: &mut [T],
    f: impl Fn(u64) -> T,
) -> Result<()> {
    let at = c.pos() as u64;
    let n = out.len();
    let runs = c
        .varint_max(n as u64, "RLE run count")
        .map_err(|e| e.or_rule(Rule::C(43)))?;
    if runs == 0 && n > 0 {
        return Err(Error::corrupt_rule(
            Rule::C(43),
            "RLE run count is 0",
            Some(at),
        ));
    }
    let mut pos = 0usize;
    for _ in 0..runs {
        let v = f(c.u64("RLE value")?);
        let len = c
            .varint_max((n - pos) as u64, "RLE run length")
            .map_err(|e| e.or_rule(Rule::C(43)))?;
        if len == 0 {
            return Err(Error::corrupt_rule(
                Rule::C(43),
                "RLE run length is 0",
                Some(at),
            ));
        }
        out[pos..pos + len].fill(v);
        pos += len;
    }
    if pos != n {
        return Err(Error::corrupt_rule(
            Rule::C(43),
            format!("RLE runs cover {pos} of {n} values"),
            Some(at),
        ));
    }
    Ok(())
}

pub(crate) fn encode_rle_bits(v: &[u64], out: &mut Vec<u8>) {
    encode_rle(v, out)
}

/// Spread (in bits) of a sequence, the bit-pack width its IntStream would need before gcd.
fn spread_bits(it: impl Iterator<Item = i64>) -> u32 {
    let (mut lo, mut hi) = (i64::MAX, i64::MIN);
    for v in it {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if lo > hi {
        0
    } else {
        bit_width(hi.wrapping_sub(lo) as u64)
    }
}

/// The IntStream input of a transform and whether it is a signed difference stream.
fn transformed(v: &[i64], t: u8) -> (Vec<i64>, bool) {
    match t {
        DELTA => (
            v.windows(2).map(|w| w[1].wrapping_sub(w[0])).collect(),
            true,
        ),
        DOD => (
            v.windows(3)
                .map(|w| {
                    w[2].wrapping_sub(w[1])
                        .wrapping_sub(w[1].wrapping_sub(w[0]))
                })
                .collect(),
            true,
        ),
        _ => (v.to_vec(), false),
    }
}

/// Estimated encoded size of `v` with the best of FOR, DELTA and DOD (see
/// [`intstream::estimate`]); used to rank alternatives without encoding them.
pub fn estimate(v: &[i64], opts: &Options) -> usize {
    let n = v.len();
    let mut best = intstream::estimate(v, false, opts);
    for t in [DELTA, DOD] {
        if n > 2 {
            let (vals, signed) = transformed(v, t);
            best = best.min(intstream::estimate(&vals, signed, opts) + 16);
        }
    }
    best + 1
}

/// Appends the best encoding of `v` among `allowed` (codec byte then payload) and returns
/// the codec chosen. `timestamps` also tries Gorilla delta-of-delta.
pub fn encode(
    v: &[i64],
    allowed: Allowed,
    timestamps: bool,
    opts: &Options,
    out: &mut Vec<u8>,
) -> u8 {
    encode_versioned(v, allowed, timestamps, opts, out).0
}

/// [`encode`], also returning the lowest format version that can decode what was
/// written (a writer stamps its file with the highest of these, format.md §14).
pub fn encode_versioned(
    v: &[i64],
    allowed: Allowed,
    timestamps: bool,
    opts: &Options,
    out: &mut Vec<u8>,
) -> (u8, FormatVersion) {
    let n = v.len();
    if (n == 0 || v.iter().all(|&x| x == v[0])) && allowed.has(CONST) {
        {
            out.push(CONST);
            out.extend_from_slice(&v.first().copied().unwrap_or(0).to_le_bytes());
            return (CONST, FormatVersion::V1);
        }
    }
    if n >= 2 && allowed.has(LINEAR) {
        let step = v[1].wrapping_sub(v[0]);
        if v.windows(2).all(|w| w[1].wrapping_sub(w[0]) == step) {
            out.push(LINEAR);
            out.extend_from_slice(&v[0].to_le_bytes());
            out.extend_from_slice(&step.to_le_bytes());
            return (LINEAR, FormatVersion::V1);
        }
    }

    // (codec, format version, bytes)
    let mut best: Option<(u8, FormatVersion, Vec<u8>)> = None;
    fn consider(
        best: &mut Option<(u8, FormatVersion, Vec<u8>)>,
        codec: u8,
        version: FormatVersion,
        bytes: Vec<u8>,
    ) {
        if best.as_ref().is_none_or(|(_, _, b)| bytes.len() < b.len()) {
            *best = Some((codec, version, bytes));
        }
    }

    // Transforms for the IntStream. Without zstd the packed size follows from the width,
    // so only the narrowest transform is encoded. With zstd, width is a poor proxy (a
    // noisy series can have deltas as wide as its values yet far lower entropy), so
    // every transform no wider than FOR is encoded and the smallest kept.
    let w_for = spread_bits(v.iter().copied());
    let w_delta = spread_bits(v.windows(2).map(|w| w[1].wrapping_sub(w[0])));
    let w_dod = spread_bits(v.windows(3).map(|w| {
        w[2].wrapping_sub(w[1])
            .wrapping_sub(w[1].wrapping_sub(w[0]))
    }));
    let mut candidates: Vec<(u8, u32)> = vec![(FOR, w_for)];
    if allowed.has(DELTA) && n >= 2 {
        candidates.push((DELTA, w_delta));
    }
    if allowed.has(DOD) && n >= 3 {
        candidates.push((DOD, w_dod));
    }
    let narrowest = candidates.iter().map(|c| c.1).min().unwrap_or(64);
    let trial_all = opts.zstd_level.is_some() && n >= 64;
    // Without zstd the packed size follows from the width: take the narrowest. With zstd,
    // width is a poor proxy (a noisy series can have deltas as wide as its values yet far
    // lower entropy): rank the plausible transforms by estimated size and encode only the
    // winner. Implausible ones are skipped: more than 4 bits wider than the narrowest, and
    // DOD when it is wider than DELTA (differencing noise twice).
    let kept: Vec<u8> = candidates
        .iter()
        .filter(|&&(t, w)| {
            if trial_all {
                w <= narrowest + 4 && !(t == DOD && w > w_delta)
            } else {
                w == narrowest
            }
        })
        .map(|c| c.0)
        .collect();
    let transform = if kept.len() > 1 {
        kept.iter()
            .copied()
            .min_by_key(|&t| {
                let (vals, signed) = transformed(v, t);
                intstream::estimate(&vals, signed, opts)
            })
            .unwrap_or(FOR)
    } else {
        kept.first().copied().unwrap_or(FOR)
    };
    let mut buf = Vec::with_capacity(n + 32);
    buf.push(transform);
    if transform != FOR {
        buf.extend_from_slice(&v[0].to_le_bytes());
    }
    if transform == DOD {
        buf.extend_from_slice(&v[1].wrapping_sub(v[0]).to_le_bytes());
    }
    let (vals, signed) = transformed(v, transform);
    let version = intstream::encode(&vals, signed, opts, &mut buf);
    consider(&mut best, transform, version, buf);

    if allowed.has(RLE) && run_count(v) <= n / 4 {
        let bits: Vec<u64> = v.iter().map(|&x| x as u64).collect();
        let mut buf = vec![RLE];
        encode_rle(&bits, &mut buf);
        consider(&mut best, RLE, FormatVersion::V1, buf);
    }
    // Gorilla's buckets lose to DOD with zstd planes on every corpus we measured, so it
    // is tried only where zstd is off or the block too small for zstd to pay.
    if timestamps && allowed.has(GORILLA_DOD) && !trial_all {
        let mut buf = vec![GORILLA_DOD];
        gorilla::encode_dod(v, &mut buf);
        consider(&mut best, GORILLA_DOD, FormatVersion::V1, buf);
    }
    let best_len = best.as_ref().map_or(usize::MAX, |b| b.2.len());
    if allowed.has(PCO) && pco_chunk::promising(v, best_len, opts.pco_level) {
        let mut buf = Vec::new();
        if pco_chunk::encode(v, PCO, opts.pco_level.unwrap_or(8), &mut buf) {
            consider(&mut best, PCO, pco_chunk::SINCE_VERSION, buf);
        }
    }
    if allowed.has(RAW) && best.as_ref().is_none_or(|(_, _, b)| b.len() > 1 + 8 * n) {
        let mut buf = Vec::with_capacity(1 + 8 * n);
        buf.push(RAW);
        for x in v {
            buf.extend_from_slice(&x.to_le_bytes());
        }
        consider(&mut best, RAW, FormatVersion::V1, buf);
    }
    let (codec, version, bytes) = best.expect("FOR is always a candidate");
    out.extend_from_slice(&bytes);
    (codec, version)
}

/// Decodes `out.len()` integers (codec byte then payload) and returns the codec id.
///
/// # Errors
/// A codec outside `allowed`, or a corrupt/truncated payload.
pub fn decode(c: &mut Cursor, allowed: Allowed, out: &mut [i64]) -> Result<u8> {
    let at = c.pos() as u64;
    let codec = c.u8("integer codec")?;
    if !allowed.has(codec) {
        // Only DECIMAL restricts the codecs (C45); anywhere else an id outside the
        // set is unknown (C21).
        let rule = if allowed.0 == Allowed::ALL.0 { 21 } else { 45 };
        return Err(Error::corrupt_rule(
            Rule::C(rule),
            format!("integer codec {codec} not allowed here"),
            Some(at),
        ));
    }
    let n = out.len();
    let Some(kind) = IntCodec::from_id(codec).filter(|k| k.since() <= c.version()) else {
        return Err(Error::corrupt_rule(
            Rule::C(21),
            format!(
                "integer codec {codec} is unknown in format version {}",
                c.version()
            ),
            Some(at),
        ));
    };
    match kind {
        IntCodec::Raw => {
            let bytes = c.take(n.saturating_mul(8), "RAW values")?;
            for (o, b) in out.iter_mut().zip(bytes.chunks_exact(8)) {
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                *o = i64::from_le_bytes(a);
            }
        }
        IntCodec::Const => out.fill(c.i64("CONST value")?),
        IntCodec::Linear => {
            let first = c.i64("LINEAR first")?;
            let step = c.i64("LINEAR step")?;
            let mut x = first;
            for o in out.iter_mut() {
                *o = x;
                x = x.wrapping_add(step);
            }
        }
        IntCodec::For => intstream::decode(c, out)?,
        IntCodec::Delta => {
            if n > 0 {
                out[0] = c.i64("DELTA first")?;
                intstream::decode(c, &mut out[1..])?;
                for i in 1..n {
                    out[i] = out[i - 1].wrapping_add(out[i]);
                }
            }
        }
        IntCodec::Dod => {
            if n > 0 {
                out[0] = c.i64("DOD first")?;
            }
            if n > 1 {
                let mut delta = c.i64("DOD first delta")?;
                out[1] = out[0].wrapping_add(delta);
                intstream::decode(c, &mut out[2..])?;
                for i in 2..n {
                    delta = delta.wrapping_add(out[i]);
                    out[i] = out[i - 1].wrapping_add(delta);
                }
            }
        }
        IntCodec::Rle => decode_rle(c, out, |b| b as i64)?,
        IntCodec::GorillaDod => gorilla::decode_dod(c, out)?,
        IntCodec::Pco => pco_chunk::decode(c, out)?,
    }
    Ok(codec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rt(v: &[i64], allowed: Allowed, ts: bool) -> (u8, usize) {
        let mut out = Vec::new();
        let codec = encode(v, allowed, ts, &Options::default(), &mut out);
        let mut back = vec![0; v.len()];
        let mut c = Cursor::new(&out);
        assert_eq!(decode(&mut c, allowed, &mut back).unwrap(), codec);
        c.finish("x").unwrap();
        assert_eq!(back, v);
        (codec, out.len())
    }

    proptest! {
        #[test]
        fn any_i64(v in proptest::collection::vec(any::<i64>(), 0..300), ts in any::<bool>()) {
            rt(&v, Allowed::ALL, ts);
            rt(&v, Allowed::DECIMAL_INNER, false);
        }

        #[test]
        fn counters(start in any::<i64>(), inc in proptest::collection::vec(0i64..50, 1..500)) {
            let mut x = start;
            let v: Vec<i64> = inc.iter().map(|d| { x = x.wrapping_add(*d); x }).collect();
            rt(&v, Allowed::ALL, false);
        }

        #[test]
        fn runs(vals in proptest::collection::vec((any::<i64>(), 1usize..40), 1..20)) {
            let v: Vec<i64> = vals.iter().flat_map(|&(x, n)| std::iter::repeat_n(x, n)).collect();
            rt(&v, Allowed::ALL, false);
        }
    }

    #[test]
    fn regular_timestamps_are_linear() {
        let v: Vec<i64> = (0..4096)
            .map(|i| 1_700_000_000_000_000 + i * 1_000_000)
            .collect();
        let (codec, len) = rt(&v, Allowed::ALL, true);
        assert_eq!((codec, len), (LINEAR, 17));
    }

    #[test]
    fn extremes() {
        rt(
            &[i64::MIN, i64::MAX, i64::MIN, i64::MAX],
            Allowed::ALL,
            true,
        );
        rt(&[i64::MAX, i64::MIN], Allowed::ALL, true);
        rt(&[i64::MAX], Allowed::ALL, true);
        rt(&[], Allowed::ALL, true);
    }
}
