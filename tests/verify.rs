//! `iotarc verify` against damage that checksums cannot see, and against writers running
//! beside it (archive.md §11).

use iotarc::archive::{
    Agg, AggRow, Archive, Origin, PackOptions, PackValue, Packer, PartitionUnit,
};
use iotarc::WriterOptions;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

mod common;
use common::*;

/// Packs `days` days from `first_day` of `devices` at one reading a minute, as one pack
/// run. Values are integers (exact sums), so answers do not depend on how segments are
/// merged.
fn pack(dir: &Path, first_day: i64, days: i64, devices: &[&str]) {
    let opts = PackOptions {
        partition: PartitionUnit::Day,
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

fn iotarc(args: &[&str]) -> (i32, String, String) {
    let writes = matches!(args.first(), Some(&("pack" | "compact")));
    let once = || {
        let out = run(args);
        let r = (out.status.code().unwrap_or(-1), stdout(&out), stderr(&out));
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

fn index_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().unwrap().to_str().unwrap().contains("INDEX"))
        .collect();
    v.sort();
    v
}

/// Issue 14, row 11; archive.md §9.3 step 3. An INDEX cut to its 16-byte header leaves
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
