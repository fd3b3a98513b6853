//! A block: one device's rows over one time range, stored as a timestamp chunk followed by
//! one chunk per column. Each chunk is `flags, [validity], codec, payload`.

use super::chunkref::{self, ChunkRef};
use super::footer::{BlockMeta, ColumnMeta};
use super::stats::ColumnStats;
use crate::codec::FormatVersion;
use crate::codec::bytes::Cursor;
use crate::codec::validity::{self, Bitmap};
use crate::codec::{boolean, float, int, string, Options, StrValues};
use crate::error::{Error, Result, Rule};
use crate::model::{Column, ValueType, Values};
use xxhash_rust::xxh3::xxh3_64;

const FLAG_VALIDITY: u8 = 1;

/// Encodes one block. `columns` are (channel index, column) sorted by channel index, each
/// spanning `ts.len()` rows; columns with no present value must be left out by the caller.
/// Returns the block bytes, its footer entry (with `offset` 0; the writer sets it) and the
/// lowest format version that defines every codec the block uses.
pub fn encode(
    device: u32,
    ts: &[i64],
    columns: &[(u32, Column)],
    opts: &Options,
) -> (Vec<u8>, BlockMeta, FormatVersion) {
    let mut out = Vec::with_capacity(ts.len() * (1 + columns.len()) + 64);
    out.push(0);
    let (ts_codec, mut version) =
        int::encode_versioned(ts, int::Allowed::ALL, true, opts, &mut out);
    let ts_chunk_len = out.len() as u64;
    let mut metas = Vec::with_capacity(columns.len());
    let mut present_ts = Vec::new();
    for (channel, col) in columns {
        let start = out.len();
        let ts_of_values: &[i64] = match &col.validity {
            None => {
                out.push(0);
                ts
            }
            Some(bm) => {
                out.push(FLAG_VALIDITY);
                validity::encode(bm, opts.zstd_level, &mut out);
                present_ts.clear();
                present_ts.extend(bm.iter_ones().map(|i| ts[i]));
                &present_ts
            }
        };
        let (codec, v) = match &col.values {
            Values::F64(v) => float::encode_versioned(v, opts, &mut out),
            Values::I64(v) => int::encode_versioned(v, int::Allowed::ALL, false, opts, &mut out),
            Values::Bool(v) => (boolean::encode(v, &mut out), FormatVersion::V1),
            Values::Str(v) => (string::encode(v, opts, &mut out), FormatVersion::V1),
        };
        version = version.max(v);
        metas.push(ColumnMeta {
            channel: *channel,
            vtype: col.values.value_type(),
            codec,
            chunk_offset: start as u64,
            chunk_len: (out.len() - start) as u64,
            stats: ColumnStats::compute(&col.values, ts_of_values),
        });
    }
    let meta = BlockMeta {
        device,
        offset: 0,
        len: out.len() as u64,
        checksum: xxh3_64(&out),
        rows: ts.len() as u64,
        ts_min: ts[0],
        ts_max: ts[ts.len() - 1],
        ts_chunk_len,
        ts_codec,
        columns: metas,
    };
    (out, meta, version)
}

/// Decoded values of one column of one block, reusable across blocks so a scan allocates
/// only when a block is larger than any before it.
#[derive(Clone, Debug)]
pub struct ColumnBuf {
    /// Present values in row order.
    pub values: Values,
    /// One bit per row (1 = present); empty when every row is present.
    pub validity: Bitmap,
}

impl Default for ColumnBuf {
    fn default() -> Self {
        ColumnBuf {
            values: Values::F64(Vec::new()),
            validity: Bitmap::new(),
        }
    }
}

impl ColumnBuf {
    /// True if every row has a value.
    pub fn all_present(&self) -> bool {
        self.validity.is_empty()
    }

    /// True if row `i` has a value.
    pub fn is_present(&self, i: usize) -> bool {
        self.validity.is_empty() || self.validity.get(i).is_some_and(|b| *b)
    }
}

/// A block whose checksum has been verified, ready to decode.
#[derive(Clone, Copy, Debug)]
pub struct Block<'a> {
    meta: &'a BlockMeta,
    bytes: &'a [u8],
    /// Format version of the file, which bounds the codecs its chunks may use.
    version: FormatVersion,
    /// The whole segment, in which chunk references (format.md §8.6) are resolved; empty
    /// when the caller has only the block.
    file: &'a [u8],
}

impl<'a> Block<'a> {
    /// Wraps the bytes of a block of a file of format `version`, after checking their
    /// length and checksum. Its chunks may use only the codecs of that version: there is
    /// no default, so a block of an old file cannot be decoded with newer codecs by
    /// omission.
    ///
    /// # Errors
    /// Corrupt if the length differs from the footer's or the checksum does not match.
    pub fn new(meta: &'a BlockMeta, bytes: &'a [u8], version: FormatVersion) -> Result<Block<'a>> {
        if bytes.len() as u64 != meta.len {
            return Err(Error::corrupt_rule(
                Rule::C(13),
                format!(
                    "block holds {} bytes, footer says {}",
                    bytes.len(),
                    meta.len
                ),
                Some(meta.offset),
            ));
        }
        let sum = xxh3_64(bytes);
        if sum != meta.checksum {
            return Err(Error::corrupt_rule(
                Rule::C(31),
                format!(
                    "block checksum {sum:#018x} does not match footer {:#018x}",
                    meta.checksum
                ),
                Some(meta.offset),
            ));
        }
        Ok(Block {
            meta,
            bytes,
            version,
            file: &[],
        })
    }

    /// The same block, able to resolve chunk references in `file`, the whole segment
    /// the block belongs to (from byte 0). Without it a referencing column fails to
    /// decode.
    pub fn with_file(self, file: &'a [u8]) -> Block<'a> {
        Block { file, ..self }
    }

    /// The block's footer entry.
    pub fn meta(&self) -> &'a BlockMeta {
        self.meta
    }

    fn chunk(&self, off: u64, len: u64) -> &'a [u8] {
        // The footer reader checked that chunk offsets and lengths add up to the block
        // length, and `new` that the block is that long.
        &self.bytes[off as usize..(off + len) as usize]
    }

    /// Decodes the timestamps into `out` (resized to the row count).
    ///
    /// # Errors
    /// Corrupt chunk, codec differing from the footer's, timestamps out of order, or first
    /// and last not equal to the footer's `ts_min`/`ts_max`.
    pub fn timestamps(&self, out: &mut Vec<i64>) -> Result<()> {
        let m = self.meta;
        let data = self.chunk(0, m.ts_chunk_len);
        let mut c = Cursor::new(data).with_version(self.version);
        let fail = |e: Error| e.rebase(m.offset);
        let flags = c.u8("timestamp chunk flags").map_err(fail)?;
        if flags != 0 {
            return Err(Error::corrupt_rule(
                Rule::C(32),
                format!("timestamp chunk flags {flags} are not 0"),
                Some(m.offset),
            ));
        }
        out.clear();
        out.resize(m.rows as usize, 0);
        let codec = int::decode(&mut c, int::Allowed::ALL, out).map_err(fail)?;
        c.finish("timestamp chunk")
            .map_err(|e| fail(e.or_rule(Rule::C(37))))?;
        if codec != m.ts_codec {
            return Err(Error::corrupt_rule(
                Rule::C(36),
                format!(
                    "timestamp codec {codec} differs from footer's {}",
                    m.ts_codec
                ),
                Some(m.offset),
            ));
        }
        let sorted = out.windows(2).fold(true, |ok, w| ok & (w[0] <= w[1]));
        if !sorted || out.first() != Some(&m.ts_min) || out.last() != Some(&m.ts_max) {
            return Err(Error::corrupt_rule(
                Rule::C(53),
                "timestamps are unsorted or disagree with the footer's ts_min/ts_max",
                Some(m.offset),
            ));
        }
        Ok(())
    }

    /// Decodes column `idx` (an index into `meta().columns`) into `out`.
    ///
    /// # Errors
    /// Corrupt chunk, a codec or present count that disagrees with the footer.
    pub fn column(&self, idx: usize, out: &mut ColumnBuf) -> Result<()> {
        let m = self.meta;
        let Some(cm) = m.columns.get(idx) else {
            return Err(Error::invalid_input(format!("block has no column {idx}")));
        };
        let base = m.offset + cm.chunk_offset;
        let chunk = self.chunk(cm.chunk_offset, cm.chunk_len);
        if cm.codec != chunkref::REF {
            let c = Cursor::new(chunk).with_version(self.version);
            return decode_chunk(c, m.rows as usize, cm, Some(cm.codec), out)
                .map_err(|e| e.rebase(base));
        }
        if self.version < chunkref::VERSION {
            return Err(Error::corrupt_rule(
                Rule::C(21),
                format!(
                    "column codec {} (chunk reference) in a version {} file",
                    chunkref::REF,
                    self.version
                ),
                Some(base),
            ));
        }
        let r = ChunkRef::read(chunk).map_err(|e| e.rebase(base))?;
        let target = r.resolve(self.file, m.offset, base)?;
        if target.get(1) == Some(&chunkref::REF) {
            return Err(Error::corrupt_rule(
                Rule::C(57),
                format!(
                    "referenced chunk at offset {} has codec {} (a reference)",
                    r.offset,
                    chunkref::REF
                ),
                Some(base),
            ));
        }
        // The referenced chunk is decoded as this column's own (this block's row count,
        // this entry's type and count); its codec is any but REF, so it never chains.
        let c = Cursor::new(target).with_version(self.version);
        decode_chunk(c, m.rows as usize, cm, None, out).map_err(|e| e.rebase(r.offset))
    }
}

/// Decodes one column chunk. `expect` is the codec the footer gives it; `None` for the
/// target of a chunk reference, which may use any codec but `REF`.
fn decode_chunk(
    start: Cursor,
    rows: usize,
    cm: &ColumnMeta,
    expect: Option<u8>,
    out: &mut ColumnBuf,
) -> Result<()> {
    let mut c = start.clone();
    let flags = c.u8("column chunk flags")?;
    if flags & !FLAG_VALIDITY != 0 {
        return Err(Error::corrupt_rule(
            Rule::C(32),
            format!("column chunk flags {flags:#04x} has reserved bits"),
            Some(0),
        ));
    }
    let present = if flags & FLAG_VALIDITY != 0 {
        validity::decode(&mut c, rows, &mut out.validity)?
    } else {
        out.validity.clear();
        rows
    };
    if present as u64 != cm.stats.count {
        return Err(Error::corrupt_rule(
            Rule::C(34),
            format!(
                "column has {present} present values, footer count is {}",
                cm.stats.count
            ),
            Some(0),
        ));
    }
    let codec = match (cm.vtype, &mut out.values) {
        (ValueType::F64, Values::F64(v)) => {
            v.resize(present, 0.0);
            float::decode(&mut c, v)?
        }
        (ValueType::I64, Values::I64(v)) => {
            v.resize(present, 0);
            int::decode(&mut c, int::Allowed::ALL, v)?
        }
        (ValueType::Bool, Values::Bool(v)) => {
            v.resize(present, false);
            boolean::decode(&mut c, v)?
        }
        (ValueType::Str, Values::Str(v)) => string::decode(&mut c, present, v)?,
        (t, vals) => {
            *vals = match t {
                ValueType::Str => Values::Str(StrValues::default()),
                t => Values::empty(t),
            };
            return decode_chunk(start, rows, cm, expect, out);
        }
    };
    c.finish("column chunk")
        .map_err(|e| e.or_rule(Rule::C(37)))?;
    if expect.is_some_and(|e| e != codec) {
        return Err(Error::corrupt_rule(
            Rule::C(36),
            format!("chunk codec {codec} differs from footer's {}", cm.codec),
            Some(0),
        ));
    }
    Ok(())
}
