//! Bounds-checked little-endian reading and writing of the primitive fields used by every
//! structure: fixed-width integers, LEB128 varints and length-prefixed strings.
//!
//! [`Cursor`] never panics: each read checks the remaining length first and returns
//! [`Error`] naming the field being read and the offset within the buffer.

use crate::error::{Error, Result, Rule};
use integer_encoding::VarInt;

/// Longest legal varint (a u64 needs at most 10 LEB128 bytes).
pub const MAX_VARINT_LEN: usize = 10;

/// Appends `v` as an unsigned LEB128 varint.
#[inline]
pub fn put_varint(out: &mut Vec<u8>, v: u64) {
    let mut buf = [0u8; MAX_VARINT_LEN];
    let n = v.encode_var(&mut buf);
    out.extend_from_slice(&buf[..n]);
}

/// Appends `v` zigzag-encoded as a varint.
#[inline]
pub fn put_svarint(out: &mut Vec<u8>, v: i64) {
    put_varint(out, zigzag(v));
}

/// Appends a length-prefixed UTF-8 string.
pub fn put_str(out: &mut Vec<u8>, s: &str) {
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// Zigzag-maps a signed integer so small magnitudes become small unsigned values.
#[inline(always)]
pub fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// Inverse of [`zigzag`].
#[inline(always)]
pub fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Number of bytes `put_varint` would write for `v`.
#[inline]
pub fn varint_len(v: u64) -> usize {
    v.required_space()
}

/// A forward-only reader over a byte slice with checked reads.
#[derive(Clone, Debug)]
pub struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    version: super::FormatVersion,
}

impl<'a> Cursor<'a> {
    /// Starts reading at the beginning of `buf`, accepting every codec of format
    /// version [`FORMAT_VERSION`](super::FORMAT_VERSION).
    pub fn new(buf: &'a [u8]) -> Self {
        Cursor {
            buf,
            pos: 0,
            version: super::FORMAT_VERSION,
        }
    }

    /// Restricts the codecs accepted to those of format `version`: a codec or IntStream
    /// kind introduced later is corrupt in an older file (format.md §10.1).
    pub fn with_version(mut self, version: super::FormatVersion) -> Self {
        self.version = version;
        self
    }

    /// The format version whose codecs this cursor accepts.
    #[inline]
    pub fn version(&self) -> super::FormatVersion {
        self.version
    }

    /// Current position within the buffer.
    #[inline]
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Bytes not yet read.
    #[inline]
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The unread bytes.
    #[inline]
    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    /// Fails unless every byte has been read.
    pub fn finish(&self, what: &str) -> Result<()> {
        if self.remaining() != 0 {
            return Err(Error::corrupt(
                format!(
                    "{what}: {} trailing bytes after the last field",
                    self.remaining()
                ),
                Some(self.pos as u64),
            ));
        }
        Ok(())
    }

    /// Takes the next `n` bytes.
    #[inline]
    pub fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(Error::truncated(what, n as u64, self.remaining() as u64));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// Takes the next `n` bytes where `n` came from the file: rejects it as corrupt if it
    /// exceeds what is left, without converting it to `usize` first.
    pub fn take_len(&mut self, n: u64, what: &str) -> Result<&'a [u8]> {
        if n > self.remaining() as u64 {
            return Err(Error::corrupt_rule(
                Rule::C(13),
                format!(
                    "{what}: length {n} exceeds the {} bytes left",
                    self.remaining()
                ),
                Some(self.pos as u64),
            ));
        }
        self.take(n as usize, what)
    }

    /// Reads one byte.
    #[inline]
    pub fn u8(&mut self, what: &str) -> Result<u8> {
        Ok(self.take(1, what)?[0])
    }

    /// Reads a little-endian u16.
    pub fn u16(&mut self, what: &str) -> Result<u16> {
        let b = self.take(2, what)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    /// Reads a little-endian u32.
    pub fn u32(&mut self, what: &str) -> Result<u32> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Reads a little-endian u64.
    #[inline]
    pub fn u64(&mut self, what: &str) -> Result<u64> {
        let b = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    /// Reads a little-endian i64.
    #[inline]
    pub fn i64(&mut self, what: &str) -> Result<i64> {
        Ok(self.u64(what)? as i64)
    }

    /// Reads a little-endian f64 (bit-exact).
    pub fn f64(&mut self, what: &str) -> Result<f64> {
        Ok(f64::from_bits(self.u64(what)?))
    }

    /// Reads a little-endian i128.
    pub fn i128(&mut self, what: &str) -> Result<i128> {
        let b = self.take(16, what)?;
        let mut a = [0u8; 16];
        a.copy_from_slice(b);
        Ok(i128::from_le_bytes(a))
    }

    /// Reads an unsigned LEB128 varint. More than 10 bytes, or a 10th byte carrying bits
    /// above bit 63, is corrupt.
    #[inline]
    pub fn varint(&mut self, what: &str) -> Result<u64> {
        let start = self.pos;
        let mut v: u64 = 0;
        for i in 0..MAX_VARINT_LEN {
            let Some(&b) = self.buf.get(self.pos) else {
                return Err(Error::truncated(what, (i + 1) as u64, i as u64));
            };
            self.pos += 1;
            if i == MAX_VARINT_LEN - 1 && b > 1 {
                return Err(Error::corrupt_rule(
                    Rule::C(12),
                    format!("{what}: varint overflows 64 bits"),
                    Some(start as u64),
                ));
            }
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(Error::corrupt_rule(
            Rule::C(12),
            format!("{what}: varint longer than 10 bytes"),
            Some(start as u64),
        ))
    }

    /// Reads a zigzag varint.
    #[inline]
    pub fn svarint(&mut self, what: &str) -> Result<i64> {
        Ok(unzigzag(self.varint(what)?))
    }

    /// Reads a varint that must fit in `usize` and be at most `max`.
    pub fn varint_max(&mut self, max: u64, what: &str) -> Result<usize> {
        let at = self.pos as u64;
        let v = self.varint(what)?;
        if v > max {
            return Err(Error::corrupt(
                format!("{what} = {v} exceeds the limit {max}"),
                Some(at),
            ));
        }
        Ok(v as usize)
    }

    /// Reads a length-prefixed UTF-8 string.
    pub fn str(&mut self, what: &str) -> Result<&'a str> {
        let at = self.pos as u64;
        let len = self.varint(what)?;
        let b = self.take_len(len, what)?;
        std::str::from_utf8(b).map_err(|e| {
            Error::corrupt_rule(
                Rule::C(14),
                format!("{what}: invalid UTF-8 ({e})"),
                Some(at),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn varint_roundtrip(v in any::<u64>(), s in any::<i64>()) {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            put_svarint(&mut out, s);
            prop_assert_eq!(out.len(), varint_len(v) + varint_len(zigzag(s)));
            let mut c = Cursor::new(&out);
            prop_assert_eq!(c.varint("v").unwrap(), v);
            prop_assert_eq!(c.svarint("s").unwrap(), s);
            prop_assert!(c.finish("x").is_ok());
        }
    }

    #[test]
    fn varint_rejects_overlong_and_overflow() {
        let overflow = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert!(Cursor::new(&overflow)
            .varint("x")
            .unwrap_err()
            .is_corruption());
        let long = [0x80u8; 11];
        assert!(Cursor::new(&long).varint("x").is_err());
        let max = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(Cursor::new(&max).varint("x").unwrap(), u64::MAX);
        assert!(Cursor::new(&[0x80]).varint("x").is_err());
    }

    #[test]
    fn take_len_checks_before_converting() {
        let mut c = Cursor::new(&[1, 2, 3]);
        assert!(c.take_len(u64::MAX, "x").unwrap_err().is_corruption());
        assert_eq!(c.take_len(3, "x").unwrap(), &[1, 2, 3]);
    }
}
