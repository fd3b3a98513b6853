//! Planning: the selected segments opened (or viewed through `INDEX` records), each
//! device's segments in order, and its blocks grouped into runs: single blocks, or
//! overlapping blocks of several segments that are decoded and deduplicated together.

use super::select::Selection;
use super::{Query, QueryStats};
use crate::archive::index::Index;
use crate::archive::manifest::{Dedup, Manifest};
use crate::error::{Error, Result};
use crate::format::block::ColumnBuf;
use crate::format::reader::{append_rows, rows_in_range, DeferredFile, Segment, Series};
use crate::model::{TimeRange, ValueType, Values};
use rayon::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

/// Average segment size from which a query opens its segments in parallel.
const PARALLEL_OPEN_BYTES: u64 = 1 << 20;

pub(super) struct Plan {
    pub(super) segments: Vec<Segment>,
    /// device -> indices into `segments`, in (partition, seq) order.
    pub(super) by_device: BTreeMap<String, Vec<usize>>,
    /// device -> channels (sorted) to visit.
    pub(super) channels: BTreeMap<String, Vec<String>>,
    /// segment index -> arrival-order seq.
    pub(super) seq_of: Vec<u64>,
    pub(super) dedup: Dedup,
    pub(super) stats: QueryStats,
}

/// Decode buffers, reused across blocks, and counters: one per thread of a query.
#[derive(Default)]
pub(super) struct Scratch {
    pub(super) ts: Vec<i64>,
    pub(super) col: ColumnBuf,
    /// Block bytes read rather than mapped ([`Segment::block_into`]).
    pub(super) raw: Vec<u8>,
    /// Blocks decoded.
    pub(super) decoded: usize,
    /// Blocks answered from footer statistics.
    pub(super) from_footer: usize,
}

/// A block holding the queried channel for the queried device.
#[derive(Clone, Copy)]
pub(super) struct BlockRef {
    pub(super) seg: usize,
    pub(super) block: usize,
    /// Index of the channel's column within the block.
    pub(super) col: usize,
    pub(super) ts_min: i64,
    pub(super) ts_max: i64,
}

/// A maximal group of blocks whose time intervals overlap (archive.md §5).
pub(super) enum Run {
    /// Blocks of one segment: footers are exact for them.
    Single(BlockRef),
    /// Blocks of two or more segments: decoded and deduplicated together.
    Merge(Vec<BlockRef>),
}

impl<'a> Query<'a> {
    /// Plans against `m`. With an `index`, segments may be planned from its groups
    /// and opened only when a block is decoded, so a caller must be able to restart
    /// after a compaction removes one (aggregates can; raw output already sent cannot).
    pub(super) fn plan_on(
        &self,
        m: &Manifest,
        index: Option<&Index>,
        sel: Selection,
    ) -> Result<Plan> {
        let Selection {
            kept,
            matched,
            mut stats,
        } = sel;
        // Segments whose matched devices all have INDEX records are planned from those
        // records without opening a file (archive.md §9); the others are opened.
        let mut parts: Vec<Option<Vec<DeviceView>>> = (0..kept.len()).map(|_| None).collect();
        if let Some(ix) = index.filter(|ix| m.index.as_deref() == Some(ix.name())) {
            for (k, &i) in kept.iter().enumerate() {
                let e = &m.segments[i];
                // A group that fails its checksums or rules is not used: the segment is
                // then opened and checked itself (`verify` reports the group).
                if let Ok(Some(list)) = ix.parts(e, &matched[k]) {
                    let path = self.archive.dir().join(&e.path);
                    // One group records one footer location for all its parts.
                    let file = list.first().map(|p| {
                        DeferredFile::new(path, e.bytes, p.footer_offset, p.footer_checksum)
                    });
                    let views = matched[k].iter().zip(list).filter_map(|(&d, p)| {
                        let seg = Segment::from_shared_part(file.as_ref()?, p.footer);
                        Some(DeviceView {
                            device: e.devices[d].clone(),
                            seg,
                        })
                    });
                    parts[k] = Some(views.collect());
                }
            }
        }
        let to_open: Vec<usize> = (0..kept.len()).filter(|&k| parts[k].is_none()).collect();
        // Opening a small segment costs a few system calls; spreading hundreds of them
        // over rayon's threads costs more than it saves (26 ms against 15.5 ms for 365
        // one-device day segments). Large segments have large footers to decompress and
        // parse, which is worth the threads.
        let open = |&k: &usize| self.archive.open_segment(&m.segments[kept[k]]);
        let avg_bytes = to_open
            .iter()
            .map(|&k| m.segments[kept[k]].bytes)
            .sum::<u64>()
            / to_open.len().max(1) as u64;
        let opened: Vec<Segment> = if to_open.len() > 1 && avg_bytes >= PARALLEL_OPEN_BYTES {
            to_open.par_iter().map(open).collect::<Result<_>>()?
        } else {
            to_open.iter().map(open).collect::<Result<_>>()?
        };
        stats.segments_opened = opened.len();
        stats.segments_from_index = kept.len() - opened.len();
        let mut opened = opened.into_iter();
        // Views: one per opened segment, shared by its devices, or one per (segment,
        // device) INDEX record.
        let mut segments = Vec::new();
        let mut seq_of = Vec::new();
        let mut order = Vec::new();
        let mut by_device: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        let mut channels: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (k, &i) in kept.iter().enumerate() {
            let e = &m.segments[i];
            let mut add = |d: &String, view: usize| {
                by_device.entry(d.clone()).or_default().push(view);
                let set = channels.entry(d.clone()).or_default();
                for c in e.channels.iter().filter(|c| self.channel_matches(&c.name)) {
                    set.insert(c.name.clone());
                }
            };
            match parts[k].take() {
                Some(list) => {
                    for DeviceView { device, seg } in list {
                        add(&device, segments.len());
                        segments.push(seg);
                        seq_of.push(e.seq);
                        order.push((e.partition, e.seq));
                    }
                }
                None => {
                    let Some(seg) = opened.next() else {
                        return Err(Error::invalid_input("query plan lost a segment"));
                    };
                    for d in matched[k].iter().map(|&d| &e.devices[d]) {
                        add(d, segments.len());
                    }
                    segments.push(seg);
                    seq_of.push(e.seq);
                    order.push((e.partition, e.seq));
                }
            }
        }
        for list in by_device.values_mut() {
            list.sort_by_key(|&v| order[v]);
        }
        stats.devices_matched = by_device.len();
        let channels = channels
            .into_iter()
            .map(|(d, s)| (d, s.into_iter().collect()))
            .collect();
        Ok(Plan {
            segments,
            by_device,
            channels,
            seq_of,
            dedup: m.dedup,
            stats,
        })
    }
}

impl Plan {
    /// The blocks of `segs` holding `channel` for `device` in `range`, grouped into runs
    /// in time order (archive.md §5). `blocks` is scratch space.
    pub(super) fn runs(
        &self,
        device: &str,
        channel: &str,
        range: TimeRange,
        segs: &[usize],
        blocks: &mut Vec<BlockRef>,
    ) -> Vec<Run> {
        blocks.clear();
        for &si in segs {
            let seg = &self.segments[si];
            let Some(ch) = seg.channel_id(channel) else {
                continue;
            };
            for &bi in seg.blocks_for(device, range) {
                let meta = &seg.footer().blocks[bi];
                if let Some(col) = meta.columns.iter().position(|c| c.channel == ch) {
                    blocks.push(BlockRef {
                        seg: si,
                        block: bi,
                        col,
                        ts_min: meta.ts_min,
                        ts_max: meta.ts_max,
                    });
                }
            }
        }
        // Segments arrive sorted by (partition, seq) and each one's blocks by time, so
        // this is nearly sorted already.
        blocks.sort_by_key(|b| (b.ts_min, self.seq_of[b.seg]));
        let mut runs = Vec::new();
        let mut i = 0;
        while i < blocks.len() {
            let mut end = blocks[i].ts_max;
            let mut j = i + 1;
            let mut mixed = false;
            while j < blocks.len() && blocks[j].ts_min <= end {
                end = end.max(blocks[j].ts_max);
                mixed |= blocks[j].seg != blocks[i].seg;
                j += 1;
            }
            if mixed {
                runs.push(Run::Merge(blocks[i..j].to_vec()));
            } else {
                runs.extend(blocks[i..j].iter().map(|&b| Run::Single(b)));
            }
            i = j;
        }
        runs
    }

    /// Decodes one block's column and returns its present values in `range`.
    pub(super) fn decode_block(
        &self,
        sc: &mut Scratch,
        b: &BlockRef,
        range: TimeRange,
    ) -> Result<Series> {
        let s = decode_column(
            &self.segments[b.seg],
            b.block,
            b.col,
            range,
            &mut sc.ts,
            &mut sc.col,
            &mut sc.raw,
        )?;
        sc.decoded += 1;
        Ok(s)
    }

    /// Decodes a run of overlapping blocks from several segments and returns the points
    /// in `range` that survive the dedup policy, sorted by time.
    ///
    /// # Errors
    /// Corrupt blocks; a channel whose type differs between the blocks.
    pub(super) fn merge(
        &self,
        sc: &mut Scratch,
        refs: &[BlockRef],
        range: TimeRange,
    ) -> Result<Series> {
        let mut parts = Vec::with_capacity(refs.len());
        for b in refs {
            let s = self.decode_block(sc, b, range)?;
            parts.push((self.seq_of[b.seg], s));
        }
        // Integers and floats of one channel merge as floats.
        let types: Vec<ValueType> = parts.iter().map(|p| p.1.values.value_type()).collect();
        if types.contains(&ValueType::F64) && types.contains(&ValueType::I64) {
            for (_, s) in &mut parts {
                if let Values::I64(v) = &s.values {
                    s.values = Values::F64(v.iter().map(|&x| x as f64).collect());
                }
            }
        }
        let t = parts[0].1.values.value_type();
        if let Some((_, other)) = parts.iter().find(|p| p.1.values.value_type() != t) {
            return Err(Error::invalid_input(format!(
                "channel is {} in one segment and {} in an overlapping one",
                t,
                other.values.value_type()
            )));
        }
        // The sort puts copies of one timestamp in arrival order, so "last" is the end of
        // each group and "first" its start.
        let mut order: Vec<Arrival> = parts
            .iter()
            .enumerate()
            .flat_map(|(p, (seq, s))| {
                s.timestamps.iter().enumerate().map(move |(i, &t)| Arrival {
                    ts: t,
                    seq: *seq,
                    part: p,
                    row: i,
                })
            })
            .collect();
        order.sort_unstable();
        let mut out = Series::new(t);
        let mut k = 0;
        while k < order.len() {
            let t0 = order[k].ts;
            let e = k + order[k..].partition_point(|x| x.ts == t0);
            let pick = match self.dedup {
                Dedup::Last => e - 1..e,
                Dedup::First => k..k + 1,
                Dedup::KeepAll => k..e,
            };
            for a in &order[pick] {
                out.timestamps.push(a.ts);
                push_value(&mut out.values, &parts[a.part].1.values, a.row);
            }
            k = e;
        }
        Ok(out)
    }
}

/// One point of a run being merged, in the order the merge sorts them: by timestamp,
/// then arrival (segment seq). Field order is sort order.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Arrival {
    /// Timestamp.
    ts: i64,
    /// Arrival-order seq of its segment.
    seq: u64,
    /// Index of its decoded block among the run's.
    part: usize,
    /// Row within that block's values.
    row: usize,
}

/// A segment planned from one device's `INDEX` record: a view of the segment holding
/// that device's footer part only.
struct DeviceView {
    /// The device.
    device: String,
    /// The view ([`Segment::from_part`]).
    seg: Segment,
}

/// Decodes column `col` of block `block` of `seg` and returns its present values in
/// `range`. `ts`, `buf` and `raw` (for block bytes not mapped) are decode buffers.
pub(super) fn decode_column(
    seg: &Segment,
    block: usize,
    col: usize,
    range: TimeRange,
    ts: &mut Vec<i64>,
    buf: &mut ColumnBuf,
    raw: &mut Vec<u8>,
) -> Result<Series> {
    let b = seg.block_into(block, raw)?;
    b.timestamps(ts).map_err(seg.ctx(block))?;
    b.column(col, buf).map_err(seg.ctx(block))?;
    let (lo, hi) = rows_in_range(ts, range);
    let mut s = Series::new(buf.values.value_type());
    append_rows(ts, buf, lo, hi, &mut s).map_err(seg.ctx(block))?;
    Ok(s)
}

/// Appends `src[i]` to `dst`, which has the same type (checked by the caller).
pub(super) fn push_value(dst: &mut Values, src: &Values, i: usize) {
    match (dst, src) {
        (Values::F64(d), Values::F64(s)) => d.push(s[i]),
        (Values::I64(d), Values::I64(s)) => d.push(s[i]),
        (Values::Bool(d), Values::Bool(s)) => d.push(s[i]),
        (Values::Str(d), Values::Str(s)) => d.push(s.get(i).unwrap_or("")),
        _ => {}
    }
}
