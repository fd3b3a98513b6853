//! Gorilla codecs (Pelkonen et al., "Gorilla: A Fast, Scalable, In-Memory Time Series
//! Database", VLDB 2015): delta-of-delta timestamps with buckets re-chosen for
//! microseconds, and XOR-compressed floats.
//!
//! Both payloads are `varint byte_len` followed by an LSB-first bit stream of exactly that
//! many bytes (zero-padded to a byte). Decoders read the whole batch with a [`BitReader`]
//! and check for overrun once at the end instead of per value.

use super::bits::{BitReader, BitWriter};
use super::bytes::{put_varint, unzigzag, zigzag, Cursor};
use crate::error::{Error, Result, Rule};

/// Delta-of-delta buckets: (prefix bits, prefix length, payload width). The prefix is a
/// unary code written bit by bit: '0', '10', '110', '1110', '11110', '11111'.
const DOD_WIDTHS: [u32; 6] = [0, 7, 12, 20, 32, 64];

fn finish_stream(bw: BitWriter, out: &mut Vec<u8>) {
    let bytes = bw.finish();
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(&bytes);
}

fn check_stream(br: &BitReader, len: usize, what: &str, at: u64) -> Result<()> {
    if br.overrun() {
        return Err(Error::corrupt_rule(
            Rule::C(48),
            format!("{what}: bit stream ends early"),
            Some(at),
        ));
    }
    if br.bit_pos().div_ceil(8) != len || !super::bits::padding_is_zero(br.data(), br.bit_pos()) {
        return Err(Error::corrupt_rule(
            Rule::C(48),
            format!(
                "{what}: {} bytes declared, {} used",
                len,
                br.bit_pos().div_ceil(8)
            ),
            Some(at),
        ));
    }
    Ok(())
}

/// Appends the GORILLA_DOD payload for `values` (any i64 sequence; arithmetic wraps).
pub fn encode_dod(values: &[i64], out: &mut Vec<u8>) {
    let mut bw = BitWriter::new(Vec::with_capacity(values.len() / 4 + 16));
    if let Some(&first) = values.first() {
        bw.write(first as u64, 64);
    }
    if values.len() >= 2 {
        let mut delta = values[1].wrapping_sub(values[0]);
        bw.write(delta as u64, 64);
        for w in values[1..].windows(2) {
            let d = w[1].wrapping_sub(w[0]);
            let z = zigzag(d.wrapping_sub(delta));
            delta = d;
            let bucket = DOD_WIDTHS
                .iter()
                .position(|&bw| bw == 64 || z >> bw == 0)
                .unwrap_or(5);
            // Prefix: `bucket` one-bits then a zero, except the last bucket has no zero.
            if bucket < 5 {
                bw.write((1u64 << bucket) - 1, bucket as u32 + 1);
            } else {
                bw.write(0b11111, 5);
            }
            bw.write(z, DOD_WIDTHS[bucket]);
        }
    }
    finish_stream(bw, out);
}

/// Decodes a GORILLA_DOD payload into `out` (length = value count).
///
/// # Errors
/// Truncated or overrun bit stream, or a declared length that the values do not use exactly.
pub fn decode_dod(c: &mut Cursor, out: &mut [i64]) -> Result<()> {
    let at = c.pos() as u64;
    let len = c.varint("GORILLA_DOD length")?;
    let data = c.take_len(len, "GORILLA_DOD stream")?;
    let mut br = BitReader::new(data);
    let n = out.len();
    if n >= 1 {
        out[0] = br.read(64) as i64;
    }
    if n >= 2 {
        let mut delta = br.read(64) as i64;
        out[1] = out[0].wrapping_add(delta);
        for i in 2..n {
            // Count leading one-bits of the prefix (at most 5).
            let peek = br.peek64();
            let ones = (!peek).trailing_zeros().min(5);
            br.skip(if ones < 5 { ones + 1 } else { 5 });
            let z = br.read(DOD_WIDTHS[ones as usize]);
            delta = delta.wrapping_add(unzigzag(z));
            out[i] = out[i - 1].wrapping_add(delta);
            if br.overrun() {
                break;
            }
        }
    }
    check_stream(&br, data.len(), "GORILLA_DOD", at)
}

/// Appends the GORILLA_XOR payload for the bit patterns `values`.
pub fn encode_xor(values: &[u64], out: &mut Vec<u8>) {
    let mut bw = BitWriter::new(Vec::with_capacity(values.len() * 2 + 16));
    let Some(&first) = values.first() else {
        finish_stream(bw, out);
        return;
    };
    bw.write(first, 64);
    let mut prev = first;
    // Current window; `lead + len <= 64`, `len == 0` means no window yet.
    let (mut lead, mut len) = (0u32, 0u32);
    for &v in &values[1..] {
        let x = v ^ prev;
        prev = v;
        if x == 0 {
            bw.write(0, 1);
            continue;
        }
        let l = x.leading_zeros();
        let t = x.trailing_zeros();
        if len != 0 && l >= lead && t >= 64 - lead - len {
            // '1' '0': reuse window.
            bw.write(0b01, 2);
            bw.write(x >> (64 - lead - len), len);
        } else {
            lead = l.min(63);
            len = 64 - lead - t;
            // '1' '1', 6 bits lead, 6 bits len-1.
            bw.write(0b11, 2);
            bw.write(lead as u64, 6);
            bw.write((len - 1) as u64, 6);
            bw.write(x >> t, len);
        }
    }
    finish_stream(bw, out);
}

/// Decodes a GORILLA_XOR payload into `out` (length = value count).
///
/// # Errors
/// Truncated stream, a window with `lead + len > 64`, a window reuse before any window
/// was set, or a declared length that the values do not use exactly.
pub fn decode_xor(c: &mut Cursor, out: &mut [f64]) -> Result<()> {
    let at = c.pos() as u64;
    let blen = c.varint("GORILLA_XOR length")?;
    let data = c.take_len(blen, "GORILLA_XOR stream")?;
    let mut br = BitReader::new(data);
    let n = out.len();
    if n == 0 {
        return check_stream(&br, data.len(), "GORILLA_XOR", at);
    }
    let mut prev = br.read(64);
    out[0] = f64::from_bits(prev);
    let (mut lead, mut len) = (0u32, 0u32);
    let mut bad = false;
    for o in out[1..].iter_mut() {
        let ctl = br.read(1);
        if ctl != 0 {
            if br.read(1) != 0 {
                lead = br.read(6) as u32;
                len = br.read(6) as u32 + 1;
                bad |= lead + len > 64;
            } else {
                bad |= len == 0;
            }
            // Clamp keeps the shift in range on corrupt input; `bad` reports it below.
            let sh = 64u32.saturating_sub(lead + len);
            prev ^= br.read(len.min(64)) << sh.min(63);
        }
        *o = f64::from_bits(prev);
        if bad || br.overrun() {
            break;
        }
    }
    if bad {
        return Err(Error::corrupt_rule(
            Rule::C(47),
            "GORILLA_XOR: invalid leading/length window",
            Some(at),
        ));
    }
    check_stream(&br, data.len(), "GORILLA_XOR", at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rt_dod(v: &[i64]) {
        let mut out = Vec::new();
        encode_dod(v, &mut out);
        let mut back = vec![0; v.len()];
        let mut c = Cursor::new(&out);
        decode_dod(&mut c, &mut back).unwrap();
        c.finish("x").unwrap();
        assert_eq!(back, v);
    }

    fn rt_xor(v: &[u64]) {
        let mut out = Vec::new();
        encode_xor(v, &mut out);
        let mut back = vec![0.0; v.len()];
        let mut c = Cursor::new(&out);
        decode_xor(&mut c, &mut back).unwrap();
        c.finish("x").unwrap();
        let bits: Vec<u64> = back.iter().map(|f| f.to_bits()).collect();
        assert_eq!(bits, v);
    }

    proptest! {
        #[test]
        fn dod_any(v in proptest::collection::vec(any::<i64>(), 0..200)) { rt_dod(&v); }

        #[test]
        fn dod_jittered(start in any::<i64>(), jit in proptest::collection::vec(-5000i64..5000, 0..300)) {
            let v: Vec<i64> = jit.iter().enumerate()
                .map(|(i, j)| start.wrapping_add(i as i64 * 1_000_000 + j)).collect();
            rt_dod(&v);
        }

        #[test]
        fn xor_any(v in proptest::collection::vec(any::<u64>(), 0..200)) { rt_xor(&v); }

        #[test]
        fn xor_floats(v in proptest::collection::vec(any::<f64>(), 0..200)) {
            rt_xor(&v.iter().map(|f| f.to_bits()).collect::<Vec<_>>());
        }
    }

    #[test]
    fn special_floats() {
        let v = [
            f64::NAN.to_bits() | 0x1234,
            (-0.0f64).to_bits(),
            f64::INFINITY.to_bits(),
            f64::NEG_INFINITY.to_bits(),
            1,
            f64::MIN_POSITIVE.to_bits() - 1,
            0,
            u64::MAX,
            1 << 63,
        ];
        rt_xor(&v);
    }

    #[test]
    fn regular_timestamps_cost_one_bit() {
        let v: Vec<i64> = (0..1000)
            .map(|i| 1_600_000_000_000_000 + i * 1_000_000)
            .collect();
        let mut out = Vec::new();
        encode_dod(&v, &mut out);
        assert!(out.len() <= 2 + 16 + 1000 / 8 + 1, "{}", out.len());
    }
}
