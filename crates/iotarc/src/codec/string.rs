//! String codec: a dictionary of distinct values plus bit-packed indices, compressed with
//! zstd as one frame.

use super::bits::{self, bit_width, packed_len};
use super::bytes::{put_str, put_varint, Cursor};
use super::{scratch, Options, StrValues};
use crate::error::{Error, Result, Rule};
use std::collections::HashMap;

/// Dictionary then zstd.
pub const DICT_ZSTD: u8 = 0;

/// Upper bound on the decompressed size of one chunk and on the bytes it may expand to;
/// larger claims are treated as corrupt rather than allocated.
pub const MAX_STRING_BYTES: u64 = 256 << 20;

/// Human-readable codec name.
pub fn name(codec: u8) -> &'static str {
    match codec {
        DICT_ZSTD => "dict-zstd",
        _ => "unknown",
    }
}

/// Appends the encoding of `v` and returns the codec.
pub fn encode(v: &StrValues, opts: &Options, out: &mut Vec<u8>) -> u8 {
    let mut dict: Vec<&str> = Vec::new();
    let mut index: HashMap<&str, u64> = HashMap::new();
    let ids: Vec<u64> = v
        .iter()
        .map(|s| {
            *index.entry(s).or_insert_with(|| {
                dict.push(s);
                dict.len() as u64 - 1
            })
        })
        .collect();
    let mut raw = Vec::new();
    put_varint(&mut raw, dict.len() as u64);
    for s in &dict {
        put_str(&mut raw, s);
    }
    let w = bit_width(dict.len().saturating_sub(1) as u64);
    raw.push(w as u8);
    bits::pack(&ids, w, &mut raw);
    let z = scratch::zstd_compress(&raw, opts.zstd_level.unwrap_or(3).max(1))
        .expect("zstd compression of an in-memory buffer cannot fail");
    out.push(DICT_ZSTD);
    put_varint(out, raw.len() as u64);
    put_varint(out, z.len() as u64);
    out.extend_from_slice(&z);
    DICT_ZSTD
}

/// Decodes `n` strings into `out` (cleared first) and returns the codec.
///
/// # Errors
/// Unknown codec, a frame that does not decompress to the declared size, an empty or
/// oversized dictionary, invalid UTF-8, or an index outside the dictionary.
pub fn decode(c: &mut Cursor, n: usize, out: &mut StrValues) -> Result<u8> {
    let at = c.pos() as u64;
    out.clear();
    let codec = c.u8("string codec")?;
    if codec != DICT_ZSTD {
        return Err(Error::corrupt_rule(
            Rule::C(21),
            format!("string codec {codec} is unknown"),
            Some(at),
        ));
    }
    let raw_len = c
        .varint_max(MAX_STRING_BYTES, "string raw length")
        .map_err(|e| e.or_rule(Rule::C(51)))?;
    let zlen = c.varint("string zstd length")?;
    let z = c.take_len(zlen, "string zstd frame")?;
    let mut raw = vec![0u8; raw_len];
    scratch::zstd_decompress_exact(z, &mut raw, "string chunk", at)?;
    let mut rc = Cursor::new(&raw);
    let nd = rc
        .varint_max(n as u64, "dictionary size")
        .map_err(|e| e.or_rule(Rule::C(51)))?;
    if nd == 0 && n > 0 {
        return Err(Error::corrupt_rule(
            Rule::C(51),
            "string dictionary is empty",
            Some(at),
        ));
    }
    let mut dict = Vec::with_capacity(nd);
    for _ in 0..nd {
        dict.push(rc.str("dictionary entry")?);
    }
    let w = rc.u8("index width")? as u32;
    if w > 32 {
        return Err(Error::corrupt_rule(
            Rule::C(51),
            format!("string index width {w} exceeds 32"),
            Some(at),
        ));
    }
    let len = packed_len(n, w).unwrap_or(usize::MAX);
    let packed = rc.take(len, "string indices")?;
    if !bits::padding_is_zero(packed, n * w as usize) {
        return Err(Error::corrupt_rule(
            Rule::C(49),
            "string index padding bits are not zero",
            Some(at),
        ));
    }
    rc.finish("string chunk")
        .map_err(|e| e.or_rule(Rule::C(51)))?;
    let mut ids = vec![0u64; n];
    bits::unpack(packed, w, &mut ids);
    let mut total = 0u64;
    for &id in &ids {
        let Some(s) = dict.get(id as usize) else {
            return Err(Error::corrupt_rule(
                Rule::C(52),
                format!("string index {id} >= dictionary size {nd}"),
                Some(at),
            ));
        };
        total += s.len() as u64;
    }
    if total > MAX_STRING_BYTES {
        return Err(Error::corrupt_rule(
            Rule::C(51),
            format!("strings expand to {total} bytes"),
            Some(at),
        ));
    }
    out.data.reserve(total as usize);
    for &id in &ids {
        out.push(dict[id as usize]);
    }
    Ok(codec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn roundtrip(v in proptest::collection::vec(prop_oneof!["[a-z]{0,3}", ".*"], 0..200)) {
            let sv: StrValues = v.iter().map(String::as_str).collect();
            let mut out = Vec::new();
            let codec = encode(&sv, &Options::default(), &mut out);
            let mut back = StrValues::default();
            let mut c = Cursor::new(&out);
            prop_assert_eq!(decode(&mut c, v.len(), &mut back).unwrap(), codec);
            prop_assert!(c.finish("x").is_ok());
            prop_assert_eq!(back, sv);
        }
    }
}
