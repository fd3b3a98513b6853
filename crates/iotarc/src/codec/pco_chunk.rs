//! The `PCO` codec (format.md §10.6, v5): one pcodec chunk of one page inside an
//! iotarc chunk, for `f64` columns (codec 7) and for timestamps and `i64` columns
//! (codec 8).
//!
//! pcodec brings the entropy stage the hand-written codecs lack: bins coded with tANS
//! near their order-0 entropy, and modes for values that are multiples of a base that
//! is not a power of ten, floats with constant low mantissa bits, and limited sets of
//! levels. The encoders in [`super::float`] and [`super::int`] try it beside their own
//! candidates and keep the smaller; its chunk metadata (20 to 700 bytes) decides for
//! short blocks.

use super::FormatVersion;
use super::bytes::Cursor;
use crate::error::{Error, Result, Rule};
use ::pco::data_types::Number;
use ::pco::wrapped::{FileCompressor, FileDecompressor};
use ::pco::{ChunkConfig, PagingSpec};

/// Codec id of `PCO` among the f64 codecs.
pub const F64_CODEC: u8 = 7;
/// Codec id of `PCO` among the integer codecs.
pub const INT_CODEC: u8 = 8;
/// The format version that introduced `PCO`.
pub const SINCE_VERSION: FormatVersion = FormatVersion::V5;
/// The pcodec format version (major, minor) a v5 `PCO` chunk carries (C58).
pub const PCO_FORMAT: [u8; 2] = [4, 1];

/// The encoders skip `PCO` when their best candidate is at most this many bytes: pcodec's
/// header and smallest chunk metadata take about that much, so it cannot be smaller.
pub const SKIP_AT_OR_BELOW_BYTES: usize = 12;

/// Whether an encoder whose best candidate is `best_len` bytes for `n` values should
/// also try `PCO` (at `level`, `None` meaning never).
///
/// It is tried wherever it could win, not only on costly blocks: on low-entropy residuals
/// (steps of -1, 0, +1 in a slowly changing reading) zstd's Huffman stage cannot go below
/// one bit per value while pcodec's tANS can, and on 5-minute readings from 31 sensors
/// that alone made iotarc 10 % smaller, for 9 % more pack CPU on the Beijing data.
pub fn worth_trying(n: usize, best_len: usize, level: Option<u8>) -> bool {
    level.is_some() && n >= 2 && best_len > SKIP_AT_OR_BELOW_BYTES
}

/// Values in the sample [`promising`] encodes to estimate a long block's PCO size.
const SAMPLE: usize = 1024;

/// Whether PCO is worth a full trial on `v` against the best other candidate's
/// `best_len` bytes: [`worth_trying`], and for a block of more than four samples, PCO of
/// a contiguous sample from its middle, scaled to the block, within 1/8 of `best_len`.
/// A full trial costs a sort of the block; the sample costs a quarter of that at most,
/// and on data where PCO never wins (most blocks of regular readings) saves the rest.
/// The margin covers what the scaled estimate overstates: the sample pays pcodec's
/// chunk metadata alone, and its bins fit fewer values.
pub fn promising<T: Number>(v: &[T], best_len: usize, level: Option<u8>) -> bool {
    let Some(l) = level else { return false };
    if !worth_trying(v.len(), best_len, level) {
        return false;
    }
    let n = v.len();
    if n <= 4 * SAMPLE {
        return true;
    }
    let at = (n - SAMPLE) / 2;
    let mut buf = Vec::new();
    if !encode(&v[at..at + SAMPLE], 0, l, &mut buf) {
        return true;
    }
    let estimate = buf.len().saturating_mul(n) / SAMPLE;
    estimate < best_len.saturating_add(best_len / 8)
}

/// Appends `codec` then the `PCO` payload of `v` (pcodec's header, chunk metadata and
/// one page) to `out`. Returns `false`, appending nothing, if pcodec refuses the input
/// (it accepts every finite or non-finite number, so this means an empty slice).
pub fn encode<T: Number>(v: &[T], codec: u8, level: u8, out: &mut Vec<u8>) -> bool {
    let start = out.len();
    let config = ChunkConfig::default()
        .with_compression_level(usize::from(level).min(12))
        .with_paging_spec(PagingSpec::Exact(vec![v.len()]));
    let written = (|| -> ::pco::errors::PcoResult<()> {
        let fc = FileCompressor::default();
        let mut cc = fc.chunk_compressor(v, &config)?;
        out.push(codec);
        fc.write_header(&mut *out)?;
        cc.write_meta(&mut *out)?;
        cc.write_page(0, &mut *out)?;
        Ok(())
    })();
    if written.is_err() || out.get(start + 1..start + 3) != Some(&PCO_FORMAT[..]) {
        out.truncate(start);
        return false;
    }
    true
}

/// Decodes a `PCO` payload (after the codec byte) into `out`, which receives exactly
/// `out.len()` numbers, and advances `c` past the page.
///
/// # Errors
/// Corrupt (C58) if the pcodec version is not 4.1, pcodec rejects the metadata or the
/// page, or the page does not hold `out.len()` numbers.
pub fn decode<T: Number>(c: &mut Cursor, out: &mut [T]) -> Result<()> {
    let at = c.pos() as u64;
    let version = c.take(2, "PCO pcodec format version")?;
    if version != PCO_FORMAT {
        return Err(Error::corrupt_rule(
            Rule::C(58),
            format!(
                "PCO chunk has pcodec format version {}.{}, expected {}.{}",
                version[0], version[1], PCO_FORMAT[0], PCO_FORMAT[1]
            ),
            Some(at),
        ));
    }
    let bad = |e: ::pco::errors::PcoError| {
        Error::corrupt_rule(Rule::C(58), format!("PCO chunk: pcodec: {e}"), Some(at))
    };
    let (fd, _) = FileDecompressor::new(&PCO_FORMAT[..]).map_err(bad)?;
    let src = c.rest();
    let (mut cd, rest) = fd.chunk_decompressor::<T, _>(src).map_err(bad)?;
    let n = out.len();
    let mut pd = cd.page_decompressor(rest, n).map_err(bad)?;
    let progress = pd.read(out).map_err(bad)?;
    if progress.n_processed != n || !progress.finished {
        return Err(Error::corrupt_rule(
            Rule::C(58),
            format!(
                "PCO chunk: page yields {} numbers, expected {n}",
                progress.n_processed
            ),
            Some(at),
        ));
    }
    let left = pd.into_src().len();
    c.take(src.len() - left, "PCO page")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn roundtrip_f64(v: &[f64]) {
        let mut buf = Vec::new();
        assert!(encode(v, F64_CODEC, 8, &mut buf));
        assert_eq!(buf[0], F64_CODEC);
        let mut c = Cursor::new(&buf[1..]).with_version(SINCE_VERSION);
        let mut out = vec![0.0f64; v.len()];
        decode(&mut c, &mut out).unwrap();
        c.finish("PCO").unwrap();
        for (a, b) in v.iter().zip(&out) {
            assert_eq!(a.to_bits(), b.to_bits());
        }
    }

    fn roundtrip_i64(v: &[i64]) {
        let mut buf = Vec::new();
        assert!(encode(v, INT_CODEC, 8, &mut buf));
        let mut c = Cursor::new(&buf[1..]).with_version(SINCE_VERSION);
        let mut out = vec![0; v.len()];
        decode(&mut c, &mut out).unwrap();
        c.finish("PCO").unwrap();
        assert_eq!(v, &out[..]);
    }

    #[test]
    fn special_floats_are_bit_exact() {
        let quiet_nan_payload = f64::from_bits(0x7ff8_0000_dead_beef);
        let signalling = f64::from_bits(0x7ff0_0000_0000_0001);
        let neg_nan = f64::from_bits(0xfff8_0000_0000_1234);
        let v = [
            0.0,
            -0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            quiet_nan_payload,
            signalling,
            neg_nan,
            f64::MIN_POSITIVE / 4.0,
            -5e-324,
            f64::MAX,
            f64::MIN,
            1.5,
        ];
        roundtrip_f64(&v);
        roundtrip_f64(&[-0.0]);
    }

    #[test]
    fn integer_extremes() {
        roundtrip_i64(&[i64::MIN, i64::MAX, 0, -1, 1, i64::MIN, i64::MAX]);
        roundtrip_i64(&[i64::MIN]);
    }

    #[test]
    fn float32_printed_levels_go_to_pco_at_under_two_bytes() {
        // Values printed from f32 with ten significant digits (`1.279000044`), drawn
        // uniformly from 300 levels: DECIMAL sees ten digits and pays about 3.5 bytes.
        let levels: Vec<f64> = (0..300)
            .map(|k| {
                let x = 1.0f32 + k as f32 * 0.013;
                format!("{x:.9}").parse().unwrap()
            })
            .collect();
        let mut s = 1u64;
        let v: Vec<f64> = (0..8000)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                levels[((s >> 33) % 300) as usize]
            })
            .collect();
        let mut buf = Vec::new();
        let codec = crate::codec::float::encode(&v, &crate::codec::Options::default(), &mut buf);
        // PCO of the values, or DECIMAL at e = 9 with PCO mantissas (no exceptions).
        let decimal_pco = [crate::codec::float::DECIMAL, 9, 0, INT_CODEC];
        assert!(
            codec == F64_CODEC || buf[..4] == decimal_pco,
            "{:?}",
            &buf[..4]
        );
        // Measured 1.39 bytes per value as DECIMAL with PCO mantissas, 1.52 as PCO.
        assert!(buf.len() < 8000 * 7 / 4, "{} bytes", buf.len());
        roundtrip_f64(&v);
    }

    #[test]
    fn the_sample_gate_skips_blocks_pco_cannot_win_and_keeps_those_it_can() {
        // A counter with a constant step: LINEAR holds it in 17 bytes, far below any
        // PCO estimate, but above the 12-byte floor of `worth_trying`.
        let linear: Vec<i64> = (0..8192).map(|i| 1_000 + 7 * i).collect();
        assert!(worth_trying(linear.len(), 17, Some(8)));
        assert!(!promising(&linear, 17, Some(8)));
        // Uniform noise over 300 levels: PCO's estimate is within the margin of the
        // best bit-packing (9 bits a value).
        let mut s = 1u64;
        let levels: Vec<i64> = (0..8192)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 33) % 300) as i64
            })
            .collect();
        assert!(promising(&levels, 8192 * 9 / 8, Some(8)));
        // Short blocks always get the full trial; no level, no trial.
        assert!(promising(&linear[..4096], 17, Some(8)));
        assert!(!promising(&levels, usize::MAX, None));
    }

    #[test]
    fn wrong_pcodec_version_is_corrupt() {
        // C58
        let mut buf = Vec::new();
        assert!(encode(&[1.0f64, 2.0, 3.0], F64_CODEC, 8, &mut buf));
        buf[2] = 5;
        let mut out = [0.0f64; 3];
        let err = decode(&mut Cursor::new(&buf[1..]), &mut out).unwrap_err();
        assert!(err.to_string().contains("C58"), "{err}");
    }

    #[test]
    fn a_page_of_the_wrong_length_is_corrupt() {
        // C58
        let v: Vec<f64> = (0..1000).map(|i| (i as f64).sin()).collect();
        let mut buf = Vec::new();
        assert!(encode(&v, F64_CODEC, 8, &mut buf));
        for n in [999, 1001] {
            let mut out = vec![0.0f64; n];
            let mut c = Cursor::new(&buf[1..]);
            let ok = decode(&mut c, &mut out).and_then(|_| c.finish("PCO"));
            assert!(ok.is_err(), "n = {n} decoded");
        }
    }

    #[test]
    fn every_truncation_and_byte_flip_is_an_error_or_other_values() {
        let v: Vec<f64> = (0..300).map(|i| (i as f64 * 0.1).round() / 10.0).collect();
        let mut buf = Vec::new();
        assert!(encode(&v, F64_CODEC, 8, &mut buf));
        let body = &buf[1..];
        let mut out = vec![0.0f64; v.len()];
        for len in 0..body.len() {
            let mut c = Cursor::new(&body[..len]);
            let r = decode(&mut c, &mut out).and_then(|_| c.finish("PCO"));
            assert!(r.is_err(), "truncated to {len} bytes decoded");
        }
        for i in 0..body.len() {
            for bit in 0..8 {
                let mut b = body.to_vec();
                b[i] ^= 1 << bit;
                let mut c = Cursor::new(&b);
                let _ = decode(&mut c, &mut out).and_then(|_| c.finish("PCO"));
            }
        }
    }

    proptest! {
        #[test]
        fn any_f64_bits_roundtrip(bits in proptest::collection::vec(any::<u64>(), 1..600)) {
            let v: Vec<f64> = bits.into_iter().map(f64::from_bits).collect();
            roundtrip_f64(&v);
        }

        #[test]
        fn decimal_like_f64_roundtrip(m in proptest::collection::vec(-100_000i64..100_000, 1..2000), e in 0u32..4) {
            let v: Vec<f64> = m.iter().map(|&x| x as f64 / 10f64.powi(e as i32)).collect();
            roundtrip_f64(&v);
        }

        #[test]
        fn any_i64_roundtrip(v in proptest::collection::vec(any::<i64>(), 1..600)) {
            roundtrip_i64(&v);
        }

        #[test]
        fn timestamps_roundtrip(start in any::<i32>(), steps in proptest::collection::vec(0i64..120_000_000, 1..2000)) {
            let mut t = start as i64 * 1_000_000;
            let v: Vec<i64> = steps.iter().map(|s| { t += s; t }).collect();
            roundtrip_i64(&v);
        }
    }
}
