//! bool codecs: bit-packed or constant.

use super::bits;
use super::bytes::Cursor;
use crate::error::{Error, Result, Rule};

/// One bit per value, LSB-first.
pub const BITPACK: u8 = 0;
/// One byte, 0 or 1, repeated.
pub const CONST: u8 = 1;

/// Human-readable codec name.
pub fn name(codec: u8) -> &'static str {
    match codec {
        BITPACK => "bitpack",
        CONST => "const",
        _ => "unknown",
    }
}

/// Appends the encoding of `v` and returns the codec.
pub fn encode(v: &[bool], out: &mut Vec<u8>) -> u8 {
    if v.iter().all(|&b| b == v.first().copied().unwrap_or(false)) {
        out.push(CONST);
        out.push(v.first().copied().unwrap_or(false) as u8);
        return CONST;
    }
    out.push(BITPACK);
    let words: Vec<u64> = v.iter().map(|&b| b as u64).collect();
    bits::pack(&words, 1, out);
    BITPACK
}

/// Decodes `out.len()` values and returns the codec.
///
/// # Errors
/// Unknown codec, a CONST byte other than 0 or 1, or too few bytes.
pub fn decode(c: &mut Cursor, out: &mut [bool]) -> Result<u8> {
    let at = c.pos() as u64;
    let codec = c.u8("bool codec")?;
    match codec {
        CONST => {
            let b = c.u8("bool CONST value")?;
            if b > 1 {
                return Err(Error::corrupt_rule(
                    Rule::C(50),
                    format!("bool CONST value {b} is not 0 or 1"),
                    Some(at),
                ));
            }
            out.fill(b == 1);
        }
        BITPACK => {
            let data = c.take(out.len().div_ceil(8), "bool bits")?;
            if !bits::padding_is_zero(data, out.len()) {
                return Err(Error::corrupt_rule(
                    Rule::C(49),
                    "bool padding bits are not zero",
                    Some(at),
                ));
            }
            for (i, o) in out.iter_mut().enumerate() {
                *o = data[i / 8] >> (i % 8) & 1 == 1;
            }
        }
        _ => {
            return Err(Error::corrupt_rule(
                Rule::C(21),
                format!("bool codec {codec} is unknown"),
                Some(at),
            ))
        }
    }
    Ok(codec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn roundtrip(v in proptest::collection::vec(any::<bool>(), 0..300)) {
            let mut out = Vec::new();
            let codec = encode(&v, &mut out);
            let mut back = vec![false; v.len()];
            let mut c = Cursor::new(&out);
            prop_assert_eq!(decode(&mut c, &mut back).unwrap(), codec);
            prop_assert!(c.finish("x").is_ok());
            prop_assert_eq!(back, v);
        }
    }
}
