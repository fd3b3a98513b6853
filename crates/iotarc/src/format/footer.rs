//! The footer: device and channel names, one entry per block with its location,
//! checksum, time range, schema (columns with type and codec) and per-column statistics,
//! then optional sections.

use super::header::HEADER_LEN;
use super::stats::{self, ColumnStats};
use crate::codec::bytes::{put_str, put_svarint, put_varint, Cursor};
use crate::error::{Error, Result, Rule};
use crate::model::ValueType;
use std::collections::HashSet;

/// Largest row count of one block. Bounds the memory a hostile file can make a reader
/// allocate for one block (a constant column of this many rows decodes to 8 MiB).
pub const MAX_BLOCK_ROWS: u64 = 1 << 20;

/// Footer entry of one column of one block.
#[derive(Clone, Debug, PartialEq)]
pub struct ColumnMeta {
    /// Index into [`Footer::channels`].
    pub channel: u32,
    /// Value type.
    pub vtype: ValueType,
    /// Codec id (meaning depends on `vtype`).
    pub codec: u8,
    /// Offset of the chunk from the start of the block (derived, not stored).
    pub chunk_offset: u64,
    /// Chunk length in bytes.
    pub chunk_len: u64,
    /// Statistics of the column's values in this block.
    pub stats: ColumnStats,
}

/// Footer entry of one block.
#[derive(Clone, Debug, PartialEq)]
pub struct BlockMeta {
    /// Index into [`Footer::devices`].
    pub device: u32,
    /// Absolute file offset.
    pub offset: u64,
    /// Length in bytes.
    pub len: u64,
    /// xxh3 of the block's bytes.
    pub checksum: u64,
    /// Number of rows (at least 1).
    pub rows: u64,
    /// First timestamp.
    pub ts_min: i64,
    /// Last timestamp.
    pub ts_max: i64,
    /// Length of the timestamp chunk (which starts the block).
    pub ts_chunk_len: u64,
    /// Codec of the timestamp chunk.
    pub ts_codec: u8,
    /// Columns, by increasing channel index.
    pub columns: Vec<ColumnMeta>,
}

impl BlockMeta {
    /// The column holding `channel`, if the block has one.
    pub fn column(&self, channel: u32) -> Option<&ColumnMeta> {
        self.columns
            .binary_search_by_key(&channel, |c| c.channel)
            .ok()
            .map(|i| &self.columns[i])
    }
}

/// A parsed footer.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Footer {
    /// Device names, unique.
    pub devices: Vec<String>,
    /// Channel names, unique.
    pub channels: Vec<String>,
    /// Blocks in file order.
    pub blocks: Vec<BlockMeta>,
}

impl Footer {
    /// Serializes the footer (before optional compression).
    pub fn write(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.blocks.len() * 128);
        put_varint(&mut out, self.devices.len() as u64);
        for d in &self.devices {
            put_str(&mut out, d);
        }
        put_varint(&mut out, self.channels.len() as u64);
        for c in &self.channels {
            put_str(&mut out, c);
        }
        put_varint(&mut out, self.blocks.len() as u64);
        for b in &self.blocks {
            put_varint(&mut out, b.device as u64);
            put_varint(&mut out, b.offset);
            put_varint(&mut out, b.len);
            out.extend_from_slice(&b.checksum.to_le_bytes());
            put_varint(&mut out, b.rows);
            put_svarint(&mut out, b.ts_min);
            put_varint(&mut out, b.ts_max.wrapping_sub(b.ts_min) as u64);
            put_varint(&mut out, b.ts_chunk_len);
            out.push(b.ts_codec);
            put_varint(&mut out, b.columns.len() as u64);
            for c in &b.columns {
                put_varint(&mut out, c.channel as u64);
                out.push(c.vtype as u8);
                out.push(c.codec);
                put_varint(&mut out, c.chunk_len);
                stats::write(&c.stats, b.ts_min, &mut out);
            }
        }
        // No optional sections in this version.
        put_varint(&mut out, 0);
        out
    }

    /// Parses and validates a footer. `data_end` is the footer's file offset: blocks must
    /// tile `[HEADER_LEN, data_end)` exactly, in order.
    ///
    /// # Errors
    /// Any violation of the footer rules in `format-spec/format.md`: counts of zero,
    /// indices out of range, duplicate names, blocks that do not tile the data region,
    /// chunk lengths that do not add up, unsorted channels, bad statistics, overlapping
    /// blocks of one device, unknown required sections, trailing bytes.
    pub fn read(bytes: &[u8], data_end: u64) -> Result<Footer> {
        Self::read_with(bytes, data_end, true)
    }

    /// Parses and validates a footer part (see [`Footer::device_part`]): as
    /// [`Footer::read`], except that its blocks need only be in file order, without
    /// overlap, inside `[HEADER_LEN, data_end)`, rather than tile that region.
    ///
    /// # Errors
    /// As [`Footer::read`], less the tiling rule.
    pub fn read_part(bytes: &[u8], data_end: u64) -> Result<Footer> {
        Self::read_with(bytes, data_end, false)
    }

    /// The footer restricted to device `d`: one device, the channels its blocks use (in
    /// their original order), and its blocks, with every index renumbered. Offsets,
    /// checksums and statistics are unchanged, so the part locates and verifies the
    /// device's blocks in the original file. `None` if `d` is out of range.
    ///
    /// Costs a pass over every block; use [`Footer::device_parts`] for all devices.
    pub fn device_part(&self, d: u32) -> Option<Footer> {
        let name = self.devices.get(d as usize)?;
        let blocks: Vec<&BlockMeta> = self.blocks.iter().filter(|b| b.device == d).collect();
        Some(part_of(name, &self.channels, &blocks))
    }

    /// [`Footer::device_part`] of every device, in device order, in one pass over the
    /// blocks: O(blocks + devices), where calling `device_part` per device would be
    /// O(blocks × devices).
    pub fn device_parts(&self) -> Vec<Footer> {
        let mut by_device: Vec<Vec<&BlockMeta>> = vec![Vec::new(); self.devices.len()];
        for b in &self.blocks {
            if let Some(v) = by_device.get_mut(b.device as usize) {
                v.push(b);
            }
        }
        self.devices
            .iter()
            .zip(&by_device)
            .map(|(name, blocks)| part_of(name, &self.channels, blocks))
            .collect()
    }

    fn read_with(bytes: &[u8], data_end: u64, tile: bool) -> Result<Footer> {
        struct Collect(Vec<BlockMeta>);
        impl BlockSink for Collect {
            fn select(&mut self, channels: &[String]) -> Vec<bool> {
                vec![true; channels.len()]
            }
            fn block(&mut self, b: &mut BlockMeta) -> Result<()> {
                self.0.push(std::mem::replace(b, BlockMeta::empty()));
                Ok(())
            }
        }
        let mut sink = Collect(Vec::new());
        let (devices, channels) = walk(bytes, data_end, tile, &mut sink)?;
        Ok(Footer {
            devices,
            channels,
            blocks: sink.0,
        })
    }

    /// Validates a footer part exactly as [`Footer::read_part`] does, without building
    /// it: `BlockSink::select` gets the part's channel names and returns which to keep;
    /// `BlockSink::block` sees each block in file order, with only the kept channels'
    /// columns (their `chunk_offset`s as in the full entry). Returns the device and
    /// channel names.
    ///
    /// This is the aggregate path's way through a part: a year of hourly blocks is
    /// thousands of entries, and materialising each one's statistics cost more than
    /// merging them.
    ///
    /// # Errors
    /// As [`Footer::read_part`], and what `sink` returns.
    pub fn scan_part(
        bytes: &[u8],
        data_end: u64,
        sink: &mut impl BlockSink,
    ) -> Result<(Vec<String>, Vec<String>)> {
        walk(bytes, data_end, false, sink)
    }
}

/// Receives the blocks of a footer (part) as [`Footer::scan_part`] validates them.
pub trait BlockSink {
    /// Which of the footer's channels (by index) to keep the columns of. Missing entries
    /// count as not kept.
    fn select(&mut self, channels: &[String]) -> Vec<bool>;
    /// One block, in file order. It is scratch space, reused for the next block; a sink
    /// may take what it needs out of it.
    ///
    /// # Errors
    /// Whatever the sink reports; the walk stops there.
    fn block(&mut self, b: &mut BlockMeta) -> Result<()>;
}

impl BlockMeta {
    fn empty() -> BlockMeta {
        BlockMeta {
            device: 0,
            offset: 0,
            len: 0,
            checksum: 0,
            rows: 0,
            ts_min: 0,
            ts_max: 0,
            ts_chunk_len: 0,
            ts_codec: 0,
            columns: Vec::new(),
        }
    }
}

/// Parses and validates a footer (or, `tile` off, a footer part), handing each block to
/// `sink` with the columns of the channels it selects. Every rule is checked on every
/// column, kept or not.
/// The part of one device (see [`Footer::device_part`]) from its blocks, in file order.
/// Costs O(the blocks' columns · log), not O(all channels).
fn part_of(name: &str, all_channels: &[String], blocks: &[&BlockMeta]) -> Footer {
    let mut used: Vec<u32> = blocks
        .iter()
        .flat_map(|b| b.columns.iter().map(|c| c.channel))
        .filter(|&c| (c as usize) < all_channels.len())
        .collect();
    used.sort_unstable();
    used.dedup();
    let remap = |c: u32| used.binary_search(&c).map_or(u32::MAX, |i| i as u32);
    let blocks = blocks
        .iter()
        .map(|b| BlockMeta {
            device: 0,
            columns: b
                .columns
                .iter()
                .map(|c| ColumnMeta {
                    channel: remap(c.channel),
                    ..c.clone()
                })
                .collect(),
            ..(*b).clone()
        })
        .collect();
    Footer {
        devices: vec![name.to_string()],
        channels: used.iter().map(|&c| all_channels[c as usize].clone()).collect(),
        blocks,
    }
}

fn walk(
    bytes: &[u8],
    data_end: u64,
    tile: bool,
    sink: &mut impl BlockSink,
) -> Result<(Vec<String>, Vec<String>)> {
    let mut c = Cursor::new(bytes);
    let remaining = |c: &Cursor| c.remaining() as u64;
    let nd = c
        .varint_max(remaining(&c), "device count")
        .map_err(|e| e.or_rule(Rule::C(13)))?;
    if nd == 0 {
        return Err(Error::corrupt_rule(
            Rule::C(17),
            "device count is 0",
            Some(0),
        ));
    }
    let devices = read_names(&mut c, nd, "device name")?;
    let nc = c
        .varint_max(remaining(&c), "channel count")
        .map_err(|e| e.or_rule(Rule::C(13)))?;
    let channels = read_names(&mut c, nc, "channel name")?;
    let mut keep = sink.select(&channels);
    keep.resize(nc, false);
    let at = c.pos() as u64;
    let nb = c
        .varint_max(remaining(&c), "block count")
        .map_err(|e| e.or_rule(Rule::C(13)))?;
    if nb == 0 {
        return Err(Error::corrupt_rule(
            Rule::C(19),
            "block count is 0",
            Some(at),
        ));
    }
    let mut expect_offset = HEADER_LEN as u64;
    let mut last_ts_of_device: Vec<Option<i64>> = vec![None; nd];
    let mut b = BlockMeta::empty();
    for bi in 0..nb {
        let at = c.pos() as u64;
        let bad = |rule: u8, what: String| {
            Error::corrupt_rule(Rule::C(rule), format!("block {bi}: {what}"), Some(at))
        };
        let device = c
            .varint_max(nd as u64 - 1, "block device")
            .map_err(|e| e.or_rule(Rule::C(20)))? as u32;
        let offset = c.varint("block offset")?;
        let len = c.varint("block length")?;
        let checksum = c.u64("block checksum")?;
        let rows = c.varint("block row count")?;
        let ts_min = c.svarint("block ts_min")?;
        let span = c.varint("block ts span")?;
        let ts_chunk_len = c.varint("timestamp chunk length")?;
        let ts_codec = c.u8("timestamp codec")?;
        if (tile && offset != expect_offset) || offset < expect_offset {
            return Err(bad(
                29,
                format!(
                    "offset {offset}, expected {expect_offset} (blocks must tile the data region)"
                ),
            ));
        }
        if len == 0 {
            return Err(bad(22, format!("length 0 at offset {offset}")));
        }
        if offset.checked_add(len).is_none_or(|e| e > data_end) {
            return Err(bad(
                29,
                format!("length {len} at offset {offset} passes the footer at {data_end}"),
            ));
        }
        if rows == 0 || rows > MAX_BLOCK_ROWS {
            return Err(bad(
                22,
                format!("row count {rows} not in 1..={MAX_BLOCK_ROWS}"),
            ));
        }
        let ts_max = ts_min
            .checked_add_unsigned(span)
            .ok_or_else(|| bad(23, format!("ts_min {ts_min} + span {span} overflows")))?;
        if let Some(prev) = last_ts_of_device[device as usize] {
            // C30: equality is accepted, since files of versions 1 to 5 hold it
            // (format.md §2.2); writers no longer produce it.
            if ts_min < prev {
                return Err(bad(
                    30,
                    format!("ts_min {ts_min} is before the end of the previous block of device {device} ({prev})"
                )));
            }
        }
        last_ts_of_device[device as usize] = Some(ts_max);
        let ncol = c
            .varint_max(remaining(&c), "column count")
            .map_err(|e| e.or_rule(Rule::C(13)))?;
        b.columns.clear();
        let mut chunk_offset = ts_chunk_len;
        let mut prev_channel = None;
        for _ in 0..ncol {
            let channel = c
                .varint_max(nc.saturating_sub(1) as u64, "column channel")
                .map_err(|e| e.or_rule(Rule::C(20)))?;
            if nc == 0 {
                return Err(bad(20, "column present but channel count is 0".into()));
            }
            let channel = channel as u32;
            if prev_channel.is_some_and(|p| p >= channel) {
                return Err(bad(24, format!("channel {channel} out of order")));
            }
            prev_channel = Some(channel);
            let tid = c.u8("column type")?;
            let vtype = ValueType::from_id(tid)
                .ok_or_else(|| bad(21, format!("value type {tid} is unknown")))?;
            let codec = c.u8("column codec")?;
            let chunk_len = c.varint("column chunk length")?;
            let stats = stats::read(&mut c, vtype, rows, ts_min, span)?;
            if stats.count == 0 {
                return Err(bad(
                    35,
                    format!("channel {channel} has count 0 (writers omit empty columns)"),
                ));
            }
            if keep[channel as usize] {
                b.columns.push(ColumnMeta {
                    channel,
                    vtype,
                    codec,
                    chunk_offset,
                    chunk_len,
                    stats,
                });
            }
            chunk_offset = chunk_offset
                .checked_add(chunk_len)
                .ok_or_else(|| bad(25, "chunk lengths overflow".into()))?;
        }
        if chunk_offset != len {
            return Err(bad(
                25,
                format!("chunk lengths add up to {chunk_offset}, block length is {len}"),
            ));
        }
        expect_offset = offset + len;
        b.device = device;
        b.offset = offset;
        b.len = len;
        b.checksum = checksum;
        b.rows = rows;
        b.ts_min = ts_min;
        b.ts_max = ts_max;
        b.ts_chunk_len = ts_chunk_len;
        b.ts_codec = ts_codec;
        sink.block(&mut b)?;
    }
    if tile && expect_offset != data_end {
        return Err(Error::corrupt_rule(
            Rule::C(29),
            format!("blocks end at {expect_offset}, footer starts at {data_end}"),
            Some(c.pos() as u64),
        ));
    }
    let nsec = c
        .varint_max(remaining(&c), "section count")
        .map_err(|e| e.or_rule(Rule::C(13)))?;
    let mut tags = HashSet::new();
    for _ in 0..nsec {
        let at = c.pos() as u64;
        let tag = c.varint("section tag")?;
        if !tags.insert(tag) {
            return Err(Error::corrupt_rule(
                Rule::C(27),
                format!("footer section tag {tag} occurs twice"),
                Some(at),
            ));
        }
        let len = c.varint("section length")?;
        c.take_len(len, "section body")?;
        if tag & 1 == 1 {
            return Err(Error::new(crate::ErrorKind::UnsupportedFeature(format!(
                "required footer section with tag {tag} (at footer byte {at})"
            ))));
        }
    }
    c.finish("footer").map_err(|e| e.or_rule(Rule::C(27)))?;
    Ok((devices, channels))
}

fn read_names(c: &mut Cursor, n: usize, what: &str) -> Result<Vec<String>> {
    let mut names = Vec::with_capacity(n);
    let mut seen = HashSet::with_capacity(n);
    for _ in 0..n {
        let at = c.pos() as u64;
        let s = c.str(what)?;
        if !seen.insert(s) {
            return Err(Error::corrupt_rule(
                Rule::C(18),
                format!("duplicate {what} {s:?}"),
                Some(at),
            ));
        }
        names.push(s.to_owned());
    }
    Ok(names)
}
