//! No writer destroys good data: a damaged WAL is reported, never cut (wal.md §7.1), a
//! lost or rolled-back manifest stops every writer (archive.md L1, L5), manifest paths
//! stay inside the archive (M1), a substituted segment is detected (M4), leftovers are
//! deleted only when provably a writer's own (L2–L4), and `iotarc repair` rebuilds
//! what writers refuse to guess at (archive.md §4.3, wal.md §9). Each test reproduces
//! a case where an earlier release lost or mangled data.

use iotarc::archive::Manifest;
use iotarc::model::Value;
use iotarc::stream::{PointBatch, StreamOptions, StreamWriter, SyncPolicy};
use iotarc::wal;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

mod common;
use common::*;

fn ok(o: &Output, what: &str) -> String {
    assert!(o.status.success(), "{what}: {}{}", stdout(o), stderr(o));
    stdout(o)
}

/// Writes a CSV of `n` readings of `devices` devices, 30 s apart from `start`.
fn csv(dir: &Path, name: &str, start: i64, n: usize, devices: usize, base: f64) -> PathBuf {
    let mut t = String::from("timestamp,device,channel,value\n");
    for i in 0..n {
        let ts = start + i as i64 * 30 * SEC;
        t.push_str(&format!(
            "{},dev-{},temp,{}\n",
            ts / SEC,
            i % devices,
            base + (i % 17) as f64 / 4.0
        ));
    }
    let p = dir.join(name);
    fs::write(&p, t).unwrap();
    p
}

fn pack(input: &Path, arch: &Path) -> Output {
    bin()
        // Day windows: the archives span several partition directories.
        .args([
            "pack",
            s(input),
            "-o",
            s(arch),
            "--time-unit",
            "s",
            "--partition",
            "day",
            "-q",
        ])
        .output()
        .unwrap()
}

/// Raw points as `epoch-us,device,channel,value` lines, sorted.
fn points(arch: &Path) -> Vec<String> {
    let o = run(&["query", s(arch), "--time-format", "epoch-us"]);
    let mut v: Vec<String> = ok(&o, "query").lines().skip(1).map(String::from).collect();
    v.sort();
    v
}

fn segment_files(arch: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    files_under(&arch.join("seg"))
}

/// Streams `n` one-point batches (each its own WAL record, fsynced before its
/// acknowledgement) and stops without sealing, as a crash would: every point is
/// acknowledged and lives only in the WAL.
fn acknowledged_in_wal(arch: &Path, n: usize, wal_file_bytes: u64) {
    let opts = StreamOptions {
        sync: SyncPolicy::Batch,
        max_delay: None,
        compact: None,
        wal: wal::WalOptions {
            max_file_bytes: wal_file_bytes,
        },
        ..StreamOptions::default()
    };
    let (w, _) = StreamWriter::open(arch, opts).unwrap();
    for i in 0..n {
        let mut b = PointBatch::default();
        b.push(
            "dev-0",
            "temp",
            DAY0 + i as i64 * SEC,
            Value::F64(i as f64 + 0.5),
        );
        w.write(b).unwrap();
    }
    drop(w);
}

fn wal_files(arch: &Path) -> Vec<(u64, PathBuf)> {
    wal::list_files(&arch.join("wal")).unwrap()
}

/// Flips one bit in the middle of `file`'s records (or at `at`).
fn flip(file: &Path, at: Option<usize>) -> Vec<u8> {
    let mut b = fs::read(file).unwrap();
    let i = at.unwrap_or(wal::HEADER_LEN + (b.len() - wal::HEADER_LEN) / 2);
    b[i] ^= 0x08;
    fs::write(file, &b).unwrap();
    b
}

/// Issue row 1: one flipped bit in the newest WAL file, then `ingest`. The damaged
/// record and everything after it were cut as a "torn tail" (800 of 1,000 acknowledged
/// points lost; a flipped magic lost all). Now (wal.md P6, P7, T1–T4): verify exits 1,
/// every writer refuses and names `iotarc repair --wal`, nothing is cut, and the repair
/// loses only the damaged record's point.
#[test]
fn a_flipped_bit_in_the_wal_is_reported_and_repair_keeps_every_valid_record() {
    for (case, at, lost) in [("mid-file", None, 1usize), ("magic", Some(3), 0)] {
        let tmp = tempfile::tempdir().unwrap();
        let arch = tmp.path().join("arch");
        acknowledged_in_wal(&arch, 1000, 64 << 20);
        let (_, newest) = wal_files(&arch).pop().unwrap();
        let damaged = flip(&newest, at);

        let v = run(&["verify", s(&arch)]);
        assert_eq!(v.status.code(), Some(1), "{case}: {}", stderr(&v));
        assert!(stderr(&v).contains("iotarc repair --wal"), "{}", stderr(&v));
        let o = bin()
            .args(["ingest", s(&arch), "-", "--format", "lp"])
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert!(!o.status.success(), "{case}: ingest accepted a damaged WAL");
        assert!(stderr(&o).contains("iotarc repair --wal"), "{}", stderr(&o));
        let csvf = csv(tmp.path(), "p.csv", DAY0 + DAY, 10, 1, 1.0);
        let o = pack(&csvf, &arch);
        assert!(
            !o.status.success(),
            "{case}: pack ran over unsealed, damaged WAL"
        );
        assert_eq!(
            fs::read(&newest).unwrap(),
            damaged,
            "{case}: nothing was cut"
        );

        let dry = ok(&run(&["repair", s(&arch), "--wal", "--dry-run"]), "dry run");
        assert!(dry.contains("would keep"), "{dry}");
        assert_eq!(
            fs::read(&newest).unwrap(),
            damaged,
            "a dry run changes nothing"
        );
        let done = ok(&run(&["repair", s(&arch), "--wal"]), "repair");
        assert!(done.contains("original kept at"), "{done}");
        let copies: Vec<_> = fs::read_dir(arch.join("damaged")).unwrap().collect();
        assert_eq!(copies.len(), 1);

        let o = bin()
            .args(["ingest", s(&arch), "-", "--format", "lp"])
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        ok(&o, "ingest after repair");
        assert_eq!(points(&arch).len(), 1000 - lost, "{case}");
        ok(&run(&["verify", s(&arch)]), "verify after repair");
    }
}

/// The same for a rotated (older) WAL file, made small with `--wal-file-size`: a
/// defect there was always Corrupt (P5); repair now salvages it too.
#[test]
fn damage_in_a_rotated_wal_file_is_salvaged() {
    let tmp = tempfile::tempdir().unwrap();
    let arch = tmp.path().join("arch");
    acknowledged_in_wal(&arch, 300, 2048);
    let files = wal_files(&arch);
    assert!(files.len() >= 5, "{} files", files.len());
    flip(&files[1].1, None);
    assert_eq!(run(&["verify", s(&arch)]).status.code(), Some(1));
    ok(&run(&["repair", s(&arch), "--wal"]), "repair");
    let o = bin()
        .args([
            "ingest",
            s(&arch),
            "-",
            "--format",
            "lp",
            "--wal-file-size",
            "2K",
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    ok(&o, "ingest after repair");
    assert_eq!(points(&arch).len(), 299);
}

/// Issue row 2: `rm MANIFEST`, then `ingest` deleted every segment as "unlisted".
/// archive.md L1: every writer stops, names `iotarc repair --manifest`, and deletes
/// nothing; the repair brings every point back.
#[test]
fn a_lost_manifest_stops_every_writer_and_repair_rebuilds_it() {
    let tmp = tempfile::tempdir().unwrap();
    let arch = tmp.path().join("arch");
    let p1 = csv(tmp.path(), "p1.csv", DAY0, 2880, 3, 20.0);
    ok(&pack(&p1, &arch), "pack");
    let want = points(&arch);
    fs::remove_file(arch.join("MANIFEST")).unwrap();
    let before = files_under(&arch);
    let small = csv(tmp.path(), "small.csv", DAY0 + 3 * DAY, 5, 1, 1.0);
    for args in [
        vec!["ingest", s(&arch), s(&small), "--time-unit", "s"],
        vec!["pack", s(&small), "-o", s(&arch), "--time-unit", "s"],
        vec!["compact", s(&arch)],
    ] {
        let o = run(&args);
        assert!(!o.status.success(), "{args:?} ran without a manifest");
        assert!(
            stderr(&o).contains("iotarc repair --manifest"),
            "{args:?}: {}",
            stderr(&o)
        );
        assert_eq!(files_under(&arch), before, "{args:?} touched the archive");
    }
    let dry = ok(
        &run(&["repair", s(&arch), "--manifest", "--dry-run"]),
        "dry",
    );
    assert!(dry.contains("would adopt"), "{dry}");
    assert!(!arch.join("MANIFEST").exists(), "a dry run writes nothing");
    ok(&run(&["repair", s(&arch), "--manifest"]), "repair");
    assert_eq!(points(&arch), want);
    ok(&run(&["verify", s(&arch)]), "verify");
    ok(
        &run(&["ingest", s(&arch), s(&small), "--time-unit", "s"]),
        "ingest after repair",
    );
    assert_eq!(points(&arch).len(), want.len() + 5);
}

/// Issue row 3: a MANIFEST replaced by an older copy (a restored backup). `verify`
/// called the newer segments "safe to delete" and the next writer deleted them.
/// archive.md L5: verify exits 1, writers stop, and `repair --manifest` lists every
/// segment again. Rolled back by one generation or by several.
#[test]
fn a_rolled_back_manifest_stops_writers_and_repair_restores_every_segment() {
    for later in [1usize, 3] {
        let tmp = tempfile::tempdir().unwrap();
        let arch = tmp.path().join("arch");
        let p1 = csv(tmp.path(), "p1.csv", DAY0, 500, 2, 10.0);
        ok(&pack(&p1, &arch), "pack 1");
        let old = fs::read(arch.join("MANIFEST")).unwrap();
        for k in 0..later {
            let p = csv(
                tmp.path(),
                "p.csv",
                DAY0 + (k as i64 + 1) * DAY,
                500,
                2,
                30.0,
            );
            ok(&pack(&p, &arch), "later pack");
        }
        let want = points(&arch);
        fs::write(arch.join("MANIFEST"), &old).unwrap();
        let segs = segment_files(&arch);

        let v = run(&["verify", s(&arch)]);
        assert_eq!(v.status.code(), Some(1), "{}", stderr(&v));
        assert!(stderr(&v).contains("rolled back"), "{}", stderr(&v));
        assert!(!stderr(&v).contains("safe to delete"));
        let p4 = csv(tmp.path(), "p4.csv", DAY0 + 9 * DAY, 10, 1, 1.0);
        for args in [
            vec!["pack", s(&p4), "-o", s(&arch), "--time-unit", "s"],
            vec!["ingest", s(&arch), s(&p4), "--time-unit", "s"],
            vec!["compact", s(&arch)],
        ] {
            let o = run(&args);
            assert!(!o.status.success(), "{later}: {args:?} ran");
            assert!(
                stderr(&o).contains("iotarc repair --manifest"),
                "{}",
                stderr(&o)
            );
            assert_eq!(segment_files(&arch), segs, "{later}: {args:?} touched seg/");
        }
        let out = ok(&run(&["repair", s(&arch), "--manifest"]), "repair");
        assert!(out.contains("adopt"), "{out}");
        assert_eq!(points(&arch), want, "rolled back by {later}");
        ok(&run(&["verify", s(&arch)]), "verify after repair");
        ok(&pack(&p4, &arch), "pack after repair");
    }
}

/// Issue row 4: a manifest path outside the archive passed verify, and compact deleted
/// the file it named. archive.md M1: such a manifest is corrupt for every reader and
/// writer; nothing outside is opened or deleted.
#[test]
fn manifest_paths_outside_seg_are_corrupt() {
    let tmp = tempfile::tempdir().unwrap();
    let arch = tmp.path().join("arch");
    let victim = tmp.path().join("victim");
    fs::create_dir_all(&victim).unwrap();
    ok(
        &pack(&csv(tmp.path(), "a.csv", DAY0, 100, 1, 1.0), &arch),
        "pack",
    );
    ok(
        &pack(
            &csv(tmp.path(), "b.csv", DAY0 + 60 * SEC, 100, 1, 2.0),
            &arch,
        ),
        "pack",
    );
    let pristine = fs::read(arch.join("MANIFEST")).unwrap();
    let outside = [
        "../victim/x.seg".to_string(),
        format!("{}/x.seg", victim.display()),
        "seg/../../victim/x.seg".into(),
        "seg/2023-11-14".into(),
    ];
    for bad in outside {
        fs::write(arch.join("MANIFEST"), &pristine).unwrap();
        let mut m = Manifest::read(&arch).unwrap();
        let real = arch.join(&m.segments[0].path);
        fs::copy(&real, victim.join("x.seg")).unwrap();
        m.segments[0].path = bad.clone();
        m.write(&arch).unwrap();
        let e = match Manifest::read(&arch) {
            Ok(_) => panic!("{bad}: accepted"),
            Err(e) => e.to_string(),
        };
        assert!(e.contains("M1"), "{bad}: {e}");
        assert_eq!(run(&["verify", s(&arch)]).status.code(), Some(1), "{bad}");
        let o = run(&["compact", s(&arch)]);
        assert!(!o.status.success(), "{bad}: compact ran");
        assert!(
            victim.join("x.seg").exists(),
            "{bad}: a file outside was deleted"
        );
        assert!(real.exists());
    }
}

/// Issue row 6: a segment swapped for a valid one from another archive was read as
/// data, and after `rm INDEX` compact rebuilt the index from it. archive.md M4: the
/// manifest's checksum exposes it to queries, verify and compact alike.
#[test]
fn a_substituted_segment_is_detected() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    ok(
        &pack(&csv(tmp.path(), "a.csv", DAY0, 2880, 1, 20.0), &a),
        "pack a",
    );
    ok(
        &pack(&csv(tmp.path(), "b.csv", DAY0, 2880, 1, 40.0), &b),
        "pack b",
    );
    let ma = Manifest::read(&a).unwrap();
    let mb = Manifest::read(&b).unwrap();
    let (sa, sb) = (&ma.segments[0], &mb.segments[0]);
    assert_eq!(sa.bytes, sb.bytes, "the two segments have the same size");
    let seg_a = a.join(&sa.path);
    fs::copy(b.join(&sb.path), &seg_a).unwrap();
    let o = run(&["query", s(&a), "--time-format", "epoch-us"]);
    assert!(!o.status.success(), "the substituted values were returned");
    assert!(
        stderr(&o).contains("not the segment the manifest lists"),
        "{}",
        stderr(&o)
    );
    let v = run(&["verify", s(&a)]);
    assert_eq!(v.status.code(), Some(1));
    assert!(stderr(&v).contains("checksum"), "{}", stderr(&v));
    for f in fs::read_dir(&a).unwrap().flatten() {
        if f.file_name().to_string_lossy().starts_with("INDEX-") {
            fs::remove_file(f.path()).unwrap();
        }
    }
    // Compact rebuilds the index, but gives the substituted file no group: it reports
    // it, and queries keep failing on it rather than answering from a wrong group.
    let o = run(&["compact", s(&a)]);
    assert!(
        stderr(&o).contains("not the segment the manifest lists"),
        "{}",
        stderr(&o)
    );
    let m = Manifest::read(&a).unwrap();
    assert_eq!(
        m.segments[0].index, None,
        "a group built from the wrong segment"
    );
    assert_eq!(run(&["verify", s(&a)]).status.code(), Some(1));
    let o = run(&["query", s(&a), "--agg", "count"]);
    assert!(
        !o.status.success(),
        "an aggregate answered from the wrong segment"
    );
}

/// Issue row 10: temp files of an interrupted write were never removed nor reported.
/// archive.md L2: verify reports them, the next writer deletes them; a file nothing
/// proves a leftover (L6) is reported and kept.
#[test]
fn leftover_temp_files_are_reported_then_removed_and_unknown_files_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let arch = tmp.path().join("arch");
    ok(
        &pack(&csv(tmp.path(), "a.csv", DAY0, 100, 1, 1.0), &arch),
        "pack",
    );
    let label = fs::read_dir(arch.join("seg"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let temps = [
        arch.join(".MANIFEST.4242.tmp"),
        arch.join(".INDEX-000009.4242.tmp"),
        label.join(".g000002-0001.seg.4242.tmp"),
    ];
    for t in &temps {
        fs::write(t, b"half").unwrap();
    }
    let mine = label.join("notes.txt");
    fs::write(&mine, b"mine").unwrap();
    let v = run(&["verify", s(&arch)]);
    assert_eq!(v.status.code(), Some(0), "{}", stderr(&v));
    for t in &temps {
        let name = t.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            stderr(&v).contains(&name) && stderr(&v).contains("L2"),
            "{name}: {}",
            stderr(&v)
        );
    }
    assert!(stderr(&v).contains("L6"), "{}", stderr(&v));
    ok(
        &pack(&csv(tmp.path(), "b.csv", DAY0 + DAY, 10, 1, 1.0), &arch),
        "pack",
    );
    for t in &temps {
        assert!(!t.exists(), "{} left", t.display());
    }
    assert_eq!(fs::read(&mine).unwrap(), b"mine", "an unknown file is kept");
}

/// archive.md L3 and L4 through the library's crash hook: the merged file of a
/// compaction that did not commit, and the inputs of one that did, are deleted by the
/// next writer; the data is unchanged either way.
#[test]
fn interrupted_compactions_leave_only_provable_leftovers() {
    for (fp, rule) in [
        ("compact-after-write", "L3"),
        ("compact-after-commit", "L4"),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let arch = tmp.path().join("arch");
        for k in 0..3 {
            let f = csv(tmp.path(), "p.csv", DAY0 + k * 7 * SEC, 200, 2, k as f64);
            ok(&pack(&f, &arch), "pack");
        }
        let want = points(&arch);
        let o = bin()
            .args(["compact", s(&arch)])
            .env("IOTARC_FAILPOINT", fp)
            .output()
            .unwrap();
        assert!(!o.status.success(), "{fp}: the failpoint was not reached");
        let v = run(&["verify", s(&arch)]);
        assert_eq!(v.status.code(), Some(0), "{fp}: {}", stderr(&v));
        assert!(stderr(&v).contains(rule), "{fp}: {}", stderr(&v));
        assert_eq!(points(&arch), want, "{fp}");
        if rule == "L4" {
            // A manifest rebuilt now does not list the dropped inputs beside the merge.
            let r = ok(&run(&["repair", s(&arch), "--manifest"]), "repair");
            assert!(r.contains("input a committed compaction dropped"), "{r}");
            assert_eq!(points(&arch), want, "after repair");
        }
        ok(
            &pack(&csv(tmp.path(), "q.csv", DAY0 + DAY, 5, 1, 1.0), &arch),
            "pack",
        );
        let v = run(&["verify", s(&arch)]);
        assert!(!stderr(&v).contains("warning"), "{fp}: {}", stderr(&v));
        assert_eq!(points(&arch).len(), want.len() + 5);
    }
}
