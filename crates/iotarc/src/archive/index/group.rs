//! A segment's group in the index file (archive.md §9.2): its header, its record table
//! and its records (a device's footer part, optionally after a summary), read with
//! their checksums and rules checked, and written.

use super::summary::{read_summary, summarize, walk_summary, ChannelSummary, Merged};
use super::{
    Part, GROUP_FIXED, HEADER_LEN, MAX_PART_RAW, PART_PLAIN, PART_PLAIN_SUMMARY, PART_ZSTD,
    PART_ZSTD_SUMMARY, ZSTD_FROM,
};
use crate::archive::manifest::SegmentEntry;
use crate::codec::bytes::{put_varint, Cursor};
use crate::error::{Error, Result};
use crate::format::footer::{BlockSink, Footer};
use crate::format::reader::Segment;
use std::ops::ControlFlow;
use xxhash_rust::xxh3::xxh3_64;

/// Bytes of the index file and the file offset they start at (for errors).
pub(super) struct Located<'a> {
    /// The bytes.
    pub(super) bytes: &'a [u8],
    /// File offset of `bytes[0]`.
    pub(super) at: u64,
}

/// A segment's group, its header checked.
pub(super) struct Group<'a> {
    pub(super) at: u64,
    pub(super) seq: u64,
    pub(super) segment_len: u64,
    pub(super) footer_offset: u64,
    pub(super) footer_checksum: u64,
    /// End of each record, relative to `records`.
    pub(super) ends: &'a [u8],
    /// File offset of `records`.
    pub(super) records_at: u64,
    pub(super) records: &'a [u8],
}

impl<'a> Group<'a> {
    pub(super) fn read(file: &'a [u8], off: u64, len: u64) -> Result<Group<'a>> {
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

    pub(super) fn check(&self, e: &SegmentEntry) -> Result<()> {
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

    pub(super) fn end(&self, i: usize) -> u64 {
        u32::from_le_bytes(self.ends[i * 4..i * 4 + 4].try_into().unwrap_or_default()) as u64
    }

    /// Record `i` without its check, the check verified, and its file offset.
    pub(super) fn checked(&self, i: usize) -> Result<Located<'a>> {
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
        Ok(Located { bytes: body, at })
    }

    /// The summary bytes of record `i`, if it has one, and the record's file offset.
    pub(super) fn summary_bytes(&self, i: usize) -> Result<Option<Located<'a>>> {
        let Located { bytes: body, at } = self.checked(i)?;
        if !matches!(body[0], PART_PLAIN_SUMMARY | PART_ZSTD_SUMMARY) {
            return Ok(None);
        }
        let mut c = Cursor::new(&body[1..]);
        let n = c.varint("index record summary length")?;
        Ok(Some(Located {
            bytes: c.take_len(n, "index record summary")?,
            at,
        }))
    }

    /// The footer-part bytes of record `i` (`u8 encoding | [summary] | varint raw length |
    /// payload | u64 xxh3`), checked and decompressed (into `buf` if compressed).
    pub(super) fn record<'b>(&'b self, i: usize, buf: &'b mut Vec<u8>) -> Result<&'b [u8]> {
        let Located { bytes: body, at } = self.checked(i)?;
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

    pub(super) fn check_device(&self, i: usize, devices: &[String], device: &str) -> Result<()> {
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
    pub(super) fn part(&self, i: usize, device: &str) -> Result<Footer> {
        let mut buf = Vec::new();
        let bytes = self.record(i, &mut buf)?;
        let at = self.records_at + if i == 0 { 0 } else { self.end(i - 1) };
        let f = Footer::read_part(bytes, self.footer_offset).map_err(|e| e.rebase(at))?;
        self.check_device(i, &f.devices, device)?;
        Ok(f)
    }

    /// Record `i` validated as [`Group::part`] does, its blocks handed to `sink` instead
    /// of collected.
    pub(super) fn scan(
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
    pub(super) g: Group<'a>,
    pub(super) e: &'a SegmentEntry,
}

impl GroupView<'_> {
    /// `(footer_offset, footer_checksum)` of the segment, as the group records them.
    pub fn footer_location(&self) -> (u64, u64) {
        (self.g.footer_offset, self.g.footer_checksum)
    }

    /// The footer part of device `i` (an index into the entry's `devices`).
    ///
    /// # Errors
    /// As [`Index::part`](super::Index::part); an index out of range is corrupt.
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
            Some(Located { bytes, at }) => read_summary(bytes).map(Some).map_err(|e| e.rebase(at)),
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
            Some(Located { bytes, at }) => walk_summary(bytes, want, f)
                .map(Some)
                .map_err(|e| e.rebase(at)),
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

/// Encodes the group of `seg`, listed in the manifest as `e`.
///
/// # Errors
/// [`crate::ErrorKind::InvalidInput`] if the segment's devices are not those of `e` or a
/// record is larger than the format allows.
pub fn encode_group(seg: &Segment, e: &SegmentEntry, out: &mut Vec<u8>) -> Result<()> {
    let parts = seg.footer().device_parts();
    let mut records = Vec::new();
    let mut ends = Vec::with_capacity(e.devices.len());
    for name in e.devices.iter() {
        let part = seg
            .device_id(name)
            .and_then(|d| parts.get(d as usize))
            .ok_or_else(|| {
                Error::invalid_input(format!("segment {} has no device {name:?}", e.path))
            })?;
        let raw = part.write();
        let z = if raw.len() >= ZSTD_FROM {
            zstd::bulk::compress(&raw, 3).unwrap_or_default()
        } else {
            Vec::new()
        };
        let summary = summarize(part)?;
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
