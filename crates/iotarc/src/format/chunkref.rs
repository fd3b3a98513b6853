//! Chunk references (format.md §8.6, version 4): a column chunk that stands for a
//! byte-identical chunk earlier in the same file, named by offset, length and checksum.
//!
//! The writer side ([`RepeatFinder`]) finds repeated column chunks while a segment is written;
//! the reader side ([`ChunkRef::read`], [`ChunkRef::resolve`]) turns a reference back into
//! the bytes it names, checked, so the block layer decodes them as an ordinary chunk.

use crate::codec::FormatVersion;
use super::footer::BlockMeta;
use crate::codec::bytes::{put_varint, varint_len, Cursor};
use crate::error::{Error, Result, Rule};
use std::collections::HashMap;
use xxhash_rust::xxh3::xxh3_64;

/// Codec id of a reference, in a ColumnEntry and in the chunk's codec byte, for every
/// value type.
pub use crate::codec::REF;
/// First segment format version with chunk references.
pub const VERSION: FormatVersion = FormatVersion::V4;
/// Offset of the first byte a reference may name: the data region starts after the
/// 16-byte header.
const DATA_START: u64 = 16;

/// A parsed reference: the referenced chunk is `len` bytes at absolute file offset
/// `offset`, whose `xxh3` is `check`.
///
/// # Example
/// ```
/// use iotarc::format::chunkref::ChunkRef;
/// use xxhash_rust::xxh3::xxh3_64;
/// // A file whose bytes 16..24 are a chunk that a block starting at 40 refers to.
/// let mut file = vec![0u8; 64];
/// file[16..24].copy_from_slice(b"chunk!!!");
/// let r = ChunkRef { offset: 16, len: 8, check: xxh3_64(b"chunk!!!") };
/// let mut chunk = Vec::new();
/// r.write(&mut chunk);
/// let back = ChunkRef::read(&chunk)?;
/// assert_eq!(back.resolve(&file, 40, 40)?, b"chunk!!!");
/// // A reference may not reach into or past its own block.
/// assert!(back.resolve(&file, 20, 20).is_err());
/// # Ok::<(), iotarc::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkRef {
    /// Absolute file offset of the referenced chunk.
    pub offset: u64,
    /// Length of the referenced chunk.
    pub len: u64,
    /// `xxh3` of the referenced bytes.
    pub check: u64,
}

impl ChunkRef {
    /// Length of the chunk [`ChunkRef::write`] produces.
    pub fn encoded_len(&self) -> usize {
        2 + varint_len(self.offset) + varint_len(self.len) + 8
    }

    /// Appends the reference chunk: flags 0, codec `REF`, offset, length, check.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[0, REF]);
        put_varint(out, self.offset);
        put_varint(out, self.len);
        out.extend_from_slice(&self.check.to_le_bytes());
    }

    /// Parses a reference chunk (the whole chunk, consumed exactly).
    ///
    /// # Errors
    /// Corrupt (offsets relative to the chunk) if the flags are not 0, the codec byte is
    /// not `REF`, a field is truncated or bytes are left over (C57, C37).
    pub fn read(chunk: &[u8]) -> Result<ChunkRef> {
        let mut c = Cursor::new(chunk);
        let flags = c.u8("reference chunk flags")?;
        if flags != 0 {
            return Err(Error::corrupt_rule(
                Rule::C(57),
                format!("reference chunk flags {flags:#04x} are not 0"),
                Some(0),
            ));
        }
        let codec = c.u8("reference chunk codec")?;
        if codec != REF {
            return Err(Error::corrupt_rule(
                Rule::C(36),
                format!("chunk codec {codec} differs from footer's {REF}"),
                Some(1),
            ));
        }
        let offset = c.varint("reference offset")?;
        let len = c.varint("reference length")?;
        let check = c.u64("reference checksum")?;
        c.finish("reference chunk")
            .map_err(|e| e.or_rule(Rule::C(37)))?;
        Ok(ChunkRef { offset, len, check })
    }

    /// The referenced bytes of `file` (the whole segment), for a reference chunk at file
    /// offset `at` in the block at `block_offset`.
    ///
    /// # Errors
    /// Corrupt, at offset `at`, if the range is empty, starts before the data region,
    /// ends after `block_offset` or past the file, or its checksum differs from `check`
    /// (C57); invalid input if `file` is empty (the caller gave the block no file to
    /// resolve references in).
    pub fn resolve<'f>(&self, file: &'f [u8], block_offset: u64, at: u64) -> Result<&'f [u8]> {
        if file.is_empty() {
            return Err(Error::invalid_input(
                "a chunk reference needs the segment's bytes (Block::with_file)",
            ));
        }
        let end = self.offset.checked_add(self.len);
        if self.len == 0
            || self.offset < DATA_START
            || end.is_none_or(|e| e > block_offset || e > file.len() as u64)
        {
            return Err(Error::corrupt_rule(
                Rule::C(57),
                format!(
                    "chunk reference to {} bytes at offset {} is not inside [16, {block_offset}), \
                     the data before its block",
                    self.len, self.offset
                ),
                Some(at),
            ));
        }
        // In range of `file` by the check above.
        let bytes = &file[self.offset as usize..(self.offset + self.len) as usize];
        let sum = xxh3_64(bytes);
        if sum != self.check {
            return Err(Error::corrupt_rule(
                Rule::C(57),
                format!(
                    "referenced chunk at offset {} has checksum {sum:#018x}, reference says {:#018x}",
                    self.offset, self.check
                ),
                Some(at),
            ));
        }
        Ok(bytes)
    }
}

/// Replaces column chunks that repeat an earlier chunk of the same segment by references
/// (format.md §8.6). Feed it every block in file order, after its offset is known.
///
/// It remembers each distinct chunk by `(xxh3, length)` and file offset, about 40 bytes
/// per chunk and never the bytes themselves; a candidate is read back from the file and
/// compared byte for byte before it is used, so a hash collision cannot substitute data.
/// At most `max_chunks` chunks are remembered, which bounds memory whatever the segment
/// size; later chunks are still matched against them.
pub struct RepeatFinder {
    /// `(xxh3, len)` of a chunk already written -> its absolute file offset.
    seen: HashMap<(u64, u64), u64>,
    max_chunks: usize,
    /// Scratch for a candidate read back from the file.
    buf: Vec<u8>,
}

/// Chunks remembered per segment by default.
pub const DEFAULT_MAX_CHUNKS: usize = 1 << 20;

impl RepeatFinder {
    /// A finder remembering at most `max_chunks` chunks.
    pub fn new(max_chunks: usize) -> RepeatFinder {
        RepeatFinder {
            seen: HashMap::new(),
            max_chunks,
            buf: Vec::new(),
        }
    }

    /// Rewrites `bytes` (the block `meta` describes, `meta.offset` already set to where
    /// it will be written) with references for its column chunks that repeat a chunk of
    /// an earlier block, when the reference is shorter; then remembers its own chunks.
    /// `read_at(offset, buf)` fills `buf` with the file's bytes at `offset` (all of them
    /// written before this block). Returns true if it used a reference (the file then
    /// needs version 4).
    ///
    /// # Errors
    /// Whatever `read_at` returns.
    pub fn apply(
        &mut self,
        bytes: &mut Vec<u8>,
        meta: &mut BlockMeta,
        mut read_at: impl FnMut(u64, &mut [u8]) -> Result<()>,
    ) -> Result<bool> {
        let mut refs: Vec<Option<ChunkRef>> = Vec::with_capacity(meta.columns.len());
        // New chunks: key and column index (their offsets are known after the rewrite).
        let mut fresh = Vec::new();
        for (ci, cm) in meta.columns.iter().enumerate() {
            let chunk = &bytes[cm.chunk_offset as usize..(cm.chunk_offset + cm.chunk_len) as usize];
            let key = (xxh3_64(chunk), cm.chunk_len);
            let Some(&offset) = self.seen.get(&key) else {
                fresh.push((key, ci));
                refs.push(None);
                continue;
            };
            let r = ChunkRef {
                offset,
                len: cm.chunk_len,
                check: key.0,
            };
            let mut same = false;
            if r.encoded_len() < chunk.len() {
                self.buf.resize(chunk.len(), 0);
                read_at(offset, &mut self.buf)?;
                same = self.buf == chunk;
            }
            refs.push(same.then_some(r));
        }
        let used = refs.iter().any(Option::is_some);
        if used {
            self.rewrite(bytes, meta, &refs);
        }
        for (key, ci) in fresh {
            if self.seen.len() >= self.max_chunks {
                break;
            }
            self.seen
                .insert(key, meta.offset + meta.columns[ci].chunk_offset);
        }
        Ok(used)
    }

    /// Rebuilds the block with the columns that have a reference replaced by it, moving
    /// the chunks after them and updating the footer entry (lengths, codecs, checksum).
    fn rewrite(&self, bytes: &mut Vec<u8>, meta: &mut BlockMeta, refs: &[Option<ChunkRef>]) {
        let mut out = Vec::with_capacity(bytes.len());
        out.extend_from_slice(&bytes[..meta.ts_chunk_len as usize]);
        for (cm, r) in meta.columns.iter_mut().zip(refs) {
            let start = out.len() as u64;
            match r {
                Some(r) => {
                    r.write(&mut out);
                    cm.codec = REF;
                }
                None => out.extend_from_slice(
                    &bytes[cm.chunk_offset as usize..(cm.chunk_offset + cm.chunk_len) as usize],
                ),
            }
            cm.chunk_offset = start;
            cm.chunk_len = out.len() as u64 - start;
        }
        meta.len = out.len() as u64;
        meta.checksum = xxh3_64(&out);
        *bytes = out;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::reader::Segment;

    #[test]
    fn reference_round_trips_and_rejects_bad_fields() {
        let r = ChunkRef {
            offset: 300,
            len: 70_000,
            check: 0x0123_4567_89ab_cdef,
        };
        let mut out = Vec::new();
        r.write(&mut out);
        assert_eq!(out.len(), r.encoded_len());
        assert_eq!(ChunkRef::read(&out).unwrap(), r);
        for cut in 0..out.len() {
            assert!(ChunkRef::read(&out[..cut]).is_err(), "cut {cut}");
        }
        let mut long = out.clone();
        long.push(0);
        assert!(ChunkRef::read(&long).is_err());
        let mut flagged = out.clone();
        flagged[0] = 1;
        assert!(ChunkRef::read(&flagged).is_err());
        let mut other = out;
        other[1] = 4;
        assert!(ChunkRef::read(&other).is_err());
    }

    /// A segment of three devices with the same readings: blocks 1 and 2 refer to
    /// block 0's column.
    fn three_copies() -> Vec<u8> {
        use crate::format::writer::{SegmentWriter, WriterOptions};
        use crate::model::{Column, Values};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.seg");
        let mut w = SegmentWriter::create(&path, WriterOptions::default()).unwrap();
        let ts: Vec<i64> = (0..500).map(|i| i * 1_000_000).collect();
        let col = Column::dense(Values::F64(
            (0..500).map(|i| (i * i % 977) as f64).collect(),
        ));
        for d in ["a", "b", "c"] {
            w.add(d, &ts, &[("x", &col)]).unwrap();
        }
        w.finish().unwrap();
        std::fs::read(&path).unwrap()
    }

    /// Block `bi` of `seg` with its only column's chunk replaced by `chunk`.
    fn with_chunk(seg: &Segment, file: &[u8], bi: usize, chunk: &[u8]) -> (BlockMeta, Vec<u8>) {
        let mut meta = seg.footer().blocks[bi].clone();
        let start = meta.offset as usize;
        let mut bytes = file[start..start + meta.ts_chunk_len as usize].to_vec();
        bytes.extend_from_slice(chunk);
        meta.columns[0].chunk_offset = meta.ts_chunk_len;
        meta.columns[0].chunk_len = chunk.len() as u64;
        meta.columns[0].codec = REF;
        meta.len = bytes.len() as u64;
        meta.checksum = xxh3_64(&bytes);
        (meta, bytes)
    }

    #[test]
    fn the_reader_checks_every_reference_rule() {
        use crate::format::block::{Block, ColumnBuf};
        let file = three_copies();
        let seg = Segment::from_bytes(file.clone()).unwrap();
        let f = seg.footer();
        assert_eq!(f.blocks.len(), 3);
        assert_eq!(f.blocks[0].columns[0].codec, crate::codec::float::DECIMAL);
        assert_eq!(f.blocks[1].columns[0].codec, REF);
        assert_eq!(f.blocks[2].columns[0].codec, REF);
        let mut want = ColumnBuf::default();
        seg.block(0).unwrap().column(0, &mut want).unwrap();
        let mut got = ColumnBuf::default();
        seg.block(2).unwrap().column(0, &mut got).unwrap();
        assert_eq!(got.values, want.values);

        let m0 = &f.blocks[0];
        let target = (m0.offset + m0.columns[0].chunk_offset) as usize;
        let tlen = m0.columns[0].chunk_len as usize;
        let decode = |meta: &BlockMeta, bytes: &[u8], file: &[u8], version: FormatVersion| {
            let b = Block::new(meta, bytes, version).unwrap().with_file(file);
            b.column(0, &mut ColumnBuf::default()).unwrap_err()
        };
        let refer = |offset: usize, len: usize, file: &[u8]| {
            let mut out = Vec::new();
            ChunkRef {
                offset: offset as u64,
                len: len as u64,
                check: xxh3_64(&file[offset..offset + len]),
            }
            .write(&mut out);
            out
        };
        let corrupt = |e: Error, what: &str| {
            assert!(e.is_corruption(), "{e}");
            assert!(e.to_string().contains(what), "{e} lacks {what:?}");
        };

        // The original reference, rebuilt, decodes; and only in a version 4 file.
        let (meta, bytes) = with_chunk(&seg, &file, 1, &refer(target, tlen, &file));
        let b = Block::new(&meta, &bytes, FormatVersion::V4)
            .unwrap()
            .with_file(&file);
        b.column(0, &mut got).unwrap();
        assert_eq!(got.values, want.values);
        corrupt(decode(&meta, &bytes, &file, FormatVersion::V3), "version 3");
        // No file to resolve in.
        let e = decode(&meta, &bytes, &[], FormatVersion::V4);
        assert!(
            matches!(e.kind(), crate::ErrorKind::InvalidInput { .. }),
            "{e}"
        );
        // A flipped byte in the referenced chunk.
        let mut bad = file.clone();
        bad[target + tlen / 2] ^= 0x10;
        corrupt(decode(&meta, &bytes, &bad, FormatVersion::V4), "checksum");
        // A reference to its own block, or past it.
        let m1 = &f.blocks[1];
        let own = refer(m1.offset as usize, 8, &file);
        let (meta, bytes) = with_chunk(&seg, &file, 1, &own);
        corrupt(decode(&meta, &bytes, &file, FormatVersion::V4), "not inside");
        // A reference into the header.
        let (meta, bytes) = with_chunk(&seg, &file, 1, &refer(0, 20, &file));
        corrupt(decode(&meta, &bytes, &file, FormatVersion::V4), "not inside");
        // A chain: block 2 referring to block 1's reference chunk.
        let r1 = (m1.offset + m1.columns[0].chunk_offset) as usize;
        let chain = refer(r1, m1.columns[0].chunk_len as usize, &file);
        let (meta, bytes) = with_chunk(&seg, &file, 2, &chain);
        corrupt(decode(&meta, &bytes, &file, FormatVersion::V4), "codec 255");
        // A referenced range that is not a whole chunk (cut short, or a chunk's tail).
        let (meta, bytes) = with_chunk(&seg, &file, 1, &refer(target, tlen - 1, &file));
        assert!(decode(&meta, &bytes, &file, FormatVersion::V4).is_corruption());
        let (meta, bytes) = with_chunk(&seg, &file, 1, &refer(target + 1, tlen - 1, &file));
        assert!(decode(&meta, &bytes, &file, FormatVersion::V4).is_corruption());
        // Flags on the reference chunk.
        let mut flagged = refer(target, tlen, &file);
        flagged[0] = 1;
        let (meta, bytes) = with_chunk(&seg, &file, 1, &flagged);
        corrupt(decode(&meta, &bytes, &file, FormatVersion::V4), "flags");
    }

    /// A candidate is used only when the bytes read back equal the chunk: equal hashes
    /// alone never make a reference.
    #[test]
    fn dedup_compares_bytes_not_just_hashes() {
        use crate::format::block;
        use crate::model::{Column, Values};
        let ts: Vec<i64> = (0..300).map(|i| i * 1_000_000).collect();
        let col = Column::dense(Values::I64((0..300).map(|i| i * i % 1009).collect()));
        let enc = || block::encode(0, &ts, &[(0, col.clone())], &Default::default());
        let (mut a, mut ma, _) = enc();
        ma.offset = 16;
        let mut d = RepeatFinder::new(DEFAULT_MAX_CHUNKS);
        let never = |_: u64, _: &mut [u8]| -> Result<()> { panic!("nothing to compare") };
        assert!(!d.apply(&mut a, &mut ma, never).unwrap());
        let c = &ma.columns[0];
        let chunk = a[c.chunk_offset as usize..(c.chunk_offset + c.chunk_len) as usize].to_vec();
        let at = ma.offset + c.chunk_offset;

        // Same hash and length, different bytes on disk: no reference.
        let (mut b, mut mb, _) = enc();
        mb.offset = 16 + a.len() as u64;
        let orig = (b.clone(), mb.clone());
        let liar = |off: u64, buf: &mut [u8]| -> Result<()> {
            assert_eq!(off, at);
            buf.copy_from_slice(&chunk);
            buf[0] ^= 1;
            Ok(())
        };
        assert!(!d.apply(&mut b, &mut mb, liar).unwrap());
        assert_eq!((b, mb), orig);

        // The same bytes: a reference, and the block shrinks.
        let (mut b, mut mb, _) = enc();
        mb.offset = 16 + a.len() as u64;
        let honest = |_: u64, buf: &mut [u8]| -> Result<()> {
            buf.copy_from_slice(&chunk);
            Ok(())
        };
        assert!(d.apply(&mut b, &mut mb, honest).unwrap());
        assert_eq!(mb.columns[0].codec, REF);
        assert!(b.len() < a.len());
        assert_eq!(mb.checksum, xxh3_64(&b));
        let r = ChunkRef::read(&b[mb.columns[0].chunk_offset as usize..]).unwrap();
        assert_eq!((r.offset, r.len), (at, chunk.len() as u64));
        // A read error is the caller's error.
        let (mut b, mut mb, _) = enc();
        let fail = |_: u64, _: &mut [u8]| -> Result<()> { Err(Error::invalid_input("boom")) };
        assert!(d.apply(&mut b, &mut mb, fail).is_err());
    }

    #[test]
    fn resolve_checks_range_and_checksum() {
        let mut file = vec![0u8; 100];
        file[40..50].copy_from_slice(b"0123456789");
        let good = ChunkRef {
            offset: 40,
            len: 10,
            check: xxh3_64(b"0123456789"),
        };
        assert_eq!(good.resolve(&file, 50, 60).unwrap(), b"0123456789");
        assert!(
            good.resolve(&file, 49, 60).is_err(),
            "ends inside its own block"
        );
        assert!(good.resolve(&[], 50, 60).is_err(), "no file");
        let cases = [
            ChunkRef { len: 0, ..good },
            ChunkRef { offset: 8, ..good },
            ChunkRef {
                offset: u64::MAX,
                ..good
            },
            ChunkRef {
                len: u64::MAX,
                ..good
            },
            ChunkRef { check: 1, ..good },
            ChunkRef { offset: 95, ..good },
        ];
        for r in cases {
            let e = r.resolve(&file, 200, 60).unwrap_err();
            assert!(e.is_corruption(), "{r:?}: {e}");
        }
    }
}
