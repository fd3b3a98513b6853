//! Compaction: merges the small and late segments of a partition into one sorted,
//! deduplicated segment per tier window (archive.md §8).
//!
//! Every merge is its own commit: write the merged segment, commit a manifest that swaps
//! it for its inputs, delete the inputs. A crash between steps leaves either the old
//! manifest plus an unlisted file, or the new manifest plus unlisted inputs; the next
//! writer deletes unlisted files. Readers holding the old manifest re-read it when a
//! segment file has gone (see `query.rs`).

use super::index;
use super::manifest::{Manifest, PartitionUnit, SegmentEntry};
use super::packer::{
    pivot, segment_path, BufRow, Origin, PackValue, Pivoted, SegMeta, SegmentBuilder, Table,
};
use crate::error::{Error, Result};
use crate::format::block::ColumnBuf;
use crate::format::reader::Segment;
use crate::format::writer::WriterOptions;
use crate::model::{TimeRange, Values};
use crate::util::files::sync_dir;
use crate::util::fsio;
use rayon::prelude::*;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

/// Settings of a compaction run.
#[derive(Clone, Debug)]
pub struct CompactOptions {
    /// Tier windows, smallest first; by default hour, day and month. Units whose windows
    /// do not nest in the archive's partition windows are dropped, and the partition
    /// unit is always the last tier, so a full run leaves at most one segment per
    /// partition (unless merging would reorder arrivals, archive.md §8): hour, day,
    /// month, year for a year partition, hour, day, week for a week partition.
    pub tiers: Vec<PartitionUnit>,
    /// Merge a tier window only when it holds at least this many segments (at least 2).
    pub min_segments: usize,
    /// Merge only tier windows that end at or before this timestamp (µs); `None` merges
    /// every window. The streaming writer passes its watermark, so open windows are left
    /// alone.
    pub closed_before: Option<i64>,
    /// Segment writer settings.
    pub writer: WriterOptions,
}

impl Default for CompactOptions {
    fn default() -> Self {
        CompactOptions {
            tiers: vec![
                PartitionUnit::Hour,
                PartitionUnit::Day,
                PartitionUnit::Month,
            ],
            min_segments: 2,
            closed_before: None,
            writer: WriterOptions::default(),
        }
    }
}

/// What a compaction run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CompactReport {
    /// Merges committed.
    pub merges: u64,
    /// Segments replaced.
    pub segments_in: u64,
    /// Segments written.
    pub segments_out: u64,
    /// Bytes of the replaced segments.
    pub bytes_in: u64,
    /// Bytes of the written segments.
    pub bytes_out: u64,
    /// Points in the replaced segments.
    pub points_in: u64,
    /// Points in the written segments (fewer when duplicates were dropped).
    pub points_out: u64,
    /// Groups left alone, with the reason (e.g. a type conflict between segments).
    pub skipped: Vec<String>,
    /// Problems that cost no data, such as an `INDEX` that could not be updated.
    pub warnings: Vec<String>,
}

impl CompactReport {
    /// Adds another report's counts.
    pub fn add(&mut self, o: &CompactReport) {
        self.merges += o.merges;
        self.segments_in += o.segments_in;
        self.segments_out += o.segments_out;
        self.bytes_in += o.bytes_in;
        self.bytes_out += o.bytes_out;
        self.points_in += o.points_in;
        self.points_out += o.points_out;
        self.skipped.extend(o.skipped.iter().cloned());
        self.warnings.extend(o.warnings.iter().cloned());
    }
}

/// Compacts the archive at `dir`: takes the writer lock, deletes unlisted files, merges
/// tier by tier, then rewrites the `INDEX` if it holds groups of segments no longer
/// listed (archive.md §9.3), so that repeated runs do not leave it growing.
///
/// # Errors
/// Another writer holds the lock; a corrupt manifest or segment; I/O errors. A failed
/// merge leaves the archive as it was before that merge.
///
/// # Example
/// ```
/// use iotarc::archive::{compact, CompactOptions, Packer, PackOptions, PackValue, Origin};
/// let dir = tempfile::tempdir()?;
/// for run in 0..3i64 {
///     let mut p = Packer::open(dir.path(), PackOptions::default())?;
///     p.push("d", "t", 1_700_000_000_000_000 + run, PackValue::F64(1.0), Origin { input: 0, line: 1 });
///     p.commit(0)?;
/// }
/// let r = compact(dir.path(), &CompactOptions::default())?;
/// assert_eq!((r.segments_in, r.segments_out), (3, 1));
/// # Ok::<(), iotarc::Error>(())
/// ```
pub fn compact(dir: &Path, opts: &CompactOptions) -> Result<CompactReport> {
    let opened = super::leftovers::open_for_write(dir, None)?;
    let (_lock, mut m) = (opened.lock, opened.manifest);
    // Also the way to rebuild an INDEX that is missing, damaged or out of date: unusable
    // groups lose their references before any merge, whose index update then rebuilds
    // them along with the merged segment's (archive.md §9.3, step 3).
    let dropped = index::drop_unusable(dir, &mut m);
    let mut report = compact_locked(dir, &mut m, opts)?;
    report.warnings.splice(0..0, opened.cleanup.messages());
    // A merge commits `m` whole, dropped references included; the last one to run may
    // still have left a segment without a group (its update failed).
    let uncommitted = dropped && report.merges == 0;
    report
        .warnings
        .extend(index::commit_update_tight(dir, &mut m, uncommitted)?);
    Ok(report)
}

/// [`compact`] for a caller that holds the lock and the current manifest (updated in
/// place as merges commit).
pub(crate) fn compact_locked(
    dir: &Path,
    m: &mut Manifest,
    opts: &CompactOptions,
) -> Result<CompactReport> {
    let unit = m.partition;
    let mut tiers: Vec<PartitionUnit> = opts
        .tiers
        .iter()
        .copied()
        .filter(|&t| nests(t, unit))
        .collect();
    tiers.push(unit);
    tiers.dedup();
    let mut report = CompactReport::default();
    for tier in tiers {
        for group in plan_tier(m, tier, opts) {
            match merge(dir, m, &group, &opts.writer)? {
                Ok(r) => report.add(&r),
                Err(why) => report.skipped.push(why),
            }
        }
    }
    Ok(report)
}

/// True when windows of `tier` nest inside windows of `unit`.
fn nests(tier: PartitionUnit, unit: PartitionUnit) -> bool {
    use PartitionUnit::*;
    matches!(
        (tier, unit),
        (Hour, _)
            | (Day, Day | Week | Month | Year)
            | (Week, Week)
            | (Month, Month | Year)
            | (Year, Year)
    )
}

/// The groups (as segment paths) of one tier that should be merged now.
fn plan_tier(m: &Manifest, tier: PartitionUnit, opts: &CompactOptions) -> Vec<Vec<String>> {
    let mut windows: BTreeMap<(i64, i64), Vec<&SegmentEntry>> = BTreeMap::new();
    for s in &m.segments {
        let w = tier.window_start(s.min_ts);
        if tier.window_start(s.max_ts) == w {
            windows.entry((s.partition, w)).or_default().push(s);
        }
    }
    let mut out = Vec::new();
    for ((part, w), segs) in windows {
        if segs.len() < opts.min_segments.max(2) {
            continue;
        }
        if opts.closed_before.is_some_and(|c| tier.window_end(w) > c) {
            continue;
        }
        let lo = segs.iter().map(|s| s.seq).min().unwrap_or(0);
        let hi = segs.iter().map(|s| s.seq).max().unwrap_or(0);
        let tmin = segs.iter().map(|s| s.min_ts).min().unwrap_or(0);
        let tmax = segs.iter().map(|s| s.max_ts).max().unwrap_or(0);
        let devices: BTreeSet<&str> = segs
            .iter()
            .flat_map(|s| s.devices.iter().map(String::as_str))
            .collect();
        let members: BTreeSet<&str> = segs.iter().map(|s| s.path.as_str()).collect();
        // §8: an outside segment that overlaps the group for a shared device and whose
        // seq lies inside the group's range would change places in arrival order.
        let interleaved = m.segments.iter().any(|o| {
            o.partition == part
                && !members.contains(o.path.as_str())
                && o.seq > lo
                && o.seq < hi
                && o.min_ts <= tmax
                && o.max_ts >= tmin
                && o.devices.iter().any(|d| devices.contains(d.as_str()))
        });
        if !interleaved {
            out.push(segs.iter().map(|s| s.path.clone()).collect());
        }
    }
    out
}

/// Merges the live segments at `paths` into one. The inner `Err` is a reason the group
/// was left alone (nothing written); the outer one an I/O or corruption error.
fn merge(
    dir: &Path,
    m: &mut Manifest,
    paths: &[String],
    wopts: &WriterOptions,
) -> Result<std::result::Result<CompactReport, String>> {
    let mut inputs: Vec<SegmentEntry> = m
        .segments
        .iter()
        .filter(|s| paths.contains(&s.path))
        .cloned()
        .collect();
    if inputs.len() < 2 {
        return Ok(Err("group changed before merging".into()));
    }
    inputs.sort_by_key(|s| s.seq);
    let segs: Vec<Segment> = inputs
        .iter()
        .map(|e| super::open_listed(dir, e))
        .collect::<Result<_>>()?;
    let partition = inputs[0].partition;
    let seq = inputs.iter().map(|s| s.seq).max().unwrap_or(0);
    let generation = m.generation + 1;
    let rel = segment_path(m.partition, partition, generation, seq);
    let meta = SegMeta {
        window: partition,
        generation,
        seq,
        dedup: m.dedup,
    };
    // Before the merged file exists, and naming the inputs this commit drops, so that
    // whichever side of the commit a crash falls on, the next writer deletes exactly
    // the right files (archive.md §8, L3 and L4).
    super::pending::announce(
        dir,
        generation,
        inputs.iter().map(|e| e.path.clone()).collect(),
    )?;
    let entry = match merge_files(dir, &inputs, segs, &rel, &meta, wopts, MERGE_BATCH_VALUES)? {
        Ok(out) => out.entry,
        Err(why) => {
            return Ok(Err(format!(
                "segments {} not merged: {why}",
                paths.join(", ")
            )))
        }
    };
    crate::failpoint("compact-after-write");
    let mut next = m.clone();
    next.generation = generation;
    next.segments.retain(|s| !paths.contains(&s.path));
    let mut report = CompactReport {
        merges: 1,
        segments_in: inputs.len() as u64,
        bytes_in: inputs.iter().map(|s| s.bytes).sum(),
        points_in: inputs.iter().map(|s| s.points).sum(),
        ..Default::default()
    };
    if let Some(e) = entry {
        report.segments_out = 1;
        report.bytes_out = e.bytes;
        report.points_out = e.points;
        next.segments.push(e);
    }
    next.segments
        .sort_by(|a, b| (a.partition, &a.path).cmp(&(b.partition, &b.path)));
    let ix = index::update(dir, &mut next);
    report.warnings.extend(ix.warnings);
    next.write(dir)?;
    *m = next;
    crate::failpoint("compact-after-commit");
    if ix.rebuilt {
        index::remove_stale(dir, m);
    }
    for e in &inputs {
        let p = dir.join(&e.path);
        match fsio::remove_file(&p) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(Error::from(err).with_path(&p)),
        }
    }
    sync_dir(&dir.join(&rel))?;
    super::pending::clear(dir);
    Ok(Ok(report))
}

/// What [`merge_files`] wrote.
pub(crate) struct MergedFiles {
    /// The merged segment; `None` when the inputs held no rows.
    pub(crate) entry: Option<SegmentEntry>,
    /// Copies of a (device, channel, timestamp) the dedup policy resolved.
    pub(crate) duplicates: u64,
}

/// Values `compact` decodes at once while merging: devices are merged in batches of
/// about this many values, each batch decoded and pivoted in parallel, then encoded in
/// parallel. At about 64 bytes a buffered value, 1 M values keep a batch near 64 MB.
pub(crate) const MERGE_BATCH_VALUES: u64 = 1 << 20;

/// Segment bytes read through one set of mappings before they are remapped: a mapped
/// page read once stays in the process's resident set until it is unmapped, so a merge
/// of gigabytes would otherwise count them all.
const REMAP_BYTES: u64 = 64 << 20;

/// Merges the segments `inputs` (opened as `segs`, both in arrival order) into the new
/// file `rel`, devices in batches of about `batch_values` values: every device's points, sorted and deduplicated by `meta.dedup` with
/// arrival order by input position. Does not touch the manifest or the inputs. The
/// inner `Err` is why the inputs cannot be merged (a channel's types conflict); the
/// partial output is then removed.
///
/// # Errors
/// Corrupt inputs; I/O errors.
pub(crate) fn merge_files(
    dir: &Path,
    inputs: &[SegmentEntry],
    mut segs: Vec<Segment>,
    rel: &str,
    meta: &SegMeta,
    wopts: &WriterOptions,
    batch_values: u64,
) -> Result<std::result::Result<MergedFiles, String>> {
    // One channel numbering for the output; per input, its channel ids in it.
    let mut channels: Vec<String> = Vec::new();
    let mut channel_idx: HashMap<String, u32> = HashMap::new();
    let ids: Vec<Vec<u32>> = segs
        .iter()
        .map(|seg| {
            seg.channels()
                .iter()
                .map(|c| {
                    *channel_idx.entry(c.clone()).or_insert_with(|| {
                        channels.push(c.clone());
                        channels.len() as u32 - 1
                    })
                })
                .collect()
        })
        .collect();
    // Devices with the values each holds (from the footers), in name order.
    let mut sizes: BTreeMap<String, u64> = BTreeMap::new();
    for seg in &segs {
        let f = seg.footer();
        for b in &f.blocks {
            let n = b.rows * b.columns.len() as u64;
            *sizes
                .entry(f.devices[b.device as usize].clone())
                .or_default() += n;
        }
    }
    let mut batches: Vec<Vec<(String, u64)>> = Vec::new();
    let mut in_batch = 0u64;
    for (d, n) in sizes {
        if batches.is_empty() || in_batch + n > batch_values && in_batch > 0 {
            batches.push(Vec::new());
            in_batch = 0;
        }
        in_batch += n;
        batches.last_mut().expect("pushed above").push((d, n));
    }
    let mut builder = SegmentBuilder::create(dir, rel, wopts)?;
    let mut duplicates = 0u64;
    let mut since_remap = 0u64;
    for batch in batches {
        let batch_bytes: u64 = batch.iter().map(|d| d.1).sum::<u64>() * 2;
        if since_remap + batch_bytes > REMAP_BYTES && since_remap > 0 {
            segs = inputs
                .iter()
                .map(|e| super::open_listed(dir, e))
                .collect::<Result<_>>()?;
            since_remap = 0;
        }
        since_remap += batch_bytes;
        let pivoted: Vec<(String, Pivoted)> = batch
            .into_par_iter()
            .map(|(device, _)| {
                let mut rows = device_rows(&segs, &ids, &device)?;
                let p = pivot(&mut rows, &channels, &device, meta.dedup);
                Ok((device, p))
            })
            .collect::<Result<_>>()?;
        if let Some(r) = pivoted.iter().find_map(|(_, p)| p.2.first()) {
            // Never drop a point to make a merge fit: leave the inputs as they are.
            let why = r.reason.clone();
            drop(builder);
            let _ = fsio::remove_file(&dir.join(rel));
            return Ok(Err(why));
        }
        duplicates += pivoted.iter().map(|(_, p)| p.1).sum::<u64>();
        let tables: Vec<(String, &Table)> =
            pivoted.iter().map(|(d, p)| (d.clone(), &p.0)).collect();
        builder.add_many(tables, &channels)?;
    }
    let entry = builder.finish(meta, &channels)?;
    Ok(Ok(MergedFiles { entry, duplicates }))
}

/// Every present value of `device` in `segs`, as buffered rows whose origin is (input
/// position, running count): the pivot's arrival order.
fn device_rows(segs: &[Segment], ids: &[Vec<u32>], device: &str) -> Result<Vec<BufRow>> {
    let mut rows = Vec::new();
    let mut ts = Vec::new();
    let mut col = ColumnBuf::default();
    for (rank, seg) in segs.iter().enumerate() {
        let mut pos = 0u64;
        for &bi in seg.blocks_for(device, TimeRange::ALL) {
            let block = seg.block(bi)?;
            block.timestamps(&mut ts).map_err(seg.ctx(bi))?;
            for (ci, cm) in block.meta().columns.iter().enumerate() {
                block.column(ci, &mut col).map_err(seg.ctx(bi))?;
                let ch = ids[rank][cm.channel as usize];
                let mut k = 0;
                for (i, &t) in ts.iter().enumerate() {
                    if !col.is_present(i) {
                        continue;
                    }
                    let v = match &col.values {
                        Values::F64(v) => PackValue::F64(v[k]),
                        Values::I64(v) => PackValue::I64(v[k]),
                        Values::Bool(v) => PackValue::Bool(v[k]),
                        Values::Str(v) => PackValue::Str(v.get(k).unwrap_or("").into()),
                    };
                    k += 1;
                    pos += 1;
                    let origin = Origin {
                        input: rank as u32,
                        line: pos,
                    };
                    rows.push(BufRow::new(t, ch, origin, v));
                }
            }
        }
    }
    Ok(rows)
}
