//! Queries over an archive: filters by device and channel patterns and a time range, raw
//! points or aggregates (optionally per epoch-aligned window).
//!
//! Pruning uses the manifest alone (partition window, time range, device set); only the
//! surviving segments are opened. Aggregates merge footer statistics of every block that
//! lies inside the range and inside one output window, and decode only the others.
//! Percentiles need the values themselves, so they decode every block in range.

use super::glob::Glob;
use super::index::Index;
use super::manifest::{Dedup, Manifest};
use super::sketch::{self, Sketch};
use super::Archive;
use crate::error::{Error, Result};
use crate::format::block::ColumnBuf;
use crate::format::footer::{BlockMeta, BlockSink};
use crate::format::reader::{append_rows, rows_in_range, Segment, Series};
use crate::format::stats::ColumnStats;
use crate::model::{TimeRange, Value, ValueType, Values};
use rayon::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// Average segment size from which a query opens its segments in parallel.
const PARALLEL_OPEN_BYTES: u64 = 1 << 20;

/// An aggregate function.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Agg {
    /// Present values.
    Count,
    /// Minimum (IEEE totalOrder for f64: NaN sorts above +inf).
    Min,
    /// Maximum.
    Max,
    /// Sum (exact for i64 while it fits; compensated for f64).
    Sum,
    /// Mean.
    Avg,
    /// Sample standard deviation (n - 1 in the denominator, as in SQL's `stddev`).
    Stddev,
    /// Value with the smallest timestamp.
    First,
    /// Value with the largest timestamp.
    Last,
    /// Percentile in [0, 100], nearest-rank: the value of rank `ceil(p/100 * n)`.
    Percentile(f64),
}

impl Agg {
    /// Parses `count`, `min`, `max`, `sum`, `avg`/`mean`, `stddev`, `first`, `last` or
    /// `pNN` (e.g. `p50`, `p99.9`).
    pub fn parse(s: &str) -> Option<Agg> {
        Some(match s {
            "count" => Agg::Count,
            "min" => Agg::Min,
            "max" => Agg::Max,
            "sum" => Agg::Sum,
            "avg" | "mean" => Agg::Avg,
            "stddev" => Agg::Stddev,
            "first" => Agg::First,
            "last" => Agg::Last,
            _ => {
                let p: f64 = s.strip_prefix('p')?.parse().ok()?;
                if !(0.0..=100.0).contains(&p) {
                    return None;
                }
                Agg::Percentile(p)
            }
        })
    }

    /// The name used in output headers.
    pub fn name(&self) -> String {
        match self {
            Agg::Count => "count".into(),
            Agg::Min => "min".into(),
            Agg::Max => "max".into(),
            Agg::Sum => "sum".into(),
            Agg::Avg => "avg".into(),
            Agg::Stddev => "stddev".into(),
            Agg::First => "first".into(),
            Agg::Last => "last".into(),
            Agg::Percentile(p) => format!("p{p}"),
        }
    }
}

/// One output row of an aggregate query.
#[derive(Clone, Debug, PartialEq)]
pub struct AggRow {
    /// Device name.
    pub device: String,
    /// Channel name.
    pub channel: String,
    /// Window start with `every`, else `None`.
    pub window: Option<i64>,
    /// Present values aggregated.
    pub count: u64,
    /// One value per requested aggregate, `None` where undefined (e.g. the sum of
    /// strings, the stddev of one value).
    pub values: Vec<Option<Value>>,
}

/// One output row of an aggregate query, borrowed (see [`Query::run_aggregate_each`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AggRowRef<'r> {
    /// Device name.
    pub device: &'r str,
    /// Channel name.
    pub channel: &'r str,
    /// Window start with `every`, else `None`.
    pub window: Option<i64>,
    /// Present values aggregated.
    pub count: u64,
    /// One value per requested aggregate, as in [`AggRow::values`].
    pub values: &'r [Option<Value>],
}

impl AggRowRef<'_> {
    /// The row as an owned [`AggRow`].
    pub fn to_owned(&self) -> AggRow {
        AggRow {
            device: self.device.to_owned(),
            channel: self.channel.to_owned(),
            window: self.window,
            count: self.count,
            values: self.values.to_vec(),
        }
    }
}

/// A (device, channel) and its per-window accumulators.
type Series3 = (String, String, Windows);

/// What a query did, for `--explain`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct QueryStats {
    /// Partitions in the manifest.
    pub partitions_total: usize,
    /// Partitions skipped using the manifest alone.
    pub partitions_pruned: usize,
    /// Segments in the manifest.
    pub segments_total: usize,
    /// Segments opened.
    pub segments_opened: usize,
    /// Segments planned from `INDEX` records without being opened (archive.md §9); one
    /// is opened later only if one of its blocks must be decoded.
    pub segments_from_index: usize,
    /// Blocks answered from footer statistics.
    pub blocks_from_footer: usize,
    /// Blocks decoded.
    pub blocks_decoded: usize,
    /// Devices that matched the filters.
    pub devices_matched: usize,
    /// Device patterns that matched no device.
    pub unmatched_devices: Vec<String>,
    /// Wall time.
    pub elapsed: Duration,
}

/// A query under construction; see [`Archive::query`].
#[derive(Clone)]
pub struct Query<'a> {
    archive: &'a Archive,
    devices: Vec<Glob>,
    channels: Vec<Glob>,
    range: TimeRange,
    aggs: Vec<Agg>,
    every: Option<i64>,
    approx: bool,
}

struct Plan {
    segments: Vec<Segment>,
    /// device -> indices into `segments`, in (partition, seq) order.
    by_device: BTreeMap<String, Vec<usize>>,
    /// device -> channels (sorted) to visit.
    channels: BTreeMap<String, Vec<String>>,
    /// segment index -> arrival-order seq.
    seq_of: Vec<u64>,
    dedup: Dedup,
    stats: QueryStats,
    /// Decode buffers, reused across blocks.
    ts: Vec<i64>,
    col: ColumnBuf,
}

/// The segments a query must read, pruned from the manifest alone.
struct Selection {
    /// Indices into the manifest's segments.
    kept: Vec<usize>,
    /// Per kept segment, the indices of its devices that match.
    matched: Vec<Vec<usize>>,
    stats: QueryStats,
}

/// A block holding the queried channel for the queried device.
#[derive(Clone, Copy)]
struct BlockRef {
    seg: usize,
    block: usize,
    /// Index of the channel's column within the block.
    col: usize,
    ts_min: i64,
    ts_max: i64,
}

/// A maximal group of blocks whose time intervals overlap (archive.md §5).
enum Run {
    /// Blocks of one segment: footers are exact for them.
    Single(BlockRef),
    /// Blocks of two or more segments: decoded and deduplicated together.
    Merge(Vec<BlockRef>),
}

/// Values kept for percentiles. Boxed sketch: every window of an hourly query holds
/// one of these, and most hold `None`.
enum PctStore {
    F64(Vec<f64>),
    I64(Vec<i64>),
    Sketch(Box<Sketch>),
    None,
}

struct WinAcc {
    stats: ColumnStats,
    pct: PctStore,
}

impl<'a> Query<'a> {
    pub(crate) fn new(archive: &'a Archive) -> Query<'a> {
        Query {
            archive,
            devices: Vec::new(),
            channels: Vec::new(),
            range: TimeRange::ALL,
            aggs: Vec::new(),
            every: None,
            approx: false,
        }
    }

    /// Adds a device pattern (repeatable; none means every device).
    pub fn device(mut self, pattern: &str) -> Self {
        self.devices.push(Glob::new(pattern));
        self
    }

    /// Adds a channel pattern (repeatable; none means every channel).
    pub fn channel(mut self, pattern: &str) -> Self {
        self.channels.push(Glob::new(pattern));
        self
    }

    /// Keeps timestamps `>= from`.
    pub fn from(mut self, from: i64) -> Self {
        self.range.from = from;
        self
    }

    /// Keeps timestamps `< to`.
    pub fn to(mut self, to: i64) -> Self {
        self.range.to = to;
        self
    }

    /// Sets the aggregates of [`Query::run_aggregate`].
    pub fn aggregates(mut self, aggs: &[Agg]) -> Self {
        self.aggs = aggs.to_vec();
        self
    }

    /// Aggregates per window of `every_us` microseconds, aligned to the Unix epoch.
    pub fn every(mut self, every_us: i64) -> Self {
        self.every = Some(every_us);
        self
    }

    /// Answers percentiles from DDSketches with relative error
    /// [`sketch::RELATIVE_ERROR`] instead of exactly.
    pub fn approx(mut self, approx: bool) -> Self {
        self.approx = approx;
        self
    }

    fn channel_matches(&self, c: &str) -> bool {
        self.channels.is_empty() || self.channels.iter().any(|g| g.matches(c))
    }

    /// Runs `f` against the archive's manifest, restarting on a newer one when a listed
    /// segment has meanwhile been removed by compaction (archive.md §8).
    fn on_snapshot<T>(&self, f: impl FnMut(&Manifest, Option<&Index>) -> Result<T>) -> Result<T> {
        self.archive.on_snapshot(f)
    }

    /// Prunes `m` to the segments that may hold matching points: partition and time
    /// range from the manifest, then the devices of each segment that match, for
    /// segments that have a matching channel.
    fn select(&self, m: &Manifest) -> Selection {
        let unit = m.partition;
        let mut stats = QueryStats {
            segments_total: m.segments.len(),
            ..Default::default()
        };
        let all_partitions: BTreeSet<i64> = m.segments.iter().map(|s| s.partition).collect();
        stats.partitions_total = all_partitions.len();
        let mut kept = Vec::new();
        // Per kept segment, the indices of its devices that match.
        let mut matched: Vec<Vec<usize>> = Vec::new();
        let mut matched_patterns = vec![false; self.devices.len()];
        let literals: Option<Vec<String>> = self
            .devices
            .iter()
            .map(|g| g.is_literal().then(|| g.as_str()))
            .collect();
        for (i, s) in m.segments.iter().enumerate() {
            let pend = unit.window_end(s.partition);
            if !self.range.overlaps(s.partition, pend.saturating_sub(1))
                || !self.range.overlaps(s.min_ts, s.max_ts)
            {
                continue;
            }
            let mut hits = Vec::new();
            match &literals {
                // Exact names: binary search in the segment's sorted device list rather
                // than a comparison with each of its (possibly thousands of) devices.
                Some(names) if !names.is_empty() => {
                    for (k, name) in names.iter().enumerate() {
                        if let Ok(d) = s.devices.binary_search(name) {
                            matched_patterns[k] = true;
                            hits.push(d);
                        }
                    }
                    hits.sort_unstable();
                    hits.dedup();
                }
                _ => {
                    for (d, name) in s.devices.iter().enumerate() {
                        let mut hit = self.devices.is_empty();
                        for (k, g) in self.devices.iter().enumerate() {
                            if g.matches(name) {
                                matched_patterns[k] = true;
                                hit = true;
                            }
                        }
                        if hit {
                            hits.push(d);
                        }
                    }
                }
            }
            // Devices count as matched (for the "no such device" note) even where the
            // segment lacks the channel.
            if !hits.is_empty() && s.channels.iter().any(|c| self.channel_matches(&c.name)) {
                kept.push(i);
                matched.push(hits);
            }
        }
        stats.unmatched_devices = self
            .devices
            .iter()
            .zip(&matched_patterns)
            .filter(|(_, &hit)| !hit)
            .map(|(g, _)| g.as_str())
            .collect();
        let live: BTreeSet<i64> = kept.iter().map(|&i| m.segments[i].partition).collect();
        stats.partitions_pruned = stats.partitions_total - live.len();
        Selection {
            kept,
            matched,
            stats,
        }
    }

    /// Plans against `m`. With an `index`, segments may be planned from its groups
    /// and opened only when a block is decoded, so a caller must be able to restart
    /// after a compaction removes one (aggregates can; raw output already sent cannot).
    fn plan_on(&self, m: &Manifest, index: Option<&Index>, sel: Selection) -> Result<Plan> {
        let Selection {
            kept,
            matched,
            mut stats,
        } = sel;
        // Segments whose matched devices all have INDEX records are planned from those
        // records without opening a file (archive.md §9); the others are opened.
        let mut parts: Vec<Option<Vec<(String, Segment)>>> =
            (0..kept.len()).map(|_| None).collect();
        if let Some(ix) = index.filter(|ix| m.index.as_deref() == Some(ix.name())) {
            for (k, &i) in kept.iter().enumerate() {
                let e = &m.segments[i];
                // A group that fails its checksums or rules is not used: the segment is
                // then opened and checked itself (`verify` reports the group).
                if let Ok(Some(list)) = ix.parts(e, &matched[k]) {
                    let path = self.archive.dir().join(&e.path);
                    let views = matched[k].iter().zip(list).map(|(&d, p)| {
                        let seg = Segment::from_part(
                            path.clone(),
                            e.bytes,
                            p.footer_offset,
                            p.footer_checksum,
                            p.footer,
                        );
                        (e.devices[d].clone(), seg)
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
                    for (d, seg) in list {
                        add(&d, segments.len());
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
            ts: Vec::new(),
            col: ColumnBuf::default(),
        })
    }

    /// Adds a decoded, time-sorted series to the per-window accumulators.
    fn accumulate(&self, acc: &mut Windows, s: &Series, need_values: bool) -> Result<()> {
        let t = s.values.value_type();
        let n = s.timestamps.len();
        let mut r = 0;
        while r < n {
            let w = self.every.map_or(i64::MIN, |e| {
                s.timestamps[r].div_euclid(e).saturating_mul(e)
            });
            let e = match self.every {
                None => n,
                Some(len) => r + s.timestamps[r..].partition_point(|&t| t < w.saturating_add(len)),
            };
            let part = if (r, e) == (0, n) {
                std::borrow::Cow::Borrowed(&s.values)
            } else {
                std::borrow::Cow::Owned(slice_values(&s.values, r, e))
            };
            let wa = acc.get(w, || WinAcc::new(t, need_values && self.approx));
            wa.stats
                .merge(&ColumnStats::compute(&part, &s.timestamps[r..e]))?;
            if need_values {
                wa.push_values(&part);
            }
            r = e;
        }
        Ok(())
    }

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
        // is opened (and held open) while planning.
        let mut plan = self.on_snapshot(|m, _| self.plan_on(m, None, self.select(m)))?;
        let mut blocks = Vec::new();
        let by_device = std::mem::take(&mut plan.by_device);
        let channels = std::mem::take(&mut plan.channels);
        'outer: for (device, segs) in &by_device {
            for channel in &channels[device] {
                let runs = plan.runs(device, channel, self.range, segs, &mut blocks);
                for run in runs {
                    let series = match run {
                        Run::Single(b) => plan.decode_block(&b, self.range)?,
                        Run::Merge(refs) => plan.merge(&refs, self.range)?,
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
        let (series, mut stats) = self.on_snapshot(|m, ix| self.aggregate_on(m, ix))?;
        let mut values = Vec::with_capacity(self.aggs.len());
        for (device, channel, acc) in series {
            for (w, a) in acc.0 {
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
    fn aggregate_streaming(
        &self,
        m: &Manifest,
        ix: &Index,
        sel: &Selection,
    ) -> Result<Option<(Vec<Series3>, QueryStats)>> {
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
            from_footer: 0,
            decoded: 0,
            failed: None,
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
                let walk = match (r, acc.failed.take()) {
                    (_, Some(Failed::Sink(err))) => {
                        return Err(err.with_path(self.archive.dir().join(&e.path)))
                    }
                    (Err(_), _) | (_, Some(Failed::Fallback)) => return Ok(None),
                    (Ok(false), None) => true,
                    (Ok(true), None) => acc.walk,
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
                let r = g.scan(d, &mut buf, &mut sink).and_then(|()| sink.finish());
                match (r, acc.failed.take()) {
                    (_, Some(Failed::Sink(err))) => return Err(err),
                    (Err(_), _) | (_, Some(Failed::Fallback)) => return Ok(None),
                    (Ok(()), None) => {}
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
                    series.push((device.clone(), channel, w));
                }
            }
        }
        Ok(Some((series, stats)))
    }

    /// The subtotal of `channel`'s blocks of `device` in `seg` when the [`Pending`] rule
    /// merges them as one: two or more blocks, one type, all in the range and in one
    /// window. The statistics are [`index::merge_channel`]'s, as an index summary holds.
    fn subtotal(
        &self,
        seg: &Segment,
        device: &str,
        channel: &str,
    ) -> Result<Option<super::index::Merged>> {
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
        Ok(super::index::merge_channel(blocks, ch)?
            .filter(|m| self.range.covers(m.ts_min, m.ts_max) && win(m.ts_min) == win(m.ts_max)))
    }

    /// The per-window accumulators of every (device, channel), in that order.
    fn aggregate_on(
        &self,
        m: &Manifest,
        index: Option<&Index>,
    ) -> Result<(Vec<Series3>, QueryStats)> {
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
        let mut series = Vec::new();
        let win = |t: i64| {
            self.every
                .map_or(i64::MIN, |e| t.div_euclid(e).saturating_mul(e))
        };
        let mut blocks = Vec::new();
        let by_device = std::mem::take(&mut plan.by_device);
        let channels = std::mem::take(&mut plan.channels);
        for (device, segs) in &by_device {
            for channel in &channels[device] {
                let mut acc = Windows::default();
                let runs = plan.runs(device, channel, self.range, segs, &mut blocks);
                // Per segment with Single runs: its first and last run and their count.
                let mut span: BTreeMap<usize, (usize, usize, usize)> = BTreeMap::new();
                for (i, r) in runs.iter().enumerate() {
                    if let Run::Single(b) = r {
                        let e = span.entry(b.seg).or_insert((i, i, 0));
                        e.1 = i;
                        e.2 += 1;
                    }
                }
                let mut skip_to = 0;
                for (i, run) in runs.into_iter().enumerate() {
                    if i < skip_to {
                        continue;
                    }
                    if let (Run::Single(b), false) = (&run, need_values) {
                        let (first, last, n) = span[&b.seg];
                        if i == first {
                            if let Some(m) =
                                self.subtotal(&plan.segments[b.seg], device, channel)?
                            {
                                let whole = m.blocks as usize == n && last + 1 - first == n;
                                if whole {
                                    let a = acc.get(win(m.ts_min), || WinAcc::new(m.vtype, false));
                                    a.stats
                                        .merge(&m.stats)
                                        .map_err(plan.segments[b.seg].ctx(b.block))?;
                                    plan.stats.blocks_from_footer += n;
                                    skip_to = last + 1;
                                    continue;
                                }
                            }
                        }
                    }
                    let series = match run {
                        Run::Merge(refs) => plan.merge(&refs, self.range)?,
                        Run::Single(b) => {
                            let seg = &plan.segments[b.seg];
                            let meta = &seg.footer().blocks[b.block];
                            let cm = &meta.columns[b.col];
                            if !need_values
                                && self.range.covers(meta.ts_min, meta.ts_max)
                                && win(meta.ts_min) == win(meta.ts_max)
                            {
                                let a = acc.get(win(meta.ts_min), || WinAcc::new(cm.vtype, false));
                                a.stats.merge(&cm.stats).map_err(seg.ctx(b.block))?;
                                plan.stats.blocks_from_footer += 1;
                                continue;
                            }
                            plan.decode_block(&b, self.range)?
                        }
                    };
                    self.accumulate(&mut acc, &series, need_values)?;
                }
                series.push((device.clone(), channel.clone(), acc));
            }
        }
        Ok((series, plan.stats))
    }
}

impl Plan {
    /// The blocks of `segs` holding `channel` for `device` in `range`, grouped into runs
    /// in time order (archive.md §5). `blocks` is scratch space.
    fn runs(
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
    fn decode_block(&mut self, b: &BlockRef, range: TimeRange) -> Result<Series> {
        let s = decode_column(
            &self.segments[b.seg],
            b.block,
            b.col,
            range,
            &mut self.ts,
            &mut self.col,
        )?;
        self.stats.blocks_decoded += 1;
        Ok(s)
    }

    /// Decodes a run of overlapping blocks from several segments and returns the points
    /// in `range` that survive the dedup policy, sorted by time.
    ///
    /// # Errors
    /// Corrupt blocks; a channel whose type differs between the blocks.
    fn merge(&mut self, refs: &[BlockRef], range: TimeRange) -> Result<Series> {
        let mut parts = Vec::with_capacity(refs.len());
        for b in refs {
            let s = self.decode_block(b, range)?;
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
        // (timestamp, seq, part, index): the sort puts copies of one timestamp in arrival
        // order, so "last" is the end of each group and "first" its start.
        let mut order: Vec<(i64, u64, usize, usize)> = parts
            .iter()
            .enumerate()
            .flat_map(|(p, (seq, s))| {
                s.timestamps
                    .iter()
                    .enumerate()
                    .map(move |(i, &t)| (t, *seq, p, i))
            })
            .collect();
        order.sort_unstable();
        let mut out = Series::new(t);
        let mut k = 0;
        while k < order.len() {
            let t0 = order[k].0;
            let e = k + order[k..].partition_point(|x| x.0 == t0);
            let pick = match self.dedup {
                Dedup::Last => e - 1..e,
                Dedup::First => k..k + 1,
                Dedup::KeepAll => k..e,
            };
            for &(t, _, p, i) in &order[pick] {
                out.timestamps.push(t);
                push_value(&mut out.values, &parts[p].1.values, i);
            }
            k = e;
        }
        Ok(out)
    }
}

/// Why [`Query::aggregate_streaming`]'s walk stopped early.
enum Failed {
    /// The index cannot answer alone, or runs overlap: the caller plans instead.
    Fallback,
    /// A real error, reported as is.
    Sink(Error),
}

/// Accumulators of [`Query::aggregate_streaming`].
struct StreamAcc<'q, 'a> {
    q: &'q Query<'a>,
    /// device -> channel -> index into `windows`.
    slots: BTreeMap<String, BTreeMap<String, usize>>,
    windows: Vec<Windows>,
    /// Per slot: the largest `ts_max` of its blocks so far, and the segment (position
    /// in visiting order) of that block.
    reach: Vec<(i64, usize)>,
    /// The segment being walked (position in visiting order).
    seg: usize,
    /// For the record being walked: its channel index -> slot, if the channel matches.
    slot_of: Vec<Option<usize>>,
    /// Channels of the record being walked that its summary answered.
    done: Vec<String>,
    /// Whether a matching channel of the record being walked needs its blocks.
    walk: bool,
    /// Per channel of the record being walked: its held covered blocks.
    pending: Vec<Pending>,
    /// Device of the record being walked.
    device: String,
    /// The record's segment, made on its first edge block.
    view: Option<Segment>,
    ts: Vec<i64>,
    col: ColumnBuf,
    from_footer: usize,
    decoded: usize,
    failed: Option<Failed>,
}

/// Where the record being walked lives, to open its segment for an edge block.
struct PartView<'g, 'a> {
    g: &'g super::index::GroupView<'a>,
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
                self.reach.push((i64::MIN, usize::MAX));
                chans.insert(channel.to_owned(), self.windows.len() - 1);
                self.windows.len() - 1
            }
        }
    }

    /// One summarised channel of the current record: merged when its whole span lies in
    /// the range and in one window, as the plan merges such a run of blocks (a subtotal
    /// from empty, then into the window); otherwise `walk` is set. Overlapping segments
    /// set `failed` to fall back to the plan; a merge error is kept in `failed`.
    fn take_summary(&mut self, name: &str, merged: Option<super::index::Merged>) -> Result<()> {
        let q = self.q;
        let win = |t: i64| {
            q.every
                .map_or(i64::MIN, |e| t.div_euclid(e).saturating_mul(e))
        };
        let Some(m) = merged else {
            self.walk = true;
            return Ok(());
        };
        if !q.range.overlaps(m.ts_min, m.ts_max) {
            self.done.push(name.to_owned());
            return Ok(());
        }
        if !q.range.covers(m.ts_min, m.ts_max) || win(m.ts_min) != win(m.ts_max) {
            self.walk = true;
            return Ok(());
        }
        let slot = self.slot(name);
        let (reach, from) = self.reach[slot];
        if from != self.seg && from != usize::MAX && m.ts_min <= reach {
            self.failed = Some(Failed::Fallback);
            return Err(Error::invalid_input("overlapping segments"));
        }
        self.reach[slot] = (m.ts_max, self.seg);
        let w = self.windows[slot].get(win(m.ts_min), || WinAcc::new(m.vtype, false));
        if let Err(e) = w.stats.merge(&m.stats) {
            self.failed = Some(Failed::Sink(e));
            return Err(Error::invalid_input("aggregate stopped"));
        }
        self.from_footer += m.blocks as usize;
        self.done.push(name.to_owned());
        Ok(())
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
        a.pending.resize_with(channels.len(), Pending::default);
        a.pending.iter_mut().for_each(Pending::reset);
        a.slot_of.iter().map(Option::is_some).collect()
    }

    fn block(&mut self, b: &mut BlockMeta) -> Result<()> {
        let r = self.merge(b);
        if let Err(e) = r {
            // Remember what stopped the walk; the error the walk returns is a stand-in.
            if self.0.failed.is_none() {
                self.0.failed = Some(Failed::Sink(e));
            }
            return Err(Error::invalid_input("aggregate stopped"));
        }
        Ok(())
    }
}

impl SinkWith<'_, '_, '_, '_, '_> {
    fn merge(&mut self, b: &BlockMeta) -> Result<()> {
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
            let (reach, from) = a.reach[slot];
            if from != a.seg && from != usize::MAX && b.ts_min <= reach {
                a.failed = Some(Failed::Fallback);
                return Err(Error::invalid_input("overlapping segments"));
            }
            a.reach[slot] = (b.ts_max, a.seg);
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
                    a.failed = Some(Failed::Fallback);
                    return Err(Error::invalid_input("index part"));
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
                a.failed = Some(Failed::Fallback);
                return Err(Error::invalid_input("index part"));
            };
            let series = decode_column(seg, bi, col, q.range, &mut a.ts, &mut a.col)?;
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
struct Pending {
    /// Blocks are merged one by one from here on.
    direct: bool,
    win: i64,
    vtype: Option<ValueType>,
    stats: Vec<ColumnStats>,
}

impl Pending {
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

/// Decodes column `col` of block `block` of `seg` and returns its present values in
/// `range`. `ts` and `buf` are decode buffers.
fn decode_column(
    seg: &Segment,
    block: usize,
    col: usize,
    range: TimeRange,
    ts: &mut Vec<i64>,
    buf: &mut ColumnBuf,
) -> Result<Series> {
    let b = seg.block(block)?;
    b.timestamps(ts).map_err(seg.ctx(block))?;
    b.column(col, buf).map_err(seg.ctx(block))?;
    let (lo, hi) = rows_in_range(ts, range);
    let mut s = Series::new(buf.values.value_type());
    append_rows(ts, buf, lo, hi, &mut s).map_err(seg.ctx(block))?;
    Ok(s)
}

/// Appends `src[i]` to `dst`, which has the same type (checked by the caller).
fn push_value(dst: &mut Values, src: &Values, i: usize) {
    match (dst, src) {
        (Values::F64(d), Values::F64(s)) => d.push(s[i]),
        (Values::I64(d), Values::I64(s)) => d.push(s[i]),
        (Values::Bool(d), Values::Bool(s)) => d.push(s[i]),
        (Values::Str(d), Values::Str(s)) => d.push(s.get(i).unwrap_or("")),
        _ => {}
    }
}

/// `v[a..b]` as owned values.
fn slice_values(v: &Values, a: usize, b: usize) -> Values {
    let mut out = Values::empty(v.value_type());
    for i in a..b {
        push_value(&mut out, v, i);
    }
    out
}

/// Per-window accumulators in window order. Blocks arrive in time order (segments sorted
/// by partition, blocks by time), so almost every lookup hits the last window or appends;
/// only overlapping segments of one partition insert in the middle.
#[derive(Default)]
struct Windows(Vec<(i64, WinAcc)>);

impl Windows {
    fn get(&mut self, w: i64, make: impl FnOnce() -> WinAcc) -> &mut WinAcc {
        let v = &mut self.0;
        let i = match v.last() {
            Some((last, _)) if *last == w => v.len() - 1,
            Some((last, _)) if *last > w => match v.binary_search_by_key(&w, |e| e.0) {
                Ok(i) => i,
                Err(i) => {
                    v.insert(i, (w, make()));
                    i
                }
            },
            _ => {
                v.push((w, make()));
                v.len() - 1
            }
        };
        &mut v[i].1
    }
}

impl WinAcc {
    fn new(t: ValueType, sketch: bool) -> WinAcc {
        let pct = match (t, sketch) {
            (ValueType::F64 | ValueType::I64, true) => PctStore::Sketch(Box::default()),
            (ValueType::F64, false) => PctStore::F64(Vec::new()),
            (ValueType::I64, false) => PctStore::I64(Vec::new()),
            _ => PctStore::None,
        };
        WinAcc {
            stats: ColumnStats::empty(),
            pct,
        }
    }

    fn push_values(&mut self, v: &Values) {
        // A channel with integers in one place and floats in another is aggregated as
        // floats, as ColumnStats::merge does.
        if let (PctStore::I64(d), Values::F64(_)) = (&self.pct, v) {
            self.pct = PctStore::F64(d.iter().map(|&x| x as f64).collect());
        }
        if let (PctStore::F64(d), Values::I64(s)) = (&mut self.pct, v) {
            d.extend(s.iter().map(|&x| x as f64));
            return;
        }
        match (&mut self.pct, v) {
            (PctStore::F64(d), Values::F64(s)) => d.extend_from_slice(s),
            (PctStore::I64(d), Values::I64(s)) => d.extend_from_slice(s),
            (PctStore::Sketch(sk), Values::F64(s)) => s.iter().for_each(|&x| sk.add(x)),
            (PctStore::Sketch(sk), Values::I64(s)) => s.iter().for_each(|&x| sk.add(x as f64)),
            _ => {}
        }
    }

    fn eval(&self, g: Agg) -> Option<Value> {
        let s = &self.stats;
        match g {
            Agg::Count => Some(Value::I64(s.count as i64)),
            Agg::Min => s.min(),
            Agg::Max => s.max(),
            Agg::Sum => match s.value_type()? {
                ValueType::I64 => {
                    let x = s.sum_i128()?;
                    Some(i64::try_from(x).map_or(Value::F64(x as f64), Value::I64))
                }
                ValueType::Bool => s.sum().map(|x| Value::I64(x as i64)),
                ValueType::F64 => s.sum().map(Value::F64),
                ValueType::Str => None,
            },
            Agg::Avg => s.mean().map(Value::F64),
            Agg::Stddev => {
                if s.count < 2 {
                    return None;
                }
                let n = s.count as f64;
                s.stddev()
                    .map(|p| Value::F64((p * p * n / (n - 1.0)).sqrt()))
            }
            Agg::First => s.first().map(|x| x.1),
            Agg::Last => s.last().map(|x| x.1),
            Agg::Percentile(p) => {
                let rank =
                    |n: usize| ((p / 100.0 * n as f64).ceil() as usize).clamp(1, n.max(1)) - 1;
                match &self.pct {
                    PctStore::F64(v) if !v.is_empty() => {
                        let mut v = v.clone();
                        let k = rank(v.len());
                        Some(Value::F64(*v.select_nth_unstable_by(k, f64::total_cmp).1))
                    }
                    PctStore::I64(v) if !v.is_empty() => {
                        let mut v = v.clone();
                        let k = rank(v.len());
                        Some(Value::I64(*v.select_nth_unstable(k).1))
                    }
                    PctStore::Sketch(sk) => sk.quantile(p / 100.0).map(Value::F64),
                    _ => None,
                }
            }
        }
    }
}

/// Relative error bound of `approx` percentiles.
pub const APPROX_RELATIVE_ERROR: f64 = sketch::RELATIVE_ERROR;
