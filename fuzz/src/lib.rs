//! Helpers shared by the fuzz targets in `fuzz_targets/`.

use iotarc::format::chunkref;
use iotarc::format::header::{Trailer, FOOTER_PLAIN, HEADER_LEN, TRAILER_LEN};
use iotarc::{ColumnBuf, Segment, Series, TimeRange, ValueType};
use xxhash_rust::xxh3::xxh3_64;

/// Largest value count the codec targets ask a decoder for.
pub const MAX_COUNT: usize = 4096;

/// Splits a codec target's input into a value count (from the first two bytes, at most
/// [`MAX_COUNT`]), a flag bit (the top bit of the second byte) and the encoded bytes.
pub fn count_and_bytes(data: &[u8]) -> Option<(usize, bool, &[u8])> {
    let (head, rest) = data.split_first_chunk::<2>()?;
    let v = u16::from_le_bytes(*head);
    Some((
        (v & 0x7fff) as usize % (MAX_COUNT + 1),
        v & 0x8000 != 0,
        rest,
    ))
}

/// Decodes every block of `seg` (timestamps and all columns), reads every channel of every
/// device with `read_series`, and aggregates each over all time and over the middle half
/// of the device's span. Errors are ignored: only panics matter.
pub fn read_everything(seg: &Segment) {
    let mut ts = Vec::new();
    let mut buf = ColumnBuf::default();
    for i in 0..seg.footer().blocks.len() {
        let Ok(block) = seg.block(i) else { continue };
        let _ = block.timestamps(&mut ts);
        for ci in 0..block.meta().columns.len() {
            let _ = block.column(ci, &mut buf);
        }
    }
    for (d, dev) in seg.devices().iter().enumerate() {
        let mine = || {
            seg.footer()
                .blocks
                .iter()
                .filter(|b| b.device as usize == d)
        };
        let lo = mine().map(|b| b.ts_min).min().unwrap_or(0);
        let hi = mine().map(|b| b.ts_max).max().unwrap_or(0);
        let quarter = ((hi as i128 - lo as i128) / 4) as i64;
        let middle = TimeRange::new(lo + quarter, hi - quarter);
        for ch in seg.channels() {
            for range in [TimeRange::ALL, middle] {
                let _ = seg.aggregate(dev, ch, range);
            }
            let vtype = seg
                .channel_id(ch)
                .and_then(|c| mine().find_map(|b| b.column(c)))
                .map_or(ValueType::F64, |c| c.vtype);
            let mut s = Series::new(vtype);
            let _ = seg.read_series(dev, ch, middle, &mut s);
        }
    }
}

/// Makes the check values of a (mutated) segment valid again, so that mutations reach
/// the structures behind them instead of all stopping at a checksum:
///
/// 1. the header check value is recomputed;
/// 2. if the trailer places the footer sensibly, the footer checksum and the trailer
///    check value are recomputed;
/// 3. if the segment then opens, its footer is rewritten plain with every block
///    checksum recomputed, followed by a fresh trailer.
///
/// Magic numbers, reserved bytes, versions and flags are left as the fuzzer made them.
pub fn reseal(file: &mut Vec<u8>) {
    let check32 = |b: &[u8]| (xxh3_64(b) as u32).to_le_bytes();
    if file.len() < HEADER_LEN {
        return;
    }
    let c = check32(&file[..12]);
    file[12..16].copy_from_slice(&c);
    if file.len() < HEADER_LEN + TRAILER_LEN {
        return;
    }
    let at = file.len() - TRAILER_LEN;
    let u64_at = |f: &[u8], i: usize| u64::from_le_bytes(f[i..i + 8].try_into().unwrap());
    let offset = u64_at(file, at);
    let stored_len = u64_at(file, at + 8);
    if offset >= HEADER_LEN as u64 && offset.checked_add(stored_len) == Some(at as u64) {
        let sum = xxh3_64(&file[offset as usize..at]);
        file[at + 24..at + 32].copy_from_slice(&sum.to_le_bytes());
        let c = check32(&file[at..at + 36]);
        file[at + 36..at + 40].copy_from_slice(&c);
    }
    let Ok(seg) = Segment::from_bytes(file.clone()) else {
        return;
    };
    let mut footer = seg.footer().clone();
    // Chunk references carry the checksum of the bytes they name (format.md §8.6): fix
    // those too, in file order, so mutated referenced chunks reach the decoders.
    for b in &footer.blocks {
        for c in &b.columns {
            let start = (b.offset + c.chunk_offset) as usize;
            let end = start + c.chunk_len as usize;
            if c.codec != chunkref::REF || end > file.len() || c.chunk_len < 8 {
                continue;
            }
            let Ok(r) = chunkref::ChunkRef::read(&file[start..end]) else {
                continue;
            };
            let Some(to) = r
                .offset
                .checked_add(r.len)
                .filter(|&e| e <= file.len() as u64)
            else {
                continue;
            };
            let sum = xxh3_64(&file[r.offset as usize..to as usize]);
            file[end - 8..end].copy_from_slice(&sum.to_le_bytes());
        }
    }
    for b in &mut footer.blocks {
        b.checksum = xxh3_64(&file[b.offset as usize..(b.offset + b.len) as usize]);
    }
    let raw = footer.write();
    file.truncate(offset as usize);
    file.extend_from_slice(&raw);
    let trailer = Trailer {
        footer_offset: offset,
        footer_stored_len: raw.len() as u64,
        footer_raw_len: raw.len() as u64,
        footer_checksum: xxh3_64(&raw),
        footer_encoding: FOOTER_PLAIN,
    };
    file.extend_from_slice(&trailer.write());
}

/// How the roundtrip targets build one f64 from fuzzer input: raw bits reach every
/// pattern, the rest steer towards the cases codecs special-case (short decimals for
/// DECIMAL, repeats for CONST/RLE, NaN payloads, signed zeros, subnormals, infinities).
#[derive(arbitrary::Arbitrary, Debug, Clone, Copy)]
pub enum FloatGen {
    /// Any bit pattern.
    Bits(u64),
    /// `m / 10^e` with `e` taken modulo 20.
    Decimal(i32, u8),
    /// The previous value again.
    Repeat,
    /// One of a list of special values.
    Special(u8),
}

const SPECIALS: [u64; 12] = [
    0x7ff8_0000_dead_beef, // NaN with payload
    0xfff0_0000_0000_0001, // negative signalling NaN
    0x7ff8_0000_0000_0000, // canonical NaN
    0x8000_0000_0000_0000, // -0.0
    0x0000_0000_0000_0000, // +0.0
    0x7ff0_0000_0000_0000, // +inf
    0xfff0_0000_0000_0000, // -inf
    0x0000_0000_0000_0001, // smallest subnormal
    0x000f_ffff_ffff_ffff, // largest subnormal
    0x0010_0000_0000_0000, // smallest normal
    0x7fef_ffff_ffff_ffff, // f64::MAX
    0x4340_0000_0000_0000, // 2^53
];

impl FloatGen {
    /// The value this generator stands for, given the previous value.
    pub fn value(self, prev: f64) -> f64 {
        match self {
            FloatGen::Bits(b) => f64::from_bits(b),
            FloatGen::Decimal(m, e) => m as f64 / 10f64.powi((e % 20) as i32),
            FloatGen::Repeat => prev,
            FloatGen::Special(i) => f64::from_bits(SPECIALS[i as usize % SPECIALS.len()]),
        }
    }
}

/// Expands generators into values.
pub fn floats(gens: &[FloatGen]) -> Vec<f64> {
    let mut prev = 0.0;
    gens.iter()
        .map(|g| {
            prev = g.value(prev);
            prev
        })
        .collect()
}

/// How the roundtrip targets build one i64: any value, or a step from the previous one
/// (small deltas, repeats and constant deltas reach DELTA, DOD, RLE and LINEAR).
#[derive(arbitrary::Arbitrary, Debug, Clone, Copy)]
pub enum IntGen {
    /// Any value.
    Any(i64),
    /// Previous value plus a small delta.
    Delta(i8),
    /// Previous value plus a delta of up to 16 bits, times 1000 (microsecond clocks).
    Millis(i16),
    /// The previous value again.
    Repeat,
    /// Previous value plus the previous delta.
    SameDelta,
}

/// Expands generators into values (wrapping arithmetic).
pub fn ints(gens: &[IntGen]) -> Vec<i64> {
    let (mut prev, mut delta) = (0i64, 0i64);
    gens.iter()
        .map(|g| {
            let next = match *g {
                IntGen::Any(v) => v,
                IntGen::Delta(d) => prev.wrapping_add(d as i64),
                IntGen::Millis(d) => prev.wrapping_add(d as i64 * 1000),
                IntGen::Repeat => prev,
                IntGen::SameDelta => prev.wrapping_add(delta),
            };
            delta = next.wrapping_sub(prev);
            prev = next;
            next
        })
        .collect()
}

/// Codec options from two fuzzer bytes: zstd off or at level -1..=3, exhaustive or not.
pub fn options(zstd: Option<u8>, exhaustive: bool) -> iotarc::codec::Options {
    iotarc::codec::Options {
        zstd_level: zstd.map(|l| (l % 5) as i32 - 1),
        exhaustive,
        ..iotarc::codec::Options::default()
    }
}

/// Parser options from a fuzzer flag byte: time unit (bits 1-2, the last choice being
/// `unit3`), time zone (bits 3-4), forced types for channels `<prefix>a..d` (bit 5).
pub fn parse_options(
    flags: u8,
    format: Option<iotarc::input::Format>,
    unit3: iotarc::input::TimeUnit,
    prefix: &str,
) -> iotarc::input::ParseOptions {
    use iotarc::input::{ParseOptions, TimeUnit, Tz};
    use iotarc::ValueType;
    let units = [None, Some(TimeUnit::S), Some(unit3), Some(TimeUnit::Ns)];
    let types = [
        ("a", ValueType::I64),
        ("b", ValueType::F64),
        ("c", ValueType::Bool),
        ("d", ValueType::Str),
    ];
    ParseOptions {
        format,
        time_unit: units[(flags >> 1 & 3) as usize],
        tz: match flags >> 3 & 3 {
            0 => Tz::Utc,
            1 => Tz::Fixed(-3600),
            _ => "Europe/Berlin".parse().expect("bundled zone"),
        },
        types: if flags & 0x20 != 0 {
            types
                .iter()
                .map(|&(n, t)| (format!("{prefix}{n}"), t))
                .collect()
        } else {
            Default::default()
        },
        ..ParseOptions::default()
    }
}

/// Asserts that a batch's ids are in range and every dictionary entry is used.
pub fn check_batch(b: &iotarc::input::Batch) {
    let mut used = (
        vec![false; b.devices.len()],
        vec![false; b.channels.len()],
        vec![false; b.strings.len()],
    );
    for r in &b.rows {
        used.0[r.device as usize] = true;
        used.1[r.channel as usize] = true;
        if let iotarc::input::Val::Str(i) = r.value {
            used.2[i as usize] = true;
        }
    }
    assert!(used.0.iter().chain(&used.1).chain(&used.2).all(|&u| u));
}

/// Parses `data` in chunks of `size` bytes, checking each batch; `None` if the input is
/// refused as a whole (e.g. no CSV header).
pub fn parse_in_chunks(
    opts: &iotarc::input::ParseOptions,
    data: &[u8],
    size: usize,
) -> Option<iotarc::input::Batch> {
    use iotarc::input::{Batch, Chunker, Parser};
    let mut chunks = Chunker::with_chunk_size(data, size);
    let parser = Parser::from_input(opts, None, &mut chunks).ok()?;
    let mut out = Batch::default();
    for chunk in chunks {
        let chunk = chunk.ok()?;
        let b = parser.parse_chunk(&chunk.bytes, chunk.first_line);
        check_batch(&b);
        out.append(b);
    }
    Some(out)
}

/// The property of every parse target: no panic, consistent batches, and parsing in
/// small chunks gives exactly the batch of parsing in one piece.
pub fn check_parser(opts: &iotarc::input::ParseOptions, data: &[u8], size_byte: u8) {
    let whole = parse_in_chunks(opts, data, usize::MAX);
    let chunked = parse_in_chunks(opts, data, size_byte as usize % 64 + 1);
    assert_eq!(whole, chunked);
}
