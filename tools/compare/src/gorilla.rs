//! A plain Gorilla encoder (Pelkonen et al., "Gorilla: A Fast, Scalable, In-Memory Time
//! Series Database", VLDB 2015, section 4.1), written from the paper for this comparison.
//!
//! One bit stream per series of interleaved (timestamp, value) pairs:
//! - the first timestamp and value as 64 raw bits, the first delta as 64 bits (the paper
//!   uses 14 bits against a 2-hour block header; our series are not cut into blocks);
//! - each later timestamp as its delta-of-delta D: `0` if D = 0, `10`+7 bits for
//!   D in [-63, 64], `110`+9 bits for [-255, 256], `1110`+12 bits for [-2047, 2048], else
//!   `1111`+64 bits (the paper's 32 bits hold second-resolution deltas; ours are
//!   microseconds, where a gap over 35 minutes overflows 32 bits);
//! - each later value XORed with the previous one: `0` if equal; else `1`, then `0` and
//!   the meaningful bits inside the previous leading/trailing-zero window when they fit,
//!   or `1`, 5 bits of leading zeros (capped at 31), 6 bits of length and the meaningful
//!   bits.
//!
//! The paper handles only doubles. Integers and dictionary codes of strings go through
//! the same XOR path as their 64-bit two's-complement patterns (lossless; a run of equal
//! values costs one bit per value, a changing counter about as much as a float).

use anyhow::{bail, Result};

struct BitW {
    out: Vec<u8>,
    acc: u128,
    n: u32,
}

impl BitW {
    fn write(&mut self, v: u64, bits: u32) {
        if bits == 0 {
            return;
        }
        let v = if bits == 64 {
            v
        } else {
            v & ((1u64 << bits) - 1)
        };
        self.acc = (self.acc << bits) | v as u128;
        self.n += bits;
        while self.n >= 8 {
            self.out.push((self.acc >> (self.n - 8)) as u8);
            self.n -= 8;
        }
        self.acc &= (1u128 << self.n) - 1;
    }

    fn finish(mut self) -> Vec<u8> {
        if self.n > 0 {
            self.out.push((self.acc << (8 - self.n)) as u8);
        }
        self.out
    }
}

struct BitR<'a> {
    d: &'a [u8],
    pos: usize,
}

impl BitR<'_> {
    #[inline]
    fn read(&mut self, bits: u32) -> u64 {
        if bits == 0 {
            return 0;
        }
        let byte = self.pos / 8;
        let off = (self.pos % 8) as u32;
        let w = if byte + 16 <= self.d.len() {
            u128::from_be_bytes(self.d[byte..byte + 16].try_into().unwrap())
        } else {
            let mut b = [0u8; 16];
            let end = self.d.len().min(byte + 16);
            if byte < end {
                b[..end - byte].copy_from_slice(&self.d[byte..end]);
            }
            u128::from_be_bytes(b)
        };
        self.pos += bits as usize;
        ((w << off) >> (128 - bits)) as u64
    }

    #[inline]
    fn bit(&mut self) -> bool {
        self.read(1) == 1
    }
}

/// Encodes a series (ascending timestamps, values as 64-bit patterns).
pub fn encode(ts: &[i64], vals: &[u64]) -> Vec<u8> {
    let mut w = BitW {
        out: Vec::with_capacity(ts.len() * 2 + 16),
        acc: 0,
        n: 0,
    };
    if ts.is_empty() {
        return w.finish();
    }
    w.write(ts[0] as u64, 64);
    w.write(vals[0], 64);
    let (mut prev_lz, mut prev_tz) = (u32::MAX, 0u32);
    let mut delta = 0i64;
    for i in 1..ts.len() {
        let d = ts[i].wrapping_sub(ts[i - 1]);
        if i == 1 {
            w.write(d as u64, 64);
        } else {
            let dod = d.wrapping_sub(delta);
            match dod {
                0 => w.write(0, 1),
                -63..=64 => {
                    w.write(0b10, 2);
                    w.write((dod + 63) as u64, 7);
                }
                -255..=256 => {
                    w.write(0b110, 3);
                    w.write((dod + 255) as u64, 9);
                }
                -2047..=2048 => {
                    w.write(0b1110, 4);
                    w.write((dod + 2047) as u64, 12);
                }
                _ => {
                    w.write(0b1111, 4);
                    w.write(dod as u64, 64);
                }
            }
        }
        delta = d;
        let x = vals[i] ^ vals[i - 1];
        if x == 0 {
            w.write(0, 1);
            continue;
        }
        let lz = x.leading_zeros().min(31);
        let tz = x.trailing_zeros();
        if prev_lz != u32::MAX && lz >= prev_lz && tz >= prev_tz {
            w.write(0b10, 2);
            w.write(x >> prev_tz, 64 - prev_lz - prev_tz);
        } else {
            let sig = 64 - lz - tz;
            w.write(0b11, 2);
            w.write(lz as u64, 5);
            w.write((sig & 63) as u64, 6);
            w.write(x >> tz, sig);
            prev_lz = lz;
            prev_tz = tz;
        }
    }
    w.finish()
}

/// Decodes `ts.len()` points into `ts` and `vals`.
pub fn decode(data: &[u8], ts: &mut [i64], vals: &mut [u64]) -> Result<()> {
    let n = ts.len();
    if n == 0 {
        return Ok(());
    }
    if data.len() < 16 {
        bail!("gorilla stream too short");
    }
    let mut r = BitR { d: data, pos: 0 };
    ts[0] = r.read(64) as i64;
    vals[0] = r.read(64);
    let (mut lz, mut tz) = (0u32, 0u32);
    let mut delta = 0i64;
    for i in 1..n {
        if i == 1 {
            delta = r.read(64) as i64;
        } else {
            let dod = if !r.bit() {
                0
            } else if !r.bit() {
                r.read(7) as i64 - 63
            } else if !r.bit() {
                r.read(9) as i64 - 255
            } else if !r.bit() {
                r.read(12) as i64 - 2047
            } else {
                r.read(64) as i64
            };
            delta = delta.wrapping_add(dod);
        }
        ts[i] = ts[i - 1].wrapping_add(delta);
        vals[i] = if !r.bit() {
            vals[i - 1]
        } else {
            if r.bit() {
                lz = r.read(5) as u32;
                let sig = r.read(6) as u32;
                let sig = if sig == 0 { 64 } else { sig };
                tz = 64 - lz - sig;
            }
            let sig = 64 - lz - tz;
            vals[i - 1] ^ (r.read(sig) << tz)
        };
        if r.pos > data.len() * 8 {
            bail!("gorilla stream truncated");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut s = 0x1234_5678u64;
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        let mut ts = vec![1_700_000_000_000_000i64];
        for i in 1..5000 {
            let gap = match i % 7 {
                0 => 1_000_000,
                1 => 1_000_000 + (next() % 4000) as i64 - 2000,
                2 => 3_600_000_000 * 3,
                3 => 1,
                _ => 1_000_000 + (next() % 100) as i64,
            };
            ts.push(ts[i - 1] + gap);
        }
        for vals in [
            ts.iter()
                .map(|&t| ((t % 1000) as f64 / 10.0).to_bits())
                .collect::<Vec<u64>>(),
            (0..5000).map(|_| next()).collect(),
            (0..5000).map(|i| (i / 100) as u64).collect(),
            (0..5000).map(|i| (-(i as i64)) as u64).collect(),
        ] {
            let b = encode(&ts, &vals);
            let mut t2 = vec![0; ts.len()];
            let mut v2 = vec![0; ts.len()];
            decode(&b, &mut t2, &mut v2).unwrap();
            assert_eq!(t2, ts);
            assert_eq!(v2, vals);
        }
    }
}
