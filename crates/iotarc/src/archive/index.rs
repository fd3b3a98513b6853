//! The archive index (archive.md §9): for each segment, the part of its footer that
//! describes each device's blocks, so an aggregate reads a few hundred bytes per segment
//! from one file instead of opening every segment in range.
//!
//! The manifest is the source of truth. It names the index file (`index`) and, per
//! segment, the byte range of the segment's group in it (`index: [offset, len]`). Writers
//! append a segment's group and fsync it before the manifest commit that lists the
//! segment, so a committed reference always points at durable bytes; bytes a crash left
//! unreferenced are dead and never read. A rebuild writes a new file under a new name and
//! switches to it with a manifest commit, so a reader never sees a file change under it.
//!
//! The index is derived data: a segment without a reference, or whose group fails its
//! checksums or rules, is opened and read from its own footer instead. When a block must
//! be decoded, the segment file is checked against the group's footer offset and checksum
//! first ([`Segment::from_part`]).

use super::manifest::{Manifest, SegmentEntry};
use crate::codec::bytes::{put_str, put_svarint, put_varint, Cursor};
use crate::error::{Error, Result};
use crate::format::footer::{BlockMeta, BlockSink, Footer, MAX_BLOCK_ROWS};
use crate::format::reader::Segment;
use crate::format::stats::{self, ColumnStats};
use crate::model::ValueType;
use crate::util::files::write_atomic;
use crate::util::fsio;
use memmap2::Mmap;
use std::convert::Infallible;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;
use xxhash_rust::xxh3::xxh3_64;

/// Prefix of index file names (`INDEX-<generation>`).
pub const INDEX_PREFIX: &str = "INDEX-";
/// First 8 bytes of an index file.
pub const MAGIC: [u8; 8] = *b"IOTARCIX";
/// The version this code writes and reads.
pub const VERSION: u16 = 1;
/// File header: magic, version (u16), 6 reserved zero bytes.
pub const HEADER_LEN: usize = 16;
/// Group header before the record table: seq, segment length, footer offset, footer
/// checksum (u64 each), device count (u32).
const GROUP_FIXED: usize = 36;
/// Part stored as written by [`Footer::write`].
pub const PART_PLAIN: u8 = 0;
/// Part stored as one zstd frame of the [`Footer::write`] bytes.
pub const PART_ZSTD: u8 = 1;
/// As [`PART_PLAIN`], after a summary (archive.md §9.2).
pub const PART_PLAIN_SUMMARY: u8 = 2;
/// As [`PART_ZSTD`], after a summary.
pub const PART_ZSTD_SUMMARY: u8 = 3;
/// Largest decompressed part accepted (as for segment footers).
const MAX_PART_RAW: u64 = 1 << 30;
/// Parts smaller than this are stored plain: zstd saves little on them and costs a
/// decoder set-up per part read.
const ZSTD_FROM: usize = 512;

/// Index files up to this size are read into memory rather than mapped.
const READ_WHOLE: u64 = 256 << 10;

/// A mapped (or in-memory), read-only index file.
pub struct Index {
    name: String,
    map: Store,
}

enum Store {
    Map(Mmap),
    Owned(Vec<u8>),
}

impl std::ops::Deref for Store {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Store::Map(m) => m,
            Store::Owned(v) => v,
        }
    }
}

impl Index {
    /// Maps the index file `m` names. `Ok(None)` if it names none, the file is missing
    /// (a newer manifest replaced it) or its header is not one this code reads: queries
    /// then open segments.
    ///
    /// # Errors
    /// I/O errors other than a missing file.
    pub fn open(dir: &Path, m: &Manifest) -> Result<Option<Index>> {
        let Some(name) = &m.index else {
            return Ok(None);
        };
        let path = dir.join(name);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::from(e).with_path(&path)),
        };
        let io = |e: std::io::Error| Error::from(e).with_path(&path);
        let len = file.metadata().map_err(io)?.len();
        // A small file is read whole: one read costs less than mapping it, faulting its
        // pages in and unmapping it again (about a third of a 45 us query on Beijing).
        let map = if len <= READ_WHOLE {
            use std::io::Read;
            let mut v = Vec::with_capacity(len as usize);
            (&file).take(len).read_to_end(&mut v).map_err(io)?;
            Store::Owned(v)
        } else {
            // SAFETY: an index file is never modified in place: writers only append past
            // the bytes any committed manifest references, and a rebuild writes a new
            // file under a new name. Nothing in iotarc truncates one.
            Store::Map(unsafe { Mmap::map(&file) }.map_err(io)?)
        };
        if check_header(&map).is_err() {
            return Ok(None);
        }
        Ok(Some(Index {
            name: name.clone(),
            map,
        }))
    }

    /// An index held in memory (tests, fuzzing). `None` if the header is not one this
    /// code reads, as for [`Index::open`].
    pub fn from_bytes(name: &str, bytes: Vec<u8>) -> Option<Index> {
        check_header(&bytes).ok()?;
        Some(Index {
            name: name.to_owned(),
            map: Store::Owned(bytes),
        })
    }

    /// Checks the header of the index file at `path` (for `verify`, when
    /// [`Index::open`] found none to use).
    ///
    /// # Errors
    /// I/O errors, or what is wrong with the header, with the path.
    pub fn check_file(path: &Path) -> Result<()> {
        let (h, _) = read_header(path).map_err(|e| Error::from(e).with_path(path))?;
        check_header(&h).map_err(|e| e.with_path(path))
    }

    /// The file name (relative to the archive directory).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The footer part of `device` in segment `e`. `Ok(None)` if `e` has no group in this
    /// file or no such device.
    ///
    /// # Errors
    /// A group or record that breaks the rules of archive.md §9 (checksums, bounds,
    /// a group that does not describe `e`, a part that does not parse or names another
    /// device), with the file offset.
    pub fn part(&self, e: &SegmentEntry, device: &str) -> Result<Option<Part>> {
        let Ok(i) = e.devices.binary_search(device) else {
            return Ok(None);
        };
        Ok(self.parts(e, &[i])?.and_then(|mut v| v.pop()))
    }

    /// The footer parts of devices `which` (indices into `e.devices`) of segment `e`,
    /// reading and checking the group's header once. `Ok(None)` if `e` has no group in
    /// this file.
    ///
    /// # Errors
    /// As [`Index::part`]; an index out of range is corrupt.
    pub fn parts(&self, e: &SegmentEntry, which: &[usize]) -> Result<Option<Vec<Part>>> {
        let Some(g) = self.group(e)? else {
            return Ok(None);
        };
        which
            .iter()
            .map(|&i| g.part(i))
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }

    /// The group of segment `e`, its header checked. `Ok(None)` if `e` has no group in
    /// this file.
    ///
    /// # Errors
    /// A group that breaks the rules of archive.md §9 or does not describe `e`.
    pub fn group<'a>(&'a self, e: &'a SegmentEntry) -> Result<Option<GroupView<'a>>> {
        let Some([off, len]) = e.index else {
            return Ok(None);
        };
        let g = Group::read(&self.map, off, len)?;
        g.check(e)?;
        Ok(Some(GroupView { g, e }))
    }

    /// Checks the group of `e` against the open segment `seg`: checksums, the group's
    /// header, the footer location, and that every device's part equals the part of the
    /// segment's own footer (for `verify`). `Ok(false)` if `e` has no group.
    ///
    /// # Errors
    /// The first disagreement, naming the index file and offset.
    pub fn check_segment(&self, e: &SegmentEntry, seg: &Segment) -> Result<bool> {
        let Some([off, len]) = e.index else {
            return Ok(false);
        };
        let ctx = |err: Error| err.with_path(&self.name);
        let g = Group::read(&self.map, off, len).map_err(ctx)?;
        g.check(e).map_err(ctx)?;
        if (g.footer_offset, g.footer_checksum) != seg.footer_location() {
            return Err(ctx(Error::corrupt(
                format!(
                    "index group of {} records footer ({}, {:#018x}), the segment has {:?}",
                    e.path,
                    g.footer_offset,
                    g.footer_checksum,
                    seg.footer_location()
                ),
                Some(off),
            )));
        }
        for (i, d) in e.devices.iter().enumerate() {
            let got = g.part(i, d).map_err(ctx)?;
            let want = seg.device_id(d).and_then(|k| seg.footer().device_part(k));
            // Compared as serialized bytes: statistics may hold NaN, which `==` on the
            // parsed structs would call unequal to itself.
            let want_summary = match &want {
                Some(w) => summarize(w).map_err(ctx)?,
                None => None,
            };
            let got_summary = g.summary_bytes(i).map_err(ctx)?.map(|(b, _)| b.to_vec());
            if want.map(|w| w.write()) != Some(got.write()) || want_summary != got_summary {
                return Err(ctx(Error::corrupt(
                    format!(
                        "index record of device {d:?} in {} differs from the segment's footer",
                        e.path
                    ),
                    Some(off),
                )));
            }
        }
        Ok(true)
    }
}

/// One device's footer part, with where the segment's own footer is (for
/// [`Segment::from_part`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Part {
    /// The footer restricted to the device ([`Footer::device_part`]).
    pub footer: Footer,
    /// Offset of the segment's stored footer.
    pub footer_offset: u64,
    /// xxh3 of the segment's stored footer.
    pub footer_checksum: u64,
}

/// A segment's group, its header checked.
struct Group<'a> {
    at: u64,
    seq: u64,
    segment_len: u64,
    footer_offset: u64,
    footer_checksum: u64,
    /// End of each record, relative to `records`.
    ends: &'a [u8],
    /// File offset of `records`.
    records_at: u64,
    records: &'a [u8],
}

impl<'a> Group<'a> {
    fn read(file: &'a [u8], off: u64, len: u64) -> Result<Group<'a>> {
        let bad = |what: String| Error::corrupt(what, Some(off));
        let end = off.checked_add(len).filter(|&e| e <= file.len() as u64);
        let Some(end) = end.filter(|_| off >= HEADER_LEN as u64) else {
            return Err(bad(format!(
                "index group at {off} length {len} is outside the file ({} bytes)",
                file.len()
            )));
        };
        let g = &file[off as usize..end as usize];
        if g.len() < GROUP_FIXED + 8 {
            return Err(bad(format!("index group length {len} is too short")));
        }
        let u = |i: usize| u64::from_le_bytes(g[i * 8..i * 8 + 8].try_into().unwrap_or_default());
        let n = u32::from_le_bytes(g[32..36].try_into().unwrap_or_default()) as usize;
        let table_end = n
            .checked_mul(4)
            .and_then(|t| t.checked_add(GROUP_FIXED + 8))
            .filter(|&t| t <= g.len());
        let Some(table_end) = table_end.filter(|_| n > 0) else {
            return Err(bad(format!(
                "index group device count {n} does not fit its length {len}"
            )));
        };
        let stored = u64::from_le_bytes(g[table_end - 8..table_end].try_into().unwrap_or_default());
        let sum = xxh3_64(&g[..table_end - 8]);
        if sum != stored {
            return Err(bad(format!(
                "index group header checksum {sum:#018x} does not match stored {stored:#018x}"
            )));
        }
        Ok(Group {
            at: off,
            seq: u(0),
            segment_len: u(1),
            footer_offset: u(2),
            footer_checksum: u(3),
            ends: &g[GROUP_FIXED..table_end - 8],
            records_at: off + table_end as u64,
            records: &g[table_end..],
        })
    }

    fn check(&self, e: &SegmentEntry) -> Result<()> {
        if self.seq != e.seq
            || self.segment_len != e.bytes
            || self.ends.len() / 4 != e.devices.len()
            || e.checksum.is_some_and(|c| c != self.footer_checksum)
        {
            return Err(Error::corrupt(
                format!(
                    "index group (seq {}, {} bytes, {} devices, footer checksum {:#018x}) does not describe segment {} (seq {}, {} bytes, {} devices, checksum {})",
                    self.seq,
                    self.segment_len,
                    self.ends.len() / 4,
                    self.footer_checksum,
                    e.path,
                    e.seq,
                    e.bytes,
                    e.devices.len(),
                    e.checksum.map_or_else(|| "not recorded".into(), |c| format!("{c:#018x}"))
                ),
                Some(self.at),
            ));
        }
        Ok(())
    }

    fn end(&self, i: usize) -> u64 {
        u32::from_le_bytes(self.ends[i * 4..i * 4 + 4].try_into().unwrap_or_default()) as u64
    }

    /// Record `i` without its check, the check verified, and its file offset.
    fn checked(&self, i: usize) -> Result<(&'a [u8], u64)> {
        let start = if i == 0 { 0 } else { self.end(i - 1) };
        let end = self.end(i);
        let at = self.records_at + start;
        let bad = |what: String| Error::corrupt(what, Some(at));
        if start > end || end > self.records.len() as u64 || end - start < 10 {
            return Err(bad(format!(
                "index record {i} spans {start}..{end} of {} bytes",
                self.records.len()
            )));
        }
        let rec = &self.records[start as usize..end as usize];
        let (body, sum) = rec.split_at(rec.len() - 8);
        let stored = u64::from_le_bytes(sum.try_into().unwrap_or_default());
        let got = xxh3_64(body);
        if got != stored {
            return Err(bad(format!(
                "index record {i} checksum {got:#018x} does not match stored {stored:#018x}"
            )));
        }
        Ok((body, at))
    }

    /// The summary bytes of record `i`, if it has one, and the record's file offset.
    fn summary_bytes(&self, i: usize) -> Result<Option<(&'a [u8], u64)>> {
        let (body, at) = self.checked(i)?;
        if !matches!(body[0], PART_PLAIN_SUMMARY | PART_ZSTD_SUMMARY) {
            return Ok(None);
        }
        let mut c = Cursor::new(&body[1..]);
        let n = c.varint("index record summary length")?;
        Ok(Some((c.take_len(n, "index record summary")?, at)))
    }

    /// The footer-part bytes of record `i` (`u8 encoding | [summary] | varint raw length |
    /// payload | u64 xxh3`), checked and decompressed (into `buf` if compressed).
    fn record<'b>(&'b self, i: usize, buf: &'b mut Vec<u8>) -> Result<&'b [u8]> {
        let (body, at) = self.checked(i)?;
        let bad = |what: String| Error::corrupt(what, Some(at));
        let mut c = Cursor::new(&body[1..]);
        if matches!(body[0], PART_PLAIN_SUMMARY | PART_ZSTD_SUMMARY) {
            let n = c.varint("index record summary length")?;
            c.take_len(n, "index record summary")?;
        }
        let raw_len = c.varint("index record raw length")?;
        let payload = c.rest();
        match body[0] {
            PART_PLAIN | PART_PLAIN_SUMMARY => Ok(payload),
            PART_ZSTD | PART_ZSTD_SUMMARY if raw_len <= MAX_PART_RAW => {
                buf.clear();
                buf.resize(raw_len as usize, 0);
                crate::codec::scratch::zstd_decompress_exact(payload, buf, "index record", at)?;
                Ok(&buf[..])
            }
            PART_ZSTD | PART_ZSTD_SUMMARY => Err(bad(format!(
                "index record raw length {raw_len} is too large"
            ))),
            enc => Err(bad(format!("index record encoding {enc} is unknown"))),
        }
    }

    fn check_device(&self, i: usize, devices: &[String], device: &str) -> Result<()> {
        if devices.len() != 1 || devices[0] != device {
            let start = if i == 0 { 0 } else { self.end(i - 1) };
            return Err(Error::corrupt(
                format!("index record {i} describes {devices:?}, the manifest lists {device:?}"),
                Some(self.records_at + start),
            ));
        }
        Ok(())
    }

    /// Record `i`, parsed: the footer part of `device`.
    fn part(&self, i: usize, device: &str) -> Result<Footer> {
        let mut buf = Vec::new();
        let bytes = self.record(i, &mut buf)?;
        let at = self.records_at + if i == 0 { 0 } else { self.end(i - 1) };
        let f = Footer::read_part(bytes, self.footer_offset).map_err(|e| e.rebase(at))?;
        self.check_device(i, &f.devices, device)?;
        Ok(f)
    }

    /// Record `i` validated as [`Group::part`] does, its blocks handed to `sink` instead
    /// of collected.
    fn scan(
        &self,
        i: usize,
        device: &str,
        buf: &mut Vec<u8>,
        sink: &mut impl BlockSink,
    ) -> Result<()> {
        let bytes = self.record(i, buf)?;
        let at = self.records_at + if i == 0 { 0 } else { self.end(i - 1) };
        let (devices, _) =
            Footer::scan_part(bytes, self.footer_offset, sink).map_err(|e| e.rebase(at))?;
        self.check_device(i, &devices, device)
    }
}

/// A segment's group in the index, its header checked against the manifest entry: the
/// way to read several of its records.
pub struct GroupView<'a> {
    g: Group<'a>,
    e: &'a SegmentEntry,
}

impl GroupView<'_> {
    /// `(footer_offset, footer_checksum)` of the segment, as the group records them.
    pub fn footer_location(&self) -> (u64, u64) {
        (self.g.footer_offset, self.g.footer_checksum)
    }

    /// The footer part of device `i` (an index into the entry's `devices`).
    ///
    /// # Errors
    /// As [`Index::part`]; an index out of range is corrupt.
    pub fn part(&self, i: usize) -> Result<Part> {
        Ok(Part {
            footer: self.g.part(i, self.device(i)?)?,
            footer_offset: self.g.footer_offset,
            footer_checksum: self.g.footer_checksum,
        })
    }

    /// Validates the record of device `i` as [`GroupView::part`] does, handing its blocks
    /// to `sink` ([`Footer::scan_part`]) rather than building the part. `buf` is scratch
    /// space for decompression.
    ///
    /// # Errors
    /// As [`GroupView::part`], and what `sink` returns.
    pub fn scan(&self, i: usize, buf: &mut Vec<u8>, sink: &mut impl BlockSink) -> Result<()> {
        self.g.scan(i, self.device(i)?, buf, sink)
    }

    /// The summary of device `i`'s record (archive.md §9.2), if it has one: per channel
    /// of the part, its statistics over all the device's blocks when there are two or
    /// more of one type. Reading it skips decompressing and walking the part.
    ///
    /// # Errors
    /// A record that fails its check or a summary that breaks the rules.
    pub fn summary(&self, i: usize) -> Result<Option<Vec<ChannelSummary>>> {
        self.device(i)?;
        match self.g.summary_bytes(i)? {
            None => Ok(None),
            Some((b, at)) => read_summary(b).map(Some).map_err(|e| e.rebase(at)),
        }
    }

    /// [`walk_summary`] over device `i`'s summary: where `f` broke off, `Ok(None)` if the
    /// record has no summary.
    ///
    /// # Errors
    /// As [`GroupView::summary`], for the entries `want` accepts.
    pub fn walk_summary<B>(
        &self,
        i: usize,
        want: impl Fn(&str) -> bool,
        f: impl FnMut(&str, Option<Merged>) -> ControlFlow<B>,
    ) -> Result<Option<ControlFlow<B>>> {
        self.device(i)?;
        match self.g.summary_bytes(i)? {
            None => Ok(None),
            Some((b, at)) => walk_summary(b, want, f).map(Some).map_err(|e| e.rebase(at)),
        }
    }

    fn device(&self, i: usize) -> Result<&str> {
        self.e.devices.get(i).map(String::as_str).ok_or_else(|| {
            Error::corrupt(
                format!("no device {i} in segment {}", self.e.path),
                Some(self.g.at),
            )
        })
    }
}

fn check_header(b: &[u8]) -> Result<()> {
    if b.len() < HEADER_LEN {
        return Err(Error::truncated(
            "index header",
            HEADER_LEN as u64,
            b.len() as u64,
        ));
    }
    if b[..8] != MAGIC {
        return Err(Error::corrupt("index magic does not match", Some(0)));
    }
    let v = u16::from_le_bytes([b[8], b[9]]);
    if v != VERSION {
        return Err(Error::new(crate::ErrorKind::UnsupportedVersion {
            found: v,
            supported: VERSION,
        }));
    }
    if b[10..16] != [0; 6] {
        return Err(Error::corrupt("index reserved bytes are not 0", Some(10)));
    }
    Ok(())
}

fn header() -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..8].copy_from_slice(&MAGIC);
    h[8..10].copy_from_slice(&VERSION.to_le_bytes());
    h
}

/// Encodes the group of `seg`, listed in the manifest as `e`.
///
/// # Errors
/// [`crate::ErrorKind::InvalidInput`] if the segment's devices are not those of `e` or a
/// record is larger than the format allows.
pub fn encode_group(seg: &Segment, e: &SegmentEntry, out: &mut Vec<u8>) -> Result<()> {
    let footer = seg.footer();
    let mut records = Vec::new();
    let mut ends = Vec::with_capacity(e.devices.len());
    for name in e.devices.iter() {
        let part = seg
            .device_id(name)
            .and_then(|d| footer.device_part(d))
            .ok_or_else(|| {
                Error::invalid_input(format!("segment {} has no device {name:?}", e.path))
            })?;
        let raw = part.write();
        let z = if raw.len() >= ZSTD_FROM {
            zstd::bulk::compress(&raw, 3).unwrap_or_default()
        } else {
            Vec::new()
        };
        let summary = summarize(&part)?;
        let start = records.len();
        let zstd = !z.is_empty() && z.len() < raw.len();
        records.push(match (zstd, summary.is_some()) {
            (false, false) => PART_PLAIN,
            (true, false) => PART_ZSTD,
            (false, true) => PART_PLAIN_SUMMARY,
            (true, true) => PART_ZSTD_SUMMARY,
        });
        if let Some(sm) = &summary {
            put_varint(&mut records, sm.len() as u64);
            records.extend_from_slice(sm);
        }
        put_varint(&mut records, raw.len() as u64);
        records.extend_from_slice(if zstd { &z } else { &raw });
        let sum = xxh3_64(&records[start..]);
        records.extend_from_slice(&sum.to_le_bytes());
        let end = u32::try_from(records.len())
            .map_err(|_| Error::invalid_input("index group larger than 4 GiB"))?;
        ends.push(end);
    }
    if seg.footer().devices.len() != e.devices.len() {
        return Err(Error::invalid_input(format!(
            "segment {} has {} devices, the manifest lists {}",
            e.path,
            seg.footer().devices.len(),
            e.devices.len()
        )));
    }
    let (footer_offset, footer_checksum) = seg.footer_location();
    let start = out.len();
    for x in [e.seq, e.bytes, footer_offset, footer_checksum] {
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.extend_from_slice(&(ends.len() as u32).to_le_bytes());
    for x in ends {
        out.extend_from_slice(&x.to_le_bytes());
    }
    let sum = xxh3_64(&out[start..]);
    out.extend_from_slice(&sum.to_le_bytes());
    out.extend_from_slice(&records);
    Ok(())
}

/// One channel of a record's summary (archive.md §9.2).
#[derive(Clone, Debug, PartialEq)]
pub struct ChannelSummary {
    /// Channel name (the part's channel table, in order).
    pub name: String,
    /// The channel's statistics over all of the device's blocks in the segment, when it
    /// has two or more blocks, all of one type.
    pub merged: Option<Merged>,
}

/// Statistics of one channel over several blocks, merged in block order from empty with
/// [`ColumnStats::merge`]: what merging the blocks one by one from an empty accumulator
/// gives, bit for bit.
#[derive(Clone, Debug, PartialEq)]
pub struct Merged {
    /// Value type of every block's column.
    pub vtype: ValueType,
    /// Blocks merged (at least 2).
    pub blocks: u64,
    /// Sum of their row counts.
    pub rows: u64,
    /// First block's `ts_min`.
    pub ts_min: i64,
    /// Last block's `ts_max`.
    pub ts_max: i64,
    /// The merged statistics.
    pub stats: ColumnStats,
}

/// The statistics of channel `ch` over `blocks` (in order), as a summary holds them:
/// `None` unless two or more blocks hold the channel, all with one type.
///
/// # Errors
/// Statistics that cannot be merged (never for a valid footer).
pub fn merge_channel<'b>(
    blocks: impl IntoIterator<Item = &'b BlockMeta>,
    ch: u32,
) -> Result<Option<Merged>> {
    let mut m: Option<Merged> = None;
    for b in blocks {
        let Some(c) = b.column(ch) else { continue };
        match &mut m {
            None => {
                let mut stats = ColumnStats::empty();
                stats.merge(&c.stats)?;
                m = Some(Merged {
                    vtype: c.vtype,
                    blocks: 1,
                    rows: b.rows,
                    ts_min: b.ts_min,
                    ts_max: b.ts_max,
                    stats,
                });
            }
            Some(m) if m.vtype == c.vtype => {
                m.stats.merge(&c.stats)?;
                m.blocks += 1;
                m.rows += b.rows;
                m.ts_max = b.ts_max;
            }
            Some(_) => return Ok(None),
        }
    }
    Ok(m.filter(|m| m.blocks >= 2))
}

/// The summary of a footer part, or `None` when no channel has one (a part of one block
/// per channel gains nothing from it).
///
/// # Errors
/// As [`merge_channel`].
pub fn summarize(part: &Footer) -> Result<Option<Vec<u8>>> {
    let mut out = Vec::new();
    let mut any = false;
    put_varint(&mut out, part.channels.len() as u64);
    for (ch, name) in part.channels.iter().enumerate() {
        put_str(&mut out, name);
        match merge_channel(&part.blocks, ch as u32)? {
            None => out.push(0),
            Some(m) => {
                any = true;
                out.push(1);
                let mut e = vec![m.vtype as u8];
                put_varint(&mut e, m.blocks);
                put_varint(&mut e, m.rows);
                put_svarint(&mut e, m.ts_min);
                put_varint(&mut e, m.ts_max.wrapping_sub(m.ts_min) as u64);
                stats::write(&m.stats, m.ts_min, &mut e);
                put_varint(&mut out, e.len() as u64);
                out.extend_from_slice(&e);
            }
        }
    }
    Ok(any.then_some(out))
}

/// Parses and validates a summary (archive.md §9.2).
///
/// # Errors
/// As [`walk_summary`], for every entry.
pub fn read_summary(bytes: &[u8]) -> Result<Vec<ChannelSummary>> {
    let mut out = Vec::new();
    walk_summary(
        bytes,
        |_| true,
        |name, merged| {
            out.push(ChannelSummary {
                name: name.to_owned(),
                merged,
            });
            ControlFlow::<Infallible>::Continue(())
        },
    )?;
    Ok(out)
}

/// Walks a summary: `f` gets the name of each channel `want` accepts and, when the
/// summary holds them, the channel's merged statistics. The entries of other channels
/// are skipped by their length, unparsed (a query for one of twelve channels reads
/// one). The walk stops where `f` breaks off, and returns what it broke with.
///
/// # Errors
/// Corrupt: truncated, a count of channels that does not fit, a flag other than 0 or 1,
/// and in the entries parsed: an unknown type, fewer than 2 blocks, rows outside
/// `blocks..=blocks × 2^20`, a span that overflows, invalid statistics, bytes left over.
/// A repeated name is corrupt when every name is wanted.
pub fn walk_summary<B>(
    bytes: &[u8],
    want: impl Fn(&str) -> bool,
    mut f: impl FnMut(&str, Option<Merged>) -> ControlFlow<B>,
) -> Result<ControlFlow<B>> {
    let mut c = Cursor::new(bytes);
    let n = c.varint_max(c.remaining() as u64, "summary channel count")?;
    let mut names: Vec<&str> = Vec::new();
    for _ in 0..n {
        let at = c.pos() as u64;
        let bad = |what: String| Error::corrupt(format!("index summary: {what}"), Some(at));
        let name = c.str("summary channel name")?;
        let flag = c.u8("summary flag")?;
        let entry = match flag {
            0 => None,
            1 => {
                let len = c.varint("summary entry length")?;
                Some(c.take_len(len, "summary entry")?)
            }
            f => return Err(bad(format!("flag {f}"))),
        };
        if !want(name) {
            continue;
        }
        if names.contains(&name) {
            return Err(bad(format!("channel {name:?} twice")));
        }
        names.push(name);
        let merged = match entry {
            None => None,
            Some(e) => Some(read_merged(e).map_err(|err| err.rebase(at))?),
        };
        if let ControlFlow::Break(b) = f(name, merged) {
            return Ok(ControlFlow::Break(b));
        }
    }
    c.finish("index summary")?;
    Ok(ControlFlow::Continue(()))
}

/// One summary entry's `type .. Stats`, which must fill `e`.
fn read_merged(e: &[u8]) -> Result<Merged> {
    let mut c = Cursor::new(e);
    let bad = |what: String| Error::corrupt(format!("index summary: {what}"), Some(0));
    let tid = c.u8("summary type")?;
    let vtype =
        ValueType::from_id(tid).ok_or_else(|| bad(format!("value type {tid} is unknown")))?;
    let blocks = c.varint("summary block count")?;
    let rows = c.varint("summary row count")?;
    if blocks < 2 || rows < blocks || rows / blocks > MAX_BLOCK_ROWS {
        return Err(bad(format!("{blocks} blocks of {rows} rows")));
    }
    let ts_min = c.svarint("summary ts_min")?;
    let span = c.varint("summary ts span")?;
    let ts_max = ts_min
        .checked_add_unsigned(span)
        .ok_or_else(|| bad(format!("ts_min {ts_min} + span {span} overflows")))?;
    let stats = stats::read(&mut c, vtype, rows, ts_min, span)?;
    if stats.count == 0 {
        return Err(bad("count 0".into()));
    }
    c.finish("index summary entry")?;
    Ok(Merged {
        vtype,
        blocks,
        rows,
        ts_min,
        ts_max,
        stats,
    })
}

/// What [`update`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UpdateReport {
    /// Groups written for segments that had none.
    pub added: usize,
    /// Whether a new index file was written (the old one is deleted by
    /// [`remove_stale`] after the manifest commit).
    pub rebuilt: bool,
    /// Segments left without a group, with the reason (queries open them instead).
    pub warnings: Vec<String>,
}

/// Makes every segment of `m` (the manifest about to be committed) reference a group:
/// appends the groups of segments that have none to the current index file, or, when
/// unreferenced bytes make up more than a quarter of it (or it is missing or unreadable),
/// writes a new file holding only live groups and points `m` at it. The new bytes are
/// fsynced before this returns, so the caller's manifest commit may reference them. Call
/// only while holding the archive lock, right before writing `m`.
pub fn update(dir: &Path, m: &mut Manifest) -> UpdateReport {
    update_with(dir, m, false)
}

/// [`update`], but `tight` rewrites the file when it holds any unreferenced bytes.
fn update_with(dir: &Path, m: &mut Manifest, tight: bool) -> UpdateReport {
    let mut report = UpdateReport::default();
    let missing: Vec<usize> = (0..m.segments.len())
        .filter(|&i| m.segments[i].index.is_none())
        .collect();
    let current = m.index.as_ref().map(|n| dir.join(n));
    let file_len = current.as_ref().and_then(|p| header_ok_len(p));
    let live: u64 = m
        .segments
        .iter()
        .filter_map(|e| e.index.map(|r| r[1]))
        .sum();
    // A reference past the end means the file is not the one the references were
    // written into (truncated, or replaced): appending would put new groups where they
    // point.
    let end = m
        .segments
        .iter()
        .filter_map(|e| e.index.map(|[off, len]| off.saturating_add(len)))
        .max()
        .unwrap_or(0);
    let rebuild = match file_len {
        None => true,
        Some(len) if len < end => true,
        Some(len) => {
            let dead = len.saturating_sub(HEADER_LEN as u64 + live);
            dead > if tight { 0 } else { live / 4 + (64 << 10) }
        }
    };
    if !rebuild && missing.is_empty() {
        return report;
    }
    if rebuild {
        if let Err(e) = rebuild_file(dir, m, &mut report) {
            report.warnings.push(format!(
                "index not rebuilt ({e}); queries open the segments instead"
            ));
        }
        return report;
    }
    // Append to the current file.
    let Some(path) = current else {
        return report;
    };
    let mut out = Vec::new();
    let base = file_len.unwrap_or(0);
    let mut refs = Vec::new();
    for i in missing {
        let at = out.len() as u64;
        match build(dir, &m.segments[i], &mut out) {
            Ok(()) => refs.push((i, [base + at, out.len() as u64 - at])),
            Err(e) => {
                out.truncate(at as usize);
                report.warnings.push(format!(
                    "no index group for {} ({e}); queries open it instead",
                    m.segments[i].path
                ));
            }
        }
    }
    let io = |e: std::io::Error| Error::from(e).with_path(&path);
    let res = (|| -> Result<()> {
        let mut f = fsio::File::open(OpenOptions::new().append(true), &path).map_err(io)?;
        // A crash can leave unreferenced bytes at the end; offsets are taken from the
        // file's length as opened for appending, which is where these bytes go.
        let len = f.get_ref().metadata().map_err(io)?.len();
        if len != base {
            return Err(Error::invalid_input(format!(
                "index file changed length from {base} to {len} (another writer?)"
            )));
        }
        f.write_all(&out).map_err(io)?;
        f.sync_data().map_err(io)
    })();
    match res {
        Ok(()) => {
            report.added = refs.len();
            for (i, r) in refs {
                m.segments[i].index = Some(r);
            }
        }
        Err(e) => report.warnings.push(format!(
            "index not updated ({e}); queries open the new segments instead"
        )),
    }
    report
}

/// The length of the index file at `p` if it exists and has a header this code reads.
fn header_ok_len(p: &Path) -> Option<u64> {
    let (h, len) = read_header(p).ok()?;
    check_header(&h).ok()?;
    Some(len)
}

/// The first [`HEADER_LEN`] bytes of the file at `p` (fewer if it is shorter) and its
/// length.
fn read_header(p: &Path) -> std::io::Result<(Vec<u8>, u64)> {
    use std::io::Read;
    let f = File::open(p)?;
    let len = f.metadata()?.len();
    let mut h = Vec::with_capacity(HEADER_LEN);
    f.take(HEADER_LEN as u64).read_to_end(&mut h)?;
    Ok((h, len))
}

fn build(dir: &Path, e: &SegmentEntry, out: &mut Vec<u8>) -> Result<()> {
    let seg = super::open_listed(dir, e)?;
    encode_group(&seg, e, out)
}

/// Writes `INDEX-<generation>` with the live groups of `m` (copied after checking their
/// headers) and groups for segments without one, fsyncs it, and points `m` at it.
fn rebuild_file(dir: &Path, m: &mut Manifest, report: &mut UpdateReport) -> Result<()> {
    let old = m
        .index
        .as_ref()
        .and_then(|n| fs::read(dir.join(n)).ok())
        .filter(|b| check_header(b).is_ok())
        .unwrap_or_default();
    let mut out = header().to_vec();
    let mut refs = Vec::with_capacity(m.segments.len());
    for e in &m.segments {
        let at = out.len();
        let copied = e.index.and_then(|[off, len]| {
            let g = Group::read(&old, off, len).ok()?;
            g.check(e).ok()?;
            Some(&old[off as usize..(off + len) as usize])
        });
        match copied {
            Some(bytes) => out.extend_from_slice(bytes),
            None => match build(dir, e, &mut out) {
                Ok(()) => report.added += 1,
                Err(err) => {
                    out.truncate(at);
                    report.warnings.push(format!(
                        "no index group for {} ({err}); queries open it instead",
                        e.path
                    ));
                    refs.push(None);
                    continue;
                }
            },
        }
        refs.push(Some([at as u64, (out.len() - at) as u64]));
    }
    // A fresh name: a reader holding an older manifest keeps reading the old file.
    let mut n = m.generation + 1;
    while dir.join(format!("{INDEX_PREFIX}{n:06}")).exists() {
        n += 1;
    }
    let name = format!("{INDEX_PREFIX}{n:06}");
    write_atomic(dir, &name, &out)?;
    for (e, r) in m.segments.iter_mut().zip(refs) {
        e.index = r;
    }
    m.index = Some(name);
    report.rebuilt = true;
    Ok(())
}

/// Deletes index files (and temp files of index rebuilds) that `m`, the committed
/// manifest, does not name. Call only while holding the lock, after the commit.
pub fn remove_stale(dir: &Path, m: &Manifest) {
    let Ok(rd) = fs::read_dir(dir) else {
        return;
    };
    for ent in rd.flatten() {
        let name = ent.file_name();
        let Some(name) = name.to_str() else {
            continue;
        };
        let ours = name.starts_with(INDEX_PREFIX) || name.starts_with(".INDEX-");
        if ours && m.index.as_deref() != Some(name) {
            let _ = fsio::remove_file(&ent.path());
        }
    }
}

/// Drops the reference of every group of `m` that is not usable (archive.md §9.2: out of
/// the file, a checksum, a header that does not describe the segment, a record that does
/// not decode), so that [`update`] rebuilds it from its segment. Returns whether any was
/// dropped. A writer calls this when it takes the lock (§9.3, step 3): [`update`] keeps
/// the references it finds (it appends after them, or copies their groups into a new
/// file after checking only their headers), so a damaged group left in place would
/// survive every later commit.
pub fn drop_unusable(dir: &Path, m: &mut Manifest) -> bool {
    let mut dropped = false;
    let ix = match Index::open(dir, m) {
        Ok(Some(ix)) => ix,
        // No readable file: update() rebuilds every group anyway.
        _ => return false,
    };
    for e in m.segments.iter_mut() {
        let Some([off, len]) = e.index else {
            continue;
        };
        let ok = Group::read(&ix.map, off, len)
            .and_then(|g| {
                g.check(e)?;
                (0..e.devices.len()).try_for_each(|i| g.part(i, &e.devices[i]).map(|_| ()))
            })
            .is_ok();
        if !ok {
            e.index = None;
            dropped = true;
        }
    }
    dropped
}

/// [`drop_unusable`], [`update`], then, if they changed anything, a manifest commit and
/// [`remove_stale`]: for a lock holder with nothing else to commit (a writer opening an
/// archive). Returns the warnings.
///
/// # Errors
/// Writing the manifest.
pub fn refresh(dir: &Path, m: &mut Manifest) -> Result<Vec<String>> {
    let dropped = drop_unusable(dir, m);
    commit_update(dir, m, dropped)
}

/// [`update`], then a manifest commit if it changed anything or `changed` (the caller
/// changed `m` since it was committed), then [`remove_stale`]. Returns the warnings.
///
/// # Errors
/// Writing the manifest.
pub fn commit_update(dir: &Path, m: &mut Manifest, changed: bool) -> Result<Vec<String>> {
    commit_updated(dir, m, changed, false)
}

/// [`commit_update`], rewriting the index file when it holds any unreferenced bytes (the
/// groups of segments a compaction replaced), not only above the usual slack of §9.3
/// step 2.
///
/// # Errors
/// Writing the manifest.
pub fn commit_update_tight(dir: &Path, m: &mut Manifest, changed: bool) -> Result<Vec<String>> {
    commit_updated(dir, m, changed, true)
}

fn commit_updated(dir: &Path, m: &mut Manifest, changed: bool, tight: bool) -> Result<Vec<String>> {
    let r = update_with(dir, m, tight);
    if r.added > 0 || r.rebuilt || changed {
        m.generation += 1;
        // Every commit is announced, so PENDING never lags the manifest (archive.md L5).
        crate::archive::pending::announce(dir, m.generation, Vec::new())?;
        m.write(dir)?;
        crate::archive::pending::clear(dir);
    }
    remove_stale(dir, m);
    Ok(r.warnings)
}

/// Fuzzing entry point (fuzz target `index_part`, replayed by the regression tests):
/// `data` is `u32 offset | u32 length | index file`. The segment entry is made to agree
/// with whatever group header lies at `offset`, so mutations reach the record and part
/// decoders; every device's part is then read. Must return, never panic.
#[doc(hidden)]
pub fn fuzz_one(data: &[u8]) {
    if data.len() < 8 {
        return;
    }
    let off = u32::from_le_bytes([data[0], data[1], data[2], data[3]]) as u64;
    let len = u32::from_le_bytes([data[4], data[5], data[6], data[7]]) as u64;
    let Some(ix) = Index::from_bytes("INDEX-fuzz", data[8..].to_vec()) else {
        return;
    };
    let at = |i: u64| -> u64 {
        let s = (off + i) as usize;
        ix.map
            .get(s..s + 8)
            .map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap_or_default()))
    };
    let ndev = (at(32) & 0xffff_ffff).min(64) as usize;
    let entry = SegmentEntry {
        path: "seg/x.seg".into(),
        partition: 0,
        devices: (0..ndev)
            .map(|i| format!("d{i:02}"))
            .collect::<Vec<_>>()
            .into(),
        channels: Arc::from([]),
        min_ts: 0,
        max_ts: 0,
        rows: 0,
        points: 0,
        bytes: at(8),
        generation: 0,
        seq: at(0),
        index: Some([off, len]),
        checksum: None,
    };
    for d in entry.devices.iter() {
        let _ = ix.part(&entry, d);
    }
    if let Ok(Some(g)) = ix.group(&entry) {
        for i in 0..entry.devices.len() {
            let _ = g.summary(i);
        }
    }
}
