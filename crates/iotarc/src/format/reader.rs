//! Segment reader: opens a segment (memory-mapped or from bytes), validates its header,
//! trailer and footer, and answers block lookups, series reads and aggregates.

use crate::codec::FormatVersion;
use super::block::{Block, ColumnBuf};
use super::footer::{BlockMeta, Footer};
use super::header::{self, Trailer, FOOTER_ZSTD, HEADER_LEN, TRAILER_LEN};
use super::stats::ColumnStats;
use crate::codec::StrValues;
use crate::error::{Error, Result, Rule};
use crate::model::{TimeRange, ValueType, Values};
use memmap2::Mmap;
use std::borrow::Cow;
use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use xxhash_rust::xxh3::xxh3_64;

/// Where a segment's bytes live. A file is opened by reading only its header, trailer and
/// footer; it is memory-mapped the first time a block is needed, so queries answered from
/// footers never map it (mapping, faulting in and unmapping hundreds of files was most of
/// the cost of a year-long aggregate over daily partitions).
enum Data {
    Owned(Vec<u8>),
    File {
        file: File,
        len: u64,
        map: OnceLock<Mmap>,
    },
    /// A segment known from an archive INDEX record (archive.md §9): not opened until a
    /// block is needed, and then checked to be the file the record describes. Shared by
    /// every device part of one file, so the file is mapped and checked once.
    Deferred(DeferredFile),
}

/// A segment file known from archive INDEX records (archive.md §9), shared by the
/// [`Segment::from_shared_part`] views of its devices: it is opened, mapped and checked
/// once, when the first of them needs a block. (Mapping it per device cost a thousand
/// mappings of one file for a 1,000-device query, each faulting in its own header and
/// trailer pages.)
#[derive(Clone)]
pub struct DeferredFile(Arc<DeferredInner>);

struct DeferredInner {
    path: PathBuf,
    len: u64,
    footer_offset: u64,
    footer_checksum: u64,
    map: OnceLock<Mmap>,
    /// The file's format version, once its length, header and trailer were checked by
    /// reads (for [`Segment::block_into`]).
    checked: OnceLock<FormatVersion>,
}

impl DeferredFile {
    /// The file at `path` as an INDEX record describes it: `len` bytes, with the footer
    /// at `footer_offset` hashing to `footer_checksum`.
    pub fn new(path: PathBuf, len: u64, footer_offset: u64, footer_checksum: u64) -> Self {
        DeferredFile(Arc::new(DeferredInner {
            path,
            len,
            footer_offset,
            footer_checksum,
            map: OnceLock::new(),
            checked: OnceLock::new(),
        }))
    }

    /// Checks the file as `check_deferred` does, reading only its header and trailer;
    /// returns its format version. Done once.
    fn checked_version(&self) -> Result<FormatVersion> {
        let d = &self.0;
        if let Some(v) = d.checked.get() {
            return Ok(*v);
        }
        let file = File::open(&d.path)?;
        let actual = file.metadata()?.len();
        if actual != d.len {
            return Err(Error::corrupt(
                format!("segment is {actual} bytes, the archive INDEX records {}", d.len),
                None,
            ));
        }
        let min = (HEADER_LEN + TRAILER_LEN) as u64;
        if d.len < min {
            return Err(Error::truncated("segment (header + trailer)", min, d.len));
        }
        let mut h = [0u8; HEADER_LEN];
        file.read_exact_at(&mut h, 0)?;
        let raw = header::read_header(&h)?;
        let mut t = [0u8; TRAILER_LEN];
        file.read_exact_at(&mut t, d.len - TRAILER_LEN as u64)?;
        let t = Trailer::parse(&t, d.len)?;
        if t.footer_offset != d.footer_offset || t.footer_checksum != d.footer_checksum {
            return Err(Error::corrupt(
                format!(
                    "trailer footer offset {} checksum {:#018x} differ from the archive INDEX record ({}, {:#018x})",
                    t.footer_offset, t.footer_checksum, d.footer_offset, d.footer_checksum
                ),
                Some(d.len - TRAILER_LEN as u64),
            ));
        }
        let v = FormatVersion::from_u16(raw)
            .ok_or_else(|| Error::corrupt("unsupported segment version", Some(8)))?;
        let _ = d.checked.set(v);
        Ok(v)
    }
}

impl Data {
    fn len(&self) -> u64 {
        match self {
            Data::Owned(v) => v.len() as u64,
            Data::File { len, .. } => *len,
            Data::Deferred(d) => d.0.len,
        }
    }

    /// `len` bytes at `off`, `what` naming them for errors; the caller has checked the
    /// range against `self.len()`.
    ///
    /// # Errors
    /// [`ErrorKind::Truncated`](crate::ErrorKind::Truncated) if the file is shorter than
    /// `self.len()` (the length an archive manifest recorded) and ends before the range.
    fn range(&self, off: u64, len: usize, what: &str) -> Result<Cow<'_, [u8]>> {
        match self {
            Data::Owned(v) => Ok(Cow::Borrowed(&v[off as usize..off as usize + len])),
            Data::File { file, map, .. } => {
                if let Some(m) = map.get() {
                    return Ok(Cow::Borrowed(&m[off as usize..off as usize + len]));
                }
                let mut buf = vec![0u8; len];
                match file.read_exact_at(&mut buf, off) {
                    Ok(()) => Ok(Cow::Owned(buf)),
                    Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                        let actual = file.metadata()?.len();
                        Err(Error::truncated(
                            format!("{what}, bytes {off}..{},", off + len as u64),
                            off + len as u64,
                            actual,
                        ))
                    }
                    Err(e) => Err(e.into()),
                }
            }
            Data::Deferred(_) => Ok(Cow::Borrowed(
                &self.all()?[off as usize..off as usize + len],
            )),
        }
    }

    /// The whole file, mapping it on first use.
    fn all(&self) -> Result<&[u8]> {
        match self {
            Data::Owned(v) => Ok(v),
            Data::File { file, len, map } => {
                if map.get().is_none() {
                    // SAFETY: sealed segments are immutable: writers create them under a
                    // temporary name and rename them into place complete, and nothing in
                    // iotarc ever writes to or truncates a segment after that, so the map
                    // never observes a change. (A process outside iotarc truncating the
                    // file could still raise SIGBUS; that is outside the format's
                    // contract, as with any mmap-based reader.)
                    let m = unsafe { Mmap::map(file) }?;
                    // Block ranges were checked against the recorded length, not the
                    // file's: a shorter file must fail here, not panic on slicing.
                    if (m.len() as u64) < *len {
                        return Err(Error::truncated("segment file", *len, m.len() as u64));
                    }
                    let _ = map.set(m);
                }
                Ok(map.get().map(|m| &m[..]).unwrap_or(&[]))
            }
            Data::Deferred(d) => {
                let DeferredInner {
                    path,
                    len,
                    footer_offset,
                    footer_checksum,
                    map,
                    ..
                } = &*d.0;
                if map.get().is_none() {
                    let file = File::open(path)?;
                    // SAFETY: as for `Data::File` above: sealed segments are never
                    // modified after they are renamed into place.
                    let m = unsafe { Mmap::map(&file) }?;
                    check_deferred(&m, *len, *footer_offset, *footer_checksum)?;
                    let _ = map.set(m);
                }
                Ok(map.get().map(|m| &m[..]).unwrap_or(&[]))
            }
        }
    }
}

/// Checks that a file opened for an INDEX record is the segment the record describes:
/// same length, a valid header and trailer, and the trailer's footer location and
/// checksum. The footer itself is not re-read: the record holds the part of it in use.
fn check_deferred(file: &[u8], len: u64, footer_offset: u64, footer_checksum: u64) -> Result<()> {
    if file.len() as u64 != len {
        return Err(Error::corrupt(
            format!(
                "segment is {} bytes, the archive INDEX records {len}",
                file.len()
            ),
            None,
        ));
    }
    header::read_header(file)?;
    let t = Trailer::read(file)?;
    if t.footer_offset != footer_offset || t.footer_checksum != footer_checksum {
        return Err(Error::corrupt(
            format!(
                "trailer footer offset {} checksum {:#018x} differ from the archive INDEX record ({footer_offset}, {footer_checksum:#018x})",
                t.footer_offset, t.footer_checksum
            ),
            Some(len - TRAILER_LEN as u64),
        ));
    }
    Ok(())
}

/// An open, validated segment file.
///
/// # Example
/// ```
/// use iotarc::{Column, Segment, SegmentWriter, TimeRange, Values, WriterOptions};
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("a.seg");
/// let mut w = SegmentWriter::create(&path, WriterOptions::default())?;
/// let ts: Vec<i64> = (0..1000).map(|i| i * 1_000_000).collect();
/// let col = Column::dense(Values::F64((0..1000).map(|i| i as f64).collect()));
/// w.add("dev", &ts, &[("x", &col)])?;
/// w.finish()?;
///
/// let seg = Segment::open(&path)?;
/// let agg = seg.aggregate("dev", "x", TimeRange::new(0, 500_000_000))?;
/// assert_eq!(agg.stats.count, 500);
/// assert_eq!(agg.stats.sum(), Some(124_750.0));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Segment {
    data: Data,
    footer: Footer,
    /// Offset of the stored footer, from the trailer.
    footer_offset: u64,
    /// xxh3 of the stored footer, from the trailer.
    footer_checksum: u64,
    path: Option<PathBuf>,
    by_device: Vec<Vec<usize>>,
    device_index: HashMap<String, u32>,
    channel_index: HashMap<String, u32>,
}

/// Points of one channel read from a segment: timestamps and the values present there.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Timestamps of present values, ascending.
    pub timestamps: Vec<i64>,
    /// Values, one per timestamp.
    pub values: Values,
}

impl Series {
    /// An empty series of type `t`.
    pub fn new(t: ValueType) -> Series {
        Series {
            timestamps: Vec::new(),
            values: Values::empty(t),
        }
    }
}

/// An aggregate over a time range, with how it was computed.
#[derive(Clone, Debug, PartialEq)]
pub struct Aggregate {
    /// Merged statistics of the present values in range.
    pub stats: ColumnStats,
    /// Rows in range where the channel had no value.
    pub missing: u64,
    /// Blocks answered from footer statistics alone.
    pub blocks_from_footer: usize,
    /// Blocks decoded because they straddle a range edge.
    pub blocks_decoded: usize,
}

/// Bytes read from the end of a file when opening it (trailer plus, usually, footer).
const TAIL_READ: u64 = 64 << 10;

impl Segment {
    /// Opens and validates the segment at `path` by memory-mapping it.
    ///
    /// # Errors
    /// I/O errors, and every error of [`Segment::from_bytes`], with the path attached.
    pub fn open(path: impl AsRef<Path>) -> Result<Segment> {
        Self::open_with_len(path, None)
    }

    /// [`Segment::open`] when the file's length is already known (an archive manifest
    /// records it), saving a `stat` per segment. A wrong length cannot make bad data
    /// pass: the trailer and footer are then not found where the length says, which is
    /// reported as corruption.
    ///
    /// # Errors
    /// As [`Segment::open`].
    pub fn open_with_len(path: impl AsRef<Path>, len: Option<u64>) -> Result<Segment> {
        let path = path.as_ref();
        let with = |e: Error| e.with_path(path);
        let file = File::open(path).map_err(|e| with(e.into()))?;
        let len = match len {
            Some(l) => l,
            None => file.metadata().map_err(|e| with(e.into()))?.len(),
        };
        Self::build(
            Data::File {
                file,
                len,
                map: OnceLock::new(),
            },
            Some(path.to_path_buf()),
        )
        .map_err(with)
    }

    /// Validates a segment held in memory.
    ///
    /// # Errors
    /// Corrupt or truncated bytes, an unsupported version or a required feature this
    /// reader does not know.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Segment> {
        Self::build(Data::Owned(bytes), None)
    }

    fn build(data: Data, path: Option<PathBuf>) -> Result<Segment> {
        let len = data.len();
        if len < HEADER_LEN as u64 {
            return Err(Error::truncated("segment header", HEADER_LEN as u64, len));
        }
        // Header before trailer, so a newer version is reported as such even when the
        // rest of the file is not understood (spec §3.3).
        // One read of the file's tail usually holds the trailer and the footer (and the
        // whole of a small segment): opening hundreds of segments for one query is
        // dominated by system calls, not by bytes.
        let tail_len = len.min(TAIL_READ);
        let tail_off = len - tail_len;
        let tail = data.range(
            tail_off,
            tail_len as usize,
            "segment tail (trailer and footer)",
        )?;
        let in_tail = |off: u64, n: u64| off >= tail_off && off + n <= len;
        let header_cow = if in_tail(0, HEADER_LEN as u64) {
            Cow::Borrowed(&tail[..HEADER_LEN])
        } else {
            data.range(0, HEADER_LEN, "segment header")?
        };
        header::read_header(&header_cow)?;
        if len < (HEADER_LEN + TRAILER_LEN) as u64 {
            return Err(Error::truncated(
                "segment (header + trailer)",
                (HEADER_LEN + TRAILER_LEN) as u64,
                len,
            ));
        }
        let trailer = Trailer::parse(&tail[tail.len() - TRAILER_LEN..], len)?;
        // Trailer::parse checked that the footer lies between the header and the trailer.
        let stored_cow = if in_tail(trailer.footer_offset, trailer.footer_stored_len) {
            let a = (trailer.footer_offset - tail_off) as usize;
            Cow::Borrowed(&tail[a..a + trailer.footer_stored_len as usize])
        } else {
            data.range(
                trailer.footer_offset,
                trailer.footer_stored_len as usize,
                "segment footer",
            )?
        };
        let stored = &stored_cow[..];
        let sum = xxh3_64(stored);
        if sum != trailer.footer_checksum {
            return Err(Error::corrupt_rule(
                Rule::C(16),
                format!(
                    "footer checksum {sum:#018x} does not match trailer {:#018x}",
                    trailer.footer_checksum
                ),
                Some(trailer.footer_offset),
            ));
        }
        let raw;
        let footer_bytes = if trailer.footer_encoding == FOOTER_ZSTD {
            let mut buf = vec![0u8; trailer.footer_raw_len as usize];
            // The thread's reusable zstd context: creating one per open was the largest
            // single cost of opening a segment (17 % when a query opens hundreds).
            crate::codec::scratch::zstd_decompress_exact(
                stored,
                &mut buf,
                "footer",
                trailer.footer_offset,
            )?;
            raw = buf;
            &raw[..]
        } else {
            stored
        };
        let footer = Footer::read(footer_bytes, trailer.footer_offset).map_err(|e| {
            if trailer.footer_encoding == FOOTER_ZSTD {
                e
            } else {
                e.rebase(trailer.footer_offset)
            }
        })?;
        debug_assert!(footer
            .blocks
            .first()
            .is_none_or(|b| b.offset == HEADER_LEN as u64));
        Ok(Self::assemble(
            data,
            footer,
            path,
            trailer.footer_offset,
            trailer.footer_checksum,
        ))
    }

    /// A segment described by a footer part from an archive INDEX record (archive.md §9):
    /// `footer` was parsed with [`Footer::read_part`] against `footer_offset`. Nothing is
    /// read until a block is needed; the file is then checked to have length `len` and
    /// a trailer with this footer offset and checksum, so a record that does not describe
    /// the file is reported as corruption, never used to read other bytes.
    pub fn from_part(
        path: PathBuf,
        len: u64,
        footer_offset: u64,
        footer_checksum: u64,
        footer: Footer,
    ) -> Segment {
        let file = DeferredFile::new(path, len, footer_offset, footer_checksum);
        Self::from_shared_part(&file, footer)
    }

    /// As [`Segment::from_part`], for one of several device parts of `file`: the views
    /// share its mapping.
    pub fn from_shared_part(file: &DeferredFile, footer: Footer) -> Segment {
        let d = &file.0;
        let (path, fo, fc) = (d.path.clone(), d.footer_offset, d.footer_checksum);
        Self::assemble(Data::Deferred(file.clone()), footer, Some(path), fo, fc)
    }

    fn assemble(
        data: Data,
        footer: Footer,
        path: Option<PathBuf>,
        footer_offset: u64,
        footer_checksum: u64,
    ) -> Segment {
        let mut by_device = vec![Vec::new(); footer.devices.len()];
        for (i, b) in footer.blocks.iter().enumerate() {
            by_device[b.device as usize].push(i);
        }
        let device_index = footer
            .devices
            .iter()
            .enumerate()
            .map(|(i, d)| (d.clone(), i as u32))
            .collect();
        let channel_index = footer
            .channels
            .iter()
            .enumerate()
            .map(|(i, c)| (c.clone(), i as u32))
            .collect();
        Segment {
            data,
            footer,
            footer_offset,
            footer_checksum,
            path,
            by_device,
            device_index,
            channel_index,
        }
    }

    /// Offset and xxh3 checksum of the stored footer (from the trailer).
    pub fn footer_location(&self) -> (u64, u64) {
        (self.footer_offset, self.footer_checksum)
    }

    /// The path it was opened from, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The parsed footer.
    pub fn footer(&self) -> &Footer {
        &self.footer
    }

    /// Device names.
    pub fn devices(&self) -> &[String] {
        &self.footer.devices
    }

    /// Channel names.
    pub fn channels(&self) -> &[String] {
        &self.footer.channels
    }

    /// File size in bytes.
    pub fn len_bytes(&self) -> u64 {
        self.data.len()
    }

    /// Index of a device name.
    pub fn device_id(&self, name: &str) -> Option<u32> {
        self.device_index.get(name).copied()
    }

    /// Index of a channel name.
    pub fn channel_id(&self, name: &str) -> Option<u32> {
        self.channel_index.get(name).copied()
    }

    /// Block `i`, as [`Segment::block`]; for a segment known from INDEX records and not
    /// mapped yet, its bytes are read into `buf` instead of mapping the file, so a query
    /// over tens of thousands of segments holds neither a mapping (the kernel caps them,
    /// typically at 65,530) nor a file descriptor per segment. Blocks with chunk
    /// references (format.md §8.6) need the whole file and map it.
    ///
    /// # Errors
    /// As [`Segment::block`].
    pub fn block_into<'a>(&'a self, i: usize, buf: &'a mut Vec<u8>) -> Result<Block<'a>> {
        let ctx = self.ctx(i);
        let meta = self
            .footer
            .blocks
            .get(i)
            .ok_or_else(|| ctx(Error::invalid_input(format!("no block {i}"))))?;
        let Data::Deferred(d) = &self.data else {
            return self.block(i);
        };
        let refs = meta.ts_codec == crate::codec::REF
            || meta.columns.iter().any(|c| c.codec == crate::codec::REF);
        if refs || d.0.map.get().is_some() {
            return self.block(i);
        }
        let version = d.checked_version().map_err(&ctx)?;
        buf.clear();
        buf.resize(meta.len as usize, 0);
        // The footer part was validated against the recorded length, so the range lies
        // inside the file the check above found.
        File::open(&d.0.path)
            .and_then(|f| f.read_exact_at(buf, meta.offset))
            .map_err(|e| ctx(e.into()))?;
        Block::new(meta, buf, version).map_err(ctx)
    }

    /// Verifies the checksum of block `i` and returns it ready to decode.
    ///
    /// # Errors
    /// Corrupt block (length or checksum), with the path and block index attached.
    pub fn block(&self, i: usize) -> Result<Block<'_>> {
        let ctx = self.ctx(i);
        let meta = self
            .footer
            .blocks
            .get(i)
            .ok_or_else(|| ctx(Error::invalid_input(format!("no block {i}"))))?;
        // The footer reader checked that every block lies inside the data region.
        let all = self.data.all().map_err(&ctx)?;
        let bytes = &all[meta.offset as usize..(meta.offset + meta.len) as usize];
        // The header at bytes 0..16 was validated when the file was opened or mapped
        // (`build`, `check_deferred`): its version decides which codecs the blocks may use.
        let version = FormatVersion::from_u16(u16::from_le_bytes([all[8], all[9]]))
            .ok_or_else(|| ctx(Error::corrupt("header version changed after open", Some(8))))?;
        Block::new(meta, bytes, version)
            .map(|b| b.with_file(all))
            .map_err(ctx)
    }

    /// Attaches this segment's path and block `i` to an error.
    pub(crate) fn ctx(&self, i: usize) -> impl Fn(Error) -> Error + '_ {
        move |e: Error| {
            let e = e.with_block(i);
            match &self.path {
                Some(p) => e.with_path(p),
                None => e,
            }
        }
    }

    /// Indices of the blocks of `device` whose time range meets `range`, in time order.
    /// Uses only the footer.
    pub fn blocks_for(&self, device: &str, range: TimeRange) -> &[usize] {
        let Some(d) = self.device_id(device) else {
            return &[];
        };
        let list = &self.by_device[d as usize];
        let blocks = &self.footer.blocks;
        let lo = list.partition_point(|&i| blocks[i].ts_max < range.from);
        let hi = list.partition_point(|&i| range.to == i64::MAX || blocks[i].ts_min < range.to);
        &list[lo..hi.max(lo)]
    }

    /// Appends the present values of `channel` for `device` within `range` to `out`.
    ///
    /// # Errors
    /// Corrupt blocks; [`crate::ErrorKind::InvalidInput`] if the channel's type in a block
    /// differs from `out`'s.
    pub fn read_series(
        &self,
        device: &str,
        channel: &str,
        range: TimeRange,
        out: &mut Series,
    ) -> Result<()> {
        let Some(ch) = self.channel_id(channel) else {
            return Ok(());
        };
        let mut ts = Vec::new();
        let mut col = ColumnBuf::default();
        for &bi in self.blocks_for(device, range) {
            let meta = &self.footer.blocks[bi];
            let Some(ci) = meta.columns.iter().position(|c| c.channel == ch) else {
                continue;
            };
            let block = self.block(bi)?;
            block.timestamps(&mut ts).map_err(self.ctx(bi))?;
            block.column(ci, &mut col).map_err(self.ctx(bi))?;
            append_in_range(&ts, &col, range, out).map_err(self.ctx(bi))?;
        }
        Ok(())
    }

    /// Aggregates `channel` of `device` over `range`: blocks wholly inside the range are
    /// answered from their footer statistics; only blocks straddling an edge are decoded.
    ///
    /// # Errors
    /// Corrupt edge blocks, or a channel whose type changes within the range.
    pub fn aggregate(&self, device: &str, channel: &str, range: TimeRange) -> Result<Aggregate> {
        let mut agg = Aggregate {
            stats: ColumnStats::empty(),
            missing: 0,
            blocks_from_footer: 0,
            blocks_decoded: 0,
        };
        let Some(ch) = self.channel_id(channel) else {
            return Ok(agg);
        };
        let mut ts = Vec::new();
        let mut col = ColumnBuf::default();
        for &bi in self.blocks_for(device, range) {
            let meta: &BlockMeta = &self.footer.blocks[bi];
            let Some(ci) = meta.columns.iter().position(|c| c.channel == ch) else {
                // The channel has no value in this block: its rows in range are missing
                // (spec §12.1), which needs only the timestamps of an edge block.
                if range.covers(meta.ts_min, meta.ts_max) {
                    agg.missing += meta.rows;
                    agg.blocks_from_footer += 1;
                } else {
                    self.block(bi)?.timestamps(&mut ts).map_err(self.ctx(bi))?;
                    let (a, b) = rows_in_range(&ts, range);
                    agg.missing += (b - a) as u64;
                    agg.blocks_decoded += 1;
                }
                continue;
            };
            if range.covers(meta.ts_min, meta.ts_max) {
                let cm = &meta.columns[ci];
                // Stored statistics come from the file: name the block if they are bad.
                agg.stats.merge(&cm.stats).map_err(self.ctx(bi))?;
                agg.missing += meta.rows - cm.stats.count;
                agg.blocks_from_footer += 1;
                continue;
            }
            let block = self.block(bi)?;
            block.timestamps(&mut ts).map_err(self.ctx(bi))?;
            block.column(ci, &mut col).map_err(self.ctx(bi))?;
            let mut part = Series::new(meta.columns[ci].vtype);
            append_in_range(&ts, &col, range, &mut part)?;
            let rows_in = ts.iter().filter(|&&t| range.contains(t)).count() as u64;
            agg.missing += rows_in - part.timestamps.len() as u64;
            agg.stats
                .merge(&ColumnStats::compute(&part.values, &part.timestamps))?;
            agg.blocks_decoded += 1;
        }
        Ok(agg)
    }
}

/// Appends the rows of a decoded block column whose timestamps fall in `range`.
fn append_in_range(ts: &[i64], col: &ColumnBuf, range: TimeRange, out: &mut Series) -> Result<()> {
    let (a, b) = rows_in_range(ts, range);
    append_rows(ts, col, a, b, out)
}

/// The run `[a, b)` of rows whose timestamps lie in `range` (timestamps are sorted).
pub(crate) fn rows_in_range(ts: &[i64], range: TimeRange) -> (usize, usize) {
    let a = ts.partition_point(|&t| t < range.from);
    let b = if range.to == i64::MAX {
        ts.len()
    } else {
        ts.partition_point(|&t| t < range.to)
    };
    (a, b.max(a))
}

/// Appends the present values of rows `[a, b)` of a decoded block column to `out`.
pub(crate) fn append_rows(
    ts: &[i64],
    col: &ColumnBuf,
    a: usize,
    b: usize,
    out: &mut Series,
) -> Result<()> {
    if a >= b {
        return Ok(());
    }
    // Positions in the dense value array of the selected rows.
    let (rows, vstart): (Vec<usize>, usize) = if col.all_present() {
        ((a..b).collect(), a)
    } else {
        let before = col.validity[..a].count_ones();
        ((a..b).filter(|&i| col.validity[i]).collect(), before)
    };
    let k = rows.len();
    out.timestamps.extend(rows.iter().map(|&i| ts[i]));
    let r = vstart..vstart + k;
    match (&mut out.values, &col.values) {
        (Values::F64(o), Values::F64(v)) => o.extend_from_slice(&v[r]),
        (Values::I64(o), Values::I64(v)) => o.extend_from_slice(&v[r]),
        (Values::Bool(o), Values::Bool(v)) => o.extend_from_slice(&v[r]),
        (Values::Str(o), Values::Str(v)) => append_strs(o, v, r),
        (o, v) => {
            out.timestamps.truncate(out.timestamps.len() - k);
            return Err(Error::invalid_input(format!(
                "channel is {} here but {} was requested",
                v.value_type(),
                o.value_type()
            )));
        }
    }
    Ok(())
}

fn append_strs(o: &mut StrValues, v: &StrValues, r: std::ops::Range<usize>) {
    for i in r {
        o.push(v.get(i).unwrap_or(""));
    }
}
