//! `iotarc verify`: every checksum, every block decoded, statistics recomputed, and the
//! manifest checked against the segments it lists.

use anyhow::Result;
use iotarc::archive::check::check_entry;
use iotarc::archive::index::Index;
use iotarc::archive::leftovers;
use iotarc::archive::{is_not_found, Archive, Manifest, SegmentEntry};
use iotarc::stream::PointBatch;
use iotarc::wal;
use iotarc::ColumnStats;
use iotarc::{ColumnBuf, Segment, Series};
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// Problems found in one segment, and counts of what was checked.
struct Checked {
    problems: Vec<String>,
    blocks: usize,
    points: u64,
    /// The segment file did not exist.
    gone: bool,
}

/// Checks the segment at `path`: every block and its statistics and, when `listed` gives
/// the manifest and the segment's entry in it, every field of the entry (archive.md §11,
/// A3).
fn check_segment(
    path: &Path,
    listed: Option<(&Manifest, &SegmentEntry)>,
    index: Option<&Index>,
) -> Checked {
    let mut c = Checked {
        problems: Vec::new(),
        blocks: 0,
        points: 0,
        gone: false,
    };
    let seg = match Segment::open(path) {
        Ok(s) => s,
        Err(e) => {
            c.gone = is_not_found(&e);
            c.problems.push(e.to_string());
            return c;
        }
    };
    let mut ts = Vec::new();
    let mut col = ColumnBuf::default();
    for (bi, meta) in seg.footer().blocks.iter().enumerate() {
        c.blocks += 1;
        let r = seg.block(bi).and_then(|b| {
            b.timestamps(&mut ts)?;
            for (ci, cm) in meta.columns.iter().enumerate() {
                b.column(ci, &mut col)?;
                // Recompute the footer statistics from the decoded values.
                let mut s = Series::new(cm.vtype);
                let rows: Vec<i64> = if col.all_present() {
                    ts.clone()
                } else {
                    ts.iter().enumerate().filter(|(i, _)| col.is_present(*i)).map(|(_, t)| *t).collect()
                };
                s.values = col.values.clone();
                let got = ColumnStats::compute(&s.values, &rows);
                let want = &cm.stats;
                if got.count != want.count || got.first() != want.first() || got.last() != want.last() || got.min() != want.min() || got.max() != want.max() {
                    return Err(iotarc::Error::corrupt(
                        format!("column {ci} (channel {:?}): footer statistics disagree with the decoded values", seg.channels()[cm.channel as usize]),
                        Some(meta.offset),
                    ));
                }
                c.points += got.count;
            }
            Ok(())
        });
        if let Err(e) = r {
            c.problems
                .push(e.with_path(path).with_block(bi).to_string());
        }
    }
    if let Some((m, e)) = listed {
        c.problems.extend(
            check_entry(m, e, &seg, index)
                .iter()
                .map(ToString::to_string),
        );
    }
    c
}

/// What verifying one snapshot of an archive found, printed only once the snapshot is
/// known to be the one reported (a restart on a newer manifest discards it).
#[derive(Default)]
struct Report {
    generation: u64,
    segments: usize,
    blocks: usize,
    points: u64,
    problems: Vec<String>,
    /// Warnings and notes: printed, not counted.
    notes: Vec<String>,
    /// A file the snapshot lists (segment, index, WAL) was missing, or the WAL did not
    /// match the snapshot: what a writer that committed meanwhile leaves.
    stale: bool,
}

/// Checks the WAL read-only: every record's checksum and payload, and the seqs across
/// files. A defect at the end of the newest file that a crash explains (wal.md §7.1) is a
/// torn tail, which the next writer cuts, and only a warning; any other defect is a
/// problem.
fn check_wal(dir: &Path, m: &Manifest, r: &mut Report) {
    let wal_dir = dir.join("wal");
    if !wal_dir.exists() {
        return;
    }
    let from = m.wal.as_ref().map_or(0, |w| w.replay_from);
    let mut pending = 0u64;
    let res = wal::replay_read_only(&wal_dir, from, |seq, payload| {
        pending += 1;
        PointBatch::decode(payload)
            .map(|_| ())
            .map_err(|e| iotarc::Error::corrupt(format!("WAL record {seq}: {e}"), None))
    });
    match res {
        Ok(rep) => {
            if let Some(t) = rep.truncated {
                r.notes.push(format!(
                    "warning: {}: torn tail of {} bytes at offset {} ({}); the next writer cuts it",
                    t.file.display(),
                    t.bytes,
                    t.offset,
                    t.reason
                ));
            }
        }
        Err(e) => {
            // A running writer that committed a newer manifest may have deleted WAL files
            // this snapshot still needs; the caller finds out whether one did.
            r.stale = true;
            r.problems.push(e.to_string());
        }
    }
    if pending > 0 {
        r.notes.push(format!(
            "note: {}: {pending} WAL record(s) not yet sealed into segments (the next `iotarc ingest` seals them)",
            dir.display()
        ));
    }
}

/// Reports what is in the archive but not listed (archive.md §4.2): provable leftovers
/// and unknown files as warnings, a manifest older than the files (L5) as a problem. It
/// surveys the current manifest, not the snapshot, so that files a writer committed
/// while this ran are not reported; a survey that raced a commit is redone.
fn report_leftovers(dir: &Path, r: &mut Report) {
    let mut tries = 0;
    let s = loop {
        tries += 1;
        let now = match Manifest::read(dir) {
            Ok(m) => m,
            Err(e) => {
                r.problems.push(e.to_string());
                return;
            }
        };
        let s = match leftovers::survey(dir, &now) {
            Ok(s) => s,
            Err(e) => {
                r.problems.push(e.to_string());
                return;
            }
        };
        let moved = Manifest::read(dir).is_ok_and(|m| m.generation != now.generation);
        if !(moved && tries < 8) {
            break s;
        }
    };
    for (f, rule) in &s.deletable {
        r.notes.push(format!(
            "warning: {}: {}; the next writer deletes it",
            f.display(),
            rule.describe()
        ));
    }
    for f in &s.unknown {
        r.notes.push(format!(
            "warning: {}/{f}: not listed in the manifest, and nothing proves it a leftover \
             (archive.md L6); no writer deletes it",
            dir.display()
        ));
    }
    if let Some(why) = &s.pending_unreadable {
        r.notes.push(format!(
            "warning: {}/PENDING is unreadable ({why})",
            dir.display()
        ));
    }
    if let Some(why) = &s.rolled_back {
        r.problems.push(format!(
            "{}: {why}: the manifest was lost, rolled back or replaced, and writers refuse \
             the archive; rebuild it with: iotarc repair --manifest {} (--dry-run first)",
            dir.display(),
            dir.display()
        ));
    }
}

/// Verifies the archive at `dir` as of manifest `m` and its index `index`.
///
/// # Errors
/// A "not found" error when something the snapshot lists was missing and a newer
/// manifest has been committed since: the snapshot is out of date, and
/// [`Archive::on_snapshot`] restarts on the new one (archive.md §8, §11 A6).
fn check_snapshot(dir: &Path, m: &Manifest, index: Option<&Index>) -> iotarc::Result<Report> {
    let mut r = Report {
        generation: m.generation,
        segments: m.segments.len(),
        ..Report::default()
    };
    check_wal(dir, m, &mut r);
    if let Some(name) = &m.index {
        if index.is_none() {
            match Index::check_file(&dir.join(name)) {
                Err(e) => {
                    r.stale |= is_not_found(&e);
                    r.problems.push(e.to_string());
                }
                Ok(()) => r
                    .problems
                    .push(format!("{}: index file {name} is missing", dir.display())),
            }
        }
    }
    let checked: Vec<Checked> = m
        .segments
        .par_iter()
        .map(|e| check_segment(&dir.join(&e.path), Some((m, e)), index))
        .collect();
    for c in checked {
        r.blocks += c.blocks;
        r.points += c.points;
        r.stale |= c.gone;
        r.problems.extend(c.problems);
    }
    // Files of a commit made while this ran are not orphans: leave out what the current
    // manifest lists too.
    let now = Manifest::read(dir);
    if r.stale {
        if let Ok(now) = &now {
            if now.generation != m.generation {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!(
                        "{}: files of generation {} vanished while it was verified (generation {} replaced it)",
                        dir.display(),
                        m.generation,
                        now.generation
                    ),
                )
                .into());
            }
        }
    }
    report_leftovers(dir, &mut r);
    Ok(r)
}

/// Verifies the archive at `dir` on one consistent snapshot; returns the problem count.
fn verify_archive(dir: &Path) -> usize {
    let mut passes = 0;
    let r = Archive::open(dir).and_then(|a| {
        a.on_snapshot(|m, ix| {
            passes += 1;
            check_snapshot(dir, m, ix)
        })
    });
    let r = match r {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{e}");
            println!("{}: 1 problem(s)", dir.display());
            return 1;
        }
    };
    if passes > 1 {
        eprintln!(
            "note: {}: a writer replaced files while they were verified; restarted {} time(s), on generation {}",
            dir.display(),
            passes - 1,
            r.generation
        );
    }
    for n in &r.notes {
        eprintln!("{n}");
    }
    for p in &r.problems {
        eprintln!("{p}");
    }
    let label = format!("generation {}, {} segments", r.generation, r.segments);
    if r.problems.is_empty() {
        println!(
            "{}: ok ({label}, {} blocks, {} values verified)",
            dir.display(),
            r.blocks,
            r.points
        );
    } else {
        println!(
            "{}: {} problem(s) ({label}, {} blocks)",
            dir.display(),
            r.problems.len(),
            r.blocks
        );
    }
    r.problems.len()
}

/// Verifies each path (archive directory or segment file); returns the problem count.
pub fn run(paths: &[PathBuf]) -> Result<usize> {
    let mut problems = 0usize;
    for path in paths {
        if path.is_dir() {
            problems += verify_archive(path);
            continue;
        }
        let c = check_segment(path, None, None);
        for p in &c.problems {
            eprintln!("{p}");
        }
        problems += c.problems.len();
        if c.problems.is_empty() {
            println!(
                "{}: ok (1 segment, {} blocks, {} values verified)",
                path.display(),
                c.blocks,
                c.points
            );
        } else {
            println!(
                "{}: {} problem(s) (1 segment, {} blocks)",
                path.display(),
                c.problems.len(),
                c.blocks
            );
        }
    }
    Ok(problems)
}
