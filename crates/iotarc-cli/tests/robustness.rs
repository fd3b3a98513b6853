//! Robustness of the reader against damaged files.
//!
//! A small but complete segment (two devices, f64 with missing values, i64, bool and
//! string columns, several blocks per device) is truncated at every length and has every
//! byte flipped (all bits, and each single bit). The reader must never panic, and since
//! the header, trailer, footer and every block are checked (check values and xxh3), a
//! damaged file must either be rejected or decode to exactly the original data.
//!
//! Everything is exhaustive over the file's bytes; the file is kept at ~1-2 KB so the
//! whole sweep takes well under a second in release mode.

use iotarc::format::stats::TypedStats;
use iotarc::*;
use std::panic::{catch_unwind, AssertUnwindSafe};

mod common;
use common::{vals, Vals};

/// One decoded column of one block: channel index, validity bits (empty when all rows
/// are present) and values.
type DecodedColumn = (u32, Vec<bool>, Vals);

#[derive(Debug, PartialEq, Eq)]
struct DecodedBlock {
    device: u32,
    timestamps: Vec<i64>,
    columns: Vec<DecodedColumn>,
}

/// Everything a reader can get out of a segment, in a bit-exactly comparable form.
#[derive(Debug, PartialEq, Eq)]
struct Decoded {
    devices: Vec<String>,
    channels: Vec<String>,
    blocks: Vec<DecodedBlock>,
    /// (device, channel, range, bit-exact rendering of the aggregate).
    aggregates: Vec<(String, String, TimeRange, String)>,
    /// (device, channel, timestamps, values) from `read_series` over all time.
    series: Vec<(String, String, Vec<i64>, Vals)>,
}

/// Renders statistics with every f64 as its bit pattern, so NaN payloads and -0.0 count.
fn stats_key(s: &ColumnStats) -> String {
    let typed = match &s.typed {
        None => "none".to_string(),
        Some(TypedStats::F64 {
            nan_count,
            min,
            max,
            first,
            last,
            sum,
            sumsq,
        }) => format!(
            "f64 nan={nan_count} {:x?}",
            [
                min.to_bits(),
                max.to_bits(),
                first.to_bits(),
                last.to_bits(),
                sum.hi.to_bits(),
                sum.lo.to_bits(),
                sumsq.hi.to_bits(),
                sumsq.lo.to_bits()
            ]
        ),
        Some(TypedStats::I64 {
            min,
            max,
            first,
            last,
            sum,
            sumsq,
        }) => format!(
            "i64 {min} {max} {first} {last} {sum} {:x} {:x}",
            sumsq.hi.to_bits(),
            sumsq.lo.to_bits()
        ),
        Some(t @ (TypedStats::Bool { .. } | TypedStats::Str { .. })) => format!("{t:?}"),
    };
    format!(
        "count={} first_ts={} last_ts={} {typed}",
        s.count, s.first_ts, s.last_ts
    )
}

fn agg_key(a: &Aggregate) -> String {
    format!(
        "{} missing={} footer={} decoded={}",
        stats_key(&a.stats),
        a.missing,
        a.blocks_from_footer,
        a.blocks_decoded
    )
}

/// Opens `bytes` and decodes every block's timestamps and columns, then runs
/// `read_series` and `aggregate` for every device and channel, over all time and over the
/// middle half of the device's time span (which straddles block edges, so the edge
/// blocks are decoded and the inner ones answered from the footer).
fn read_everything(bytes: Vec<u8>) -> Result<Decoded> {
    let seg = Segment::from_bytes(bytes)?;
    let mut blocks = Vec::new();
    let mut ts = Vec::new();
    let mut buf = ColumnBuf::default();
    for i in 0..seg.footer().blocks.len() {
        let block = seg.block(i)?;
        block.timestamps(&mut ts)?;
        let mut columns = Vec::new();
        for (ci, cm) in block.meta().columns.iter().enumerate() {
            block.column(ci, &mut buf)?;
            columns.push((
                cm.channel,
                buf.validity.iter().by_vals().collect(),
                vals(&buf.values),
            ));
        }
        blocks.push(DecodedBlock {
            device: block.meta().device,
            timestamps: ts.clone(),
            columns,
        });
    }
    let mut aggregates = Vec::new();
    let mut series = Vec::new();
    for (d, dev) in seg.devices().iter().enumerate() {
        let mine = seg
            .footer()
            .blocks
            .iter()
            .filter(|b| b.device as usize == d);
        let lo = mine.clone().map(|b| b.ts_min).min().unwrap_or(0);
        let hi = mine.map(|b| b.ts_max).max().unwrap_or(0);
        let quarter = ((hi as i128 - lo as i128) / 4) as i64;
        let middle = TimeRange::new(lo + quarter, hi - quarter);
        for ch in seg.channels() {
            for range in [TimeRange::ALL, middle] {
                let agg = seg.aggregate(dev, ch, range)?;
                aggregates.push((dev.clone(), ch.clone(), range, agg_key(&agg)));
            }
            let t = seg
                .footer()
                .blocks
                .iter()
                .filter(|b| b.device as usize == d)
                .find_map(|b| b.column(seg.channel_id(ch)?))
                .map_or(ValueType::F64, |c| c.vtype);
            let mut s = Series::new(t);
            seg.read_series(dev, ch, TimeRange::ALL, &mut s)?;
            series.push((dev.clone(), ch.clone(), s.timestamps, vals(&s.values)));
        }
    }
    Ok(Decoded {
        devices: seg.devices().to_vec(),
        channels: seg.channels().to_vec(),
        blocks,
        aggregates,
        series,
    })
}

/// Builds the test segment: 2 devices, 3-row blocks on a one-minute grid.
fn small_segment() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("small.seg");
    let opts = WriterOptions {
        target_rows: 3,
        ..Default::default()
    };
    let mut w = SegmentWriter::create(&path, opts).unwrap();

    // Device a: 9 rows, 20 s apart -> 3 blocks of 3 rows.
    let t0 = 1_700_000_040_000_000i64; // a whole minute, so blocks start on the grid
    let ts_a: Vec<i64> = (0..9).map(|i| t0 + i * 20_000_000 + (i % 2) * 7).collect();
    let temp = Column::from_f64_options(&[
        Some(21.5),
        Some(21.7),
        None,
        Some(22.0),
        Some(f64::NAN),
        Some(-0.0),
        Some(23.25),
        Some(1e300),
        Some(-4.5),
    ]);
    let energy = Column::dense(Values::I64(vec![
        100,
        103,
        103,
        110,
        i64::MAX,
        i64::MIN,
        0,
        -7,
        1 << 40,
    ]));
    let door = Column::dense(Values::Bool(vec![
        false, true, false, false, false, false, true, true, true,
    ]));
    let status = Column::dense(Values::Str(
        ["ok", "ok", "warn", "ok", "", "fault ✗", "ok", "ok", "warn"]
            .into_iter()
            .collect(),
    ));
    w.add(
        "dev-a",
        &ts_a,
        &[
            ("temp", &temp),
            ("energy", &energy),
            ("door", &door),
            ("status", &status),
        ],
    )
    .unwrap();

    // Device b: 6 rows -> 2 blocks; temp is missing in the whole second block, so that
    // block has no temp column at all.
    let ts_b: Vec<i64> = (0..6).map(|i| t0 + i * 20_000_000).collect();
    let temp_b = Column::from_f64_options(&[Some(5.0), None, Some(5.5), None, None, None]);
    let energy_b = Column::dense(Values::I64(vec![1, 2, 3, 4, 5, 6]));
    w.add("dev-b", &ts_b, &[("temp", &temp_b), ("energy", &energy_b)])
        .unwrap();
    w.finish().unwrap();
    std::fs::read(&path).unwrap()
}

/// Which block (index) holds byte `pos` of the file, if any.
fn block_of(seg: &Segment, pos: usize) -> Option<usize> {
    let pos = pos as u64;
    seg.footer()
        .blocks
        .iter()
        .position(|b| b.offset <= pos && pos < b.offset + b.len)
}

#[test]
fn small_segment_is_small_and_well_formed() {
    let bytes = small_segment();
    assert!(
        (300..=2048).contains(&bytes.len()),
        "segment is {} bytes",
        bytes.len()
    );
    let seg = Segment::from_bytes(bytes.clone()).unwrap();
    let per_device = |d: u32| seg.footer().blocks.iter().filter(|b| b.device == d).count();
    assert!(
        per_device(0) >= 2 && per_device(1) >= 2,
        "{:?}",
        seg.footer()
    );
    let got = read_everything(bytes).unwrap();
    // The partial-range aggregates must actually decode edge blocks.
    assert!(got
        .aggregates
        .iter()
        .any(|a| a.3.contains("footer=1 decoded=1")));
    let temp_a = got
        .series
        .iter()
        .find(|s| s.0 == "dev-a" && s.1 == "temp")
        .unwrap();
    assert_eq!(temp_a.2.len(), 8, "one temp value is missing");
}

/// Runs `read_everything` and turns a panic into a description.
fn run(bytes: Vec<u8>) -> std::result::Result<Result<Decoded>, String> {
    catch_unwind(AssertUnwindSafe(|| read_everything(bytes))).map_err(|p| {
        p.downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "non-string panic".into())
    })
}

#[test]
fn every_truncation_is_an_error() {
    let bytes = small_segment();
    let mut failures = Vec::new();
    for len in 0..bytes.len() {
        match run(bytes[..len].to_vec()) {
            Err(panic) => failures.push(format!("len {len}: panicked: {panic}")),
            Ok(Ok(_)) => failures.push(format!("len {len}: opened and decoded")),
            Ok(Err(e)) if !e.is_corruption() => {
                failures.push(format!("len {len}: not a corruption error: {e}"))
            }
            Ok(Err(_)) => {}
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} truncations failed:\n{}",
        failures.len(),
        bytes.len(),
        failures.join("\n")
    );
}

#[test]
fn every_byte_flip_is_detected_and_blamed_on_its_block() {
    let bytes = small_segment();
    let original = read_everything(bytes.clone()).unwrap();
    let seg = Segment::from_bytes(bytes.clone()).unwrap();
    let masks = [0xFFu8, 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80];
    let mut failures = Vec::new();
    let mut tried = 0;
    for pos in 0..bytes.len() {
        let block = block_of(&seg, pos);
        for mask in masks {
            tried += 1;
            let mut damaged = bytes.clone();
            damaged[pos] ^= mask;
            let what = format!("byte {pos} ^ {mask:#04x} (block {block:?})");
            match run(damaged) {
                Err(panic) => failures.push(format!("{what}: panicked: {panic}")),
                Ok(Ok(got)) => {
                    if got != original {
                        failures.push(format!("{what}: decoded to different data"));
                    }
                }
                Ok(Err(e)) => {
                    if !e.is_corruption() {
                        failures.push(format!("{what}: not a corruption error: {e}"));
                    }
                    if e.block() != block {
                        failures.push(format!("{what}: error names block {:?}: {e}", e.block()));
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {tried} flips failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
