//! The sealer thread of a [`StreamWriter`](super::StreamWriter): it chooses the
//! partition unit under auto, forms seal rounds from the buffers whose window has closed
//! (or all of them, on a flush, memory pressure or `max_delay`), writes their segments,
//! commits the manifest with the WAL state of archive.md §7, trims the WAL and, when
//! enabled, compacts. It also runs the interval fsync while no write does.

use super::latency::LatencyHist;
use super::writer::{clamp_unit, lock, Buf, Shared, State, SyncPolicy};
use crate::archive::compact::{self, CompactOptions};
use crate::archive::index;
use crate::archive::manifest::{Manifest, PartitionUnit, SegmentEntry, WalState};
use crate::archive::packer::{
    auto_partition, segment_path, write_segment, BufRow, SegMeta, AUTO_TARGET_VALUES,
};
use crate::error::{Error, Result};
use crate::util::fsio;
use rayon::prelude::*;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

/// Under auto, the unit is chosen once the buffered points span this long (µs)...
const CHOOSE_AFTER_SPAN: i64 = 3_600_000_000;

/// ...or once this many points are buffered: at a rate that reaches the day target
/// ([`AUTO_TARGET_VALUES`] a day), an hour holds this many (archive.md §3.1).
const CHOOSE_AFTER_POINTS: u64 = AUTO_TARGET_VALUES.div_ceil(24);

/// One seal round handed from the state to the sealer.
struct Round {
    /// The buffers to seal.
    bufs: Vec<SealBuf>,
    /// Unit of the buffers' windows.
    seal_unit: PartitionUnit,
    /// Last WAL seq in the buffers when the round formed.
    upto: u64,
    /// Lowest first seq of the buffers left behind: the WAL is replayed from here.
    low: u64,
    /// Bytes of the round's buffers, freed once sealed.
    bytes: usize,
    /// Device names by global id.
    devices: Vec<String>,
    /// Channel names by global id.
    channels: Vec<String>,
}

/// A buffer taken out of the state for a round.
struct SealBuf {
    /// Global device id.
    dev: u32,
    /// Seal window start.
    window: i64,
    /// The points.
    buf: Buf,
}

/// The segment of one partition window that one seal job writes.
struct SegmentJob {
    /// Partition window start.
    window: i64,
    /// Its devices (sorted by name) and their points.
    devices: Vec<(String, Vec<BufRow>)>,
    /// The segment's seq.
    seq: u64,
}

/// Whether the partition unit is fixed, choosing it first if the writer may now
/// (archive.md §3.1): under auto, for a new archive, once the buffered points span
/// [`CHOOSE_AFTER_SPAN`], number [`CHOOSE_AFTER_POINTS`], or a seal is `forced`. Nothing
/// has been sealed before, so every point acknowledged so far is buffered and the
/// buffers give the rate. Choosing regroups the buffers into the chosen seal windows and
/// puts the unit and the WAL state into `m`, which the first seal commits.
fn choose_unit(sh: &Shared, st: &mut State, m: &mut Manifest, forced: bool) -> bool {
    if st.unit.is_some() {
        return true;
    }
    let points = st.stats.buffered_points;
    if points == 0 {
        return false;
    }
    let span = st.max_ts.saturating_sub(st.min_ts);
    if !forced && span < CHOOSE_AFTER_SPAN && points < CHOOSE_AFTER_POINTS {
        return false;
    }
    let unit = auto_partition(points, span);
    let seal_unit = clamp_unit(sh.opts.seal_unit, unit);
    if seal_unit != st.seal_unit {
        st.regroup(seal_unit);
    }
    st.unit = Some(unit);
    st.seal_unit = seal_unit;
    m.partition = unit;
    m.wal = Some(WalState {
        replay_from: 0,
        seal_unit,
        sealed: Vec::new(),
    });
    true
}

/// Which buffers to seal now, and the round's WAL bookkeeping. `None`: nothing to do.
fn form_round(sh: &Shared, st: &mut State, all: bool) -> Option<Round> {
    let seal_unit = st.seal_unit;
    let lateness = sh.opts.lateness_us;
    let watermark = st.max_ts.saturating_sub(lateness);
    let mut bufs = Vec::new();
    let mut bytes = 0;
    for (dev, list) in st.bufs.iter_mut().enumerate() {
        let mut i = 0;
        while i < list.len() {
            let w = list[i].0;
            if all || seal_unit.window_end(w) <= watermark {
                let (w, b) = list.swap_remove(i);
                bytes += b.bytes;
                st.stats.buffered_points -= b.rows.len() as u64;
                bufs.push(SealBuf {
                    dev: dev as u32,
                    window: w,
                    buf: b,
                });
            } else {
                i += 1;
            }
        }
    }
    if bufs.is_empty() {
        return None;
    }
    let rest = st.bufs.iter().flatten();
    let low = rest
        .clone()
        .map(|b| b.1.first_seq)
        .min()
        .unwrap_or(st.next_seq);
    st.oldest = rest.filter_map(|b| b.1.acks.first().map(|a| a.at)).min();
    Some(Round {
        bufs,
        seal_unit,
        upto: st.next_seq.saturating_sub(1),
        low,
        bytes,
        devices: st.devices.clone(),
        channels: st.channels.clone(),
    })
}

/// The sealer thread: seal rounds until stopped; returns the last manifest committed
/// (or handed to it).
pub(super) fn sealer_loop(sh: &Shared, mut m: Manifest) -> Manifest {
    let tick = match (sh.opts.max_delay, sh.opts.sync) {
        (Some(d), _) => (d / 4).clamp(Duration::from_millis(5), Duration::from_millis(200)),
        (None, _) => Duration::from_millis(200),
    };
    let tick = match sh.opts.sync {
        SyncPolicy::Interval(i) => tick.min(i),
        _ => tick,
    };
    loop {
        let mut st = lock(&sh.st);
        // Interval fsync while data is unsynced and no write is coming to do it.
        if let SyncPolicy::Interval(i) = sh.opts.sync {
            if st.unsynced && st.last_sync.elapsed() >= i {
                drop(st);
                let r = lock(&sh.wal).sync();
                st = lock(&sh.st);
                match r {
                    Ok(()) => {
                        st.unsynced = false;
                        st.last_sync = Instant::now();
                        st.stats.syncs += 1;
                    }
                    Err(e) => st.error = Some(e.to_string()),
                }
            }
        }
        let flush_want = st.flush_requested;
        let oldest = st.oldest;
        let forced =
            flush_want > st.flush_done || st.waiting > 0 || st.stats.memory > sh.buffer_bytes / 2;
        let all = forced
            || sh
                .opts
                .max_delay
                .is_some_and(|d| oldest.is_some_and(|t| t.elapsed() >= d));
        let round = if st.error.is_none() && choose_unit(sh, &mut st, &mut m, forced) {
            form_round(sh, &mut st, all)
        } else {
            None
        };
        let Some(round) = round else {
            if flush_want > st.flush_done {
                st.flush_done = flush_want;
                sh.cv.notify_all();
            }
            if st.stop {
                return m;
            }
            let _ = sh.cv.wait_timeout(st, tick);
            continue;
        };
        drop(st);
        let res = seal(sh, &mut m, round);
        // The round's buffers are freed: give their pages back (see util::heap).
        crate::util::heap::release_free_memory();
        let mut st = lock(&sh.st);
        match res {
            Ok(out) => {
                st.stats.memory -= out.bytes.min(st.stats.memory);
                st.stats.seals += 1;
                st.stats.segments += out.segments;
                st.stats.points_sealed += out.points;
                st.stats.duplicates += out.duplicates;
                st.stats.lost += out.lost;
                st.stats.problems.extend(out.problems);
                st.stats.latency.merge(&out.latency);
                // Bounded: the same warning may repeat at every seal.
                let room = 64usize.saturating_sub(st.stats.warnings.len());
                st.stats
                    .warnings
                    .extend(out.warnings.into_iter().take(room));
            }
            Err(e) => {
                st.error = Some(e.to_string());
            }
        }
        if all && st.error.is_none() {
            // The round took every buffer present when it formed, so every point
            // acknowledged before the flush request is now committed.
            st.flush_done = st.flush_done.max(flush_want);
        }
        sh.cv.notify_all();
        let failed = st.error.is_some();
        drop(st);
        // A failed writer commits nothing more (its error is sticky).
        if let Some(c) = sh.opts.compact.as_ref().filter(|_| !failed) {
            let closed_before = {
                let st = lock(&sh.st);
                st.max_ts.saturating_sub(sh.opts.lateness_us)
            };
            let copts = CompactOptions {
                closed_before: Some(closed_before),
                ..c.clone()
            };
            match compact::compact_locked(&sh.dir, &mut m, &copts) {
                Ok(r) => lock(&sh.st).stats.compaction.add(&r),
                Err(e) => lock(&sh.st).error = Some(format!("compaction: {e}")),
            }
        }
    }
}

/// What a committed seal round did, for the writer's counters.
struct SealOut {
    /// Bytes of the round's buffers, no longer held.
    bytes: usize,
    /// Problems that cost no data (the index update's).
    warnings: Vec<String>,
    /// Segments written.
    segments: u64,
    /// Points written (after deduplication).
    points: u64,
    /// Duplicates resolved.
    duplicates: u64,
    /// Points that could not be written (a round with any is not committed).
    lost: u64,
    /// Their reasons (up to 100 per segment).
    problems: Vec<String>,
    /// Delay from acknowledgement to commit of the round's points.
    latency: LatencyHist,
}

/// Writes a round's buffers as segments (one per partition window and device group),
/// commits the manifest with the new WAL state, then trims the WAL.
fn seal(sh: &Shared, m: &mut Manifest, round: Round) -> Result<SealOut> {
    let unit = m.partition;
    let generation = m.generation + 1;
    let mut by_part: BTreeMap<i64, Vec<(String, Vec<BufRow>)>> = BTreeMap::new();
    let mut acks = Vec::new();
    let mut keys = Vec::new();
    for SealBuf {
        dev,
        window: w,
        buf: b,
    } in round.bufs
    {
        let name = round.devices[dev as usize].clone();
        keys.push((name.clone(), w));
        acks.extend(b.acks);
        let part = by_part.entry(unit.window_start(w)).or_default();
        match part.iter_mut().find(|(d, _)| *d == name) {
            Some((_, rows)) => rows.extend(b.rows),
            None => part.push((name, b.rows)),
        }
    }
    let mut jobs = Vec::new();
    for (w, mut devs) in by_part {
        devs.sort_by(|a, b| a.0.cmp(&b.0));
        let mut group = Vec::new();
        let mut rows = 0usize;
        for d in devs {
            if rows > 0 && rows + d.1.len() > 16 << 20 {
                jobs.push(SegmentJob {
                    window: w,
                    devices: std::mem::take(&mut group),
                    seq: m.alloc_seq(),
                });
                rows = 0;
            }
            rows += d.1.len();
            group.push(d);
        }
        if !group.is_empty() {
            jobs.push(SegmentJob {
                window: w,
                devices: group,
                seq: m.alloc_seq(),
            });
        }
    }
    let dedup = m.dedup;
    let dir = &sh.dir;
    let channels = &round.channels;
    let wopts = &sh.opts.writer;
    let part_rows = sh.part_rows;
    // Before any segment of this generation exists (archive.md §4 step 3).
    crate::archive::pending::announce(dir, generation, Vec::new())?;
    let results: Vec<Result<_>> = jobs
        .into_par_iter()
        .map(|job| {
            let SegmentJob {
                window: w,
                devices: group,
                seq,
            } = job;
            let rel = segment_path(unit, w, generation, seq);
            let meta = SegMeta {
                window: w,
                generation,
                seq,
                dedup,
            };
            write_segment(dir, &rel, &meta, group, channels, wopts, part_rows)
        })
        .collect();
    let mut out = SealOut {
        bytes: round.bytes,
        warnings: Vec::new(),
        segments: 0,
        points: 0,
        duplicates: 0,
        lost: 0,
        problems: Vec::new(),
        latency: LatencyHist::default(),
    };
    let mut entries = Vec::new();
    let mut failed = None;
    for r in results {
        let j = match r {
            Ok(j) => j,
            Err(e) => {
                failed.get_or_insert(e);
                continue;
            }
        };
        out.duplicates += j.duplicates;
        out.lost += j.rejected.len() as u64;
        out.problems
            .extend(j.rejected.into_iter().map(|r| r.reason).take(100));
        if let Some(e) = j.entry {
            out.points += e.points;
            out.segments += 1;
            entries.push(e);
        }
    }
    // This round's own files: the next writer could not tell them from a later commit's
    // once anything else commits generation `generation` (archive.md L6), so a round
    // that does not commit removes them itself.
    let remove_own = |entries: &[SegmentEntry]| {
        for e in entries {
            let _ = fsio::remove_file(&sh.dir.join(&e.path));
        }
    };
    if let Some(e) = failed {
        remove_own(&entries);
        return Err(e);
    }
    if out.lost > 0 {
        // Never commit a seal that drops acknowledged points: remove what was written and
        // leave the points in the WAL (the writer stops with this error).
        remove_own(&entries);
        return Err(Error::invalid_input(format!(
            "sealing would drop {} acknowledged point(s), which stay in the WAL: {}",
            out.lost,
            out.problems.first().map_or("", String::as_str)
        )));
    }
    crate::failpoint("seal-after-write");
    let mut next = m.clone();
    next.generation = generation;
    let own = entries.clone();
    next.segments.extend(entries);
    next.segments
        .sort_by(|a, b| (a.partition, &a.path).cmp(&(b.partition, &b.path)));
    let ws = next.wal.get_or_insert(WalState {
        replay_from: 0,
        seal_unit: round.seal_unit,
        sealed: Vec::new(),
    });
    let mut sealed: HashMap<(String, i64), u64> =
        ws.sealed.drain(..).map(|(d, w, u)| ((d, w), u)).collect();
    for k in keys {
        sealed.insert(k, round.upto);
    }
    ws.replay_from = ws.replay_from.max(round.low);
    let low = ws.replay_from;
    ws.sealed = sealed
        .into_iter()
        .filter(|(_, u)| *u >= low)
        .map(|((d, w), u)| (d, w, u))
        .collect();
    ws.sealed.sort();
    let ix = index::update(dir, &mut next);
    out.warnings = ix.warnings;
    if let Err(e) = next.write(dir) {
        // A failure after the rename (syncing the directory) leaves the new manifest in
        // force: its segments stay. Otherwise they are this round's leftovers.
        if Manifest::read(dir).is_ok_and(|d| d.generation == next.generation) {
            *m = next;
        } else {
            remove_own(&own);
        }
        return Err(e);
    }
    *m = next;
    crate::archive::pending::clear(dir);
    crate::failpoint("seal-after-commit");
    if ix.rebuilt {
        index::remove_stale(dir, m);
    }
    let now = Instant::now();
    for a in acks {
        out.latency
            .record(now.duration_since(a.at), a.points as u64);
    }
    lock(&sh.wal).remove_below(low)?;
    Ok(out)
}
