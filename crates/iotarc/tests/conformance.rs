//! One test per corruption rule of `format-spec/format.md` §13 (C1..C58): each builds a
//! small segment that breaks exactly that rule and checks that opening or decoding it
//! fails with `is_corruption()` and cites the rule (`Error::rule`), or, where the rule
//! says so, reports `UnsupportedVersion` / `UnsupportedFeature`.
//!
//! The segments are built by hand ([`Seg::build`]): chunks are written byte by byte, and
//! every offset, length and checksum around them is computed, so that only the broken
//! rule is broken.

use iotarc::codec::scratch::zstd_compress;
use iotarc::error::Rule;
use iotarc::format::footer::{BlockMeta, ColumnMeta, Footer};
use iotarc::format::header::{write_header, Trailer, FOOTER_PLAIN, HEADER_LEN, TRAILER_LEN};
use iotarc::*;
use xxhash_rust::xxh3::xxh3_64;

/// One column of a hand-built block.
#[derive(Clone)]
struct Col {
    channel: u32,
    vtype: ValueType,
    codec: u8,
    stats: ColumnStats,
    chunk: Vec<u8>,
}

/// One hand-built block.
#[derive(Clone)]
struct Blk {
    device: u32,
    rows: u64,
    ts_min: i64,
    ts_max: i64,
    ts_codec: u8,
    ts_chunk: Vec<u8>,
    cols: Vec<Col>,
    /// Added to the block length the footer records.
    len_delta: u64,
    /// Junk bytes written after the block, outside any block.
    gap: usize,
}

/// A hand-built segment.
#[derive(Clone)]
struct Seg {
    version: u16,
    devices: Vec<String>,
    channels: Vec<String>,
    blocks: Vec<Blk>,
}

const I64_CONST: u8 = 1;
const I64_LINEAR: u8 = 2;
const I64_FOR: u8 = 3;
const I64_RLE: u8 = 6;
const I64_GORILLA_DOD: u8 = 7;
const I64_PCO: u8 = 8;
const F64_CONST: u8 = 1;
const F64_GORILLA_XOR: u8 = 3;
const F64_DECIMAL: u8 = 4;
const F64_DECIMAL_PATCHED: u8 = 6;
const BOOL_BITPACK: u8 = 0;
const BOOL_CONST: u8 = 1;
const STR_DICT_ZSTD: u8 = 0;
const REF: u8 = 255;

/// The 4 timestamps of block 0.
const TS: [i64; 4] = [10, 20, 30, 40];

/// A LINEAR timestamp chunk.
fn linear_ts(first: i64, step: i64) -> Vec<u8> {
    let mut c = vec![0, I64_LINEAR];
    c.extend_from_slice(&first.to_le_bytes());
    c.extend_from_slice(&step.to_le_bytes());
    c
}

fn stats(v: Values, ts: &[i64]) -> ColumnStats {
    ColumnStats::compute(&v, ts)
}

/// Column chunk: flags 0, then `body` (codec byte and payload).
fn chunk(body: &[u8]) -> Vec<u8> {
    let mut c = vec![0];
    c.extend_from_slice(body);
    c
}

fn i64_col(channel: u32, codec: u8, body: &[u8]) -> Col {
    Col {
        channel,
        vtype: ValueType::I64,
        codec,
        stats: stats(Values::I64(vec![7; 4]), &TS),
        chunk: chunk(body),
    }
}

fn f64_col(channel: u32, codec: u8, body: &[u8]) -> Col {
    Col {
        channel,
        vtype: ValueType::F64,
        codec,
        stats: stats(Values::F64(vec![1.5; 4]), &TS),
        chunk: chunk(body),
    }
}

fn bool_col(codec: u8, body: &[u8]) -> Col {
    Col {
        channel: 2,
        vtype: ValueType::Bool,
        codec,
        stats: stats(Values::Bool(vec![true; 4]), &TS),
        chunk: chunk(body),
    }
}

/// A string chunk: DICT_ZSTD over `raw` (the decompressed dictionary and indices).
fn str_col(raw: &[u8]) -> Col {
    str_col_declaring(raw, raw.len() as u64)
}

/// As [`str_col`], with `raw_len` declared as the decompressed length.
fn str_col_declaring(raw: &[u8], raw_len: u64) -> Col {
    let z = zstd_compress(raw, 3).unwrap();
    let mut body = vec![STR_DICT_ZSTD];
    varint(&mut body, raw_len);
    varint(&mut body, z.len() as u64);
    body.extend_from_slice(&z);
    let s: StrValues = ["a"; 4].into_iter().collect();
    Col {
        channel: 3,
        vtype: ValueType::Str,
        codec: STR_DICT_ZSTD,
        stats: stats(Values::Str(s), &TS),
        chunk: chunk(&body),
    }
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// An integer codec body: FOR over an IntStream of `kind` with base 7, gcd `gcd`, then
/// `rest`.
fn for_body(kind: u8, gcd: u64, rest: &[u8]) -> Vec<u8> {
    let mut b = vec![I64_FOR, kind];
    b.extend_from_slice(&7i64.to_le_bytes());
    varint(&mut b, gcd);
    b.extend_from_slice(rest);
    b
}

fn const_i64(v: i64) -> Vec<u8> {
    let mut b = vec![I64_CONST];
    b.extend_from_slice(&v.to_le_bytes());
    b
}

/// Block 0 of device `d`: 4 rows at [`TS`], one column of each type.
fn block0() -> Blk {
    let mut f = vec![F64_CONST];
    f.extend_from_slice(&1.5f64.to_bits().to_le_bytes());
    // Dictionary ["a"], width 0: every index is 0.
    let raw = [1, 1, b'a', 0];
    Blk {
        device: 0,
        rows: 4,
        ts_min: 10,
        ts_max: 40,
        ts_codec: I64_LINEAR,
        ts_chunk: linear_ts(10, 10),
        cols: vec![
            f64_col(0, F64_CONST, &f),
            i64_col(1, I64_CONST, &const_i64(7)),
            bool_col(BOOL_CONST, &[BOOL_CONST, 1]),
            str_col(&raw),
        ],
        len_delta: 0,
        gap: 0,
    }
}

/// A block of device `e` with 2 rows at `t0` and `t0 + 5`, and a CONST i64 column.
fn small_block(t0: i64) -> Blk {
    let ts = [t0, t0 + 5];
    Blk {
        device: 1,
        rows: 2,
        ts_min: t0,
        ts_max: t0 + 5,
        ts_codec: I64_LINEAR,
        ts_chunk: linear_ts(t0, 5),
        cols: vec![Col {
            channel: 1,
            vtype: ValueType::I64,
            codec: I64_CONST,
            stats: stats(Values::I64(vec![7; 2]), &ts),
            chunk: chunk(&const_i64(7)),
        }],
        len_delta: 0,
        gap: 0,
    }
}

/// A valid version 5 segment: block 0 of device `d`, then two blocks of device `e`.
fn base() -> Seg {
    Seg {
        version: 5,
        devices: vec!["d".into(), "e".into()],
        channels: vec!["f".into(), "i".into(), "b".into(), "s".into()],
        blocks: vec![block0(), small_block(0), small_block(100)],
    }
}

/// The segment with block 0's column `i` replaced.
fn with_col(i: usize, col: Col) -> Seg {
    let mut s = base();
    s.blocks[0].cols[i] = col;
    s
}

impl Seg {
    /// The file, with the footer stored plain.
    fn build(&self) -> Vec<u8> {
        self.build_with(|_| {})
    }

    /// The file, after `edit` changed the raw footer bytes.
    fn build_with(&self, edit: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        let (mut file, footer) = self.data();
        let mut raw = footer.write();
        edit(&mut raw);
        seal(&mut file, &raw, raw.len() as u64, FOOTER_PLAIN);
        file
    }

    /// The header and blocks, and the footer that describes them.
    fn data(&self) -> (Vec<u8>, Footer) {
        let mut file = write_header(self.version).to_vec();
        let mut footer = Footer {
            devices: self.devices.clone(),
            channels: self.channels.clone(),
            blocks: Vec::new(),
        };
        for b in &self.blocks {
            let offset = file.len() as u64;
            file.extend_from_slice(&b.ts_chunk);
            let mut columns = Vec::new();
            for c in &b.cols {
                columns.push(ColumnMeta {
                    channel: c.channel,
                    vtype: c.vtype,
                    codec: c.codec,
                    chunk_offset: file.len() as u64 - offset,
                    chunk_len: c.chunk.len() as u64,
                    stats: c.stats.clone(),
                });
                file.extend_from_slice(&c.chunk);
            }
            let len = file.len() as u64 - offset;
            footer.blocks.push(BlockMeta {
                device: b.device,
                offset,
                len: len + b.len_delta,
                checksum: xxh3_64(&file[offset as usize..]),
                rows: b.rows,
                ts_min: b.ts_min,
                ts_max: b.ts_max,
                ts_chunk_len: b.ts_chunk.len() as u64,
                ts_codec: b.ts_codec,
                columns,
            });
            file.extend(std::iter::repeat_n(0xAA, b.gap));
        }
        (file, footer)
    }
}

/// Appends the stored footer and a trailer for it.
fn seal(file: &mut Vec<u8>, stored: &[u8], raw_len: u64, encoding: u8) {
    let t = Trailer {
        footer_offset: file.len() as u64,
        footer_stored_len: stored.len() as u64,
        footer_raw_len: raw_len,
        footer_checksum: xxh3_64(stored),
        footer_encoding: encoding,
    };
    file.extend_from_slice(stored);
    file.extend_from_slice(&t.write());
}

/// Recomputes the header check value.
fn reseal_header(file: &mut [u8]) {
    let c = (xxh3_64(&file[..12]) as u32).to_le_bytes();
    file[12..16].copy_from_slice(&c);
}

/// Recomputes the trailer check value.
fn reseal_trailer(file: &mut [u8]) {
    let t = file.len() - TRAILER_LEN;
    let c = (xxh3_64(&file[t..t + 36]) as u32).to_le_bytes();
    file[t + 36..t + 40].copy_from_slice(&c);
}

/// Opens the segment and decodes every block (timestamps and all columns).
fn read_all(file: Vec<u8>) -> Result<()> {
    let seg = Segment::from_bytes(file)?;
    let mut ts = Vec::new();
    let mut buf = ColumnBuf::default();
    for i in 0..seg.footer().blocks.len() {
        let b = seg.block(i)?;
        b.timestamps(&mut ts)?;
        for c in 0..b.meta().columns.len() {
            b.column(c, &mut buf)?;
        }
    }
    Ok(())
}

/// Asserts that reading `file` fails as corrupt, citing rule `c`.
#[track_caller]
fn breaks(file: Vec<u8>, c: u8) {
    let e = read_all(file).expect_err("decoded a file that breaks the rule");
    assert!(e.is_corruption(), "{e}");
    assert_eq!(e.rule(), Some(Rule::C(c)), "{e}");
}

/// Asserts that the segment opens (every open-level rule passes) and that decoding it
/// fails as corrupt, citing rule `c` (a block-level rule).
#[track_caller]
fn breaks_block(seg: &Seg, c: u8) {
    let file = seg.build();
    Segment::from_bytes(file.clone()).expect("open-level rules hold");
    breaks(file, c);
}

#[test]
fn the_base_segment_is_valid() {
    read_all(base().build()).unwrap();
    let seg = Segment::from_bytes(base().build()).unwrap();
    let mut s = Series::new(ValueType::Str);
    seg.read_series("d", "s", TimeRange::ALL, &mut s).unwrap();
    let mut f = Series::new(ValueType::F64);
    seg.read_series("d", "f", TimeRange::ALL, &mut f).unwrap();
    assert_eq!(seg.footer().blocks.len(), 3);
}

// --- 13.2 File, header, trailer, footer framing

#[test]
fn c01_short_file() {
    // C1: the reference reader reports a file too short as Truncated, the class Corrupt
    // without a rule field (format.md §1.1).
    for file in [vec![0x89; 10], {
        let mut f = write_header(1).to_vec();
        f.extend_from_slice(&[0; 40]);
        f
    }] {
        let e = read_all(file).unwrap_err();
        assert!(e.is_corruption(), "{e}");
        assert!(matches!(e.kind(), ErrorKind::Truncated { .. }), "{e}");
    }
}

#[test]
fn c02_bad_magic() {
    let mut f = base().build();
    f[1] = b'X';
    reseal_header(&mut f);
    breaks(f, 2);
}

#[test]
fn c03_bad_header_check() {
    let mut f = base().build();
    f[12] ^= 1;
    breaks(f, 3);
}

#[test]
fn c04_version_zero_and_newer_versions() {
    let mut f = base().build();
    f[8] = 0;
    reseal_header(&mut f);
    breaks(f, 4);
    let mut f = base().build();
    f[8] = 6;
    reseal_header(&mut f);
    let e = read_all(f).unwrap_err();
    assert!(!e.is_corruption());
    assert!(
        matches!(
            e.kind(),
            ErrorKind::UnsupportedVersion {
                found: 6,
                supported: 5
            }
        ),
        "{e}"
    );
}

#[test]
fn c05_header_flags_are_unsupported() {
    let mut f = base().build();
    f[10] = 1;
    reseal_header(&mut f);
    let e = read_all(f).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::UnsupportedFeature(_)), "{e}");
}

#[test]
fn c06_bad_trailer_magic() {
    let mut f = base().build();
    let n = f.len();
    f[n - 1] ^= 1;
    breaks(f, 6);
}

#[test]
fn c07_bad_trailer_check() {
    let mut f = base().build();
    let n = f.len();
    f[n - 12] ^= 1;
    breaks(f, 7);
}

#[test]
fn c08_trailer_reserved_bytes() {
    let mut f = base().build();
    let t = f.len() - TRAILER_LEN;
    f[t + 34] = 1;
    reseal_trailer(&mut f);
    breaks(f, 8);
}

#[test]
fn c09_unknown_footer_encoding() {
    let mut f = base().build();
    let t = f.len() - TRAILER_LEN;
    f[t + 32] = 2;
    reseal_trailer(&mut f);
    breaks(f, 9);
}

#[test]
fn c10_footer_bounds() {
    let mut f = base().build();
    let t = f.len() - TRAILER_LEN;
    f[t..t + 8].copy_from_slice(&15u64.to_le_bytes());
    reseal_trailer(&mut f);
    breaks(f, 10);
    let mut f = base().build();
    let off = u64::from_le_bytes(f[t..t + 8].try_into().unwrap());
    f[t..t + 8].copy_from_slice(&(off + 1).to_le_bytes());
    reseal_trailer(&mut f);
    breaks(f, 10);
}

#[test]
fn c11_footer_raw_len() {
    // Plain footer whose raw length differs from the stored one.
    let mut f = base().build();
    let t = f.len() - TRAILER_LEN;
    let raw = u64::from_le_bytes(f[t + 16..t + 24].try_into().unwrap());
    f[t + 16..t + 24].copy_from_slice(&(raw + 1).to_le_bytes());
    reseal_trailer(&mut f);
    breaks(f, 11);
    // Over 256 MiB.
    let (mut file, footer) = base().data();
    let raw = footer.write();
    let z = zstd_compress(&raw, 3).unwrap();
    seal(&mut file, &z, (256 << 20) + 1, 1);
    breaks(file, 11);
}

#[test]
fn c12_varint_overflow() {
    let f = base().build_with(|raw| {
        raw.splice(
            0..1,
            [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02],
        );
    });
    breaks(f, 12);
}

#[test]
fn c13_lengths_beyond_their_structure() {
    // A device name longer than the footer.
    let f = base().build_with(|raw| {
        raw.splice(1..2, [0xFF, 0x7F]);
    });
    breaks(f, 13);
    // A block count larger than the bytes left: a count is checked before allocation.
    let f = base().build_with(|raw| {
        *raw = vec![1, 1, b'd', 0, 0xFF, 0xFF, 0x03];
    });
    breaks(f, 13);
    // A read past the end of a chunk is Truncated (the class Corrupt, no rule field).
    let f = with_col(1, i64_col(1, I64_CONST, &[I64_CONST, 7, 0])).build();
    let e = read_all(f).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Truncated { .. }), "{e}");
}

#[test]
fn c14_invalid_utf8() {
    let f = base().build_with(|raw| raw[2] = 0xFF);
    breaks(f, 14);
}

#[test]
fn c15_bad_zstd_frame() {
    // A footer marked zstd that is not a zstd frame.
    let (mut file, footer) = base().data();
    let raw = footer.write();
    seal(&mut file, &raw, raw.len() as u64, 1);
    breaks(file, 15);
    // A zstd footer that decodes to fewer bytes than footer_raw_len.
    let (mut file, footer) = base().data();
    let raw = footer.write();
    let z = zstd_compress(&raw, 3).unwrap();
    seal(&mut file, &z, raw.len() as u64 + 1, 1);
    breaks(file, 15);
    // A string chunk whose frame decodes to fewer bytes than it declares.
    breaks_block(&with_col(3, str_col_declaring(&[1, 1, b'a', 0], 5)), 15);
}

#[test]
fn c16_footer_checksum() {
    let mut f = base().build();
    let t = f.len() - TRAILER_LEN;
    let off = u64::from_le_bytes(f[t..t + 8].try_into().unwrap()) as usize;
    f[off + 2] = b'x';
    breaks(f, 16);
}

// --- 13.3 Footer content

#[test]
fn c17_no_devices() {
    breaks(base().build_with(|raw| raw[0] = 0), 17);
}

#[test]
fn c18_duplicate_names() {
    let mut s = base();
    s.devices[1] = "d".into();
    breaks(s.build(), 18);
    let mut s = base();
    s.channels[1] = "f".into();
    breaks(s.build(), 18);
}

#[test]
fn c19_no_blocks() {
    let mut s = base();
    s.blocks.clear();
    breaks(s.build(), 19);
}

#[test]
fn c20_index_out_of_range() {
    let mut s = base();
    s.blocks[1].device = 2;
    breaks(s.build(), 20);
    let mut s = base();
    s.blocks[0].cols[3].channel = 4;
    breaks(s.build(), 20);
}

#[test]
fn c21_unknown_type_or_codec() {
    // An unknown type id in the footer: the type byte follows the channel varint.
    let f = base().build_with(|raw| {
        // devices, channels, block count, then block 0's entry; find the first
        // column (channel 0, type 0 = f64, codec 1 = CONST).
        let at = (20..raw.len())
            .find(|&i| raw[i..].starts_with(&[4, 0, 0, F64_CONST]))
            .expect("first column entry");
        raw[at + 2] = 4;
    });
    breaks(f, 21);
    // An f64 codec id that no version defines, in chunk and footer alike.
    breaks_block(&with_col(0, f64_col(0, 9, &[9])), 21);
    // A codec of a later version: PCO in a v4 file, REF in a v3 file.
    let mut s = with_col(1, i64_col(1, I64_PCO, &[I64_PCO, 4, 1]));
    s.version = 4;
    breaks_block(&s, 21);
    let mut s = base();
    s.version = 3;
    s.blocks[2].cols[0].codec = REF;
    s.blocks[2].cols[0].chunk = ref_chunk(&base().build(), 1, 0);
    breaks_block(&s, 21);
}

#[test]
fn c22_block_length_and_rows() {
    let mut s = base();
    s.blocks[0].rows = 0;
    breaks(s.build(), 22);
    let mut s = base();
    s.blocks[0].rows = (1 << 20) + 1;
    breaks(s.build(), 22);
    // A block length of 0 cannot be built from chunks: the timestamp chunk alone has
    // bytes. Patch the footer: block 0's length varint follows device and offset (16).
    let f = base().build_with(|raw| {
        let at = (0..raw.len())
            .find(|&i| raw[i..].starts_with(&[0, 16]))
            .expect("block 0 entry");
        raw[at + 2] = 0;
    });
    breaks(f, 22);
}

#[test]
fn c23_time_range_overflows() {
    let mut s = base();
    s.blocks[1].ts_min = i64::MAX - 1;
    s.blocks[1].ts_max = i64::MIN;
    breaks(s.build(), 23);
}

#[test]
fn c24_channels_not_increasing() {
    let mut s = base();
    s.blocks[0].cols.swap(0, 1);
    breaks(s.build(), 24);
    let mut s = base();
    s.blocks[0].cols[1].channel = 0;
    breaks(s.build(), 24);
}

#[test]
fn c25_chunk_lengths_disagree_with_the_block() {
    let mut s = base();
    s.blocks[0].len_delta = 1;
    breaks(s.build(), 25);
}

#[test]
fn c26_bad_stats() {
    let mut s = base();
    s.blocks[0].cols[1].stats.count = 5;
    breaks(s.build(), 26);
    // first/last timestamps outside the block.
    let mut s = base();
    s.blocks[0].cols[1].stats.last_ts = 41;
    breaks(s.build(), 26);
}

#[test]
fn c27_trailing_footer_bytes_and_repeated_sections() {
    breaks(base().build_with(|raw| raw.push(0)), 27);
    let f = base().build_with(|raw| {
        raw.pop();
        raw.extend_from_slice(&[2, 2, 0, 2, 0]);
    });
    breaks(f, 27);
    // An optional section once is fine.
    let f = base().build_with(|raw| {
        raw.pop();
        raw.extend_from_slice(&[1, 2, 1, 0xAB]);
    });
    read_all(f).unwrap();
}

#[test]
fn c28_required_section_is_unsupported() {
    let f = base().build_with(|raw| {
        raw.pop();
        raw.extend_from_slice(&[1, 5, 0]);
    });
    let e = read_all(f).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::UnsupportedFeature(_)), "{e}");
}

#[test]
fn c29_blocks_do_not_tile_the_data_region() {
    let mut s = base();
    s.blocks[0].gap = 1;
    breaks(s.build(), 29);
    let mut s = base();
    s.blocks[2].gap = 1;
    breaks(s.build(), 29);
}

#[test]
fn c30_blocks_of_a_device_overlap() {
    let mut s = base();
    s.blocks[2] = small_block(3);
    breaks(s.build(), 30);
    let mut s = base();
    s.blocks.swap(1, 2);
    breaks(s.build(), 30);
    // A block starting at the previous one's ts_max is accepted (format.md §2.2): files
    // of versions 1 to 5 hold such boundaries, though writers no longer produce them.
    let mut s = base();
    s.blocks[2] = small_block(5);
    read_all(s.build()).unwrap();
    let seg = Segment::from_bytes(s.build()).unwrap();
    let mut got = Series::new(ValueType::I64);
    seg.read_series("e", "i", TimeRange::ALL, &mut got).unwrap();
    assert_eq!(got.timestamps, vec![0, 5, 5, 10]);
}

// --- 13.4 Blocks, chunks and codecs

#[test]
fn c31_block_checksum() {
    let mut f = base().build();
    f[HEADER_LEN + 3] ^= 1;
    breaks(f, 31);
}

#[test]
fn c32_chunk_flags() {
    let mut s = base();
    s.blocks[0].cols[1].chunk[0] = 0x02;
    breaks_block(&s, 32);
    let mut s = base();
    s.blocks[0].ts_chunk[0] = 0x01;
    breaks_block(&s, 32);
}

#[test]
fn c33_validity_kind_and_padding() {
    let mut col = i64_col(1, I64_CONST, &[]);
    col.chunk = vec![1, 2, 0x0F];
    col.chunk.extend_from_slice(&const_i64(7));
    breaks_block(&with_col(1, col.clone()), 33);
    col.chunk[1] = 0;
    col.chunk[2] = 0x1F;
    breaks_block(&with_col(1, col), 33);
}

#[test]
fn c34_present_count() {
    // A validity bitmap with 3 present values, footer count 4.
    let mut col = i64_col(1, I64_CONST, &[]);
    col.chunk = vec![1, 0, 0x07];
    col.chunk.extend_from_slice(&const_i64(7));
    breaks_block(&with_col(1, col), 34);
    // No validity, footer count below the row count.
    let mut col = i64_col(1, I64_CONST, &const_i64(7));
    col.stats = stats(Values::I64(vec![7; 3]), &TS[..3]);
    breaks_block(&with_col(1, col), 34);
}

#[test]
fn c35_column_without_values() {
    let mut s = base();
    s.blocks[0].cols[1].stats = ColumnStats::empty();
    breaks(s.build(), 35);
}

#[test]
fn c36_codec_differs_from_the_footer() {
    let mut s = base();
    s.blocks[0].cols[1].codec = I64_LINEAR;
    breaks_block(&s, 36);
    let mut s = base();
    s.blocks[0].ts_codec = I64_CONST;
    breaks_block(&s, 36);
}

#[test]
fn c37_chunk_not_consumed() {
    let mut body = const_i64(7);
    body.push(0);
    breaks_block(&with_col(1, i64_col(1, I64_CONST, &body)), 37);
    let mut s = base();
    s.blocks[0].ts_chunk.push(0);
    breaks_block(&s, 37);
}

#[test]
fn c38_intstream_kind() {
    breaks_block(&with_col(1, i64_col(1, I64_FOR, &for_body(6, 1, &[]))), 38);
    // SPLIT (4) in a v1 file.
    let mut s = with_col(1, i64_col(1, I64_FOR, &for_body(4, 1, &[1, 1, 0])));
    s.version = 1;
    breaks_block(&s, 38);
}

#[test]
fn c39_intstream_gcd_zero() {
    breaks_block(&with_col(1, i64_col(1, I64_FOR, &for_body(0, 0, &[0]))), 39);
}

#[test]
fn c40_bitpack_width() {
    breaks_block(
        &with_col(1, i64_col(1, I64_FOR, &for_body(0, 1, &[65]))),
        40,
    );
}

#[test]
fn c41_plane_count() {
    for kind in [1, 3, 4, 5] {
        let s = with_col(1, i64_col(1, I64_FOR, &for_body(kind, 1, &[0])));
        breaks_block(&s, 41);
        let s = with_col(1, i64_col(1, I64_FOR, &for_body(kind, 1, &[9])));
        breaks_block(&s, 41);
    }
}

#[test]
fn c42_varints_do_not_fill_their_length() {
    // Four zero varints declared as 5 bytes.
    let body = for_body(2, 1, &[5, 0, 0, 0, 0, 0]);
    breaks_block(&with_col(1, i64_col(1, I64_FOR, &body)), 42);
}

#[test]
fn c43_rle_runs() {
    let run = |len: u8| {
        let mut r = 7i64.to_le_bytes().to_vec();
        r.push(len);
        r
    };
    // A run of length 0, then one of 4.
    let mut body = vec![I64_RLE, 2];
    body.extend(run(0));
    body.extend(run(4));
    breaks_block(&with_col(1, i64_col(1, I64_RLE, &body)), 43);
    // Runs covering 3 of 4 values.
    let mut body = vec![I64_RLE, 1];
    body.extend(run(3));
    breaks_block(&with_col(1, i64_col(1, I64_RLE, &body)), 43);
}

/// A DECIMAL body: exponent `e`, `exc` (gap, bits) exceptions, then `main`.
fn decimal(e: u8, exc: &[(u64, f64)], main: &[u8]) -> Vec<u8> {
    let mut b = vec![F64_DECIMAL, e];
    varint(&mut b, exc.len() as u64);
    for &(gap, x) in exc {
        varint(&mut b, gap);
        b.extend_from_slice(&x.to_bits().to_le_bytes());
    }
    b.extend_from_slice(main);
    b
}

#[test]
fn c44_decimal_exponent_and_mantissas() {
    // 15 at e = 1 is 1.5; the base decodes.
    let ok = decimal(1, &[], &const_i64(15));
    read_all(with_col(0, f64_col(0, F64_DECIMAL, &ok)).build()).unwrap();
    let body = decimal(19, &[], &const_i64(15));
    breaks_block(&with_col(0, f64_col(0, F64_DECIMAL, &body)), 44);
    let body = decimal(1, &[], &const_i64((1 << 53) + 1));
    breaks_block(&with_col(0, f64_col(0, F64_DECIMAL, &body)), 44);
}

#[test]
fn c45_decimal_inner_codec() {
    // GORILLA_DOD (7) is not a DECIMAL inner codec.
    let body = decimal(1, &[], &[I64_GORILLA_DOD, 0]);
    breaks_block(&with_col(0, f64_col(0, F64_DECIMAL, &body)), 45);
}

#[test]
fn c46_decimal_exception_position() {
    let body = decimal(1, &[(4, 1.5)], &const_i64(15));
    breaks_block(&with_col(0, f64_col(0, F64_DECIMAL, &body)), 46);
}

#[test]
fn c47_gorilla_xor_window() {
    // Two values: the first in 64 bits, then control `10` (reuse) with no window.
    let mut body = vec![F64_GORILLA_XOR, 9];
    body.extend_from_slice(&1.5f64.to_bits().to_le_bytes());
    body.push(0b01);
    let mut s = base();
    s.blocks[1].cols[0] = Col {
        vtype: ValueType::F64,
        codec: F64_GORILLA_XOR,
        stats: stats(Values::F64(vec![1.5; 2]), &[0, 5]),
        chunk: chunk(&body),
        ..s.blocks[1].cols[0].clone()
    };
    breaks_block(&s, 47);
}

#[test]
fn c48_gorilla_stream_length() {
    // GORILLA_DOD of [7, 7]: two 64-bit words, declared one byte longer.
    let mut body = vec![I64_GORILLA_DOD, 17];
    body.extend_from_slice(&7i64.to_le_bytes());
    body.extend_from_slice(&0i64.to_le_bytes());
    body.push(0);
    let mut s = base();
    s.blocks[1].cols[0].codec = I64_GORILLA_DOD;
    s.blocks[1].cols[0].chunk = chunk(&body);
    breaks_block(&s, 48);
    // Declared too short: the stream ends before the second value.
    let mut s = base();
    body[1] = 8;
    body.truncate(10);
    s.blocks[1].cols[0].codec = I64_GORILLA_DOD;
    s.blocks[1].cols[0].chunk = chunk(&body);
    breaks_block(&s, 48);
}

#[test]
fn c49_padding_bits() {
    // bool BITPACK of 4 values with a bit set in the padding.
    breaks_block(
        &with_col(2, bool_col(BOOL_BITPACK, &[BOOL_BITPACK, 0x1F])),
        49,
    );
    // IntStream BITPACK width 1, 4 values, padding bit set.
    let body = for_body(0, 1, &[1, 0x10]);
    breaks_block(&with_col(1, i64_col(1, I64_FOR, &body)), 49);
    // Dictionary indices: width 1, padding bit set.
    breaks_block(&with_col(3, str_col(&[1, 1, b'a', 1, 0x10])), 49);
}

#[test]
fn c50_bool_const_byte() {
    breaks_block(&with_col(2, bool_col(BOOL_CONST, &[BOOL_CONST, 2])), 50);
}

#[test]
fn c51_dictionary_limits() {
    breaks_block(&with_col(3, str_col(&[0, 0])), 51); // dict_count 0
    breaks_block(&with_col(3, str_col(&[5, 1, b'a', 0])), 51); // dict_count > n
    breaks_block(&with_col(3, str_col(&[1, 1, b'a', 33])), 51); // width > 32
    breaks_block(&with_col(3, str_col(&[1, 1, b'a', 0, 0])), 51); // bytes left over
}

#[test]
fn c52_dictionary_index() {
    // Dictionary ["a"], width 1, second index 1.
    breaks_block(&with_col(3, str_col(&[1, 1, b'a', 1, 0x02])), 52);
}

#[test]
fn c53_timestamps_disagree() {
    // Decreasing timestamps.
    let mut s = base();
    s.blocks[0].ts_chunk = vec![0, 0];
    for t in [10i64, 30, 20, 40] {
        s.blocks[0].ts_chunk.extend_from_slice(&t.to_le_bytes());
    }
    s.blocks[0].ts_codec = 0;
    breaks_block(&s, 53);
    // Last timestamp differs from ts_max.
    let mut s = base();
    s.blocks[0].ts_chunk = linear_ts(10, 9);
    breaks_block(&s, 53);
}

#[test]
fn c54_stats_are_checked_by_verify() {
    // C54 is level V: a reader that only reads may skip it, and the library's reader
    // does (the reference `verify` command checks it, see iotarc-cli's verify tests).
    // A column whose min/max disagree with its values still decodes.
    let mut col = i64_col(1, I64_CONST, &const_i64(7));
    col.stats = stats(Values::I64(vec![8; 4]), &TS);
    read_all(with_col(1, col).build()).unwrap();
}

#[test]
fn c55_split_plane_mode() {
    let body = for_body(4, 1, &[1, 3]);
    breaks_block(&with_col(1, i64_col(1, I64_FOR, &body)), 55);
}

/// A DECIMAL_PATCHED body at e = 1 and patch exponent `e2` with one patch at `gap`
/// holding `pm`, over main mantissas 15.
fn patched(e2: u8, np: u8, gap: i64, pm: i64) -> Vec<u8> {
    let mut b = vec![F64_DECIMAL_PATCHED, 1, 0, e2, np];
    b.extend(const_i64(gap));
    b.extend(const_i64(pm));
    b.extend(const_i64(15));
    b
}

#[test]
fn c56_decimal_patched() {
    let ok = patched(2, 1, 2, 151);
    read_all(with_col(0, f64_col(0, F64_DECIMAL_PATCHED, &ok)).build()).unwrap();
    for bad in [
        patched(19, 1, 2, 151),          // e2 > 18
        patched(2, 0, 2, 151),           // no patch
        patched(2, 1, -1, 151),          // negative gap
        patched(2, 1, 4, 151),           // position >= n
        patched(2, 1, 2, (1 << 53) + 1), // mantissa over 2^53
    ] {
        breaks_block(&with_col(0, f64_col(0, F64_DECIMAL_PATCHED, &bad)), 56);
    }
}

/// A REF chunk to the chunk of column `col` of block `b` of `file`.
fn ref_chunk(file: &[u8], b: usize, col: usize) -> Vec<u8> {
    let seg = Segment::from_bytes(file.to_vec()).unwrap();
    let m = &seg.footer().blocks[b];
    let off = m.offset + m.columns[col].chunk_offset;
    let len = m.columns[col].chunk_len;
    let mut c = vec![0, REF];
    varint(&mut c, off);
    varint(&mut c, len);
    c.extend_from_slice(&xxh3_64(&file[off as usize..(off + len) as usize]).to_le_bytes());
    c
}

/// The base with block 2's column referring to block 1's, after `edit` changed the
/// reference chunk. The reference's length keeps block 2 where it was.
fn with_ref(edit: impl FnOnce(&mut Vec<u8>)) -> Seg {
    let mut s = base();
    let mut r = ref_chunk(&base().build(), 1, 0);
    edit(&mut r);
    s.blocks[2].cols[0].codec = REF;
    s.blocks[2].cols[0].chunk = r;
    s
}

#[test]
fn c57_chunk_references() {
    read_all(with_ref(|_| {}).build()).unwrap();
    breaks_block(&with_ref(|r| r[0] = 1), 57); // flags
    breaks_block(&with_ref(|r| r[3] = 0), 57); // length 0
    breaks_block(&with_ref(|r| r[2] = 8), 57); // offset < 16
    breaks_block(&with_ref(|r| r[3] = 0x7F), 57); // past its block
    breaks_block(&with_ref(|r| r[5] ^= 1), 57); // checksum
                                                // A reference to a reference: block 2's chunk refers to one more REF chunk.
    let mut s = with_ref(|_| {});
    s.blocks.push(small_block(200));
    let file = s.build();
    s.blocks[3].cols[0].codec = REF;
    s.blocks[3].cols[0].chunk = ref_chunk(&file, 2, 0);
    breaks_block(&s, 57);
}

#[test]
fn c58_pco_chunk() {
    // pcodec format version 9.9.
    breaks_block(&with_col(1, i64_col(1, I64_PCO, &[I64_PCO, 9, 9])), 58);
    // Version 4.1 and no chunk metadata.
    breaks_block(
        &with_col(1, i64_col(1, I64_PCO, &[I64_PCO, 4, 1, 0xFF])),
        58,
    );
}
