//! The streaming writer's choice of partition unit (archive.md §3.1, §7), compaction's
//! default tiers (§8) and the WAL left by a clean close (wal.md W5, W7), through the real
//! `iotarc` binary and, for crashes, the library.

use iotarc::archive::{Archive, Dedup, Manifest, PartitionUnit};
use iotarc::stream::{PointBatch, StreamOptions, StreamWriter};
use iotarc::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

mod common;
use common::*;

/// 2021-01-01T00:00:00Z.
const T0: i64 = 1_609_459_200 * SEC;

/// A wide CSV of `devices` x `channels` readings every `step` µs over `[T0, T0 + span)`,
/// ordered by time. Values drift slowly with some noise, like sensor readings.
fn wide_csv(path: &Path, devices: u32, channels: u32, span: i64, step: i64) -> u64 {
    let mut rng = Rng(7);
    let mut s = String::from("timestamp,device");
    for c in 0..channels {
        write!(s, ",ch{c}").unwrap();
    }
    s.push('\n');
    let mut level: Vec<f64> = (0..devices * channels).map(|i| (i % 50) as f64).collect();
    let mut n = 0;
    let mut t = T0;
    while t < T0 + span {
        let ts = rfc3339(t);
        for d in 0..devices {
            write!(s, "{ts},dev-{d:02}").unwrap();
            for c in 0..channels {
                let l = &mut level[(d * channels + c) as usize];
                *l += (rng.below(21) as f64 - 10.0) / 10.0;
                write!(s, ",{:.1}", *l).unwrap();
                n += 1;
            }
            s.push('\n');
        }
        t += step;
    }
    std::fs::write(path, s).unwrap();
    n
}

/// Total bytes of the files under `dir`.
fn total_bytes(dir: &Path) -> u64 {
    let mut sum = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let md = e.metadata().unwrap();
        sum += if md.is_dir() {
            total_bytes(&e.path())
        } else {
            md.len()
        };
    }
    sum
}

fn ok(args: &[&str]) -> String {
    let o = run(args);
    assert!(o.status.success(), "iotarc {args:?}: {}", stderr(&o));
    stdout(&o)
}

/// The slow corpus of (a) and (c): 12 devices x 6 channels, hourly, 3 years.
fn slow_corpus(tmp: &Path) -> (PathBuf, u64) {
    let csv = tmp.join("slow.csv");
    let n = wide_csv(&csv, 12, 6, 3 * 365 * DAY, HOUR);
    (csv, n)
}

/// (a) §3.1 and §8: with default options, ingest then compact of a slow multi-device
/// input chooses year partitions, as pack does, and ends within 3 % of pack's bytes
/// (compaction's default tiers reach the year; the INDEX holds no dead groups, §9.3; the
/// WAL holds only a header, W5/W7).
#[test]
fn ingest_then_compact_is_as_small_as_pack() {
    let tmp = tempfile::tempdir().unwrap();
    let (csv, n) = slow_corpus(tmp.path());
    let packed = tmp.path().join("packed");
    let streamed = tmp.path().join("streamed");
    ok(&["pack", "-q", s(&csv), "-o", s(&packed)]);
    ok(&["ingest", "-q", s(&streamed), s(&csv)]);
    ok(&["compact", "-q", s(&streamed)]);
    let (pm, sm) = (
        Manifest::read(&packed).unwrap(),
        Manifest::read(&streamed).unwrap(),
    );
    assert_eq!(pm.partition, PartitionUnit::Year);
    assert_eq!(
        sm.partition,
        PartitionUnit::Year,
        "ingest chose another unit"
    );
    assert_eq!(
        (manifest_points(&packed), manifest_points(&streamed)),
        (n, n)
    );
    // One segment per year window after compaction, like pack.
    assert_eq!(sm.segments.len(), pm.segments.len(), "{:?}", sm.segments);
    let (p, st) = (total_bytes(&packed), total_bytes(&streamed));
    assert!(
        (st as f64) <= p as f64 * 1.03 && (st as f64) >= p as f64 * 0.97,
        "ingest+compact {st} bytes vs pack {p}"
    );
}

/// (b) §3.1: an input of 200 values/s (17 M a day) gets day windows: the writer decides
/// at 166,667 buffered points, before the first hour is complete.
#[test]
fn high_rate_input_gets_day_partitions() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("fast.csv");
    let n = wide_csv(&csv, 50, 4, 90 * 60 * SEC, SEC);
    let arch = tmp.path().join("arch");
    ok(&["ingest", "-q", s(&arch), s(&csv)]);
    assert_eq!(Manifest::read(&arch).unwrap().partition, PartitionUnit::Day);
    assert_eq!(manifest_points(&arch), n);
}

/// (c) §3.1: an explicit `--partition day` is used as given, for slow data too, and is
/// fixed from the generation-0 manifest on (it has `wal` state).
#[test]
fn explicit_partition_is_honored() {
    let tmp = tempfile::tempdir().unwrap();
    let (csv, n) = slow_corpus(tmp.path());
    let arch = tmp.path().join("arch");
    ok(&["ingest", "-q", "--partition", "day", s(&arch), s(&csv)]);
    let m = Manifest::read(&arch).unwrap();
    assert_eq!(m.partition, PartitionUnit::Day);
    assert_eq!(manifest_points(&arch), n);
    let windows: std::collections::BTreeSet<i64> = m.segments.iter().map(|e| e.partition).collect();
    assert_eq!(windows.len(), 3 * 365);
    // Ingesting more with auto keeps the existing unit.
    let more = tmp.path().join("more.csv");
    std::fs::write(
        &more,
        "timestamp,device,ch0\n2030-01-01T00:00:00Z,dev-00,1.5\n",
    )
    .unwrap();
    ok(&["ingest", "-q", s(&arch), s(&more)]);
    assert_eq!(Manifest::read(&arch).unwrap().partition, PartitionUnit::Day);
}

/// Every point of the archive, as (device, channel, ts) -> values (duplicates kept).
fn raw(dir: &Path) -> BTreeMap<(String, String, i64), Vec<Value>> {
    let a = Archive::open(dir).unwrap();
    let mut out: BTreeMap<_, Vec<Value>> = BTreeMap::new();
    a.query()
        .run_raw(|d, c, ts, v| {
            out.entry((d.to_owned(), c.to_owned(), ts))
                .or_default()
                .push(v.clone());
            Ok(true)
        })
        .unwrap();
    out
}

/// Keep-all (a point replayed twice shows up twice), day seal windows (the provisional
/// hour buffers are regrouped when the unit is chosen) and the given `max_delay`.
fn crash_opts(max_delay: Option<Duration>) -> StreamOptions {
    StreamOptions {
        dedup: Some(Dedup::KeepAll),
        seal_unit: PartitionUnit::Day,
        max_delay,
        compact: None,
        ..StreamOptions::default()
    }
}

/// Writes `devices` x 3 channels every `step` over `[from, from + span)`; returns the
/// points written, into `model` too.
fn write_points(
    w: &StreamWriter,
    model: &mut BTreeMap<(String, String, i64), Vec<Value>>,
    from: i64,
    span: i64,
    step: i64,
) -> u64 {
    let mut b = PointBatch::default();
    let mut t = from;
    let mut n = 0;
    while t < from + span {
        for d in 0..4 {
            for c in 0..3 {
                let (dev, ch) = (format!("d{d}"), format!("c{c}"));
                let v = Value::F64((t / step) as f64 + c as f64 / 4.0);
                model
                    .entry((dev.clone(), ch.clone(), t))
                    .or_default()
                    .push(v.clone());
                b.push(&dev, &ch, t, v);
                n += 1;
            }
        }
        t += step;
    }
    let ack = w.write(b).unwrap();
    assert_eq!(ack.accepted as u64, n);
    n
}

/// (d) §7: a writer dropped (as in a crash) before it chose the unit has sealed nothing
/// and committed no `wal` state, even with a `max_delay` long past; reopening replays
/// every record once. A later crash after the choice, with one WAL record's closed day
/// windows sealed and its last window still buffered, still restores every point
/// exactly once: replay must skip the sealed windows by the seal unit the first commit
/// recorded (day), which only holds if the hour buffers were regrouped into day windows.
#[test]
fn replay_before_the_unit_is_fixed_loses_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("arch");
    let mut model = BTreeMap::new();
    let fast = || crash_opts(Some(Duration::from_millis(20)));
    let (w, _) = StreamWriter::open(&dir, fast()).unwrap();
    // Half an hour of data: not enough to choose, whatever max_delay says.
    let n1 = write_points(&w, &mut model, T0, 30 * 60 * SEC, 60 * SEC);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(w.stats().segments, 0, "sealed before the unit was chosen");
    let m = Manifest::read(&dir).unwrap();
    assert!(!m.unit_fixed(), "{m:?}");
    drop(w);

    // No max_delay from here on: only closed windows seal.
    let (w, rep) = StreamWriter::open(&dir, crash_opts(None)).unwrap();
    assert_eq!((rep.points, rep.already_sealed), (n1, 0), "{rep:?}");
    // Three more days in one record: the span passes one hour, the writer chooses (year
    // at this rate) and seals the three closed days; the last half hour stays buffered.
    let n2 = write_points(&w, &mut model, T0 + 30 * 60 * SEC, 3 * DAY, 60 * SEC);
    let deadline = Instant::now() + Duration::from_secs(20);
    while w.stats().segments == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(w.stats().segments > 0, "nothing sealed after the choice");
    let buffered = w.stats().buffered_points;
    assert!(buffered > 0 && buffered < n2, "{buffered} of {n2} buffered");
    drop(w);
    let m = Manifest::read(&dir).unwrap();
    assert!(m.unit_fixed());
    assert_eq!(m.partition, PartitionUnit::Year);
    assert_eq!(m.wal.as_ref().unwrap().seal_unit, PartitionUnit::Day);

    let (w, rep) = StreamWriter::open(&dir, crash_opts(None)).unwrap();
    assert_eq!(rep.points, buffered, "{rep:?}");
    assert_eq!(rep.points + manifest_points(&dir), n1 + n2, "{rep:?}");
    w.close().unwrap();
    assert_eq!(manifest_points(&dir), n1 + n2);
    assert_eq!(raw(&dir), model, "points lost or doubled");
}

/// (e) wal.md W5, W7 and archive.md §7: after a clean close everything is sealed and the
/// WAL directory holds one file with only its 16-byte header.
#[test]
fn wal_is_one_header_after_a_clean_close() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("in.csv");
    wide_csv(&csv, 4, 3, 10 * DAY, 60 * SEC);
    let arch = tmp.path().join("arch");
    ok(&["ingest", "-q", s(&arch), s(&csv)]);
    let wal = arch.join("wal");
    let files: Vec<_> = std::fs::read_dir(&wal).unwrap().collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(total_bytes(&wal), 16);
    // The next writer reuses the empty file and replays nothing.
    ok(&["ingest", "-q", s(&arch), s(&csv)]);
    assert_eq!(total_bytes(&wal), 16);
}

/// §3.1: `stats` reports an archive whose unit a writer still holds open as not fixed,
/// in text and JSON, and the unit once the first seal commits.
#[test]
fn stats_says_when_the_unit_is_not_fixed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("arch");
    let mut model = BTreeMap::new();
    let (w, _) = StreamWriter::open(&dir, crash_opts(Some(Duration::from_millis(20)))).unwrap();
    write_points(&w, &mut model, T0, 10 * 60 * SEC, 60 * SEC);
    let text = ok(&["stats", s(&dir)]);
    assert!(text.contains("unit not fixed yet"), "{text}");
    let json: serde_json::Value = serde_json::from_str(&ok(&["stats", "--json", s(&dir)])).unwrap();
    assert_eq!(json["partition_fixed"], false);
    w.close().unwrap();
    let text = ok(&["stats", s(&dir)]);
    assert!(text.contains("(year windows"), "{text}");
    let json: serde_json::Value = serde_json::from_str(&ok(&["stats", "--json", s(&dir)])).unwrap();
    assert_eq!(json["partition_fixed"], true);
}
