//! `iotarc verify`: every checksum, every block decoded, statistics recomputed, and the
//! manifest checked against the segments it lists.

use anyhow::Result;
use iotarc::archive::index::Index;
use iotarc::archive::leftovers;
use iotarc::archive::{Manifest, SegmentEntry};
use iotarc::format::stats::ColumnStats;
use iotarc::stream::{wal, PointBatch};
use iotarc::{ColumnBuf, Segment, Series};
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// Problems found in one segment, and counts of what was checked.
struct Checked {
    problems: Vec<String>,
    blocks: usize,
    points: u64,
}

fn check_segment(path: &Path, entry: Option<&SegmentEntry>, index: Option<&Index>) -> Checked {
    let mut c = Checked {
        problems: Vec::new(),
        blocks: 0,
        points: 0,
    };
    let seg = match Segment::open(path) {
        Ok(s) => s,
        Err(e) => {
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
    if let (Some(e), Some(ix)) = (entry, index) {
        if let Err(err) = ix.check_segment(e, &seg) {
            c.problems.push(format!(
                "{err} (derived data: `iotarc compact` rebuilds the index; queries meanwhile read {} itself)",
                path.display()
            ));
        }
    }
    if let Some(e) = entry {
        let devices: Vec<String> = {
            let mut d: Vec<String> = seg
                .devices()
                .iter()
                .enumerate()
                .filter(|(i, _)| seg.footer().blocks.iter().any(|b| b.device as usize == *i))
                .map(|(_, d)| d.clone())
                .collect();
            d.sort();
            d
        };
        let rows: u64 = seg.footer().blocks.iter().map(|b| b.rows).sum();
        if !devices.iter().eq(e.devices.iter()) || rows != e.rows || seg.len_bytes() != e.bytes {
            c.problems.push(format!(
                "{}: manifest entry disagrees with the segment (devices {:?} vs {:?}, rows {} vs {}, bytes {} vs {})",
                path.display(),
                e.devices,
                devices,
                e.rows,
                rows,
                e.bytes,
                seg.len_bytes()
            ));
        }
    }
    c
}

/// Checks the WAL read-only: every record's checksum and payload, and the seqs across
/// files. A defect at the end of the newest file that a crash explains (wal.md §7.1) is a
/// torn tail, which the next writer cuts, and only a warning; any other defect is a
/// problem.
fn check_wal(dir: &Path, m: &Manifest) -> usize {
    let wal_dir = dir.join("wal");
    if !wal_dir.exists() {
        return 0;
    }
    let from = m.wal.as_ref().map_or(0, |w| w.replay_from);
    let mut pending = 0u64;
    let r = wal::replay_read_only(&wal_dir, from, |seq, payload| {
        pending += 1;
        PointBatch::decode(payload)
            .map(|_| ())
            .map_err(|e| iotarc::Error::corrupt(format!("WAL record {seq}: {e}"), None))
    });
    let problems = match r {
        Ok(rep) => {
            if let Some(t) = rep.truncated {
                eprintln!(
                    "warning: {}: torn tail of {} bytes at offset {} ({}); the next writer cuts it",
                    t.file.display(),
                    t.bytes,
                    t.offset,
                    t.reason
                );
            }
            0
        }
        Err(e) => {
            eprintln!("{e}");
            1
        }
    };
    if pending > 0 {
        eprintln!(
            "note: {}: {pending} WAL record(s) not yet sealed into segments (the next `iotarc ingest` seals them)",
            dir.display()
        );
    }
    problems
}

/// Reports what is in the archive but not listed (archive.md §4.2): provable leftovers
/// and unknown files as warnings, a manifest older than the files (L5) as a problem.
fn report_leftovers(dir: &Path, m: &Manifest) -> usize {
    let s = match leftovers::survey(dir, m) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    for (f, rule) in &s.deletable {
        eprintln!(
            "warning: {}: {}; the next writer deletes it",
            f.display(),
            rule.describe()
        );
    }
    for f in &s.unknown {
        eprintln!(
            "warning: {}/{f}: not listed in the manifest, and nothing proves it a leftover \
             (archive.md L6); no writer deletes it",
            dir.display()
        );
    }
    if let Some(why) = &s.pending_unreadable {
        eprintln!("warning: {}/PENDING is unreadable ({why})", dir.display());
    }
    match &s.rolled_back {
        Some(why) => {
            eprintln!(
                "{}: {why}: the manifest was lost, rolled back or replaced, and writers \
                 refuse the archive; rebuild it with: iotarc repair --manifest {} (--dry-run \
                 first)",
                dir.display(),
                dir.display()
            );
            1
        }
        None => 0,
    }
}

/// Verifies each path (archive directory or segment file); returns the problem count.
pub fn run(paths: &[PathBuf]) -> Result<usize> {
    let mut problems = 0usize;
    for path in paths {
        let (checked, label): (Vec<Checked>, String) = if path.is_dir() {
            let m = match Manifest::read(path) {
                Ok(m) => m,
                Err(e) => {
                    eprintln!("{e}");
                    problems += 1;
                    continue;
                }
            };
            problems += report_leftovers(path, &m);
            problems += check_wal(path, &m);
            let index = match Index::open(path, &m) {
                Ok(ix) => ix,
                Err(e) => {
                    eprintln!("{e}");
                    problems += 1;
                    None
                }
            };
            if let Some(name) = &m.index {
                if index.is_none() {
                    match Index::check_file(&path.join(name)) {
                        Err(e) => eprintln!("{e}"),
                        Ok(()) => eprintln!("{}: index file {name} is missing", path.display()),
                    }
                    problems += 1;
                }
            }
            let checked = m
                .segments
                .par_iter()
                .map(|e| check_segment(&path.join(&e.path), Some(e), index.as_ref()))
                .collect();
            (checked, format!("{} segments", m.segments.len()))
        } else {
            (
                vec![check_segment(path, None, None)],
                "1 segment".to_string(),
            )
        };
        let blocks: usize = checked.iter().map(|c| c.blocks).sum();
        let points: u64 = checked.iter().map(|c| c.points).sum();
        let mut n = 0;
        for c in &checked {
            for p in &c.problems {
                eprintln!("{p}");
                n += 1;
            }
        }
        problems += n;
        if n == 0 {
            println!(
                "{}: ok ({label}, {blocks} blocks, {points} values verified)",
                path.display()
            );
        } else {
            println!(
                "{}: {n} problem(s) ({label}, {blocks} blocks)",
                path.display()
            );
        }
    }
    Ok(problems)
}
