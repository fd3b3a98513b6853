//! Segment write → read round trips through the public API.

use iotarc::*;
use proptest::prelude::*;

mod common;
use common::Rng;

fn f64_bits(v: &Values) -> Vec<u64> {
    match v {
        Values::F64(x) => x.iter().map(|f| f.to_bits()).collect(),
        _ => panic!("not f64"),
    }
}

#[test]
fn mixed_types_missing_values_and_aggregates() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.seg");
    let n = 20_000usize;
    let t0 = 1_700_000_000_000_000i64;
    let ts: Vec<i64> = (0..n as i64)
        .map(|i| t0 + i * 1_000_000 + (i * 7919 % 13))
        .collect();
    let temp_rows: Vec<Option<f64>> = (0..n)
        .map(|i| {
            if i % 17 == 3 {
                None
            } else {
                Some(((i as f64 * 0.001).sin() * 250.0).round() / 10.0)
            }
        })
        .collect();
    let temp = Column::from_f64_options(&temp_rows);
    let energy = Column::dense(Values::I64(
        (0..n as i64).map(|i| i * 3 + i / 100).collect(),
    ));
    let door = Column::dense(Values::Bool((0..n).map(|i| i % 1000 < 10).collect()));
    let status = Column::dense(Values::Str(
        (0..n)
            .map(|i| ["ok", "warn", "fault"][i / 5000 % 3])
            .collect(),
    ));
    let mut w = SegmentWriter::create(&path, WriterOptions::default()).unwrap();
    w.add(
        "dev-a",
        &ts,
        &[
            ("temp", &temp),
            ("energy", &energy),
            ("door", &door),
            ("status", &status),
        ],
    )
    .unwrap();
    w.add(
        "dev-b",
        &ts[..100],
        &[("temp", &Column::dense(Values::F64(vec![f64::NAN; 100])))],
    )
    .unwrap();
    let summary = w.finish().unwrap();
    assert_eq!(summary.rows, n as u64 + 100);

    let seg = Segment::open(&path).unwrap();
    assert_eq!(seg.devices(), &["dev-a".to_string(), "dev-b".to_string()]);

    let mut s = Series::new(ValueType::F64);
    seg.read_series("dev-a", "temp", TimeRange::ALL, &mut s)
        .unwrap();
    let want: Vec<f64> = temp_rows.iter().flatten().copied().collect();
    let want_ts: Vec<i64> = ts
        .iter()
        .zip(&temp_rows)
        .filter(|(_, v)| v.is_some())
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(s.timestamps, want_ts);
    assert_eq!(
        f64_bits(&s.values),
        want.iter().map(|f| f.to_bits()).collect::<Vec<_>>()
    );

    let mut s = Series::new(ValueType::Str);
    seg.read_series("dev-a", "status", TimeRange::ALL, &mut s)
        .unwrap();
    assert_eq!(s.values, status.values);

    // Aggregate over a range with both edges inside blocks.
    let range = TimeRange::new(ts[1234], ts[17_000]);
    let agg = seg.aggregate("dev-a", "energy", range).unwrap();
    let Values::I64(ev) = &energy.values else {
        unreachable!()
    };
    let sel: Vec<i64> = ts
        .iter()
        .zip(ev)
        .filter(|(t, _)| range.contains(**t))
        .map(|(_, v)| *v)
        .collect();
    assert_eq!(agg.stats.count, sel.len() as u64);
    assert_eq!(
        agg.stats.sum_i128(),
        Some(sel.iter().map(|&v| v as i128).sum())
    );
    assert_eq!(
        agg.stats.min(),
        Some(Value::I64(*sel.iter().min().unwrap()))
    );
    assert_eq!(agg.stats.first().unwrap().1, Value::I64(sel[0]));
    assert_eq!(
        agg.stats.last().unwrap().1,
        Value::I64(*sel.last().unwrap())
    );
    assert!(
        agg.blocks_from_footer > 0 && agg.blocks_decoded == 2,
        "{agg:?}"
    );

    let agg = seg.aggregate("dev-a", "temp", range).unwrap();
    let sel: Vec<f64> = ts
        .iter()
        .zip(&temp_rows)
        .filter(|(t, v)| range.contains(**t) && v.is_some())
        .map(|(_, v)| v.unwrap())
        .collect();
    assert_eq!(agg.stats.count, sel.len() as u64);
    let missing = ts
        .iter()
        .zip(&temp_rows)
        .filter(|(t, v)| range.contains(**t) && v.is_none())
        .count();
    assert_eq!(agg.missing, missing as u64);
    let naive: f64 = sel.iter().sum();
    assert!((agg.stats.sum().unwrap() - naive).abs() < 1e-6);

    let all = seg.aggregate("dev-a", "temp", TimeRange::ALL).unwrap();
    assert_eq!(all.blocks_decoded, 0);
    let nan = seg.aggregate("dev-b", "temp", TimeRange::ALL).unwrap();
    assert!(nan.stats.sum().unwrap().is_nan());
    assert_eq!(
        seg.aggregate("nobody", "temp", TimeRange::ALL)
            .unwrap()
            .stats
            .count,
        0
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn any_f64_any_timestamps(mut ts in proptest::collection::vec(any::<i64>(), 1..600),
                              bits in proptest::collection::vec(any::<u64>(), 600),
                              target in 1usize..300) {
        ts.sort();
        let vals: Vec<f64> = bits[..ts.len()].iter().map(|&b| f64::from_bits(b)).collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.seg");
        let mut w = SegmentWriter::create(&path, WriterOptions { target_rows: target, ..Default::default() }).unwrap();
        w.add("d", &ts, &[("v", &Column::dense(Values::F64(vals.clone())))]).unwrap();
        w.finish().unwrap();
        let seg = Segment::open(&path).unwrap();
        let mut s = Series::new(ValueType::F64);
        seg.read_series("d", "v", TimeRange::ALL, &mut s).unwrap();
        prop_assert_eq!(&s.timestamps, &ts);
        prop_assert_eq!(f64_bits(&s.values), vals.iter().map(|f| f.to_bits()).collect::<Vec<_>>());
    }
}

#[test]
fn rows_of_blocks_without_the_channel_count_as_missing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.seg");
    let mut w = SegmentWriter::create(
        &path,
        WriterOptions {
            target_rows: 10,
            ..Default::default()
        },
    )
    .unwrap();
    let day = 86_400_000_000i64;
    // Day 0: channels a and b; day 1: only a (b added part-way, then dropped).
    let ts0: Vec<i64> = (0..10).map(|i| i * 1_000_000).collect();
    let ts1: Vec<i64> = (0..10).map(|i| day + i * 1_000_000).collect();
    let col = |n: usize| Column::dense(Values::F64(vec![1.0; n]));
    w.add("d", &ts0, &[("a", &col(10)), ("b", &col(10))])
        .unwrap();
    w.add("d", &ts1, &[("a", &col(10))]).unwrap();
    w.finish().unwrap();
    let seg = Segment::open(&path).unwrap();
    let all = seg.aggregate("d", "b", TimeRange::ALL).unwrap();
    assert_eq!((all.stats.count, all.missing), (10, 10));
    // An edge block without the channel: only its rows in range count.
    let part = seg
        .aggregate("d", "b", TimeRange::new(5_000_000, day + 3_000_000))
        .unwrap();
    assert_eq!((part.stats.count, part.missing), (5, 3));
}

/// format.md §14: a writer stamps the lowest version whose codecs the file uses.
#[test]
fn header_version_is_the_lowest_the_blocks_need() {
    let dir = tempfile::tempdir().unwrap();
    let ts: Vec<i64> = (0..2000).map(|i| i * 1_000_000).collect();
    let write_with = |name: &str, vals: Vec<f64>, codec: iotarc::codec::Options| {
        let path = dir.path().join(name);
        let opts = WriterOptions {
            codec,
            ..WriterOptions::default()
        };
        let mut w = SegmentWriter::create(&path, opts).unwrap();
        let col = Column::dense(Values::F64(vals.clone()));
        w.add("d", &ts, &[("x", &col)]).unwrap();
        w.finish().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let seg = Segment::open(&path).unwrap();
        let mut s = Series::new(ValueType::F64);
        seg.read_series("d", "x", TimeRange::ALL, &mut s).unwrap();
        assert_eq!(f64_bits(&s.values), f64_bits(&Values::F64(vals)));
        iotarc::format::header::read_header(&bytes).unwrap()
    };
    let write = |name: &str, vals: Vec<f64>| write_with(name, vals, Default::default());
    let no_pco = iotarc::codec::Options {
        pco_level: None,
        ..Default::default()
    };
    // Decimals need only version 1 codecs: DECIMAL with LINEAR mantissas.
    let decimals: Vec<f64> = (0..2000).map(|i| i as f64 / 10.0).collect();
    assert_eq!(write("v1.seg", decimals), 1);
    // Without PCO a sawtooth of decimals is DECIMAL with DELTA mantissas (version 1);
    // with it, PCO mantissas inside DECIMAL (format.md §10.1, version 5).
    let saw: Vec<f64> = (0..2000).map(|i| (i % 300) as f64 / 10.0).collect();
    assert_eq!(write_with("saw1.seg", saw.clone(), no_pco.clone()), 1);
    assert_eq!(write("saw5.seg", saw), 5);
    // Noise in every mantissa bit is stored with the version 2 SPLIT codec.
    let mut r = Rng(9);
    let noise: Vec<f64> = (0..2000).map(|_| 0.3 + r.unit() * 0.1).collect();
    assert_eq!(write_with("v2.seg", noise.clone(), no_pco), 2);
    // pcodec's bins and entropy coding (version 5) beat byte planes on the same noise.
    assert_eq!(write("v5.seg", noise), 5);
}

/// A column drawn from a small pool, so that devices often repeat each other's chunks:
/// pool entry `k` with every `gap`-th row missing (0: none missing).
fn pooled_column(k: u8, gap: usize, n: usize) -> Column {
    let validity: Option<iotarc::codec::validity::Bitmap> =
        (gap > 1).then(|| (0..n).map(|i| i % gap != 0).collect());
    let present = validity.as_ref().map_or(n, |b| b.count_ones());
    let values = match k % 4 {
        0 => Values::F64((0..present).map(|i| (i % 97) as f64 / 10.0).collect()),
        1 => Values::I64((0..present as i64).map(|i| i * i % 1013).collect()),
        2 => Values::Bool((0..present).map(|i| i % 7 < 3).collect()),
        _ => Values::Str(
            (0..present)
                .map(|i| ["N", "NE", "E", "SE"][i * 7 % 4])
                .collect(),
        ),
    };
    Column { values, validity }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    /// format.md §8.6: whatever chunks repeat across devices, blocks and channels, every
    /// series reads back exactly, and the file is version 4 exactly when it refers.
    #[test]
    fn repeated_chunks_read_back_exactly(
        devices in proptest::collection::vec(
            (proptest::collection::vec((0u8..6, 0usize..4), 1..5),
             prop::sample::select(vec![120usize, 300, 301])), 1..6),
        target in 40usize..200,
        refs in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.seg");
        let opts = WriterOptions { target_rows: target, chunk_refs: refs, ..Default::default() };
        let mut w = SegmentWriter::create(&path, opts).unwrap();
        let mut want = Vec::new();
        for (d, (chans, n)) in devices.iter().enumerate() {
            let ts: Vec<i64> = (0..*n as i64).map(|i| i * 60_000_000).collect();
            // One column per distinct pool entry: channel `c<k>` holds entry k (a type per
            // k % 4), so a channel keeps its type in every device.
            let mut cols: Vec<(String, Column)> = Vec::new();
            for &(k, gap) in chans {
                let name = format!("c{k}");
                if cols.iter().all(|(c, _)| *c != name) {
                    cols.push((name, pooled_column(k, gap, *n)));
                }
            }
            let named: Vec<(&str, &Column)> = cols.iter().map(|(c, col)| (c.as_str(), col)).collect();
            w.add(&format!("d{d}"), &ts, &named).unwrap();
            want.push((format!("d{d}"), ts, cols));
        }
        w.finish().unwrap();
        let seg = Segment::open(&path).unwrap();
        let used = seg.footer().blocks.iter()
            .any(|b| b.columns.iter().any(|c| c.codec == iotarc::format::chunkref::REF));
        prop_assert!(refs || !used);
        let version = iotarc::format::header::read_header(&std::fs::read(&path).unwrap()).unwrap();
        let pco = seg.footer().blocks.iter().any(|b| {
            b.ts_codec == iotarc::codec::int::PCO
                || b.columns.iter().any(|c| match c.vtype {
                    ValueType::F64 => c.codec == iotarc::codec::float::PCO,
                    ValueType::I64 => c.codec == iotarc::codec::int::PCO,
                    _ => false,
                })
        });
        // format.md §14: the lowest version whose features the file uses.
        prop_assert_eq!(version, if pco { 5 } else if used { 4 } else { version.min(3) });
        for (dev, ts, cols) in &want {
            for (ch, col) in cols {
                let mut s = Series::new(col.values.value_type());
                seg.read_series(dev, ch, TimeRange::ALL, &mut s).unwrap();
                let present: Vec<i64> = match &col.validity {
                    None => ts.clone(),
                    Some(b) => ts.iter().zip(b.iter().by_vals()).filter(|(_, p)| *p).map(|(t, _)| *t).collect(),
                };
                prop_assert_eq!(&s.timestamps, &present);
                match (&s.values, &col.values) {
                    (Values::F64(a), Values::F64(b)) => prop_assert_eq!(
                        a.iter().map(|f| f.to_bits()).collect::<Vec<_>>(),
                        b.iter().map(|f| f.to_bits()).collect::<Vec<_>>()),
                    (a, b) => prop_assert_eq!(a, b),
                }
            }
        }
    }
}

/// Devices reporting identical readings: the writer stores each repeated chunk once.
#[test]
fn identical_devices_are_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let n = 5000;
    let ts: Vec<i64> = (0..n as i64).map(|i| i * 3_600_000_000).collect();
    let mut r = Rng(7);
    let col = Column::dense(Values::F64(
        (0..n).map(|_| r.below(1 << 14) as f64 / 100.0).collect(),
    ));
    let size = |refs: bool, devices: usize| {
        let path = dir.path().join(format!("{refs}-{devices}.seg"));
        let opts = WriterOptions {
            chunk_refs: refs,
            ..Default::default()
        };
        let mut w = SegmentWriter::create(&path, opts).unwrap();
        for d in 0..devices {
            w.add(&format!("d{d}"), &ts, &[("x", &col)]).unwrap();
        }
        w.finish().unwrap().bytes as f64
    };
    let (one, plain, deduped) = (size(true, 1), size(false, 4), size(true, 4));
    assert!(plain > 3.5 * one, "{plain} vs {one}");
    assert!(deduped < 1.5 * one, "{deduped} vs {one}");
}
