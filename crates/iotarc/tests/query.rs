//! Aggregate queries against a naive model: exact percentiles whether a series' values
//! fit the memory limit or are found by narrowing passes, and parallel aggregation
//! giving the rows of a serial run.

use iotarc::archive::{Agg, AggRow, Archive, Origin, PackOptions, PackValue, Packer};
use iotarc::Value;
use std::collections::BTreeMap;
use std::path::Path;

const HOUR: i64 = 3_600_000_000;

/// A value of device `d` at step `i`: floats with long shared key prefixes, repeats,
/// signed zeros, infinities and NaN payloads for `f`; integers spanning i64 for `n`.
fn float(d: u64, i: u64) -> f64 {
    match i % 997 {
        0 => f64::NAN,
        1 => -f64::NAN,
        2 => -0.0,
        3 => f64::INFINITY,
        4 => f64::from_bits(0x7ff8_0000_0000_00ab),
        _ => 20.0 + ((i.wrapping_mul(2654435761) ^ d) % 100_000) as f64 * 1e-6,
    }
}

fn int(d: u64, i: u64) -> i64 {
    match i % 1009 {
        0 => i64::MIN,
        1 => i64::MAX,
        _ => (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ d) as i64 >> (i % 40),
    }
}

/// Packs 3 devices, two channels, 30 h of 1 s points, then a second commit overwriting
/// part of each device's range (overlapping segments, resolved by `last`). Returns the
/// values the archive holds, per (device, channel), in time order.
fn build(path: &Path) -> BTreeMap<(String, String), Vec<(i64, Value)>> {
    let mut model: BTreeMap<(String, String), BTreeMap<i64, Value>> = BTreeMap::new();
    let mut line = 0u64;
    for (round, range) in [(0u64, 0..108_000u64), (1, 50_000..60_000)] {
        let mut p = Packer::open(path, PackOptions::default()).unwrap();
        for d in 0..3u64 {
            let dev = format!("dev-{d}");
            for i in range.clone() {
                let ts = i as i64 * 1_000_000;
                let f = float(d + round * 7, i);
                let n = int(d + round * 7, i);
                line += 1;
                let o = Origin { input: 0, line };
                p.push(&dev, "f", ts, PackValue::F64(f), o);
                p.push(&dev, "n", ts, PackValue::I64(n), o);
                model
                    .entry((dev.clone(), "f".into()))
                    .or_default()
                    .insert(ts, Value::F64(f));
                model
                    .entry((dev.clone(), "n".into()))
                    .or_default()
                    .insert(ts, Value::I64(n));
            }
        }
        p.commit(0).unwrap();
    }
    model
        .into_iter()
        .map(|(k, v)| (k, v.into_iter().collect()))
        .collect()
}

/// Nearest-rank percentile under IEEE totalOrder.
fn nearest_rank(vals: &[Value], p: f64) -> Value {
    let mut v = vals.to_vec();
    v.sort_by(|a, b| match (a, b) {
        (Value::F64(x), Value::F64(y)) => x.total_cmp(y),
        (Value::I64(x), Value::I64(y)) => x.cmp(y),
        _ => unreachable!(),
    });
    let k = ((p / 100.0 * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
    v[k].clone()
}

/// Values compared bit for bit (NaN payloads included).
fn same(a: &Option<Value>, b: &Option<Value>) -> bool {
    match (a, b) {
        (Some(Value::F64(x)), Some(Value::F64(y))) => x.to_bits() == y.to_bits(),
        _ => a == b,
    }
}

fn rows_equal(a: &[AggRow], b: &[AggRow]) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert_eq!(
            (&x.device, &x.channel, x.window, x.count),
            (&y.device, &y.channel, y.window, y.count)
        );
        for (u, v) in x.values.iter().zip(&y.values) {
            assert!(same(u, v), "{x:?} != {y:?}");
        }
    }
}

#[test]
fn exact_percentiles_are_the_same_held_or_narrowed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("arch");
    let model = build(&path);
    let arch = Archive::open(&path).unwrap();
    let ps = [0.0, 0.1, 50.0, 99.0, 99.9, 100.0];
    let aggs: Vec<Agg> = ps.iter().map(|&p| Agg::Percentile(p)).collect();
    for every in [None, Some(HOUR), Some(7 * HOUR)] {
        let run = |limit: u64| {
            let mut q = arch.query().aggregates(&aggs).memory_limit(limit);
            if let Some(e) = every {
                q = q.every(e);
            }
            q.run_aggregate().unwrap().0
        };
        let held = run(1 << 30);
        // A few KiB: every series spills and is narrowed, most with 256 buckets.
        let narrowed = run(4 << 10);
        rows_equal(&held, &narrowed);
        // Both against the model.
        let mut n = 0;
        for ((dev, ch), pts) in &model {
            let mut by_win: BTreeMap<Option<i64>, Vec<Value>> = BTreeMap::new();
            for (t, v) in pts {
                let w = every.map(|e| t.div_euclid(e) * e);
                by_win.entry(w).or_default().push(v.clone());
            }
            for (w, vals) in by_win {
                let row = &held[n];
                assert_eq!((&row.device, &row.channel, row.window), (dev, ch, w));
                assert_eq!(row.count, vals.len() as u64);
                for (i, &p) in ps.iter().enumerate() {
                    let want = Some(nearest_rank(&vals, p));
                    assert!(
                        same(&row.values[i], &want),
                        "{dev} {ch} {w:?} p{p}: {:?} != {want:?}",
                        row.values[i]
                    );
                }
                n += 1;
            }
        }
        assert_eq!(n, held.len());
    }
}

#[test]
fn parallel_aggregates_equal_serial_ones() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("arch");
    build(&path);
    let arch = Archive::open(&path).unwrap();
    let aggs = [
        Agg::Count,
        Agg::Min,
        Agg::Max,
        Agg::Sum,
        Agg::Avg,
        Agg::Stddev,
        Agg::First,
        Agg::Last,
        Agg::Percentile(90.0),
    ];
    let run = |threads: usize, aggs: &[Agg]| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let q = arch.query().aggregates(aggs).every(HOUR);
            q.run_aggregate().unwrap()
        })
    };
    for aggs in [&aggs[..8], &aggs[..]] {
        let (one, s1) = run(1, aggs);
        let (four, s4) = run(4, aggs);
        rows_equal(&one, &four);
        assert_eq!(
            (s1.blocks_decoded, s1.blocks_from_footer),
            (s4.blocks_decoded, s4.blocks_from_footer)
        );
    }
}

/// More segments than a raw query holds open: it plans from `INDEX` records and reads
/// block bytes by path, and still returns every point, as do aggregates.
#[test]
fn raw_queries_over_many_segments_read_through_the_index() {
    use iotarc::archive::PartitionUnit;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("arch");
    let opts = PackOptions {
        partition: Some(PartitionUnit::Hour),
        ..PackOptions::default()
    };
    let mut p = Packer::open(&path, opts).unwrap();
    let n = 1_100i64;
    for h in 0..n {
        for k in 0..3 {
            let t = h * HOUR + k * 1_000_000;
            let o = Origin {
                input: 0,
                line: (h * 3 + k) as u64 + 2,
            };
            p.push("d", "x", t, PackValue::I64(h * 3 + k), o);
        }
    }
    assert_eq!(p.commit(0).unwrap().segments, n as u64);
    let arch = Archive::open(&path).unwrap();
    let mut got = Vec::new();
    arch.query()
        .run_raw(|_, _, t, v| {
            got.push((t, v.clone()));
            Ok(true)
        })
        .unwrap();
    let want: Vec<(i64, Value)> = (0..n)
        .flat_map(|h| (0..3).map(move |k| (h * HOUR + k * 1_000_000, Value::I64(h * 3 + k))))
        .collect();
    assert_eq!(got, want);
    let (rows, _) = arch
        .query()
        .aggregates(&[Agg::Count, Agg::Percentile(50.0)])
        .run_aggregate()
        .unwrap();
    assert_eq!(rows[0].count, 3 * n as u64);
    assert_eq!(rows[0].values[1], Some(Value::I64(3 * n / 2 - 1)));
}
