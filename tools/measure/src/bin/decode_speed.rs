//! Decode speed of a packed archive, side by side with pco on the same series.
//!
//! ```text
//! iotarc pack data.csv -o arch
//! cargo run --release -p iotarc-measure --bin decode_speed -- arch [--runs 7] [--no-peer]
//! ```
//!
//! On one thread it decodes every block of every segment (timestamps and every column,
//! block checksums included) and reports (timestamp, value) points per second and GB/s
//! counting 16 bytes per point, the unit of the issue's floor. Time is also split by the
//! codec of each column chunk, so the `PCO` codec's own speed shows.
//!
//! The peer: each f64 and i64 series is read back from the archive and compressed with
//! pco 1.1 (standalone, default level 8) as one timestamp stream and one value stream,
//! the layout of the peers' figures in `shared/data/*/README.md`; the same thread times
//! decompressing both. Medians of `--runs` runs after one warm-up.

use iotarc::archive::Archive;
use iotarc::{ColumnBuf, Series, TimeRange, ValueType, Values};
use std::collections::BTreeMap;
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = args
        .first()
        .ok_or("usage: decode_speed ARCHIVE [--runs N]")?;
    let runs: usize = match args.iter().position(|a| a == "--runs") {
        Some(i) => args.get(i + 1).ok_or("--runs needs a value")?.parse()?,
        None => 7,
    };
    let archive = Archive::open(dir)?;
    let segments: Vec<_> = archive
        .manifest()
        .segments
        .iter()
        .map(|e| archive.open_segment(e))
        .collect::<Result<_, _>>()?;

    // iotarc: every block, whole.
    let mut points = 0u64;
    let mut by_codec: BTreeMap<String, (f64, u64)> = BTreeMap::new();
    let mut totals = Vec::new();
    let mut ts = Vec::new();
    let mut buf = ColumnBuf::default();
    for run in 0..=runs {
        let mut codec_time: BTreeMap<String, (f64, u64)> = BTreeMap::new();
        let mut n = 0u64;
        let t0 = Instant::now();
        for seg in &segments {
            for i in 0..seg.footer().blocks.len() {
                let block = seg.block(i)?;
                let t = Instant::now();
                block.timestamps(&mut ts)?;
                let meta = block.meta();
                let e = codec_time
                    .entry(format!("ts {}", ValueType::I64.codec_name(meta.ts_codec)))
                    .or_default();
                e.0 += t.elapsed().as_secs_f64();
                e.1 += meta.rows;
                for (ci, m) in meta.columns.iter().enumerate() {
                    let t = Instant::now();
                    block.column(ci, &mut buf)?;
                    let e = codec_time
                        .entry(format!("{:?} {}", m.vtype, m.vtype.codec_name(m.codec)))
                        .or_default();
                    e.0 += t.elapsed().as_secs_f64();
                    e.1 += m.stats.count;
                    n += m.stats.count;
                }
            }
        }
        if run > 0 {
            totals.push(t0.elapsed().as_secs_f64());
            for (k, (s, c)) in codec_time {
                let e = by_codec.entry(k).or_default();
                e.0 += s / runs as f64;
                e.1 = c;
            }
        }
        points = n;
    }
    let secs = median(totals);
    println!(
        "archive {dir}: {} segments, {points} points",
        segments.len()
    );
    println!(
        "iotarc decode, 1 thread: {:.1} M points/s, {:.2} GB/s of 16-byte points ({:.1} ms)",
        points as f64 / secs / 1e6,
        points as f64 * 16.0 / secs / 1e9,
        secs * 1e3
    );
    println!("  by codec (mean time; timestamps count rows, columns values):");
    for (k, (s, c)) in &by_codec {
        println!(
            "  {k:<24} {c:>10} values {:>8.2} ms {:>8.1} M values/s",
            s * 1e3,
            *c as f64 / s / 1e6
        );
    }

    if args.iter().any(|a| a == "--no-peer") {
        return Ok(());
    }
    // pco per series, whole-series chunks.
    let cfg = pco::ChunkConfig::default();
    let mut streams: Vec<(Vec<u8>, Vec<u8>, usize, bool)> = Vec::new();
    let mut pco_bytes = 0usize;
    for seg in &segments {
        for dev in seg.devices() {
            for ch in seg.channels() {
                for vtype in [ValueType::F64, ValueType::I64] {
                    let mut s = Series::new(vtype);
                    if seg.read_series(dev, ch, TimeRange::ALL, &mut s).is_err()
                        || s.timestamps.is_empty()
                    {
                        continue;
                    }
                    let t = pco::standalone::simple_compress(&s.timestamps, &cfg)?;
                    let (v, is_f64) = match &s.values {
                        Values::F64(v) => (pco::standalone::simple_compress(v, &cfg)?, true),
                        Values::I64(v) => (pco::standalone::simple_compress(v, &cfg)?, false),
                        _ => continue,
                    };
                    pco_bytes += t.len() + v.len();
                    streams.push((t, v, s.timestamps.len(), is_f64));
                }
            }
        }
    }
    let pco_points: usize = streams.iter().map(|s| s.2).sum();
    let mut totals = Vec::new();
    let (mut tsv, mut fv, mut iv) = (Vec::<i64>::new(), Vec::<f64>::new(), Vec::<i64>::new());
    for run in 0..=runs {
        let t0 = Instant::now();
        for (t, v, n, is_f64) in &streams {
            tsv.resize(*n, 0);
            pco::standalone::simple_decompress_into(t, &mut tsv)?;
            if *is_f64 {
                fv.resize(*n, 0.0);
                pco::standalone::simple_decompress_into(v, &mut fv)?;
            } else {
                iv.resize(*n, 0);
                pco::standalone::simple_decompress_into(v, &mut iv)?;
            }
        }
        if run > 0 {
            totals.push(t0.elapsed().as_secs_f64());
        }
    }
    let secs = median(totals);
    println!(
        "pco per series ({} series, {pco_points} points, {pco_bytes} bytes), 1 thread: {:.1} M points/s, {:.2} GB/s of 16-byte points",
        streams.len(),
        pco_points as f64 / secs / 1e6,
        pco_points as f64 * 16.0 / secs / 1e9
    );
    Ok(())
}
