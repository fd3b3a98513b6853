//! The streaming writer at library level: deduplication, late data, footer shortcuts next
//! to overlapping segments, WAL replay, type conflicts, the writer lock, backpressure and
//! readers running while a writer seals and compacts.
//!
//! Every test compares what the archive answers with a naive model kept by the test: the
//! copies of each (device, channel, timestamp) in arrival order.

use iotarc::archive::{
    compact, Agg, AggRow, Archive, CompactOptions, Dedup, Origin, PackOptions, PackValue, Packer,
    PartitionUnit,
};
use iotarc::stream::{PointBatch, StreamOptions, StreamWriter, SyncPolicy};
use iotarc::wal::WalOptions;
use iotarc::{Value, WriterOptions};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;
use common::*;

type Key = (String, String, i64);

/// Every copy of every point written, in arrival order.
#[derive(Default, Clone)]
struct Model {
    copies: BTreeMap<Key, Vec<Value>>,
}

impl Model {
    /// Adds a point to batch `b` and records it.
    fn put(&mut self, b: &mut PointBatch, d: &str, c: &str, ts: i64, v: Value) {
        b.push(d, c, ts, v.clone());
        self.add(d, c, ts, v);
    }

    fn add(&mut self, d: &str, c: &str, ts: i64, v: Value) {
        self.copies
            .entry((d.to_owned(), c.to_owned(), ts))
            .or_default()
            .push(v);
    }

    /// The copies that survive `policy`.
    fn survivors(&self, policy: Dedup) -> BTreeMap<Key, Vec<Value>> {
        self.copies
            .iter()
            .map(|(k, v)| {
                let keep = match policy {
                    Dedup::Last => vec![v[v.len() - 1].clone()],
                    Dedup::First => vec![v[0].clone()],
                    Dedup::KeepAll => v.clone(),
                };
                (k.clone(), keep)
            })
            .collect()
    }

    fn points(&self, policy: Dedup) -> u64 {
        self.survivors(policy)
            .values()
            .map(|v| v.len() as u64)
            .sum()
    }
}

/// A sortable rendering of a value, to compare copies of one key as multisets.
fn canon(v: &Value) -> String {
    match v {
        Value::F64(x) => format!("f{:016x}", x.to_bits()),
        other => format!("{other:?}"),
    }
}

fn sorted(mut m: BTreeMap<Key, Vec<Value>>) -> BTreeMap<Key, Vec<Value>> {
    for v in m.values_mut() {
        v.sort_by_key(canon);
    }
    m
}

/// Raw query over everything; checks that each series comes out in time order.
fn raw(dir: &Path) -> BTreeMap<Key, Vec<Value>> {
    let a = Archive::open(dir).unwrap();
    let mut out: BTreeMap<Key, Vec<Value>> = BTreeMap::new();
    let mut prev: Option<(String, String, i64)> = None;
    a.query()
        .run_raw(|d, c, ts, v| {
            if let Some((pd, pc, pt)) = &prev {
                if pd == d && pc == c {
                    assert!(*pt <= ts, "{d}/{c}: {ts} after {pt}: raw output not sorted");
                }
            }
            prev = Some((d.to_owned(), c.to_owned(), ts));
            out.entry((d.to_owned(), c.to_owned(), ts))
                .or_default()
                .push(v.clone());
            Ok(true)
        })
        .unwrap();
    out
}

/// Compares a raw query with the model's survivors (copies of one key as a multiset) and
/// names the first difference.
fn assert_raw(dir: &Path, model: &Model, policy: Dedup, what: &str) {
    let got = sorted(raw(dir));
    let want = sorted(model.survivors(policy));
    if got != want {
        let missing = want.iter().find(|(k, v)| got.get(*k) != Some(*v));
        let extra = got.iter().find(|(k, v)| want.get(*k) != Some(*v));
        panic!(
            "{what} ({}): raw query differs from the model: {} keys vs {} expected; first expected key that differs {missing:?} (got {:?}); first extra/different key {extra:?}",
            policy.name(),
            got.len(),
            want.len(),
            missing.and_then(|(k, _)| got.get(k)),
        );
    }
}

const AGGS: [Agg; 6] = [
    Agg::Count,
    Agg::Sum,
    Agg::Min,
    Agg::Max,
    Agg::First,
    Agg::Last,
];

/// Expected aggregate row: count, then per aggregate the acceptable values (several for
/// first/last under keep-all when the extreme timestamp has several copies).
type AggWant = (u64, Vec<Vec<Value>>);

/// An aggregate row's key: device, channel and window start (with `every`).
type AggKey = (String, String, Option<i64>);

fn agg_model(model: &Model, policy: Dedup, every: Option<i64>) -> BTreeMap<AggKey, AggWant> {
    let mut groups: BTreeMap<AggKey, Vec<(i64, Vec<Value>)>> = BTreeMap::new();
    for ((d, c, ts), vals) in model.survivors(policy) {
        let w = every.map(|e| ts.div_euclid(e) * e);
        groups.entry((d, c, w)).or_default().push((ts, vals));
    }
    groups
        .into_iter()
        .map(|(k, pts)| {
            let all: Vec<&Value> = pts.iter().flat_map(|(_, v)| v.iter()).collect();
            let count = all.len() as u64;
            let sum = match all[0] {
                Value::I64(_) => Value::I64(
                    all.iter()
                        .map(|v| match v {
                            Value::I64(x) => *x,
                            _ => unreachable!(),
                        })
                        .sum(),
                ),
                Value::F64(_) => Value::F64(all.iter().map(|v| v.as_f64().unwrap()).sum()),
                _ => unreachable!(),
            };
            let num = |v: &Value| v.as_f64().unwrap();
            let min = all
                .iter()
                .min_by(|a, b| num(a).total_cmp(&num(b)))
                .map(|v| (*v).clone())
                .unwrap();
            let max = all
                .iter()
                .max_by(|a, b| num(a).total_cmp(&num(b)))
                .map(|v| (*v).clone())
                .unwrap();
            let first = pts[0].1.clone();
            let last = pts[pts.len() - 1].1.clone();
            (
                k,
                (
                    count,
                    vec![
                        vec![Value::I64(count as i64)],
                        vec![sum],
                        vec![min],
                        vec![max],
                        first,
                        last,
                    ],
                ),
            )
        })
        .collect()
}

fn run_aggs(dir: &Path, every: Option<i64>) -> (Vec<AggRow>, iotarc::archive::QueryStats) {
    let a = Archive::open(dir).unwrap();
    let mut q = a.query().aggregates(&AGGS);
    if let Some(e) = every {
        q = q.every(e);
    }
    q.run_aggregate().unwrap()
}

fn assert_aggs(dir: &Path, model: &Model, policy: Dedup, every: Option<i64>, what: &str) {
    let (rows, _) = run_aggs(dir, every);
    let want = agg_model(model, policy, every);
    let mut seen = 0;
    for r in &rows {
        let key = (r.device.clone(), r.channel.clone(), r.window);
        let Some((count, vals)) = want.get(&key) else {
            panic!("{what} ({}): unexpected aggregate row {r:?}", policy.name());
        };
        seen += 1;
        assert_eq!(
            r.count,
            *count,
            "{what} ({}): count of {key:?}",
            policy.name()
        );
        for (i, (g, ok)) in AGGS.iter().zip(vals).enumerate() {
            let got = r.values[i].as_ref();
            assert!(
                got.is_some_and(|v| ok.contains(v)),
                "{what} ({}): {} of {key:?} is {got:?}, expected one of {ok:?}",
                policy.name(),
                g.name()
            );
        }
    }
    assert_eq!(
        seen,
        want.len(),
        "{what} ({}): aggregate rows (every {every:?})",
        policy.name()
    );
}

/// Options that never seal on their own: only `flush`, `close` and memory seal.
fn quiet_opts(dedup: Dedup) -> StreamOptions {
    StreamOptions {
        dedup: Some(dedup),
        lateness_us: 1000 * DAY,
        max_delay: None,
        compact: None,
        writer: WriterOptions {
            target_rows: 64,
            ..WriterOptions::default()
        },
        ..StreamOptions::default()
    }
}

fn segments(dir: &Path) -> usize {
    Archive::open(dir).unwrap().manifest().segments.len()
}

fn write_ok(w: &StreamWriter, b: PointBatch) -> u64 {
    let n = b.len();
    let ack = w.write(b).unwrap();
    assert!(ack.rejected.is_empty(), "refused: {:?}", ack.rejected);
    assert_eq!(ack.accepted, n);
    n as u64
}

const DEVICES: [&str; 3] = ["dev-a", "dev-b", "dev-c"];

/// A value for channel `c`: integers for "i", quarters for "f" (so every sum is exact).
fn value(rng: &mut Rng, c: &str) -> Value {
    let x = rng.below(4001) as i64 - 2000;
    if c == "i" {
        Value::I64(x)
    } else {
        Value::F64(x as f64 / 4.0)
    }
}

/// Round 0 and 1 share a buffer (no flush between), rounds 2 and 3 are separate seals.
/// Every round repeats keys: inside its own batch and from earlier rounds.
fn dedup_rounds(w: &StreamWriter, model: &mut Model, rng: &mut Rng) {
    let t0 = DAY0 + 3 * HOUR;
    let mut sent: Vec<(usize, &str, i64)> = Vec::new();
    let plan: [(i64, i64, bool); 4] = [
        (0, 1000, false),
        (1000, 1500, true),
        (1500, 2000, true),
        (2000, 2000, true),
    ];
    for (round, &(lo, hi, flush)) in plan.iter().enumerate() {
        let mut b = PointBatch::default();
        for k in lo..hi {
            for (di, d) in DEVICES.iter().enumerate() {
                for c in ["i", "f"] {
                    let ts = t0 + k * SEC + di as i64;
                    model.put(&mut b, d, c, ts, value(rng, c));
                    sent.push((di, c, ts));
                    if rng.chance(5) {
                        // A retry inside the same batch.
                        model.put(&mut b, d, c, ts, value(rng, c));
                    }
                }
            }
        }
        // Retries of earlier keys; round 3 re-sends a dense run overlapping a few blocks.
        let resend = if round == 3 { 300 } else { sent.len() / 10 };
        let start = rng.below(sent.len() as u64 / 2) as usize;
        for j in 0..resend {
            let (di, c, ts) = if round == 3 {
                sent[start + j]
            } else {
                sent[rng.below(sent.len() as u64) as usize]
            };
            model.put(&mut b, DEVICES[di], c, ts, value(rng, c));
        }
        write_ok(w, b);
        if flush {
            w.flush().unwrap();
        }
    }
}

fn check_dedup(policy: Dedup) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("arch");
    let mut model = Model::default();
    let mut rng = Rng(policy as u64 + 17);
    let (w, _) = StreamWriter::open(&dir, quiet_opts(policy)).unwrap();
    dedup_rounds(&w, &mut model, &mut rng);
    let stats = w.close().unwrap();
    assert_eq!(stats.lost, 0, "{:?}", stats.problems);
    let before = segments(&dir);
    assert!(before >= 3, "expected one segment per flush, got {before}");
    assert_raw(&dir, &model, policy, "before compaction");
    assert_aggs(&dir, &model, policy, None, "before compaction");
    assert_aggs(
        &dir,
        &model,
        policy,
        Some(60 * SEC),
        "before compaction, every 1m",
    );

    let opts = CompactOptions {
        writer: WriterOptions {
            target_rows: 64,
            ..WriterOptions::default()
        },
        ..CompactOptions::default()
    };
    let r = compact(&dir, &opts).unwrap();
    assert!(r.skipped.is_empty(), "{:?}", r.skipped);
    let after = segments(&dir);
    assert!(
        after < before,
        "compaction left {after} of {before} segments"
    );
    assert_eq!(
        after, 1,
        "one partition, so one segment after a full compaction"
    );
    assert_eq!(
        r.points_out,
        model.points(policy),
        "points after compaction"
    );
    assert_raw(&dir, &model, policy, "after compaction");
    assert_aggs(&dir, &model, policy, None, "after compaction");
    assert_aggs(
        &dir,
        &model,
        policy,
        Some(60 * SEC),
        "after compaction, every 1m",
    );
}

#[test]
fn dedup_last() {
    check_dedup(Dedup::Last);
}

#[test]
fn dedup_first() {
    check_dedup(Dedup::First);
}

#[test]
fn dedup_keep_all() {
    check_dedup(Dedup::KeepAll);
}

/// Points 40 days, 400 days and decades older than the newest one are accepted, sealed
/// into segments of their own partitions and queryable after a flush.
#[test]
fn late_data_goes_to_its_partition() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("arch");
    let opts = StreamOptions {
        partition: Some(PartitionUnit::Day),
        max_delay: None,
        compact: None,
        ..StreamOptions::default()
    };
    let (w, _) = StreamWriter::open(&dir, opts).unwrap();
    let mut model = Model::default();
    let today = DAY0 + 10 * HOUR;
    let mut b = PointBatch::default();
    for k in 0..3600 {
        model.put(&mut b, "pump", "t", today + k * SEC, Value::F64(k as f64));
    }
    write_ok(&w, b);
    w.flush().unwrap();
    let lates = [today - 40 * DAY, today - 400 * DAY, -DAY / 2 - 7];
    for (n, &base) in lates.iter().enumerate() {
        let mut b = PointBatch::default();
        for k in 0..100 {
            model.put(
                &mut b,
                "pump",
                "t",
                base + k * SEC,
                Value::F64(-(n as f64) - 1.0),
            );
        }
        // A late retry of a point of today as well.
        model.put(&mut b, "pump", "t", today + 5 * SEC, Value::F64(1e9));
        write_ok(&w, b);
    }
    // Late windows are closed already: the sealer picks them up without a flush (only
    // the three retries of today stay buffered).
    let deadline = Instant::now() + Duration::from_secs(10);
    while w.stats().buffered_points > 3 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        w.stats().buffered_points,
        3,
        "points older than the lateness window stay buffered"
    );
    w.flush().unwrap();
    assert_raw(&dir, &model, Dedup::Last, "late data");
    assert_aggs(&dir, &model, Dedup::Last, Some(DAY), "late data, per day");
    let a = Archive::open(&dir).unwrap();
    for &base in &lates {
        let part = PartitionUnit::Day.window_start(base);
        let segs: Vec<_> = a
            .manifest()
            .segments
            .iter()
            .filter(|s| s.min_ts <= base && s.max_ts >= base)
            .collect();
        assert!(!segs.is_empty(), "no segment holds {base}");
        for s in segs {
            assert_eq!(s.partition, part, "segment {} holding {base}", s.path);
            assert!(s.max_ts < PartitionUnit::Day.window_end(part));
        }
    }
    w.close().unwrap();
    assert_raw(&dir, &model, Dedup::Last, "late data after close");
}

/// A day of 1 s readings in one segment (1 h blocks, answered from footers), then a
/// later segment re-sending part of one hour with other values: whole-range aggregates
/// must replace those points, not add them, and the other blocks still come from
/// footers.
#[test]
fn footer_shortcut_with_overlapping_late_segment() {
    for policy in [Dedup::Last, Dedup::First, Dedup::KeepAll] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("arch");
        let opts = StreamOptions {
            writer: WriterOptions::default(),
            seal_unit: PartitionUnit::Day,
            ..quiet_opts(policy)
        };
        let (w, _) = StreamWriter::open(&dir, opts).unwrap();
        let mut model = Model::default();
        let mut b = PointBatch::default();
        for s in 0..86_400i64 {
            let v = ((s % 600) - 300) as f64 / 2.0;
            model.put(&mut b, "boiler", "temp", DAY0 + s * SEC, Value::F64(v));
            model.put(&mut b, "boiler", "n", DAY0 + s * SEC, Value::I64(s % 97));
        }
        write_ok(&w, b);
        w.flush().unwrap();
        assert_eq!(segments(&dir), 1);
        // Hour 5: every 10th second again (new extremes among them), plus new
        // timestamps in between.
        let mut b = PointBatch::default();
        for s in (5 * 3600..6 * 3600i64).step_by(10) {
            let v = if s == 5 * 3600 + 1230 {
                1e6
            } else {
                -((s % 7) as f64)
            };
            model.put(&mut b, "boiler", "temp", DAY0 + s * SEC, Value::F64(v));
            model.put(&mut b, "boiler", "n", DAY0 + s * SEC, Value::I64(-s));
            model.put(
                &mut b,
                "boiler",
                "temp",
                DAY0 + s * SEC + 500_000,
                Value::F64(0.25),
            );
        }
        write_ok(&w, b);
        w.close().unwrap();
        assert_eq!(segments(&dir), 2);
        assert_aggs(&dir, &model, policy, None, "overlap, whole range");
        assert_aggs(&dir, &model, policy, Some(HOUR), "overlap, hourly");
        assert_raw(&dir, &model, policy, "overlap");
        let (_, stats) = run_aggs(&dir, None);
        assert!(
            stats.blocks_from_footer >= 2 * 23,
            "{}: only {} blocks from footers (23 hours per channel do not overlap)",
            policy.name(),
            stats.blocks_from_footer
        );
        let (_, stats) = run_aggs(&dir, Some(HOUR));
        assert!(stats.blocks_from_footer >= 2 * 23, "hourly: {stats:?}");
    }
}

/// Dropping a writer without close leaves the buffered points in the WAL; reopening
/// restores them exactly once.
#[test]
fn replay_after_drop() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("arch");
    let mut model = Model::default();
    let mut rng = Rng(4);
    let (w, rep) = StreamWriter::open(&dir, quiet_opts(Dedup::KeepAll)).unwrap();
    assert_eq!(rep.points, 0);
    let mut n = 0;
    for batch in 0..5i64 {
        let mut b = PointBatch::default();
        for k in 0..500 {
            let ts = DAY0 + (batch * 500 + k) * SEC;
            model.put(
                &mut b,
                DEVICES[k as usize % 3],
                "i",
                ts,
                value(&mut rng, "i"),
            );
        }
        n += write_ok(&w, b);
    }
    drop(w);
    let (w, rep) = StreamWriter::open(&dir, quiet_opts(Dedup::KeepAll)).unwrap();
    assert_eq!(
        (rep.records, rep.points, rep.already_sealed),
        (5, n, 0),
        "{rep:?}"
    );
    assert!(rep.truncated.is_none());
    w.close().unwrap();
    assert_raw(&dir, &model, Dedup::KeepAll, "replayed");
    // Everything is sealed now: nothing left to replay.
    let (w, rep) = StreamWriter::open(&dir, quiet_opts(Dedup::KeepAll)).unwrap();
    assert_eq!(rep.points, 0, "{rep:?}");
    w.close().unwrap();
    assert_raw(&dir, &model, Dedup::KeepAll, "reopened");
}

/// Sealed and unsealed points share WAL records: a window sealed by the watermark while
/// another window of the same record stays buffered. Replay must restore the buffered
/// points and skip the sealed ones (keep-all would show a second copy). Several cycles of
/// write, partial seal, drop, reopen.
#[test]
fn replay_skips_sealed_points() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("arch");
    let opts = || StreamOptions {
        lateness_us: HOUR,
        ..quiet_opts(Dedup::KeepAll)
    };
    let mut model = Model::default();
    let mut rng = Rng(9);
    let mut carried = 0u64;
    for cycle in 0..4i64 {
        let (w, rep) = StreamWriter::open(&dir, opts()).unwrap();
        assert_eq!(rep.points, carried, "cycle {cycle}: {rep:?}");
        let h = DAY0 + cycle * 6 * HOUR;
        // Record 1: a@h, b@h+3h. Record 2: c@h+1h.
        let mut b = PointBatch::default();
        for k in 0..10 {
            model.put(&mut b, "a", "i", h + k * SEC, value(&mut rng, "i"));
            model.put(
                &mut b,
                "b",
                "i",
                h + 3 * HOUR + k * SEC,
                value(&mut rng, "i"),
            );
        }
        write_ok(&w, b);
        let mut b = PointBatch::default();
        for k in 0..10 {
            model.put(&mut b, "c", "i", h + HOUR + k * SEC, value(&mut rng, "i"));
        }
        write_ok(&w, b);
        // The watermark (h+2h) closes the windows of a and c; b@h+3h stays (with the b
        // points of the previous cycle, which are older: they get sealed too).
        let deadline = Instant::now() + Duration::from_secs(10);
        while w.stats().buffered_points != 10 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(
            w.stats().buffered_points,
            10,
            "cycle {cycle}: watermark seal"
        );
        drop(w);
        carried = 10;
        let a = Archive::open(&dir).unwrap();
        let wal = a.manifest().wal.clone().unwrap();
        assert!(
            !wal.sealed.is_empty(),
            "cycle {cycle}: expected sealed entries: {wal:?}"
        );
    }
    let (w, rep) = StreamWriter::open(&dir, opts()).unwrap();
    assert_eq!(rep.points, 10, "{rep:?}");
    assert!(rep.already_sealed > 0, "{rep:?}");
    w.close().unwrap();
    assert_raw(&dir, &model, Dedup::KeepAll, "after replays");
}

/// Replay across rotated WAL files (a 4 KiB file limit), with partial seals trimming
/// the oldest files in between: every point exactly once.
#[test]
fn replay_across_rotated_wal_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("arch");
    let opts = || StreamOptions {
        lateness_us: HOUR,
        wal: WalOptions {
            max_file_bytes: 4096,
        },
        ..quiet_opts(Dedup::KeepAll)
    };
    let mut model = Model::default();
    let mut rng = Rng(5);
    for cycle in 0..3i64 {
        let (w, rep) = StreamWriter::open(&dir, opts()).unwrap();
        assert!(rep.truncated.is_none(), "{rep:?}");
        for k in 0..200i64 {
            let mut b = PointBatch::default();
            // Time advances 1 min per batch: windows close and seal as we go while
            // later records stay in the WAL.
            let ts = DAY0 + (cycle * 200 + k) * 60 * SEC;
            for d in DEVICES {
                model.put(&mut b, d, "i", ts, value(&mut rng, "i"));
            }
            write_ok(&w, b);
        }
        let files = std::fs::read_dir(dir.join("wal")).unwrap().count();
        assert!(
            files > 1,
            "cycle {cycle}: expected rotated WAL files, got {files}"
        );
        drop(w);
    }
    let (w, rep) = StreamWriter::open(&dir, opts()).unwrap();
    assert!(rep.points > 0, "{rep:?}");
    w.close().unwrap();
    assert_raw(&dir, &model, Dedup::KeepAll, "rotated WAL");
}

/// A pack run into an archive whose stream writer crashed with points still in the WAL:
/// the packed values arrive later, so under `last` they must win over the replayed
/// (earlier) ones.
#[test]
fn pack_after_crashed_writer_keeps_arrival_order() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("arch");
    let (w, _) = StreamWriter::open(&dir, quiet_opts(Dedup::Last)).unwrap();
    let mut b = PointBatch::default();
    b.push("d", "c", DAY0, Value::F64(0.0));
    write_ok(&w, b);
    w.flush().unwrap();
    let mut b = PointBatch::default();
    b.push("d", "c", DAY0 + SEC, Value::F64(1.0));
    write_ok(&w, b);
    // As a crash: the second point is only in the WAL.
    drop(w);
    // A packer may refuse while streamed points wait in the WAL (they arrived first);
    // then sealing them and packing afterwards must still let the packed value win.
    let mut p = match Packer::open(&dir, PackOptions::default()) {
        Ok(p) => p,
        Err(e) => {
            assert!(e.to_string().contains("WAL"), "{e}");
            let (w, _) = StreamWriter::open(&dir, quiet_opts(Dedup::Last)).unwrap();
            w.close().unwrap();
            Packer::open(&dir, PackOptions::default()).unwrap()
        }
    };
    p.push(
        "d",
        "c",
        DAY0 + SEC,
        PackValue::F64(2.0),
        Origin { input: 0, line: 1 },
    );
    p.commit(0).unwrap();
    let (w, _) = StreamWriter::open(&dir, quiet_opts(Dedup::Last)).unwrap();
    w.close().unwrap();
    let got = raw(&dir);
    assert_eq!(
        got.get(&("d".to_string(), "c".to_string(), DAY0 + SEC)),
        Some(&vec![Value::F64(2.0)]),
        "the value packed after the crash lost to the earlier one replayed from the WAL"
    );
}

/// A string into a float channel is refused in the ack, the rest of the batch is
/// accepted, and nothing acknowledged is lost.
#[test]
fn type_conflict_is_refused_up_front() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("arch");
    let (w, _) = StreamWriter::open(&dir, quiet_opts(Dedup::Last)).unwrap();
    let mut model = Model::default();
    let mut b = PointBatch::default();
    for k in 0..10 {
        model.put(
            &mut b,
            "d",
            "temp",
            DAY0 + k * SEC,
            Value::F64(k as f64 + 0.5),
        );
    }
    write_ok(&w, b);
    let mut b = PointBatch::default();
    model.put(&mut b, "d", "temp", DAY0 + 20 * SEC, Value::F64(1.5));
    b.push("d", "temp", DAY0 + 21 * SEC, Value::Str("hot".into()));
    model.put(
        &mut b,
        "d",
        "state",
        DAY0 + 21 * SEC,
        Value::Str("hot".into()),
    );
    b.push("d", "temp", DAY0 + 22 * SEC, Value::Bool(true));
    // An integer that is exactly an f64 is fine in a float channel.
    model.put(&mut b, "d", "temp", DAY0 + 23 * SEC, Value::I64(7));
    let ack = w.write(b).unwrap();
    let idx: Vec<usize> = ack.rejected.iter().map(|r| r.0).collect();
    assert_eq!(idx, [1, 3], "{:?}", ack.rejected);
    assert!(ack.rejected[0].1.contains("temp"), "{:?}", ack.rejected);
    assert_eq!(ack.accepted, 3);
    // The refused type also stays refused after the float points are sealed.
    w.flush().unwrap();
    let mut b = PointBatch::default();
    b.push("d", "temp", DAY0 + 30 * SEC, Value::Str("x".into()));
    assert_eq!(w.write(b).unwrap().rejected.len(), 1);
    let stats = w.close().unwrap();
    assert_eq!((stats.lost, stats.rejected), (0, 3), "{:?}", stats.problems);
    // The 7 comes back as a float in a float channel.
    let k = ("d".to_string(), "temp".to_string(), DAY0 + 23 * SEC);
    model.copies.insert(k, vec![Value::F64(7.0)]);
    assert_raw(&dir, &model, Dedup::Last, "type conflict");
}

/// The channel's type is known from the archive, not only from this session: after a
/// restart, a string into a channel whose floats are all sealed must be refused (or at
/// least not make the channel unreadable).
#[test]
fn type_conflict_across_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("arch");
    let (w, _) = StreamWriter::open(&dir, quiet_opts(Dedup::Last)).unwrap();
    let mut b = PointBatch::default();
    for k in 0..10 {
        b.push("d", "temp", DAY0 + k * SEC, Value::F64(k as f64));
    }
    write_ok(&w, b);
    w.close().unwrap();
    let (w, _) = StreamWriter::open(&dir, quiet_opts(Dedup::Last)).unwrap();
    let mut b = PointBatch::default();
    b.push("d", "temp", DAY0 + 5 * SEC + 1, Value::Str("hot".into()));
    let ack = w.write(b).unwrap();
    let stats = w.close().unwrap();
    assert_eq!(stats.lost, 0, "{:?}", stats.problems);
    let a = Archive::open(&dir).unwrap();
    let agg = a.query().aggregates(&[Agg::Count]).run_aggregate();
    let raw = a.query().run_raw(|_, _, _, _| Ok(true));
    assert!(
        ack.accepted == 0 && agg.is_ok() && raw.is_ok(),
        "after a restart a string was {} into a float channel; then count gives {:?}, raw gives {:?}",
        if ack.accepted == 0 { "refused" } else { "accepted" },
        agg.map(|r| r.0),
        raw.map(|_| ())
    );
}

/// Like [`type_conflict_across_restart`], when one sealed segment holds the channel with
/// two types (a float for one device, a string for another): the float device's channel
/// must still refuse a string after a restart, or stay readable.
#[test]
fn type_conflict_across_restart_with_mixed_segment() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("arch");
    let (w, _) = StreamWriter::open(&dir, quiet_opts(Dedup::Last)).unwrap();
    let mut b = PointBatch::default();
    for k in 0..10 {
        b.push("d1", "c", DAY0 + k * SEC, Value::F64(k as f64));
        b.push("d2", "c", DAY0 + k * SEC, Value::Str(format!("s{k}")));
    }
    write_ok(&w, b);
    w.close().unwrap();
    let (w, _) = StreamWriter::open(&dir, quiet_opts(Dedup::Last)).unwrap();
    let mut b = PointBatch::default();
    b.push("d1", "c", DAY0 + 5 * SEC + 1, Value::Str("hot".into()));
    let ack = w.write(b).unwrap();
    let stats = w.close().unwrap();
    assert_eq!(stats.lost, 0, "{:?}", stats.problems);
    let a = Archive::open(&dir).unwrap();
    let agg = a.query().aggregates(&[Agg::Count]).run_aggregate();
    let raw = a.query().run_raw(|_, _, _, _| Ok(true));
    assert!(
        ack.accepted == 0 || (agg.is_ok() && raw.is_ok()),
        "after a restart a string was accepted into d1's float channel c (d2's c holds strings in the same segment); then count gives {:?}, raw gives {:?}",
        agg.map(|r| r.0),
        raw.map(|_| ())
    );
}

/// Integers beyond 2^53 are refused company of floats within a session (no f64 holds
/// them). After a restart the same must hold; if a float is let in next to them, a raw
/// read must still return the acknowledged integers exactly.
#[test]
fn big_integers_stay_exact_after_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("arch");
    let big = (1i64 << 60) + 1;
    let (w, _) = StreamWriter::open(&dir, quiet_opts(Dedup::Last)).unwrap();
    let mut model = Model::default();
    let mut b = PointBatch::default();
    model.put(&mut b, "d", "n", DAY0, Value::I64(big));
    model.put(&mut b, "d", "n", DAY0 + 2 * SEC, Value::I64(big + 2));
    write_ok(&w, b);
    // Within the session: refused.
    let mut b = PointBatch::default();
    b.push("d", "n", DAY0 + SEC, Value::F64(1.5));
    assert_eq!(w.write(b).unwrap().accepted, 0);
    w.close().unwrap();
    let (w, _) = StreamWriter::open(&dir, quiet_opts(Dedup::Last)).unwrap();
    let mut b = PointBatch::default();
    b.push("d", "n", DAY0 + SEC, Value::F64(1.5));
    let ack = w.write(b).unwrap();
    w.close().unwrap();
    if ack.accepted == 1 {
        model.add("d", "n", DAY0 + SEC, Value::F64(1.5));
        let got = raw(&dir);
        let k = ("d".to_string(), "n".to_string(), DAY0);
        assert_eq!(
            got.get(&k),
            Some(&vec![Value::I64(big)]),
            "a float 1.5 was accepted after a restart next to sealed integers beyond 2^53; the acknowledged {big} now reads back as {:?}",
            got.get(&k)
        );
    }
}

/// Types seeded from the archive after a restart apply to the devices that have the
/// channel, not to every device of a segment that has it: a device that never sent
/// "state" may send it as a string.
#[test]
fn seeded_types_only_constrain_devices_with_the_channel() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("arch");
    let (w, _) = StreamWriter::open(&dir, quiet_opts(Dedup::Last)).unwrap();
    let mut b = PointBatch::default();
    b.push("d1", "state", DAY0, Value::F64(1.0));
    b.push("d2", "temp", DAY0, Value::F64(20.0));
    write_ok(&w, b);
    w.close().unwrap();
    let (w, _) = StreamWriter::open(&dir, quiet_opts(Dedup::Last)).unwrap();
    let mut b = PointBatch::default();
    b.push("d2", "state", DAY0 + SEC, Value::Str("ok".into()));
    let ack = w.write(b).unwrap();
    w.close().unwrap();
    assert!(
        ack.rejected.is_empty(),
        "d2 never had channel state, yet its first (string) state was refused after a restart: {:?}",
        ack.rejected
    );
}

/// The writer lets a channel widen from integers to floats (integers exactly
/// representable as f64). When the integers are already sealed in one segment and the
/// floats land in the next, queries must still answer.
#[test]
fn int_to_float_widening_across_seals() {
    for overlap in [false, true] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("arch");
        let (w, _) = StreamWriter::open(&dir, quiet_opts(Dedup::Last)).unwrap();
        let mut model = Model::default();
        let mut b = PointBatch::default();
        model.put(&mut b, "d", "x", DAY0, Value::I64(5));
        model.put(&mut b, "d", "x", DAY0 + 2 * SEC, Value::I64(6));
        write_ok(&w, b);
        w.flush().unwrap();
        let mut b = PointBatch::default();
        let ts = if overlap { DAY0 + SEC } else { DAY0 + 3 * SEC };
        model.put(&mut b, "d", "x", ts, Value::F64(1.5));
        write_ok(&w, b);
        let stats = w.close().unwrap();
        assert_eq!(stats.lost, 0, "{:?}", stats.problems);
        let a = Archive::open(&dir).unwrap();
        let agg = a
            .query()
            .aggregates(&[Agg::Count, Agg::Sum])
            .run_aggregate()
            .map(|r| r.0);
        let mut n = 0;
        let raw = a.query().run_raw(|_, _, _, _| {
            n += 1;
            Ok(true)
        });
        assert!(
            agg.as_ref().is_ok_and(|r| r[0].count == 3) && raw.is_ok() && n == 3,
            "overlapping {overlap}: i64 5, 6 sealed, then f64 1.5 accepted; count/sum gives {agg:?}, raw gives {:?} ({n} points)",
            raw.map(|_| ())
        );
    }
}

/// One writer per archive: a second stream writer, a packer or a compaction fails with
/// a clear error while the first is open, and works once it is gone.
#[test]
fn second_writer_is_locked_out() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("arch");
    let (w, _) = StreamWriter::open(&dir, quiet_opts(Dedup::Last)).unwrap();
    let mut b = PointBatch::default();
    b.push("d", "c", DAY0, Value::F64(1.0));
    write_ok(&w, b);
    w.flush().unwrap();
    let e = StreamWriter::open(&dir, quiet_opts(Dedup::Last))
        .err()
        .expect("second stream writer");
    assert!(e.to_string().contains("locked"), "{e}");
    let e = Packer::open(&dir, PackOptions::default())
        .err()
        .expect("packer");
    assert!(e.to_string().contains("locked"), "{e}");
    let e = compact(&dir, &CompactOptions::default()).expect_err("compaction");
    assert!(e.to_string().contains("locked"), "{e}");
    w.close().unwrap();
    let mut p = Packer::open(&dir, PackOptions::default()).unwrap();
    p.push(
        "d",
        "c",
        DAY0 + 1,
        PackValue::F64(2.0),
        Origin { input: 0, line: 1 },
    );
    let e = StreamWriter::open(&dir, quiet_opts(Dedup::Last))
        .err()
        .expect("stream writer while packing");
    assert!(e.to_string().contains("locked"), "{e}");
    p.commit(0).unwrap();
    let (w, _) = StreamWriter::open(&dir, quiet_opts(Dedup::Last)).unwrap();
    w.close().unwrap();
    let (rows, _) = Archive::open(&dir)
        .unwrap()
        .query()
        .aggregates(&[Agg::Count])
        .run_aggregate()
        .unwrap();
    assert_eq!(rows[0].count, 2);
}

/// Memory bound with backpressure: two producers, 2M points, 4 MiB; nothing dropped and
/// the accounted memory never above the bound plus one batch.
#[test]
fn backpressure_bounds_memory() {
    const BATCH: usize = 5000;
    const PER_PRODUCER: usize = 1_000_000;
    let tmp = tempfile::tempdir().unwrap();
    // Bytes charged per point, measured on a separate writer.
    let per_point = {
        let (w, _) = StreamWriter::open(tmp.path().join("probe"), quiet_opts(Dedup::Last)).unwrap();
        let mut b = PointBatch::default();
        for k in 0..1000 {
            b.push("d", "c", DAY0 + k, Value::F64(0.0));
        }
        write_ok(&w, b);
        let m = w.stats().memory;
        drop(w);
        m.div_ceil(1000)
    };
    let dir = tmp.path().join("arch");
    let opts = StreamOptions {
        memory_limit: 32 << 20,
        max_delay: None,
        compact: None,
        sync: SyncPolicy::None,
        ..StreamOptions::default()
    };
    let max_memory = opts.buffer_bytes();
    assert_eq!(max_memory, 12 << 20);
    let (w, _) = StreamWriter::open(&dir, opts).unwrap();
    let w = Arc::new(w);
    let start = Instant::now();
    let producers: Vec<_> = (0..2)
        .map(|p| {
            let w = Arc::clone(&w);
            std::thread::spawn(move || {
                let mut acked = 0u64;
                let mut i = 0usize;
                while i < PER_PRODUCER {
                    let mut b = PointBatch::default();
                    for _ in 0..BATCH {
                        let dev = format!("p{p}-d{}", i % 50);
                        b.push(&dev, "v", DAY0 + (i as i64) * 10_000, Value::F64(i as f64));
                        i += 1;
                    }
                    acked += w.write(b).unwrap().accepted as u64;
                }
                acked
            })
        })
        .collect();
    let acked: u64 = producers.into_iter().map(|h| h.join().unwrap()).sum();
    let w = Arc::into_inner(w).unwrap();
    let stats = w.close().unwrap();
    let elapsed = start.elapsed();
    assert_eq!(acked, 2 * PER_PRODUCER as u64);
    assert_eq!(stats.points, acked);
    assert_eq!(stats.lost, 0);
    let bound = max_memory + BATCH * per_point;
    assert!(
        stats.peak_memory <= bound,
        "peak {} > {} ({} per point)",
        stats.peak_memory,
        bound,
        per_point
    );
    let (rows, _) = Archive::open(&dir)
        .unwrap()
        .query()
        .aggregates(&[Agg::Count])
        .run_aggregate()
        .unwrap();
    assert_eq!(rows.iter().map(|r| r.count).sum::<u64>(), acked);
    eprintln!(
        "backpressure: {acked} points in {elapsed:?}, peak {} of {max_memory} bytes, {} seals",
        stats.peak_memory, stats.seals
    );
}

/// Readers open the archive and query while a writer writes, flushes and compacts: no
/// errors, counts never go backwards and never exceed what was written, raw reads never
/// show a point twice.
#[test]
fn readers_during_writes_and_compaction() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("arch");
    let opts = StreamOptions {
        max_delay: None,
        lateness_us: 10 * 60 * SEC,
        compact: Some(CompactOptions::default()),
        sync: SyncPolicy::None,
        ..StreamOptions::default()
    };
    let (w, _) = StreamWriter::open(&dir, opts).unwrap();
    let issued = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let writer = {
        let issued = Arc::clone(&issued);
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            let mut acked = 0u64;
            // 10 s steps, 3 devices, 120 rounds of 10 min each: hourly compaction
            // windows close along the way.
            for round in 0..120i64 {
                let mut b = PointBatch::default();
                for k in 0..60 {
                    for d in DEVICES {
                        b.push(d, "v", DAY0 + (round * 60 + k) * 10 * SEC, Value::I64(k));
                    }
                }
                issued.fetch_add(b.len() as u64, Ordering::SeqCst);
                acked += w.write(b).unwrap().accepted as u64;
                // One segment per 10 min: six per hour, merged once the hour closes.
                w.flush().unwrap();
            }
            let stats = w.close().unwrap();
            done.store(true, Ordering::SeqCst);
            (acked, stats)
        })
    };
    let mut last = 0u64;
    let mut queries = 0;
    while !done.load(Ordering::SeqCst) {
        if !dir.join("MANIFEST").exists() {
            std::thread::yield_now();
            continue;
        }
        let a = Archive::open(&dir).unwrap();
        let (rows, _) = a
            .query()
            .aggregates(&[Agg::Count, Agg::Sum])
            .run_aggregate()
            .unwrap();
        let count: u64 = rows.iter().map(|r| r.count).sum();
        let bound = issued.load(Ordering::SeqCst);
        assert!(count >= last, "count went back from {last} to {count}");
        assert!(
            count <= bound,
            "count {count} above the {bound} points written"
        );

        let mut prev: Option<(String, i64)> = None;
        let mut n = 0u64;
        a.query()
            .run_raw(|d, _, ts, _| {
                if let Some((pd, pt)) = &prev {
                    assert!(pd != d || *pt < ts, "{d} at {ts} twice or out of order");
                }
                prev = Some((d.to_owned(), ts));
                n += 1;
                Ok(true)
            })
            .unwrap();
        // The raw query may have planned on a newer manifest (a compaction removed a
        // segment of the old one): never fewer points, never more than written.
        let bound = issued.load(Ordering::SeqCst);
        assert!(
            n >= count && n <= bound,
            "raw {n}, aggregate {count}, written {bound}"
        );
        last = n;
        queries += 1;
    }
    let (acked, stats) = writer.join().unwrap();
    assert_eq!(stats.lost, 0);
    assert!(
        stats.compaction.merges > 0,
        "expected compaction while writing: {:?}",
        stats.compaction
    );
    let (rows, _) = Archive::open(&dir)
        .unwrap()
        .query()
        .aggregates(&[Agg::Count])
        .run_aggregate()
        .unwrap();
    assert_eq!(rows.iter().map(|r| r.count).sum::<u64>(), acked);
    eprintln!(
        "readers: {queries} snapshots while writing, compaction {:?}",
        stats.compaction
    );
}

/// A batch whose encoding would exceed the WAL's record limit is logged as several
/// records, every point acknowledged and replayed; a point that cannot fit in any record
/// is refused alone, with a reason.
#[test]
fn a_batch_larger_than_a_wal_record_is_split() {
    let dir = tempfile::tempdir().unwrap();
    let arch = dir.path().join("arch");
    let (w, _) = StreamWriter::open(&arch, quiet_opts(Dedup::KeepAll)).unwrap();
    let limit = iotarc::wal::MAX_RECORD_LEN as usize;
    let mut b = PointBatch::default();
    // Three strings of 30 MiB: 90 MiB in all, over one record's 64 MiB.
    for (i, dev) in ["dev-a", "dev-b", "dev-a"].iter().enumerate() {
        let s = char::from(b'p' + i as u8).to_string().repeat(30 << 20);
        b.push(dev, "blob", DAY0 + i as i64, Value::Str(s));
    }
    b.push("dev-b", "n", DAY0, Value::I64(7));
    // A string as long as a whole record cannot go in one.
    b.push("dev-c", "blob", DAY0, Value::Str("z".repeat(limit)));
    let ack = w.write(b).unwrap();
    assert_eq!(ack.accepted, 4);
    assert_eq!(ack.rejected.len(), 1, "{:?}", ack.rejected);
    assert_eq!(ack.rejected[0].0, 4);
    assert!(
        ack.rejected[0].1.contains("WAL record"),
        "{}",
        ack.rejected[0].1
    );
    assert!(w.stats().records >= 2, "{}", w.stats().records);
    // Replay the records rather than seal them.
    drop(w);
    let (w, rep) = StreamWriter::open(&arch, quiet_opts(Dedup::KeepAll)).unwrap();
    assert_eq!(rep.points, 4);
    w.close().unwrap();
    let got = raw(&arch);
    let lens: Vec<(String, String, usize)> = got
        .iter()
        .flat_map(|((d, c, _), vs)| {
            vs.iter().map(move |v| match v {
                Value::Str(s) => (d.clone(), c.clone(), s.len()),
                _ => (d.clone(), c.clone(), 0),
            })
        })
        .collect();
    assert_eq!(
        lens,
        [
            ("dev-a".into(), "blob".into(), 30 << 20),
            ("dev-a".into(), "blob".into(), 30 << 20),
            ("dev-b".into(), "blob".into(), 30 << 20),
            ("dev-b".into(), "n".into(), 0),
        ]
    );
}
