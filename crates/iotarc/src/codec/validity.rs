//! Validity bitmaps: which rows of a column hold a value. Bit `i` (byte `i / 8`,
//! bit `i % 8`) is 1 when row `i` is present. A column with no missing values has no
//! bitmap at all.

use super::bytes::{put_varint, Cursor};
use super::scratch;
use crate::error::{Error, Result, Rule};
use bitvec::prelude::*;

/// Raw bitmap bytes.
pub const RAW: u8 = 0;
/// zstd-compressed bitmap.
pub const ZSTD: u8 = 1;

/// A validity bitmap in on-disk bit order.
pub type Bitmap = BitVec<u8, Lsb0>;

/// Appends the smaller of the raw and zstd encodings of `bitmap`.
pub fn encode(bitmap: &Bitmap, zstd_level: Option<i32>, out: &mut Vec<u8>) {
    let raw = bitmap.as_raw_slice();
    if let Some(level) = zstd_level {
        if raw.len() >= 32 {
            if let Some(z) = scratch::zstd_compress(raw, level) {
                if z.len() + 4 < raw.len() {
                    out.push(ZSTD);
                    put_varint(out, z.len() as u64);
                    out.extend_from_slice(&z);
                    return;
                }
            }
        }
    }
    out.push(RAW);
    out.extend_from_slice(raw);
}

/// Decodes a bitmap of `n` bits into `out` and returns the number of set bits.
///
/// # Errors
/// Unknown kind, a frame of the wrong size, or non-zero padding bits.
pub fn decode(c: &mut Cursor, n: usize, out: &mut Bitmap) -> Result<usize> {
    let at = c.pos() as u64;
    let kind = c.u8("validity kind")?;
    let nbytes = n.div_ceil(8);
    out.clear();
    match kind {
        RAW => out.extend_from_raw_slice(c.take(nbytes, "validity bitmap")?),
        ZSTD => {
            let zlen = c.varint("validity zstd length")?;
            let z = c.take_len(zlen, "validity zstd frame")?;
            scratch::with_bytes(nbytes, |raw| {
                scratch::zstd_decompress_exact(z, raw, "validity bitmap", at)?;
                out.extend_from_raw_slice(raw);
                Ok::<(), Error>(())
            })?;
        }
        k => {
            return Err(Error::corrupt_rule(
                Rule::C(33),
                format!("validity kind {k} is unknown"),
                Some(at),
            ))
        }
    }
    if out[n..].any() {
        return Err(Error::corrupt_rule(
            Rule::C(33),
            "validity padding bits are not zero",
            Some(at),
        ));
    }
    out.truncate(n);
    Ok(out.count_ones())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn roundtrip(v in proptest::collection::vec(any::<bool>(), 0..2000), dense in any::<bool>()) {
            let v: Vec<bool> = if dense { v.iter().map(|&b| b || v.len() % 3 == 0).collect() } else { v };
            let bm: Bitmap = v.iter().copied().collect();
            let mut out = Vec::new();
            encode(&bm, Some(3), &mut out);
            let mut back = Bitmap::new();
            let mut c = Cursor::new(&out);
            let ones = decode(&mut c, v.len(), &mut back).unwrap();
            prop_assert!(c.finish("x").is_ok());
            prop_assert_eq!(ones, v.iter().filter(|&&b| b).count());
            prop_assert_eq!(back, bm);
        }
    }
}
