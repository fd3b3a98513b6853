//! `iotarc verify` against damage that checksums cannot see, and against writers running
//! beside it (archive.md §11).

use iotarc::archive::check::{check_entry, Field};
use iotarc::archive::index::Index;
use iotarc::archive::manifest::ChannelInfo;
use iotarc::archive::{
    compact, Agg, AggRow, Archive, CompactOptions, Manifest, Origin, PackOptions, PackValue,
    Packer, PartitionUnit,
};
use iotarc::{Segment, WriterOptions};
use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;
use common::*;

/// Packs `days` days from `first_day` of `devices` at one reading a minute, as one pack
/// run. Values are integers (exact sums), so answers do not depend on how segments are
/// merged.
fn pack(dir: &Path, first_day: i64, days: i64, devices: &[&str]) {
    let opts = PackOptions {
        partition: Some(PartitionUnit::Day),
        writer: WriterOptions {
            target_rows: 240,
            ..WriterOptions::default()
        },
        ..PackOptions::default()
    };
    let mut p = retry_locked(|| Packer::open(dir, opts.clone()).map_err(|e| e.to_string()));
    for d in devices {
        for m in (first_day * 1440)..((first_day + days) * 1440) {
            let ts = DAY0 + m * 60 * SEC;
            let o = Origin { input: 0, line: 1 };
            p.push(d, "temp", ts, PackValue::F64((m % 97) as f64 - 40.0), o);
            if m % 3 != 0 {
                p.push(d, "count", ts, PackValue::I64(m * 7 - 1000), o);
            }
        }
    }
    let st = p.commit(0).unwrap();
    assert!(st.warnings.is_empty(), "{:?}", st.warnings);
}

/// `f`, again while it fails because the archive is locked. Tests run as threads of one
/// process, and a process forked by one thread holds copies of every descriptor open at
/// that moment until it execs, the lock of an archive another thread is writing
/// included: for a moment after that writer ends, the archive still reads as locked.
fn retry_locked<T>(mut f: impl FnMut() -> Result<T, String>) -> T {
    for _ in 0..100 {
        match f() {
            Err(e) if e.contains("locked by another writer") => {
                std::thread::sleep(Duration::from_millis(20))
            }
            r => return r.unwrap(),
        }
    }
    panic!("archive still locked after 2 s")
}

/// `common::iotarc`, retrying a pack or compact that found the archive locked.
fn iotarc(args: &[&str]) -> (i32, String, String) {
    let writes = matches!(args.first(), Some(&("pack" | "compact")));
    let once = || {
        let r = common::iotarc(args);
        match writes && r.0 != 0 && r.2.contains("locked by another writer") {
            true => Err(r.2),
            false => Ok(r),
        }
    };
    retry_locked(once)
}

fn verify(arch: &Path) -> (i32, String, String) {
    iotarc(&["verify", arch.to_str().unwrap()])
}

fn aggregate(arch: &Path, from: i64, to: i64) -> Vec<AggRow> {
    let a = Archive::open(arch).unwrap();
    let aggs = [
        Agg::Count,
        Agg::Min,
        Agg::Max,
        Agg::Sum,
        Agg::First,
        Agg::Last,
    ];
    a.query()
        .aggregates(&aggs)
        .from(from)
        .to(to)
        .every(HOUR)
        .run_aggregate()
        .unwrap()
        .0
}

/// archive.md §11 rule A3. A manifest rewritten validly (checksum
/// re-sealed) with a segment's `min_ts` 12 h late makes a query of the first half of the
/// day prune the segment away and answer nothing; verify must name the segment, the
/// field and both values.
#[test]
fn a_min_ts_moved_in_a_resealed_manifest_fails_verify() {
    let dir = tempfile::tempdir().unwrap();
    let arch = dir.path().join("a");
    pack(&arch, 0, 1, &["dev-a", "dev-b"]);
    assert_eq!(verify(&arch).0, 0);
    let (from, to) = (DAY0, DAY0 + DAY);
    let count = |rows: &[AggRow]| {
        rows.iter()
            .filter(|r| r.channel == "temp")
            .map(|r| r.count)
            .sum::<u64>()
    };
    assert_eq!(count(&aggregate(&arch, from, to)), 2880);

    let mut m = Manifest::read(&arch).unwrap();
    assert_eq!(m.segments.len(), 1);
    let was = m.segments[0].min_ts;
    m.segments[0].min_ts += 12 * HOUR;
    m.write(&arch).unwrap();
    assert_eq!(
        count(&aggregate(&arch, from, from + 12 * HOUR)),
        0,
        "the damage"
    );

    let (code, out, err) = verify(&arch);
    assert_eq!(code, 1, "{out}{err}");
    let path = &m.segments[0].path;
    let line = err
        .lines()
        .find(|l| l.contains(path.as_str()) && l.contains("min_ts"))
        .unwrap_or_else(|| panic!("no min_ts finding for {path}: {err}"));
    assert!(line.contains(&(was + 12 * HOUR).to_string()), "{line}");
    assert!(line.contains(&was.to_string()), "{line}");
    assert!(out.contains("1 problem(s)"), "{out}{err}");
}

/// archive.md §11 rule A3: each field of a segment entry is compared with the segment,
/// by the library (`check_entry`) and by `iotarc verify`.
#[test]
fn every_field_of_a_segment_entry_is_checked_against_the_segment() {
    let dir = tempfile::tempdir().unwrap();
    let arch = dir.path().join("a");
    pack(&arch, 0, 2, &["dev-a", "dev-b", "dev-c"]);
    let good = Manifest::read(&arch).unwrap();
    let ix = Index::open(&arch, &good).unwrap().expect("an index");
    let segs: Vec<Segment> = good
        .segments
        .iter()
        .map(|e| Segment::open(arch.join(&e.path)).unwrap())
        .collect();
    for (e, s) in good.segments.iter().zip(&segs) {
        assert_eq!(check_entry(&good, e, s, Some(&ix)), vec![]);
    }

    type Edit = fn(&mut iotarc::archive::SegmentEntry);
    let edits: Vec<(&str, Edit, Field)> = vec![
        (
            "partition a day late",
            |e| e.partition += DAY,
            Field::Partition,
        ),
        (
            "partition not a window start",
            |e| e.partition += HOUR,
            Field::Partition,
        ),
        ("min_ts later", |e| e.min_ts += 12 * HOUR, Field::MinTs),
        ("min_ts earlier", |e| e.min_ts -= 1, Field::MinTs),
        ("max_ts earlier", |e| e.max_ts -= 12 * HOUR, Field::MaxTs),
        (
            "a device dropped",
            |e| e.devices = e.devices.iter().skip(1).cloned().collect::<Vec<_>>().into(),
            Field::Devices,
        ),
        (
            "a device renamed",
            |e| {
                let mut d = e.devices.to_vec();
                d[0] = "dev-0".into();
                e.devices = d.into();
            },
            Field::Devices,
        ),
        (
            "a channel type changed",
            |e| {
                let mut c = e.channels.to_vec();
                c[0].types = vec!["string".into()];
                e.channels = c.into();
            },
            Field::Channels,
        ),
        (
            "a channel added",
            |e| {
                let mut c = e.channels.to_vec();
                c.push(ChannelInfo {
                    name: "humidity".into(),
                    types: vec!["f64".into()],
                });
                e.channels = c.into();
            },
            Field::Channels,
        ),
        ("rows", |e| e.rows += 1, Field::Rows),
        ("points", |e| e.points -= 1, Field::Points),
        ("bytes", |e| e.bytes += 1, Field::Bytes),
        (
            "index range",
            |e| e.index = e.index.map(|[o, l]| [o + 1, l]),
            Field::Index,
        ),
    ];
    let a = arch.to_str().unwrap();
    for (what, edit, field) in edits {
        for k in 0..good.segments.len() {
            let mut m = good.clone();
            edit(&mut m.segments[k]);
            let found = check_entry(&m, &m.segments[k], &segs[k], Some(&ix));
            assert!(
                found
                    .iter()
                    .any(|f| f.field == field && f.path == m.segments[k].path),
                "{what}, segment {k}: {found:?}"
            );
            // The index group records devices and bytes too; nothing else may differ.
            assert!(
                found
                    .iter()
                    .all(|f| f.field == field || f.field == Field::Index),
                "{what}: {found:?}"
            );
            for (j, e) in m.segments.iter().enumerate().filter(|&(j, _)| j != k) {
                assert_eq!(check_entry(&m, e, &segs[j], Some(&ix)), vec![], "{what}");
            }
        }
        // The binary reports it: exit 1, the path and the field named.
        let mut m = good.clone();
        edit(&mut m.segments[0]);
        m.write(&arch).unwrap();
        let (code, out, err) = iotarc(&["verify", a]);
        assert_eq!(code, 1, "{what}: {out}{err}");
        let path = &m.segments[0].path;
        assert!(
            err.lines()
                .any(|l| l.contains(path.as_str()) && l.contains(&format!("manifest {field} is"))),
            "{what}: {err}"
        );
    }
    good.write(&arch).unwrap();
    let (code, out, err) = verify(&arch);
    assert_eq!(code, 0, "{out}{err}");
}

/// archive.md §9.3 step 3. An INDEX cut to its 16-byte header leaves
/// every group reference pointing past the end. One compaction run that also merges
/// segments must repair all of them.
#[test]
fn one_compaction_repairs_an_index_truncated_to_its_header() {
    let dir = tempfile::tempdir().unwrap();
    let arch = dir.path().join("a");
    // Two copies of days 1 and 2 (merged by compaction), three days in all.
    pack(&arch, 0, 3, &["dev-a", "dev-b"]);
    pack(&arch, 1, 2, &["dev-a", "dev-b"]);
    let ranges = [
        (i64::MIN, i64::MAX),
        (DAY0 + 5 * HOUR, DAY0 + 2 * DAY + 7 * HOUR),
    ];
    let before: Vec<Vec<AggRow>> = ranges
        .iter()
        .map(|&(f, t)| aggregate(&arch, f, t))
        .collect();
    assert_eq!(verify(&arch).0, 0);

    let file = index_files(&arch).remove(0);
    let b = fs::read(&file).unwrap();
    fs::write(&file, &b[..16]).unwrap();
    let (code, _, err) = verify(&arch);
    assert_eq!(code, 1, "{err}");

    let (code, out, err) = iotarc(&["compact", arch.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = verify(&arch);
    assert_eq!(code, 0, "one run must leave a clean archive: {out}{err}");
    assert!(!err.contains("INDEX"), "{err}");
    let a = Archive::open(&arch).unwrap();
    assert!(a.manifest().segments.iter().all(|e| e.index.is_some()));
    for (&(f, t), want) in ranges.iter().zip(&before) {
        assert_eq!(&aggregate(&arch, f, t), want, "{f}..{t}");
        let (_, st) = a
            .query()
            .aggregates(&[Agg::Count])
            .from(f)
            .to(t)
            .run_aggregate()
            .unwrap();
        assert_eq!(st.segments_opened, 0, "answered from the rebuilt index");
    }
}

/// archive.md §8 and §11 rule A6, deterministically: a snapshot read
/// before a compaction lists segments the compaction deleted. The shared restart
/// (`Archive::on_snapshot`) moves to the newer manifest, where every entry checks out.
#[test]
fn a_check_on_a_stale_snapshot_restarts_on_the_new_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let arch = dir.path().join("a");
    pack(&arch, 0, 1, &["dev-a"]);
    pack(&arch, 0, 1, &["dev-b"]);
    let a = Archive::open(&arch).unwrap();
    let old = a.manifest().clone();
    assert_eq!(old.segments.len(), 2);
    // Another test's forked child may still hold a copy of this archive's lock.
    let r = retry_locked(|| compact(&arch, &CompactOptions::default()).map_err(|e| e.to_string()));
    assert_eq!(r.merges, 1);
    assert!(!arch.join(&old.segments[0].path).exists());
    let mut attempts = Vec::new();
    let generation = a
        .on_snapshot(|m, ix| {
            attempts.push(m.generation);
            for e in &m.segments {
                let seg = Segment::open(arch.join(&e.path))?;
                assert_eq!(check_entry(m, e, &seg, ix), vec![]);
            }
            Ok(m.generation)
        })
        .unwrap();
    assert!(generation > old.generation);
    assert_eq!(attempts, vec![old.generation, generation]);
}

/// archive.md §11 rule A6: `iotarc verify` beside a process that packs
/// and compacts over and over never fails, and reports the generation it verified.
#[test]
fn verify_never_fails_while_compaction_runs() {
    let dir = tempfile::tempdir().unwrap();
    let arch = dir.path().join("a");
    let devices = ["dev-a", "dev-b", "dev-c", "dev-d"];
    pack(&arch, 0, 4, &devices);
    // The writer runs as processes: a lock held in this process would leak into the
    // verify processes it forks, and make the next writer find the archive locked.
    let mut csv = String::from("timestamp,device,channel,value\n");
    for m in 0..4 * 1440 {
        for d in devices {
            csv.push_str(&format!("{},{d},temp,{}\n", DAY0 + m * 60 * SEC, m % 89));
        }
    }
    let input = dir.path().join("in.csv");
    fs::write(&input, csv).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (arch, stop) = (arch.clone(), Arc::clone(&stop));
        std::thread::spawn(move || {
            let a = arch.to_str().unwrap();
            let mut rounds = 0;
            while !stop.load(Ordering::Relaxed) {
                // A second copy of every day, then a compaction that merges it away and
                // deletes both inputs of each day.
                let args = [
                    "pack",
                    input.to_str().unwrap(),
                    "-o",
                    a,
                    "--time-unit",
                    "us",
                    "-q",
                ];
                let (code, out, err) = iotarc(&args);
                assert_eq!(code, 0, "{out}{err}");
                let (code, out, err) = iotarc(&["compact", a, "-q"]);
                assert_eq!(code, 0, "{out}{err}");
                rounds += 1;
            }
            rounds
        })
    };
    let start = Instant::now();
    let mut runs = 0;
    let mut generations = std::collections::BTreeSet::new();
    let mut restarts = 0;
    while start.elapsed() < Duration::from_secs(8) {
        let (code, out, err) = verify(&arch);
        assert_eq!(code, 0, "verify run {runs}: {out}{err}");
        let g = out
            .split("generation ")
            .nth(1)
            .and_then(|s| s.split(',').next())
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("no generation in {out}"));
        generations.insert(g);
        restarts += usize::from(err.contains("restarted"));
        runs += 1;
    }
    stop.store(true, Ordering::Relaxed);
    let rounds = writer.join().unwrap();
    assert!(
        rounds >= 3 && runs >= 10,
        "{rounds} compactions, {runs} verify runs"
    );
    assert!(generations.len() >= 3, "{generations:?}");
    eprintln!("{rounds} compactions, {runs} verify runs, {restarts} of them restarted");
    // About one run in twelve meets a compaction; the race must have been run into.
    assert!(restarts > 0, "{runs} verify runs, none restarted");
}

/// archive.md §11 rule A6: a listed segment that is missing while the manifest has not
/// moved on is not a snapshot gone stale but a problem, reported at once with its path.
#[test]
fn a_missing_segment_without_a_newer_manifest_is_a_problem() {
    let dir = tempfile::tempdir().unwrap();
    let arch = dir.path().join("a");
    pack(&arch, 0, 2, &["dev-a"]);
    let m = Manifest::read(&arch).unwrap();
    fs::remove_file(arch.join(&m.segments[1].path)).unwrap();
    let t = Instant::now();
    let (code, out, err) = verify(&arch);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.lines()
            .any(|l| l.contains(m.segments[1].path.as_str()) && l.contains("No such file")),
        "{err}"
    );
    let g = format!("1 problem(s) (generation {}, 2 segments", m.generation);
    assert!(out.contains(&g), "{out}");
    assert!(t.elapsed() < Duration::from_secs(5));
}
