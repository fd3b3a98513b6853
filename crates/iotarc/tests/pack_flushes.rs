//! A pack that flushes several times merges its own segments per window before it
//! commits (archive.md §3.2): one segment per window, duplicates across flushes resolved
//! by the policy and counted, older segments untouched, and windows whose segments
//! cannot merge kept as they are.

use iotarc::archive::{Archive, Manifest, Origin, PackOptions, PackValue, Packer, PartitionUnit};
use iotarc::Value;
use std::collections::BTreeMap;
use std::path::Path;

const DAY: i64 = 86_400_000_000;

fn opts() -> PackOptions {
    PackOptions {
        partition: Some(PartitionUnit::Day),
        flush_rows: Some(1_000),
        ..PackOptions::default()
    }
}

fn points(path: &Path) -> BTreeMap<(String, String, i64), Value> {
    let arch = Archive::open(path).unwrap();
    let mut out = BTreeMap::new();
    arch.query()
        .run_raw(|d, c, t, v| {
            assert!(out
                .insert((d.to_owned(), c.to_owned(), t), v.clone())
                .is_none());
            Ok(true)
        })
        .unwrap();
    out
}

#[test]
fn flushes_of_one_window_become_one_segment() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("arch");
    // An older pack: its segment must stay as it is.
    let mut p = Packer::open(&path, opts()).unwrap();
    p.push(
        "d0",
        "x",
        5,
        PackValue::F64(0.5),
        Origin { input: 0, line: 1 },
    );
    p.commit(0).unwrap();
    let mut model: BTreeMap<(String, String, i64), Value> = BTreeMap::new();
    model.insert(("d0".into(), "x".into(), 5), Value::F64(0.5));
    let mut p = Packer::open(&path, opts()).unwrap();
    let mut line = 0;
    let mut sent = 0u64;
    // Two days of 10 devices, 1 s apart, in time order: each flush of 1,000 rows holds
    // all 10 devices; every 7th row is repeated later with another value (last wins).
    for i in 0..6_000i64 {
        let t = 1_000 + i * 28_000_000;
        for d in 0..10 {
            let dev = format!("d{d}");
            line += 1;
            let v = (i * 10 + d) as f64;
            p.push(&dev, "x", t, PackValue::F64(v), Origin { input: 0, line });
            sent += 1;
            if p.should_flush() {
                p.flush().unwrap();
            }
            model.insert((dev, "x".into(), t), Value::F64(v));
        }
    }
    for i in (0..6_000i64).step_by(7) {
        let t = 1_000 + i * 28_000_000;
        line += 1;
        p.push(
            "d3",
            "x",
            t,
            PackValue::F64(-1.0),
            Origin { input: 0, line },
        );
        sent += 1;
        if p.should_flush() {
            p.flush().unwrap();
        }
        model.insert(("d3".into(), "x".into(), t), Value::F64(-1.0));
    }
    let stats = p.commit(0).unwrap();
    let m = Manifest::read(&path).unwrap();
    let mut per_window: BTreeMap<i64, usize> = BTreeMap::new();
    for s in &m.segments {
        *per_window.entry(s.partition).or_default() += 1;
    }
    // Day 0 holds the older segment and the merged one; day 1 the merged one.
    assert_eq!(per_window, BTreeMap::from([(0, 2), (DAY, 1)]));
    assert!(m.segments.iter().any(|s| s.points == 1 && s.min_ts == 5));
    // Nothing lost, nothing counted twice.
    assert_eq!(stats.points_written + stats.duplicates, sent);
    assert_eq!(stats.duplicates, 6_000u64.div_ceil(7));
    assert_eq!(stats.segments, 2);
    let files = walk(&path.join("seg"));
    assert_eq!(files, m.segments.len(), "unlisted segment files remain");
    assert_eq!(points(&path), model);
}

#[test]
fn a_window_that_cannot_merge_keeps_its_segments() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("arch");
    let mut p = Packer::open(&path, opts()).unwrap();
    let mut model = BTreeMap::new();
    // Channel "x" is a float in the first flush and a string in the second.
    for i in 0..1_500i64 {
        let line = i as u64 + 1;
        let v = if i < 1_000 {
            PackValue::F64(i as f64)
        } else {
            PackValue::Str(format!("s{i}").into())
        };
        let want = match &v {
            PackValue::F64(x) => Value::F64(*x),
            PackValue::Str(s) => Value::Str(s.to_string()),
            _ => unreachable!(),
        };
        p.push("d", "x", i * 1_000_000, v, Origin { input: 0, line });
        if p.should_flush() {
            p.flush().unwrap();
        }
        model.insert(("d".to_string(), "x".to_string(), i * 1_000_000), want);
    }
    let stats = p.commit(0).unwrap();
    assert_eq!(stats.segments, 2);
    assert_eq!(Manifest::read(&path).unwrap().segments.len(), 2);
    assert_eq!(points(&path), model);
}

fn walk(d: &Path) -> usize {
    std::fs::read_dir(d)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p)
            } else {
                1
            }
        })
        .sum()
}
