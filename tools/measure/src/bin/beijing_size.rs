//! Size report on the Beijing multi-site air-quality data (12 stations, hourly, 2013-03-01
//! to 2017-02-28), compared with the peers listed in `shared/data/beijing/README.md`.
//!
//! ```text
//! cargo run --release -p iotarc-measure --bin beijing_size -- [DIR] [--target-rows N] [--zstd-level L|none] [--sweep]
//! ```
//!
//! Each station becomes one device with the 11 numeric channels (f64, `NA` = missing) and
//! the `wd` string channel; all stations go into ONE segment. The report splits the file
//! by channel using the footer's `ColumnMeta`. The peers' figures leave `wd` out, so the
//! totals compared with them leave it out too (see "attribution rule" in the output), and
//! a second segment written without `wd` gives the exact file size for the numeric data.
//!
//! It ends with the cost of a regularly sampled synthetic series (1 day of 1 s
//! temperature with 1 decimal) in bytes per sample including timestamps.

use anyhow::{bail, Context, Result};
use clap::Parser;
use iotarc::codec::bytes::Cursor;
use iotarc::codec::{float, int, validity, Options};
use iotarc::{Bitmap, Column, Segment, SegmentWriter, StrValues, ValueType, Values, WriterOptions};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Numeric channels in the order of the CSV header (WSPM comes after `wd`).
const NUMERIC: [&str; 11] = [
    "PM2.5", "PM10", "SO2", "NO2", "CO", "O3", "TEMP", "PRES", "DEWP", "RAIN", "WSPM",
];
const EXPECTED_HEADER: &str = "\"No\",\"year\",\"month\",\"day\",\"hour\",\"PM2.5\",\"PM10\",\"SO2\",\"NO2\",\"CO\",\"O3\",\"TEMP\",\"PRES\",\"DEWP\",\"RAIN\",\"wd\",\"WSPM\",\"station\"";

/// Peer figures from the data set's README (numeric channels only, `wd` left out).
const PARQUET_WIDE: u64 = 5_391_672;
const PCO: u64 = 3_574_678;
const README_READINGS: u64 = 4_556_243;

const SWEEP: [usize; 6] = [1024, 2048, 4096, 8192, 16384, 32768];

#[derive(Parser, Debug)]
#[command(about = "Segment size report on the Beijing air-quality CSV files")]
struct Args {
    /// Directory holding PRSA_Data_*.csv.
    #[arg(default_value = "../shared/data/beijing")]
    dir: PathBuf,
    /// WriterOptions::target_rows.
    #[arg(long, default_value_t = 8192)]
    target_rows: usize,
    /// zstd level for the codecs' entropy stages, or `none` (default: the library's, 1).
    #[arg(long, default_value = "1")]
    zstd_level: String,
    /// Also run every target-rows value in {1024, ..., 32768} and print a summary table.
    #[arg(long)]
    sweep: bool,
}

struct Station {
    name: String,
    ts: Vec<i64>,
    numeric: Vec<Vec<Option<f64>>>,
    wd: Vec<Option<String>>,
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn unquote(s: &str) -> &str {
    s.trim().trim_matches('"')
}

fn parse_station(path: &Path) -> Result<Station> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {path:?}"))?;
    let mut lines = text.lines();
    let header = lines.next().context("empty file")?.trim();
    if header != EXPECTED_HEADER {
        bail!("{path:?}: unexpected header {header}");
    }
    let mut st = Station {
        name: String::new(),
        ts: Vec::new(),
        numeric: vec![Vec::new(); NUMERIC.len()],
        wd: Vec::new(),
    };
    for (ln, line) in lines.enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split(',').map(unquote).collect();
        if f.len() != 18 {
            bail!("{path:?} line {}: {} fields", ln + 2, f.len());
        }
        let int = |i: usize| -> Result<i64> {
            f[i].parse::<i64>()
                .with_context(|| format!("{path:?} line {}: field {i} {:?}", ln + 2, f[i]))
        };
        let (y, mo, d, h) = (int(1)?, int(2)?, int(3)?, int(4)?);
        st.ts
            .push((days_from_civil(y, mo, d) * 24 + h) * 3_600_000_000);
        // CSV columns 5..=14 are PM2.5..RAIN, 16 is WSPM.
        for (k, col) in (5..=14).chain([16]).enumerate() {
            let v = match f[col] {
                "NA" | "" => None,
                s => Some(
                    s.parse::<f64>()
                        .with_context(|| format!("{path:?} line {}: {s:?}", ln + 2))?,
                ),
            };
            st.numeric[k].push(v);
        }
        st.wd.push(match f[15] {
            "NA" | "" => None,
            s => Some(s.to_string()),
        });
        if st.name.is_empty() {
            st.name = f[17].to_string();
        }
    }
    if st.ts.windows(2).any(|w| w[0] >= w[1]) {
        bail!("{path:?}: timestamps not strictly increasing");
    }
    Ok(st)
}

fn load(dir: &Path) -> Result<Vec<Station>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("listing {dir:?}"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("PRSA_Data_") && n.ends_with(".csv"))
        })
        .collect();
    files.sort();
    if files.is_empty() {
        bail!("no PRSA_Data_*.csv in {dir:?}");
    }
    files.iter().map(|p| parse_station(p)).collect()
}

fn wd_column(wd: &[Option<String>]) -> Column {
    let validity: Bitmap = wd.iter().map(Option::is_some).collect();
    let values: StrValues = wd.iter().flatten().map(String::as_str).collect();
    Column::with_validity(Values::Str(values), validity)
}

fn codec_options(level: &str) -> Result<Options> {
    let zstd_level = match level {
        "none" => None,
        l => Some(
            l.parse::<i32>()
                .context("--zstd-level takes an integer or `none`")?,
        ),
    };
    Ok(Options {
        zstd_level,
        ..Options::default()
    })
}

/// Writes all stations into one segment and returns (file bytes, write seconds).
fn write_segment(
    path: &Path,
    stations: &[Station],
    opts: &WriterOptions,
    with_wd: bool,
) -> Result<(u64, f64)> {
    let _ = std::fs::remove_file(path);
    let t = Instant::now();
    let mut w = SegmentWriter::create(path, opts.clone())?;
    for st in stations {
        let mut cols: Vec<Column> = st
            .numeric
            .iter()
            .map(|v| Column::from_f64_options(v))
            .collect();
        if with_wd {
            cols.push(wd_column(&st.wd));
        }
        let names = NUMERIC.iter().copied().chain(with_wd.then_some("wd"));
        let named: Vec<(&str, &Column)> = names.zip(cols.iter()).collect();
        w.add(&st.name, &st.ts, &named)?;
    }
    let s = w.finish()?;
    Ok((s.bytes, t.elapsed().as_secs_f64()))
}

#[derive(Default)]
struct ChannelUse {
    vtype: Option<ValueType>,
    samples: u64,
    bytes: u64,
    blocks: u64,
    codecs: BTreeMap<&'static str, u64>,
    /// Blocks per inner layout (see [`chunk_label`]).
    inner: BTreeMap<String, u64>,
    /// DECIMAL exceptions.
    exceptions: u64,
}

/// Reads an IntStream header and names its residual layout: `bpW` (bit-packed at width W),
/// `zstdK` (K zstd byte planes), `zzstdK` (zigzag planes), `varint`; `gN` if gcd N > 1.
fn intstream_label(c: &mut Cursor) -> Option<String> {
    let kind = c.u8("kind").ok()?;
    c.i64("base").ok()?;
    let g = c.varint("gcd").ok()?;
    let g = if g > 1 {
        format!("g{g}:")
    } else {
        String::new()
    };
    Some(match kind {
        0 => format!("{g}bp{}", c.u8("w").ok()?),
        1 => format!("{g}zstd{}", c.u8("k").ok()?),
        2 => format!("{g}varint"),
        3 => format!("{g}zzstd{}", c.u8("k").ok()?),
        k => format!("kind{k}"),
    })
}

/// Names an integer encoding: codec, and for FOR/DELTA/DOD the IntStream layout.
fn int_label(c: &mut Cursor) -> Option<String> {
    let codec = c.u8("codec").ok()?;
    let skip = match codec {
        int::FOR => 0,
        int::DELTA => 8,
        int::DOD => 16,
        _ => return Some(int::name(codec).to_string()),
    };
    c.take(skip, "prefix").ok()?;
    Some(format!("{}/{}", int::name(codec), intstream_label(c)?))
}

/// Names the layout inside a chunk, e.g. `e1/delta/zstd1` for a DECIMAL column with one
/// decimal whose mantissas are delta-coded into one zstd byte plane. Returns the label and
/// the DECIMAL exception count. Diagnostic only: parses the v1 layout of
/// `format-spec/format.md` sections 8-10 by hand.
fn chunk_label(chunk: &[u8], rows: usize, vtype: ValueType) -> (String, u64) {
    let parse = || -> Option<(String, u64)> {
        if chunk.get(..2) == Some(&[0, iotarc::format::chunkref::REF]) {
            return Some(("ref".into(), 0));
        }
        let mut c = Cursor::new(chunk);
        let flags = c.u8("flags").ok()?;
        if flags & 1 != 0 {
            let mut bm = Bitmap::new();
            validity::decode(&mut c, rows, &mut bm).ok()?;
        }
        match vtype {
            ValueType::I64 => Some((int_label(&mut c)?, 0)),
            ValueType::F64 => {
                let codec = c.u8("codec").ok()?;
                if codec != float::DECIMAL {
                    return Some((float::name(codec).to_string(), 0));
                }
                let e = c.u8("e").ok()?;
                let nexc = c.varint("exc").ok()?;
                for _ in 0..nexc {
                    c.varint("gap").ok()?;
                    c.u64("bits").ok()?;
                }
                Some((format!("e{e}/{}", int_label(&mut c)?), nexc))
            }
            _ => None,
        }
    };
    parse().unwrap_or_else(|| ("-".to_string(), 0))
}

struct Report {
    file_bytes: u64,
    blocks: usize,
    header: u64,
    footer: u64,
    trailer: u64,
    ts_rows: u64,
    ts_bytes: u64,
    ts_codecs: BTreeMap<&'static str, u64>,
    ts_inner: BTreeMap<String, u64>,
    channels: Vec<(String, ChannelUse)>,
}

impl Report {
    fn from_segment(path: &Path) -> Result<Report> {
        let seg = Segment::open(path)?;
        let file = std::fs::read(path)?;
        let f = seg.footer();
        let mut channels: Vec<(String, ChannelUse)> = f
            .channels
            .iter()
            .map(|c| (c.clone(), ChannelUse::default()))
            .collect();
        let (mut ts_rows, mut ts_bytes, mut data) = (0, 0, 0);
        let mut ts_codecs = BTreeMap::new();
        let mut ts_inner = BTreeMap::new();
        for b in &f.blocks {
            let blk = &file[b.offset as usize..(b.offset + b.len) as usize];
            let (l, _) = chunk_label(
                &blk[..b.ts_chunk_len as usize],
                b.rows as usize,
                ValueType::I64,
            );
            *ts_inner.entry(l).or_insert(0) += 1;
            data += b.len;
            ts_rows += b.rows;
            ts_bytes += b.ts_chunk_len;
            *ts_codecs
                .entry(ValueType::I64.codec_name(b.ts_codec))
                .or_insert(0) += 1;
            for cm in &b.columns {
                let u = &mut channels[cm.channel as usize].1;
                u.vtype = Some(cm.vtype);
                u.samples += cm.stats.count;
                u.bytes += cm.chunk_len;
                u.blocks += 1;
                *u.codecs.entry(cm.vtype.codec_name(cm.codec)).or_insert(0) += 1;
                let chunk =
                    &blk[cm.chunk_offset as usize..(cm.chunk_offset + cm.chunk_len) as usize];
                let (l, exc) = chunk_label(chunk, b.rows as usize, cm.vtype);
                if cm.vtype != ValueType::Str {
                    *u.inner.entry(l).or_insert(0) += 1;
                }
                u.exceptions += exc;
            }
        }
        let header = iotarc::format::header::HEADER_LEN as u64;
        let trailer = iotarc::format::header::TRAILER_LEN as u64;
        let file_bytes = seg.len_bytes();
        Ok(Report {
            file_bytes,
            blocks: f.blocks.len(),
            header,
            footer: file_bytes - data - header - trailer,
            trailer,
            ts_rows,
            ts_bytes,
            ts_codecs,
            ts_inner,
            channels,
        })
    }

    fn overhead(&self) -> u64 {
        self.header + self.footer + self.trailer
    }

    fn is_numeric(name: &str) -> bool {
        NUMERIC.contains(&name)
    }

    /// Attribution rule: numeric chunks + all timestamp chunks + (header + footer +
    /// trailer) * numeric channels / all channels.
    fn numeric_bytes(&self) -> f64 {
        let num: u64 = self
            .channels
            .iter()
            .filter(|(n, _)| Self::is_numeric(n))
            .map(|(_, u)| u.bytes)
            .sum();
        let share = self.numeric_channels() as f64 / self.channels.len() as f64;
        num as f64 + self.ts_bytes as f64 + self.overhead() as f64 * share
    }

    fn numeric_channels(&self) -> usize {
        self.channels
            .iter()
            .filter(|(n, _)| Self::is_numeric(n))
            .count()
    }

    fn numeric_samples(&self) -> u64 {
        self.channels
            .iter()
            .filter(|(n, _)| Self::is_numeric(n))
            .map(|(_, u)| u.samples)
            .sum()
    }
}

fn mix<K: std::fmt::Display>(m: &BTreeMap<K, u64>) -> String {
    m.iter()
        .map(|(k, v)| format!("{k}x{v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn print_detail(r: &Report, no_wd_bytes: u64) {
    println!(
        "segment: {} bytes, {} blocks ({} header + {} footer + {} trailer + {} block bytes)",
        r.file_bytes,
        r.blocks,
        r.header,
        r.footer,
        r.trailer,
        r.file_bytes - r.overhead()
    );
    println!(
        "{:<10} {:>10} {:>10} {:>13} {:>7}  codec mix (blocks per codec)",
        "channel", "samples", "bytes", "bytes/sample", "share"
    );
    let total = r.file_bytes as f64;
    println!(
        "{:<10} {:>10} {:>10} {:>13.4} {:>6.1}%  {}",
        "(ts)",
        r.ts_rows,
        r.ts_bytes,
        r.ts_bytes as f64 / r.ts_rows as f64,
        100.0 * r.ts_bytes as f64 / total,
        mix(&r.ts_codecs)
    );
    println!("{:<10} inner: {}", "", mix(&r.ts_inner));
    for (name, u) in &r.channels {
        println!(
            "{:<10} {:>10} {:>10} {:>13.4} {:>6.1}%  {}{}",
            name,
            u.samples,
            u.bytes,
            u.bytes as f64 / u.samples.max(1) as f64,
            100.0 * u.bytes as f64 / total,
            mix(&u.codecs),
            match u.vtype {
                Some(ValueType::Str) => "  (string; excluded from numeric totals)",
                _ => "",
            }
        );
        if !u.inner.is_empty() {
            println!(
                "{:<10} inner: {}; decimal exceptions {}",
                "",
                mix(&u.inner),
                u.exceptions
            );
        }
    }
    println!(
        "  inner notation: eE = DECIMAL exponent, then int codec / IntStream layout: bpW = bit-packed \
         W bits, zstdK = K zstd byte planes, zzstdK = zigzag planes, gN: = gcd N"
    );
    let nb = r.numeric_bytes();
    let ns = r.numeric_samples();
    println!();
    println!(
        "numeric totals (wd excluded): {} readings in {} series (README: {}{})",
        ns,
        r.numeric_channels() * 12,
        README_READINGS,
        if ns == README_READINGS {
            ", matches"
        } else {
            ", MISMATCH"
        }
    );
    println!(
        "  attribution rule: sum of the 11 numeric channels' chunk_len + every timestamp chunk \
         + (header + footer + trailer) x {}/{} (even share per channel)",
        r.numeric_channels(),
        r.channels.len()
    );
    println!(
        "  attributed numeric bytes: {:.0} = {:.4} bytes/reading; x{:.3} wide Parquet (target <= 0.6), x{:.3} pco (target <= 1.25)",
        nb,
        nb / ns as f64,
        nb / PARQUET_WIDE as f64,
        nb / PCO as f64
    );
    println!(
        "  segment written without wd: {} bytes = {:.4} bytes/reading; x{:.3} wide Parquet, x{:.3} pco",
        no_wd_bytes,
        no_wd_bytes as f64 / ns as f64,
        no_wd_bytes as f64 / PARQUET_WIDE as f64,
        no_wd_bytes as f64 / PCO as f64
    );
}

/// xorshift64* for the synthetic series.
struct Rng(u64);

impl Rng {
    fn f64(&mut self) -> f64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn normal(&mut self) -> f64 {
        let s: f64 = (0..4).map(|_| self.f64()).sum();
        (s - 2.0) * 3f64.sqrt()
    }
}

/// One UTC day of 1 s temperature: 21 + 2.5 sin(day) + N(0, 0.08), rounded to 0.1.
fn synthetic_regular(dir: &Path, opts: &WriterOptions) -> Result<()> {
    let n = 86_400usize;
    let t0 = days_from_civil(2024, 1, 15) * 86_400_000_000;
    let ts: Vec<i64> = (0..n as i64).map(|i| t0 + i * 1_000_000).collect();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let temp: Vec<f64> = (0..n)
        .map(|i| {
            let x = 21.0
                + 2.5 * (2.0 * std::f64::consts::PI * i as f64 / n as f64).sin()
                + 0.08 * rng.normal();
            (x * 10.0).round() / 10.0
        })
        .collect();
    let path = dir.join("synthetic.seg");
    let mut w = SegmentWriter::create(&path, opts.clone())?;
    w.add(
        "boiler-7",
        &ts,
        &[("temp", &Column::dense(Values::F64(temp)))],
    )?;
    let s = w.finish()?;
    let r = Report::from_segment(&path)?;
    let temp_bytes = r.channels[0].1.bytes;
    println!(
        "synthetic regular series (1 day, 1 s, temperature 1 decimal = 21 + 2.5 sin + N(0,0.08), rounded to 0.1):"
    );
    println!(
        "  {} samples, {} blocks, file {} bytes = {:.4} bytes/sample incl. timestamps and all overhead (target <= 0.4)",
        n,
        s.blocks,
        s.bytes,
        s.bytes as f64 / n as f64
    );
    println!(
        "  of which: timestamps {} bytes ({}), values {} bytes ({}), header+footer+trailer {} bytes",
        r.ts_bytes,
        mix(&r.ts_codecs),
        temp_bytes,
        mix(&r.channels[0].1.codecs),
        r.overhead()
    );
    Ok(())
}

fn main() -> Result<()> {
    let args = Args::parse();
    let codec = codec_options(&args.zstd_level)?;
    let t = Instant::now();
    let stations = load(&args.dir)?;
    let rows: usize = stations.iter().map(|s| s.ts.len()).sum();
    println!(
        "loaded {} stations, {} rows from {:?} in {:.2} s; zstd level {}",
        stations.len(),
        rows,
        args.dir,
        t.elapsed().as_secs_f64(),
        args.zstd_level
    );
    let raw_mb = (rows * (NUMERIC.len() + 1) * 8) as f64 / 1e6;
    let tmp = tempfile::tempdir()?;
    let seg_path = tmp.path().join("beijing.seg");
    let nowd_path = tmp.path().join("beijing_nowd.seg");

    let opts = WriterOptions {
        target_rows: args.target_rows,
        codec: codec.clone(),
        ..WriterOptions::default()
    };
    println!();
    println!("=== target_rows {} ===", args.target_rows);
    let (_, secs) = write_segment(&seg_path, &stations, &opts, true)?;
    let (no_wd, _) = write_segment(&nowd_path, &stations, &opts, false)?;
    let r = Report::from_segment(&seg_path)?;
    print_detail(&r, no_wd);
    println!(
        "  write time with wd: {:.3} s ({:.0} MB/s of raw 8-byte timestamps + numeric values, 2 rayon threads)",
        secs,
        raw_mb / secs
    );

    if args.sweep {
        println!();
        println!(
            "=== sweep over target_rows (zstd level {}) ===",
            args.zstd_level
        );
        println!(
            "{:>11} {:>7} {:>10} {:>12} {:>10} {:>9} {:>9} {:>10} {:>9} {:>9} {:>8}",
            "target_rows",
            "blocks",
            "file",
            "numeric_attr",
            "B/reading",
            "xParquet",
            "xpco",
            "file_no_wd",
            "xParquet",
            "xpco",
            "write_s"
        );
        for &tr in &SWEEP {
            let opts = WriterOptions {
                target_rows: tr,
                codec: codec.clone(),
                ..WriterOptions::default()
            };
            let (_, secs) = write_segment(&seg_path, &stations, &opts, true)?;
            let (no_wd, _) = write_segment(&nowd_path, &stations, &opts, false)?;
            let r = Report::from_segment(&seg_path)?;
            let nb = r.numeric_bytes();
            println!(
                "{:>11} {:>7} {:>10} {:>12.0} {:>10.4} {:>9.3} {:>9.3} {:>10} {:>9.3} {:>9.3} {:>8.3}",
                tr,
                r.blocks,
                r.file_bytes,
                nb,
                nb / r.numeric_samples() as f64,
                nb / PARQUET_WIDE as f64,
                nb / PCO as f64,
                no_wd,
                no_wd as f64 / PARQUET_WIDE as f64,
                no_wd as f64 / PCO as f64,
                secs
            );
        }
    }

    println!();
    synthetic_regular(tmp.path(), &opts)?;
    Ok(())
}
