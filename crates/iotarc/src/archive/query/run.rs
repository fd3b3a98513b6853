//! Running a query: raw points streamed in order, and aggregates, answered from `INDEX`
//! records when they can be and otherwise over a plan, merging footer statistics where a
//! block lies inside the range and one window and decoding the others.

use super::percentile::Narrowing;
use super::plan::{Plan, Run, Scratch};
use super::window::{Aggregated, SeriesWindows, WinAcc, Window, Windows};
use super::{Agg, AggRow, AggRowRef, Query, QueryStats};
use crate::archive::index::{self, Index};
use crate::archive::manifest::Manifest;
use crate::error::{Error, Result};
use crate::format::reader::Segment;
use crate::model::{TimeRange, Value};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::time::Instant;

/// Segments a raw query holds open at most (see [`Query::run_raw`]).
const HOLD_OPEN_MAX: usize = 1_024;

impl<'a> Query<'a> {
    /// Streams every point that matches, grouped by device, then channel, then time.
    /// `sink` returns `Ok(false)` to stop early (e.g. a closed pipe).
    ///
    /// # Errors
    /// Corrupt segments, or what `sink` returns.
    pub fn run_raw(
        &self,
        mut sink: impl FnMut(&str, &str, i64, &Value) -> Result<bool>,
    ) -> Result<QueryStats> {
        let start = Instant::now();
        // Raw output goes out as it is read and cannot be restarted, so every segment
        // is opened (and held open) while planning: a compaction that removes one later
        // cannot break the output. Beyond HOLD_OPEN_MAX segments that would exhaust file
        // descriptors, so segments with INDEX records are planned from them instead and
        // their blocks read by path; a compaction removing one of those while the query
        // runs then ends it with a not-found error, never with wrong data.
        let mut plan = self.on_snapshot(|m, ix| {
            let sel = self.select(m);
            let ix = ix.filter(|_| sel.kept.len() > HOLD_OPEN_MAX);
            self.plan_on(m, ix, sel)
        })?;
        let mut sc = Scratch::default();
        let mut blocks = Vec::new();
        let by_device = std::mem::take(&mut plan.by_device);
        let channels = std::mem::take(&mut plan.channels);
        'outer: for (device, segs) in &by_device {
            for channel in &channels[device] {
                let runs = plan.runs(device, channel, self.range, segs, &mut blocks);
                for run in runs {
                    let series = match run {
                        Run::Single(b) => plan.decode_block(&mut sc, &b, self.range)?,
                        Run::Merge(refs) => plan.merge(&mut sc, &refs, self.range)?,
                    };
                    for (i, &t) in series.timestamps.iter().enumerate() {
                        let v = series.values.get(i).unwrap_or(Value::I64(0));
                        if !sink(device, channel, t, &v)? {
                            break 'outer;
                        }
                    }
                }
            }
        }
        plan.stats.blocks_decoded += sc.decoded;
        plan.stats.elapsed = start.elapsed();
        Ok(plan.stats)
    }

    /// Runs the aggregates set with [`Query::aggregates`], one row per (device, channel,
    /// window) with at least one value, sorted by device, channel and window.
    ///
    /// # Errors
    /// Corrupt segments; a channel whose type changes inside one output row.
    pub fn run_aggregate(&self) -> Result<(Vec<AggRow>, QueryStats)> {
        let mut rows = Vec::new();
        let stats = self.run_aggregate_each(|r| {
            rows.push(r.to_owned());
            Ok(())
        })?;
        Ok((rows, stats))
    }

    /// As [`Query::run_aggregate`], handing each row to `sink` instead of collecting
    /// them: a year of hourly windows is 8,760 rows per series, which a caller that
    /// prints them need not hold. Rows are delivered only once the whole aggregate has
    /// succeeded, so an error never follows a partial result.
    ///
    /// ```
    /// # use iotarc::archive::{Agg, Archive, PackOptions, PackValue, Packer, Origin};
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("arch");
    /// # let mut p = Packer::open(&path, PackOptions::default())?;
    /// # for s in 0..7_200i64 {
    /// #     p.push("pump-1", "rpm", s * 1_000_000, PackValue::I64(1_400 + s % 7), Origin { input: 0, line: s as u64 + 2 });
    /// # }
    /// # p.commit(0)?;
    /// let arch = Archive::open(&path)?;
    /// let mut hours = Vec::new();
    /// arch.query()
    ///     .channel("rpm")
    ///     .aggregates(&[Agg::Max])
    ///     .every(3_600_000_000)
    ///     .run_aggregate_each(|row| {
    ///         hours.push((row.window, row.count));
    ///         Ok(())
    ///     })?;
    /// assert_eq!(hours, [(Some(0), 3600), (Some(3_600_000_000), 3600)]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`Query::run_aggregate`], and the first error `sink` returns (which stops the
    /// delivery).
    pub fn run_aggregate_each(
        &self,
        mut sink: impl FnMut(AggRowRef<'_>) -> Result<()>,
    ) -> Result<QueryStats> {
        let start = Instant::now();
        if let Some(e) = self.every {
            if e <= 0 {
                return Err(Error::invalid_input(format!(
                    "window length {e} us must be positive"
                )));
            }
        }
        let Aggregated { series, mut stats } =
            self.on_snapshot(|m, ix| self.aggregate_on(m, ix))?;
        let mut values = Vec::with_capacity(self.aggs.len());
        for SeriesWindows {
            device,
            channel,
            windows,
        } in series
        {
            for Window { start: w, acc: a } in windows.0 {
                if a.stats.count == 0 {
                    continue;
                }
                values.clear();
                values.extend(self.aggs.iter().map(|g| a.eval(*g)));
                sink(AggRowRef {
                    device: &device,
                    channel: &channel,
                    window: self.every.map(|_| w),
                    count: a.stats.count,
                    values: &values,
                })?;
            }
        }
        stats.elapsed = start.elapsed();
        Ok(stats)
    }
}

impl<'a> Query<'a> {
    /// The subtotal of `channel`'s blocks of `device` in `seg` when the rule of
    /// `Subtotal` (in `from_index`) merges them as one: two or more blocks, one
    /// type, all in the range and in one window. The statistics are [`index::merge_channel`]'s, as an index summary holds.
    fn subtotal(
        &self,
        seg: &Segment,
        device: &str,
        channel: &str,
    ) -> Result<Option<index::Merged>> {
        let Some(ch) = seg.channel_id(channel) else {
            return Ok(None);
        };
        let f = seg.footer();
        let blocks = seg
            .blocks_for(device, TimeRange::ALL)
            .iter()
            .map(|&i| &f.blocks[i]);
        let win = |t: i64| {
            self.every
                .map_or(i64::MIN, |e| t.div_euclid(e).saturating_mul(e))
        };
        Ok(index::merge_channel(blocks, ch)?
            .filter(|m| self.range.covers(m.ts_min, m.ts_max) && win(m.ts_min) == win(m.ts_max)))
    }

    /// The per-window accumulators of every (device, channel), in that order. Devices
    /// are aggregated in parallel; each one's series in order, so the rows and the
    /// counts are those of a serial run.
    fn aggregate_on(&self, m: &Manifest, index: Option<&Index>) -> Result<Aggregated> {
        let need_values = self.aggs.iter().any(|a| matches!(a, Agg::Percentile(_)));
        // Selected once: a walk that gives up hands the same selection to the plan.
        let sel = self.select(m);
        if let Some(ix) = index.filter(|ix| m.index.as_deref() == Some(ix.name())) {
            if !need_values {
                if let Some(done) = self.aggregate_streaming(m, ix, &sel)? {
                    return Ok(done);
                }
            }
        }
        let mut plan = self.plan_on(m, index, sel)?;
        let by_device = std::mem::take(&mut plan.by_device);
        let channels = std::mem::take(&mut plan.channels);
        let devices: Vec<(&String, &Vec<usize>)> = by_device.iter().collect();
        let per_device = |&(device, segs): &(&String, &Vec<usize>)| -> Result<_> {
            let mut sc = Scratch::default();
            let mut out = Vec::new();
            for channel in &channels[device] {
                let windows = self.aggregate_series(&plan, &mut sc, device, segs, channel)?;
                out.push(SeriesWindows {
                    device: device.clone(),
                    channel: channel.clone(),
                    windows,
                });
            }
            Ok((out, sc.decoded, sc.from_footer))
        };
        let done: Vec<(Vec<SeriesWindows>, usize, usize)> = if devices.len() > 1 {
            devices.par_iter().map(per_device).collect::<Result<_>>()?
        } else {
            devices.iter().map(per_device).collect::<Result<_>>()?
        };
        let mut series = Vec::new();
        for (s, decoded, from_footer) in done {
            series.extend(s);
            plan.stats.blocks_decoded += decoded;
            plan.stats.blocks_from_footer += from_footer;
        }
        Ok(Aggregated {
            series,
            stats: plan.stats,
        })
    }

    /// The window start of timestamp `t`.
    fn window_of(&self, t: i64) -> i64 {
        self.every
            .map_or(i64::MIN, |e| t.div_euclid(e).saturating_mul(e))
    }

    /// The per-window accumulators of one (device, channel), percentiles resolved.
    fn aggregate_series(
        &self,
        plan: &Plan,
        sc: &mut Scratch,
        device: &str,
        segs: &[usize],
        channel: &str,
    ) -> Result<Windows> {
        let percentiles: Vec<f64> = self
            .aggs
            .iter()
            .filter_map(|a| match a {
                Agg::Percentile(p) => Some(*p),
                _ => None,
            })
            .collect();
        let need_values = !percentiles.is_empty();
        // Values held for exact percentiles, at most: each costs 8 bytes held and 8 more
        // while selected, and every thread holds one series.
        let threads = rayon::current_num_threads().max(1) as u64;
        let budget = self.memory_limit / 2 / threads;
        let max_held = (budget / 16) as usize;
        let mut held = 0usize;
        let mut spilled = false;
        let mut acc = Windows::default();
        let mut blocks = Vec::new();
        let runs = plan.runs(device, channel, self.range, segs, &mut blocks);
        let mut span: BTreeMap<usize, SingleRuns> = BTreeMap::new();
        for (i, r) in runs.iter().enumerate() {
            if let Run::Single(b) = r {
                let e = span.entry(b.seg).or_insert(SingleRuns {
                    first: i,
                    last: i,
                    count: 0,
                });
                e.last = i;
                e.count += 1;
            }
        }
        let mut skip_to = 0;
        for (i, run) in runs.iter().enumerate() {
            if i < skip_to {
                continue;
            }
            if let (Run::Single(b), false) = (run, need_values) {
                let SingleRuns {
                    first,
                    last,
                    count: n,
                } = span[&b.seg];
                if i == first {
                    if let Some(m) = self.subtotal(&plan.segments[b.seg], device, channel)? {
                        let whole = m.blocks as usize == n && last + 1 - first == n;
                        if whole {
                            let a =
                                acc.get(self.window_of(m.ts_min), || WinAcc::new(m.vtype, false));
                            a.stats
                                .merge(&m.stats)
                                .map_err(plan.segments[b.seg].ctx(b.block))?;
                            sc.from_footer += n;
                            skip_to = last + 1;
                            continue;
                        }
                    }
                }
            }
            let series = match run {
                Run::Merge(refs) => plan.merge(sc, refs, self.range)?,
                Run::Single(b) => {
                    let seg = &plan.segments[b.seg];
                    let meta = &seg.footer().blocks[b.block];
                    let cm = &meta.columns[b.col];
                    if !need_values
                        && self.range.covers(meta.ts_min, meta.ts_max)
                        && self.window_of(meta.ts_min) == self.window_of(meta.ts_max)
                    {
                        let a =
                            acc.get(self.window_of(meta.ts_min), || WinAcc::new(cm.vtype, false));
                        a.stats.merge(&cm.stats).map_err(seg.ctx(b.block))?;
                        sc.from_footer += 1;
                        continue;
                    }
                    plan.decode_block(sc, b, self.range)?
                }
            };
            self.accumulate(&mut acc, &series, need_values && !spilled)?;
            if need_values && !self.approx && !spilled {
                held += series.timestamps.len();
                if held > max_held {
                    spilled = true;
                    acc.0.iter_mut().for_each(|w| w.acc.pct.drop_values());
                }
            }
        }
        if need_values && !self.approx {
            if spilled {
                self.narrow(plan, sc, &runs, &mut acc, &percentiles, budget)?;
            } else {
                acc.0
                    .iter_mut()
                    .for_each(|w| w.acc.pct.resolve(&percentiles));
            }
        }
        Ok(acc)
    }

    /// Exact percentiles of a series whose values did not fit: narrowing passes over
    /// its runs (see `percentile`), skipping single blocks whose footer min/max lie
    /// outside every interval still open.
    fn narrow(
        &self,
        plan: &Plan,
        sc: &mut Scratch,
        runs: &[Run],
        acc: &mut Windows,
        percentiles: &[f64],
        budget: u64,
    ) -> Result<()> {
        let mut nw = Narrowing::new(
            acc.0.iter().map(|w| (w.start, &w.acc.stats)),
            percentiles,
            budget,
        );
        while !nw.finished() {
            nw.begin_pass();
            for run in runs {
                let series = match run {
                    Run::Merge(refs) => plan.merge(sc, refs, self.range)?,
                    Run::Single(b) => {
                        let seg = &plan.segments[b.seg];
                        let cm = &seg.footer().blocks[b.block].columns[b.col];
                        if !nw.wanted(&cm.stats) {
                            continue;
                        }
                        plan.decode_block(sc, b, self.range)?
                    }
                };
                let ts = &series.timestamps;
                let mut r = 0;
                while r < ts.len() {
                    let w = self.window_of(ts[r]);
                    let e = match self.every {
                        None => ts.len(),
                        Some(len) => r + ts[r..].partition_point(|&t| t < w.saturating_add(len)),
                    };
                    nw.feed(w, &series.values, r, e);
                    r = e;
                }
            }
            nw.end_pass();
        }
        for w in &mut acc.0 {
            w.acc.pct.resolve_from(nw.answers(w.start));
        }
        Ok(())
    }
}

/// The `Single` runs of one segment among a channel's runs: where its first and last
/// are, and how many there are (all of them consecutive when `last + 1 - first` is
/// `count`).
#[derive(Clone, Copy)]
struct SingleRuns {
    /// Position of the first.
    first: usize,
    /// Position of the last.
    last: usize,
    /// How many.
    count: usize,
}
