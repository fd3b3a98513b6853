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
//!
//! [`Index`] reads the file; `group` holds the layout of a segment's group (read and
//! written); `summary` the per-channel summaries of a record (archive.md §9.2); and
//! `maintain` keeps the file in step with the manifest (append, rebuild, drop, delete).

mod group;
mod maintain;
mod summary;

pub use group::{encode_group, GroupView};
pub use maintain::{
    commit_update, commit_update_tight, drop_unusable, refresh, remove_stale, update, UpdateReport,
};
pub use summary::{merge_channel, read_summary, summarize, walk_summary, ChannelSummary, Merged};

use super::manifest::{Manifest, SegmentEntry};
use crate::error::{Error, Result};
use crate::format::footer::Footer;
use crate::format::reader::Segment;
use group::Group;
use memmap2::Mmap;
use std::fs::File;
use std::path::Path;

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
        let head = read_header(path).map_err(|e| Error::from(e).with_path(path))?;
        check_header(&head.header).map_err(|e| e.with_path(path))
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
        let parts = seg.footer().device_parts();
        for (i, d) in e.devices.iter().enumerate() {
            let got = g.part(i, d).map_err(ctx)?;
            let want = seg.device_id(d).and_then(|k| parts.get(k as usize));
            // Compared as serialized bytes: statistics may hold NaN, which `==` on the
            // parsed structs would call unequal to itself.
            let want_summary = match &want {
                Some(w) => summarize(w).map_err(ctx)?,
                None => None,
            };
            let got_summary = g.summary_bytes(i).map_err(ctx)?.map(|s| s.bytes.to_vec());
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

/// The start of an index file, as [`read_header`] reads it.
struct FileHead {
    /// The first [`HEADER_LEN`] bytes (fewer if the file is shorter).
    header: Vec<u8>,
    /// The file's length.
    len: u64,
}

/// The first [`HEADER_LEN`] bytes of the file at `p` and its length.
fn read_header(p: &Path) -> std::io::Result<FileHead> {
    use std::io::Read;
    let f = File::open(p)?;
    let len = f.metadata()?.len();
    let mut h = Vec::with_capacity(HEADER_LEN);
    f.take(HEADER_LEN as u64).read_to_end(&mut h)?;
    Ok(FileHead { header: h, len })
}

/// Fuzzing entry point (fuzz target `index_part`, replayed by the regression tests):
/// `data` is `u32 offset | u32 length | index file`. The segment entry is made to agree
/// with whatever group header lies at `offset`, so mutations reach the record and part
/// decoders; every device's part is then read. Must return, never panic.
#[cfg(feature = "internals")]
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
        channels: std::sync::Arc::from([]),
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
