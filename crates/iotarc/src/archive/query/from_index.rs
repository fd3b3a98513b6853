//! Aggregates answered from `INDEX` records alone (archive.md §9): each record's summary
//! or blocks merged as they are walked, edge blocks decoded on the spot, without a plan.

use super::plan::decode_column;
use super::select::Selection;
use super::window::{Aggregated, SeriesWindows, WinAcc, Windows};
use super::Query;
use crate::archive::index::{GroupView, Index, Merged};
use crate::archive::manifest::Manifest;
use crate::error::{Error, Result};
use crate::format::block::ColumnBuf;
use crate::format::footer::{BlockMeta, BlockSink};
use crate::format::reader::Segment;
use crate::format::stats::ColumnStats;
use crate::model::ValueType;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::ControlFlow;

impl<'a> Query<'a> {
    /// Aggregates straight from `INDEX` records, without building a plan: each record
    /// is validated and walked once ([`Footer::scan_part`](crate::format::footer::Footer::scan_part)),
    /// its covered blocks merged as they pass and its edge blocks decoded on the spot, so
    /// memory stays at one record however many blocks the range holds.
    ///
    /// Gives the plan's answer only when no run needs merging: every kept segment must
    /// have a group, and, segments visited by first timestamp, each (device, channel)'s
    /// blocks must start after every block of it in earlier segments ended. Then they
    /// arrive in the order the plan's runs would visit them. `Ok(None)` when that does
    /// not hold or a group or record fails its checks: the caller then plans, which
    /// merges overlapping runs and opens the segments the index cannot answer for.
    ///
    /// # Errors
    /// As [`Query::run_aggregate`]: decoding an edge block, a type change in one row.
    pub(super) fn aggregate_streaming(
        &self,
        m: &Manifest,
        ix: &Index,
        sel: &Selection,
    ) -> Result<Option<Aggregated>> {
        let Selection {
            kept,
            matched,
            stats,
        } = sel;
        let mut stats = stats.clone();
        let seg = |k: usize| &m.segments[kept[k]];
        if (0..kept.len()).any(|k| seg(k).index.is_none()) {
            return Ok(None);
        }
        let mut order: Vec<usize> = (0..kept.len()).collect();
        order.sort_by_key(|&k| (seg(k).min_ts, seg(k).seq));
        let mut acc = StreamAcc {
            q: self,
            slots: BTreeMap::new(),
            windows: Vec::new(),
            reach: Vec::new(),
            seg: 0,
            slot_of: Vec::new(),
            done: Vec::new(),
            walk: false,
            pending: Vec::new(),
            device: String::new(),
            view: None,
            ts: Vec::new(),
            col: ColumnBuf::default(),
            raw: Vec::new(),
            from_footer: 0,
            decoded: 0,
            stop: None,
        };
        let mut buf = Vec::new();
        for &k in &order {
            let e = seg(k);
            let Ok(Some(g)) = ix.group(e) else {
                return Ok(None);
            };
            acc.seg = k;
            for &d in &matched[k] {
                acc.device.clone_from(&e.devices[d]);
                acc.view = None;
                // Channels whose whole span the record's summary answers need no walk.
                acc.done.clear();
                acc.walk = false;
                let r = g.walk_summary(
                    d,
                    |name| self.channel_matches(name),
                    |name, merged| acc.take_summary(name, merged),
                );
                let walk = match r {
                    Ok(Some(ControlFlow::Break(Stop::Fail(err)))) => {
                        return Err(err.with_path(self.archive.dir().join(&e.path)))
                    }
                    Err(_) | Ok(Some(ControlFlow::Break(Stop::Fallback))) => return Ok(None),
                    Ok(None) => true,
                    Ok(Some(ControlFlow::Continue(()))) => acc.walk,
                };
                if !walk {
                    continue;
                }
                let mut view = PartView {
                    g: &g,
                    d,
                    path: self.archive.dir().join(&e.path),
                    bytes: e.bytes,
                };
                let mut sink = SinkWith(&mut acc, &mut view);
                let r = g.scan(d, &mut buf, &mut sink);
                let r = match sink.0.stop.take() {
                    Some(Stop::Fail(err)) => return Err(err),
                    Some(Stop::Fallback) => return Ok(None),
                    None => r.and_then(|()| sink.finish()),
                };
                // A record that fails its checks, or held blocks that do not merge: the
                // plan answers instead.
                if r.is_err() {
                    return Ok(None);
                }
            }
        }
        let devices: BTreeSet<&str> = kept
            .iter()
            .zip(matched)
            .flat_map(|(&i, ds)| ds.iter().map(move |&d| m.segments[i].devices[d].as_str()))
            .collect();
        stats.devices_matched = devices.len();
        stats.segments_from_index = kept.len();
        stats.blocks_from_footer = acc.from_footer;
        stats.blocks_decoded = acc.decoded;
        let mut windows: Vec<Option<Windows>> = acc.windows.into_iter().map(Some).collect();
        let mut series = Vec::new();
        for (device, chans) in acc.slots {
            for (channel, slot) in chans {
                if let Some(w) = windows[slot].take() {
                    series.push(SeriesWindows {
                        device: device.clone(),
                        channel,
                        windows: w,
                    });
                }
            }
        }
        Ok(Some(Aggregated { series, stats }))
    }
}

/// Why [`Query::aggregate_streaming`] stops using a record.
enum Stop {
    /// The index cannot answer alone, or runs overlap: the caller plans instead.
    Fallback,
    /// A real error, reported as is.
    Fail(Error),
}

impl From<Error> for Stop {
    fn from(e: Error) -> Stop {
        Stop::Fail(e)
    }
}

/// Accumulators of [`Query::aggregate_streaming`].
struct StreamAcc<'q, 'a> {
    q: &'q Query<'a>,
    /// device -> channel -> index into `windows`.
    slots: BTreeMap<String, BTreeMap<String, usize>>,
    windows: Vec<Windows>,
    /// Per slot: the largest `ts_max` of its blocks so far, and the segment (position
    /// in visiting order) of that block.
    reach: Vec<Reach>,
    /// The segment being walked (position in visiting order).
    seg: usize,
    /// For the record being walked: its channel index -> slot, if the channel matches.
    slot_of: Vec<Option<usize>>,
    /// Channels of the record being walked that its summary answered.
    done: Vec<String>,
    /// Whether a matching channel of the record being walked needs its blocks.
    walk: bool,
    /// Per channel of the record being walked: its held covered blocks.
    pending: Vec<Subtotal>,
    /// Device of the record being walked.
    device: String,
    /// The record's segment, made on its first edge block.
    view: Option<Segment>,
    ts: Vec<i64>,
    col: ColumnBuf,
    /// Block bytes read rather than mapped.
    raw: Vec<u8>,
    from_footer: usize,
    decoded: usize,
    /// Set when a block of the record being walked stopped the aggregate; the walk's
    /// later blocks are then only validated.
    stop: Option<Stop>,
}

/// How far a slot's blocks reach: the largest `ts_max` of its blocks so far, and the
/// segment (position in visiting order) of that block.
#[derive(Clone, Copy)]
struct Reach {
    /// Largest `ts_max` so far.
    ts_max: i64,
    /// Segment of that block; `usize::MAX` before the first.
    seg: usize,
}

impl Reach {
    /// A slot without blocks yet.
    const NONE: Reach = Reach {
        ts_max: i64::MIN,
        seg: usize::MAX,
    };

    /// Whether a block of segment `seg` starting at `ts_min` overlaps a block of an
    /// earlier segment: then the plan must merge the two (archive.md §5).
    fn overlapped_by(&self, seg: usize, ts_min: i64) -> bool {
        self.seg != seg && self.seg != usize::MAX && ts_min <= self.ts_max
    }
}

/// Where the record being walked lives, to open its segment for an edge block.
struct PartView<'g, 'a> {
    g: &'g GroupView<'a>,
    d: usize,
    path: std::path::PathBuf,
    bytes: u64,
}

impl StreamAcc<'_, '_> {
    /// The accumulator slot of `channel` for the current device.
    fn slot(&mut self, channel: &str) -> usize {
        let chans = match self.slots.get_mut(self.device.as_str()) {
            Some(chans) => chans,
            None => self.slots.entry(self.device.clone()).or_default(),
        };
        match chans.get(channel) {
            Some(&slot) => slot,
            None => {
                self.windows.push(Windows::default());
                self.reach.push(Reach::NONE);
                chans.insert(channel.to_owned(), self.windows.len() - 1);
                self.windows.len() - 1
            }
        }
    }

    /// One summarised channel of the current record: merged when its whole span lies in
    /// the range and in one window, as the plan merges such a run of blocks (a subtotal
    /// from empty, then into the window); otherwise `walk` is set. Breaks with
    /// [`Stop::Fallback`] on overlapping segments, with [`Stop::Fail`] on a merge error.
    fn take_summary(&mut self, name: &str, merged: Option<Merged>) -> ControlFlow<Stop> {
        let q = self.q;
        let win = |t: i64| {
            q.every
                .map_or(i64::MIN, |e| t.div_euclid(e).saturating_mul(e))
        };
        let Some(m) = merged else {
            self.walk = true;
            return ControlFlow::Continue(());
        };
        if !q.range.overlaps(m.ts_min, m.ts_max) {
            self.done.push(name.to_owned());
            return ControlFlow::Continue(());
        }
        if !q.range.covers(m.ts_min, m.ts_max) || win(m.ts_min) != win(m.ts_max) {
            self.walk = true;
            return ControlFlow::Continue(());
        }
        let slot = self.slot(name);
        if self.reach[slot].overlapped_by(self.seg, m.ts_min) {
            return ControlFlow::Break(Stop::Fallback);
        }
        self.reach[slot] = Reach {
            ts_max: m.ts_max,
            seg: self.seg,
        };
        let w = self.windows[slot].get(win(m.ts_min), || WinAcc::new(m.vtype, false));
        if let Err(e) = w.stats.merge(&m.stats) {
            return ControlFlow::Break(Stop::Fail(e));
        }
        self.from_footer += m.blocks as usize;
        self.done.push(name.to_owned());
        ControlFlow::Continue(())
    }
}

struct SinkWith<'x, 'q, 'a, 'g, 'b>(&'x mut StreamAcc<'q, 'a>, &'x mut PartView<'g, 'b>);

impl BlockSink for SinkWith<'_, '_, '_, '_, '_> {
    fn select(&mut self, channels: &[String]) -> Vec<bool> {
        let a = &mut *self.0;
        let mut slot_of = std::mem::take(&mut a.slot_of);
        slot_of.clear();
        for c in channels {
            let wanted = a.q.channel_matches(c) && !a.done.contains(c);
            slot_of.push(wanted.then(|| a.slot(c)));
        }
        a.slot_of = slot_of;
        a.pending.resize_with(channels.len(), Subtotal::default);
        a.pending.iter_mut().for_each(Subtotal::reset);
        a.slot_of.iter().map(Option::is_some).collect()
    }

    /// Never fails: an error here would reach the caller rebased by the walk, so what
    /// stops the aggregate is kept in `stop` as it is, and the walk's remaining blocks
    /// are left alone (the walk still validates them).
    fn block(&mut self, b: &mut BlockMeta) -> Result<()> {
        if self.0.stop.is_none() {
            if let Err(stop) = self.merge(b) {
                self.0.stop = Some(stop);
            }
        }
        Ok(())
    }
}

impl SinkWith<'_, '_, '_, '_, '_> {
    fn merge(&mut self, b: &BlockMeta) -> std::result::Result<(), Stop> {
        let (a, v) = (&mut *self.0, &mut *self.1);
        let q = a.q;
        let win = |t: i64| {
            q.every
                .map_or(i64::MIN, |e| t.div_euclid(e).saturating_mul(e))
        };
        for c in &b.columns {
            let Some(slot) = a.slot_of.get(c.channel as usize).copied().flatten() else {
                continue;
            };
            let pend = &mut a.pending[c.channel as usize];
            if !q.range.overlaps(b.ts_min, b.ts_max) {
                // Not every block of the channel is in range: no subtotal.
                pend.flush(&mut a.windows[slot])?;
                continue;
            }
            // A block of another segment that this one does not follow: the plan must
            // merge the two (archive.md §5).
            if a.reach[slot].overlapped_by(a.seg, b.ts_min) {
                return Err(Stop::Fallback);
            }
            a.reach[slot] = Reach {
                ts_max: b.ts_max,
                seg: a.seg,
            };
            if q.range.covers(b.ts_min, b.ts_max) && win(b.ts_min) == win(b.ts_max) {
                a.from_footer += 1;
                if pend.offer(win(b.ts_min), c.vtype, &c.stats) {
                    continue;
                }
                pend.flush(&mut a.windows[slot])?;
                let w = a.windows[slot].get(win(b.ts_min), || WinAcc::new(c.vtype, false));
                w.stats.merge(&c.stats).map_err(|e| e.with_path(&v.path))?;
                continue;
            }
            pend.flush(&mut a.windows[slot])?;
            if a.view.is_none() {
                let Ok(p) = v.g.part(v.d) else {
                    return Err(Stop::Fallback);
                };
                a.view = Some(Segment::from_part(
                    v.path.clone(),
                    v.bytes,
                    p.footer_offset,
                    p.footer_checksum,
                    p.footer,
                ));
            }
            let seg = a.view.as_ref().expect("made above");
            let blocks = &seg.footer().blocks;
            let found = blocks
                .binary_search_by_key(&b.offset, |x| x.offset)
                .ok()
                .and_then(|bi| {
                    let col = blocks[bi]
                        .columns
                        .iter()
                        .position(|x| x.channel == c.channel)?;
                    Some((bi, col))
                });
            let Some((bi, col)) = found else {
                return Err(Stop::Fallback);
            };
            let series = decode_column(seg, bi, col, q.range, &mut a.ts, &mut a.col, &mut a.raw)?;
            a.decoded += 1;
            q.accumulate(&mut a.windows[slot], &series, false)?;
        }
        Ok(())
    }

    /// End of a record: channels whose blocks were all covered, in one window and of
    /// one type merge as one subtotal.
    fn finish(&mut self) -> Result<()> {
        let a = &mut *self.0;
        for (ch, pend) in a.pending.iter_mut().enumerate() {
            if let Some(slot) = a.slot_of.get(ch).copied().flatten() {
                pend.finish(&mut a.windows[slot])
                    .map_err(|e| e.with_path(&self.1.path))?;
            }
        }
        Ok(())
    }
}

/// Covered blocks of one (segment, device, channel) held back while they may still be
/// merged as one subtotal: when every block of the channel in the segment lies in the
/// range and in one window and all have one type, the answer merges their statistics
/// folded from empty (what an index summary holds, archive.md §9.2), otherwise each
/// block in order. Compensated f64 sums are not associative to the last bit, so every
/// path (index summary, index walk, plan over opened segments) follows this one rule
/// and the index never changes an answer.
#[derive(Default)]
struct Subtotal {
    /// Blocks are merged one by one from here on.
    direct: bool,
    win: i64,
    vtype: Option<ValueType>,
    stats: Vec<ColumnStats>,
}

impl Subtotal {
    fn reset(&mut self) {
        self.direct = false;
        self.vtype = None;
        self.stats.clear();
    }

    /// Holds a covered block's statistics; `false` if the group can no longer be one
    /// subtotal (the caller flushes and merges it directly).
    fn offer(&mut self, win: i64, vtype: ValueType, stats: &ColumnStats) -> bool {
        if self.direct {
            return false;
        }
        match self.vtype {
            None => {
                self.vtype = Some(vtype);
                self.win = win;
            }
            Some(t) if t == vtype && self.win == win => {}
            Some(_) => return false,
        }
        self.stats.push(stats.clone());
        true
    }

    /// Merges what is held block by block and stops holding.
    fn flush(&mut self, acc: &mut Windows) -> Result<()> {
        if !self.direct {
            if let Some(t) = self.vtype {
                for s in &self.stats {
                    acc.get(self.win, || WinAcc::new(t, false)).stats.merge(s)?;
                }
            }
            self.stats.clear();
            self.direct = true;
        }
        Ok(())
    }

    /// End of the group: what is held merges as one subtotal.
    fn finish(&mut self, acc: &mut Windows) -> Result<()> {
        if let (false, Some(t)) = (self.direct, self.vtype) {
            let mut sub = ColumnStats::empty();
            for s in &self.stats {
                sub.merge(s)?;
            }
            acc.get(self.win, || WinAcc::new(t, false))
                .stats
                .merge(&sub)?;
        }
        self.reset();
        Ok(())
    }
}
