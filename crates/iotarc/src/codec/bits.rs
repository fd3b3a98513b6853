//! LSB-first bit streams: fixed-width bit packing and a variable-width writer/reader.
//!
//! Bit `k` of a stream is bit `k % 8` of byte `k / 8`; a `w`-bit field is written least
//! significant bit first. Packing `n` values of width `w` takes `ceil(n * w / 8)` bytes.

/// Mask of the low `w` bits (`w` in 0..=64).
#[inline(always)]
pub fn mask(w: u32) -> u64 {
    if w >= 64 {
        u64::MAX
    } else {
        (1u64 << w) - 1
    }
}

/// Bits needed to represent `v` (0 for 0).
#[inline(always)]
pub fn bit_width(v: u64) -> u32 {
    64 - v.leading_zeros()
}

/// Bytes taken by `n` values of `w` bits, or `None` if that overflows.
#[inline]
pub fn packed_len(n: usize, w: u32) -> Option<usize> {
    (n as u128 * w as u128).div_ceil(8).try_into().ok()
}

/// True if the bits of `data` past the first `nbits` are all zero (padding must be 0).
#[inline]
pub fn padding_is_zero(data: &[u8], nbits: usize) -> bool {
    let full = nbits / 8;
    let rem = nbits % 8;
    let tail_start = if rem == 0 { full } else { full + 1 };
    let partial_ok = rem == 0 || data.get(full).is_none_or(|&b| b >> rem == 0);
    partial_ok
        && data
            .get(tail_start..)
            .is_none_or(|t| t.iter().all(|&b| b == 0))
}

/// Appends bits to a byte vector.
#[derive(Default)]
pub struct BitWriter {
    out: Vec<u8>,
    acc: u64,
    nbits: u32,
}

impl BitWriter {
    /// Starts a stream that appends to `out`.
    pub fn new(out: Vec<u8>) -> Self {
        BitWriter {
            out,
            acc: 0,
            nbits: 0,
        }
    }

    /// Writes the low `w` bits of `v` (`w` in 0..=64; higher bits of `v` must be 0).
    #[inline(always)]
    pub fn write(&mut self, v: u64, w: u32) {
        debug_assert!(w == 64 || v >> w == 0);
        if w == 0 {
            return;
        }
        self.acc |= v << self.nbits;
        let total = self.nbits + w;
        if total >= 64 {
            self.out.extend_from_slice(&self.acc.to_le_bytes());
            // The bits of `v` that did not fit; none if `v` was placed at bit 0.
            self.acc = if self.nbits == 0 {
                0
            } else {
                v >> (64 - self.nbits)
            };
            self.nbits = total - 64;
        } else {
            self.nbits = total;
        }
    }

    /// Writes one bit.
    #[inline(always)]
    pub fn bit(&mut self, b: bool) {
        self.write(b as u64, 1);
    }

    /// Flushes the partial byte (padding with zero bits) and returns the bytes.
    pub fn finish(mut self) -> Vec<u8> {
        let nbytes = self.nbits.div_ceil(8) as usize;
        self.out
            .extend_from_slice(&self.acc.to_le_bytes()[..nbytes]);
        self.out
    }
}

/// Packs `values` at width `w` (every value must be below `2^w`) and appends the bytes.
pub fn pack(values: &[u64], w: u32, out: &mut Vec<u8>) {
    if w == 0 {
        return;
    }
    let mut bw = BitWriter::new(std::mem::take(out));
    for &v in values {
        bw.write(v, w);
    }
    *out = bw.finish();
}

#[inline(always)]
fn load_u64_padded(data: &[u8], byte: usize) -> u64 {
    if let Some(s) = data.get(byte..byte + 8) {
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        u64::from_le_bytes(a)
    } else {
        let mut a = [0u8; 8];
        if byte < data.len() {
            let avail = &data[byte..];
            a[..avail.len()].copy_from_slice(avail);
        }
        u64::from_le_bytes(a)
    }
}

/// Reads the `w`-bit field starting at bit `pos`, treating bytes past the end as zero.
#[inline(always)]
fn read_at(data: &[u8], pos: usize, w: u32) -> u64 {
    let byte = pos >> 3;
    let sh = (pos & 7) as u32;
    let mut v = load_u64_padded(data, byte) >> sh;
    if sh + w > 64 {
        let hi = data.get(byte + 8).copied().unwrap_or(0) as u64;
        v |= hi << (64 - sh);
    }
    v & mask(w)
}

/// Unpacks `out.len()` values of width `w` from `data`.
///
/// The caller must have checked that `data` holds at least `packed_len(out.len(), w)`
/// bytes; with fewer, the missing bits read as zero (never out of bounds).
pub fn unpack(data: &[u8], w: u32, out: &mut [u64]) {
    unpack_map(data, w, out, |r| r);
}

/// Unpacks `out.len()` values of width `w`, passing each through `f` on the way out, so
/// callers can apply a frame of reference without a scratch buffer.
#[inline(always)]
pub fn unpack_map<T>(data: &[u8], w: u32, out: &mut [T], f: impl Fn(u64) -> T) {
    let n = out.len();
    if w == 0 {
        for o in out.iter_mut() {
            *o = f(0);
        }
        return;
    }
    let m = mask(w);
    // Values whose 8-byte window lies inside `data` and whose bits fit one u64 load
    // (shift <= 7, so w <= 57) take the fast path; the rest go through `read_at`.
    let fast_n = if w <= 57 && data.len() >= 8 {
        (((data.len() - 8) * 8) / w as usize + 1).min(n)
    } else {
        0
    };
    let wz = w as usize;
    for (i, o) in out[..fast_n].iter_mut().enumerate() {
        let pos = i * wz;
        let byte = pos >> 3;
        let mut a = [0u8; 8];
        a.copy_from_slice(&data[byte..byte + 8]);
        *o = f((u64::from_le_bytes(a) >> (pos & 7)) & m);
    }
    for (i, o) in out.iter_mut().enumerate().skip(fast_n) {
        *o = f(read_at(data, i * wz, w));
    }
}

/// Reads fields from an LSB-first bit stream. Reading past the end yields zero bits and
/// marks the reader overrun; callers check [`BitReader::overrun`] once after a batch
/// instead of per field, which keeps decode loops branch-light.
pub struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> BitReader<'a> {
    /// Reads from the start of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        BitReader { data, pos: 0 }
    }

    /// Reads a `w`-bit field (`w` in 0..=64).
    #[inline(always)]
    pub fn read(&mut self, w: u32) -> u64 {
        let v = read_at(self.data, self.pos, w);
        self.pos += w as usize;
        v
    }

    /// Returns the next 64 bits without consuming them.
    #[inline(always)]
    pub fn peek64(&self) -> u64 {
        read_at(self.data, self.pos, 64)
    }

    /// Consumes `w` bits.
    #[inline(always)]
    pub fn skip(&mut self, w: u32) {
        self.pos += w as usize;
    }

    /// Reads one bit.
    #[inline(always)]
    pub fn bit(&mut self) -> bool {
        self.read(1) != 0
    }

    /// The whole stream.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// Bits consumed so far.
    pub fn bit_pos(&self) -> usize {
        self.pos
    }

    /// True if more bits were read than the stream holds.
    pub fn overrun(&self) -> bool {
        self.pos > self.data.len() * 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn pack_unpack_roundtrip(w in 0u32..=64, raw in proptest::collection::vec(any::<u64>(), 0..300)) {
            let vals: Vec<u64> = raw.iter().map(|v| v & mask(w)).collect();
            let mut out = vec![0xAA];
            pack(&vals, w, &mut out);
            prop_assert_eq!(out.len(), 1 + packed_len(vals.len(), w).unwrap());
            let mut back = vec![0u64; vals.len()];
            unpack(&out[1..], w, &mut back);
            prop_assert_eq!(back, vals);
        }

        #[test]
        fn writer_reader_roundtrip(fields in proptest::collection::vec((0u32..=64, any::<u64>()), 0..200)) {
            let mut bw = BitWriter::new(Vec::new());
            for &(w, v) in &fields { bw.write(v & mask(w), w); }
            let bytes = bw.finish();
            let mut br = BitReader::new(&bytes);
            for &(w, v) in &fields { prop_assert_eq!(br.read(w), v & mask(w)); }
            prop_assert!(!br.overrun());
        }
    }

    #[test]
    fn lsb_first_layout() {
        // Two 3-bit values 0b101 and 0b011 -> byte 0b00_011_101.
        let mut out = Vec::new();
        pack(&[0b101, 0b011], 3, &mut out);
        assert_eq!(out, vec![0b0001_1101]);
    }

    #[test]
    fn reader_overrun_is_reported() {
        let mut br = BitReader::new(&[0xff]);
        assert_eq!(br.read(8), 0xff);
        assert!(!br.overrun());
        assert_eq!(br.read(4), 0);
        assert!(br.overrun());
    }
}
