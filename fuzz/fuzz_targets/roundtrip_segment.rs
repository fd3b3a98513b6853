//! Segment round trip: write a small arbitrary table (sorted timestamps, f64 and i64
//! columns with missing values, up to 3 devices, small blocks) with `SegmentWriter`, open
//! it with `Segment::open`, and require `read_series` to return exactly the input (bit
//! for bit) over all time and over an arbitrary range, with aggregates that agree. A
//! panic here is a writer or reader bug.
#![no_main]

use arbitrary::Arbitrary;
use iotarc::{
    Bitmap, Column, ColumnStats, Segment, SegmentWriter, Series, TimeRange, ValueType, Values,
    WriterOptions,
};
use iotarc_fuzz::{FloatGen, IntGen};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Row {
    /// Step from the previous timestamp, shifted left by the device's `scale`.
    dt: u16,
    f: Option<FloatGen>,
    i: Option<IntGen>,
}

#[derive(Arbitrary, Debug)]
struct Device {
    start: i64,
    scale: u8,
    rows: Vec<Row>,
    /// Range to read, as two row indices.
    range: (u16, u16),
}

#[derive(Arbitrary, Debug)]
struct Input {
    devices: Vec<Device>,
    target_rows: u8,
    zstd: Option<u8>,
    /// Bit `d` (1..=2) set: device `d` reports device 0's rows, so its chunks repeat
    /// device 0's and the writer stores them as references (format.md §8.6). Bit 0 set:
    /// the writer makes no references.
    copies: u8,
}

struct Expected {
    name: String,
    ts: Vec<i64>,
    f: Column,
    i: Column,
    range: TimeRange,
}

fn column(present: Vec<bool>, values: Values) -> Column {
    Column::with_validity(values, present.into_iter().collect::<Bitmap>())
}

/// (timestamps, values) of the present rows of `col` inside `range`.
fn expect(ts: &[i64], col: &Column, range: TimeRange) -> (Vec<i64>, Values) {
    let present: Vec<bool> = match &col.validity {
        None => vec![true; ts.len()],
        Some(b) => b.iter().by_vals().collect(),
    };
    let mut out_ts = Vec::new();
    let mut keep = Vec::new();
    let mut k = 0;
    for (t, p) in ts.iter().zip(present) {
        if p {
            if range.contains(*t) {
                out_ts.push(*t);
                keep.push(k);
            }
            k += 1;
        }
    }
    let values = match &col.values {
        Values::F64(v) => Values::F64(keep.iter().map(|&j| v[j]).collect()),
        Values::I64(v) => Values::I64(keep.iter().map(|&j| v[j]).collect()),
        _ => unreachable!(),
    };
    (out_ts, values)
}

fn bits(v: &Values) -> Vec<u64> {
    match v {
        Values::F64(x) => x.iter().map(|f| f.to_bits()).collect(),
        Values::I64(x) => x.iter().map(|&i| i as u64).collect(),
        _ => unreachable!(),
    }
}

fuzz_target!(|input: Input| {
    let mut want = Vec::new();
    for (d, dev) in input.devices.iter().take(3).enumerate() {
        let mut t = dev.start;
        let mut ts = Vec::new();
        let (mut fp, mut fg, mut ip, mut ig) = (vec![], vec![], vec![], vec![]);
        for r in dev.rows.iter().take(2000) {
            t = t.saturating_add((r.dt as i64) << (dev.scale % 40));
            ts.push(t);
            fp.push(r.f.is_some());
            fg.extend(r.f);
            ip.push(r.i.is_some());
            ig.extend(r.i);
        }
        if ts.is_empty() {
            continue;
        }
        let n = ts.len();
        let (a, b) = (dev.range.0 as usize % n, dev.range.1 as usize % n);
        want.push(Expected {
            name: format!("dev-{d}"),
            f: column(fp, Values::F64(iotarc_fuzz::floats(&fg))),
            i: column(ip, Values::I64(iotarc_fuzz::ints(&ig))),
            range: TimeRange::new(ts[a.min(b)], ts[a.max(b)]),
            ts,
        });
    }
    if want.is_empty() {
        return;
    }
    for d in 1..want.len() {
        if input.copies & (1 << d) != 0 {
            want[d].ts = want[0].ts.clone();
            want[d].f = want[0].f.clone();
            want[d].i = want[0].i.clone();
            want[d].range = want[0].range;
        }
    }

    let dir = if std::path::Path::new("/dev/shm").is_dir() {
        tempfile::tempdir_in("/dev/shm")
    } else {
        tempfile::tempdir()
    }
    .unwrap();
    let path = dir.path().join("rt.seg");
    let opts = WriterOptions {
        target_rows: input.target_rows.max(1) as usize,
        codec: iotarc_fuzz::options(input.zstd, false),
        chunk_refs: input.copies & 1 == 0,
    };
    let mut w = SegmentWriter::create(&path, opts).unwrap();
    for e in &want {
        w.add(&e.name, &e.ts, &[("f", &e.f), ("i", &e.i)]).unwrap();
    }
    let summary = w.finish().unwrap();
    assert_eq!(
        summary.rows,
        want.iter().map(|e| e.ts.len() as u64).sum::<u64>()
    );

    let seg = Segment::open(&path).unwrap();
    for e in &want {
        for (ch, col, vt) in [("f", &e.f, ValueType::F64), ("i", &e.i, ValueType::I64)] {
            for range in [TimeRange::ALL, e.range] {
                let what = format!("{}/{ch} {range:?}", e.name);
                let (wts, wvals) = expect(&e.ts, col, range);
                let mut s = Series::new(vt);
                seg.read_series(&e.name, ch, range, &mut s)
                    .unwrap_or_else(|err| panic!("{what}: {err}"));
                assert_eq!(s.timestamps, wts, "{what}: timestamps");
                assert_eq!(bits(&s.values), bits(&wvals), "{what}: values");

                let agg = seg
                    .aggregate(&e.name, ch, range)
                    .unwrap_or_else(|err| panic!("{what}: {err}"));
                let exact = ColumnStats::compute(&wvals, &wts);
                assert_eq!(agg.stats.count, exact.count, "{what}: count");
                assert_eq!(agg.stats.min(), exact.min(), "{what}: min");
                assert_eq!(agg.stats.max(), exact.max(), "{what}: max");
                assert_eq!(agg.stats.first(), exact.first(), "{what}: first");
                assert_eq!(agg.stats.last(), exact.last(), "{what}: last");
                assert_eq!(agg.stats.sum_i128(), exact.sum_i128(), "{what}: sum");
            }
        }
    }
});
