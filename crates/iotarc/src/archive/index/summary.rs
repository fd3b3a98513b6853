//! Record summaries (archive.md §9.2): per channel of a device's footer part, its
//! statistics merged over all the device's blocks in the segment, so an aggregate over a
//! whole segment reads them instead of walking the part.

use crate::codec::bytes::{put_str, put_svarint, put_varint, Cursor};
use crate::error::{Error, Result};
use crate::format::footer::{BlockMeta, Footer, MAX_BLOCK_ROWS};
use crate::format::stats::{self, ColumnStats};
use crate::model::ValueType;
use std::convert::Infallible;
use std::ops::ControlFlow;

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
