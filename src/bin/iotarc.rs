//! The `iotarc` command-line tool.

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use iotarc::{Segment, SegmentWriter, Series, TimeRange, Value, ValueType, WriterOptions};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

#[derive(Parser)]
#[command(
    name = "iotarc",
    version,
    about = "Columnar archive for IoT sensor time series"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Generate a sensor corpus, pack it into a segment, print its stats and run sample queries.
    Demo {
        /// Directory for the demo segment (default: a fresh temporary directory).
        dir: Option<PathBuf>,
        /// Number of devices.
        #[arg(long, default_value_t = 20)]
        devices: usize,
        /// Days of 1 s readings per device.
        #[arg(long, default_value_t = 1.0)]
        days: f64,
    },
    /// Print a segment's devices, channels, blocks and codec mix.
    Inspect {
        /// Segment file.
        file: PathBuf,
    },
    /// Check every checksum and decode every block; exit 1 if anything is wrong.
    Verify {
        /// Segment files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Print one channel's points as CSV `timestamp_us,device,channel,value`.
    Dump {
        /// Segment file.
        file: PathBuf,
        /// Device name.
        #[arg(long)]
        device: String,
        /// Channel name.
        #[arg(long)]
        channel: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match cli.cmd {
        Cmd::Demo { dir, devices, days } => demo(dir, devices, days),
        Cmd::Inspect { file } => inspect(&file),
        Cmd::Verify { files } => verify(&files),
        Cmd::Dump {
            file,
            device,
            channel,
        } => dump(&file, &device, &channel),
    };
    match r {
        Ok(code) => code,
        Err(e) => {
            eprintln!("iotarc: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn human(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1e9 {
        format!("{:.2} GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.2} MB", b / 1e6)
    } else if b >= 1e3 {
        format!("{:.1} kB", b / 1e3)
    } else {
        format!("{bytes} B")
    }
}

fn demo(dir: Option<PathBuf>, devices: usize, days: f64) -> Result<ExitCode> {
    if devices == 0 || days.is_nan() || days <= 0.0 {
        bail!("--devices and --days must be positive");
    }
    let tmp;
    let dir = match dir {
        Some(d) => {
            std::fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
            d
        }
        None => {
            tmp = std::env::temp_dir().join(format!("iotarc-demo-{}", std::process::id()));
            std::fs::create_dir_all(&tmp)?;
            tmp
        }
    };
    let path = dir.join("demo.seg");
    let _ = std::fs::remove_file(&path);
    let rows = (days * 86_400.0) as usize;
    let start = 1_767_225_600_000_000i64; // 2026-01-01T00:00:00Z
    println!("generating {devices} devices x {rows} rows (1 s sampling, 5 channels)...");
    let t = Instant::now();
    let data: Vec<_> = (0..devices)
        .map(|i| iotarc::demo::device(i, start, rows, 1_000_000, 42))
        .collect();
    let gen_time = t.elapsed();
    let points: usize = data
        .iter()
        .map(|d| d.timestamps.len() * d.columns.len())
        .sum();

    let t = Instant::now();
    let mut w = SegmentWriter::create(&path, WriterOptions::default())?;
    for d in &data {
        let cols: Vec<(&str, &iotarc::Column)> =
            d.columns.iter().map(|(n, c)| (n.as_str(), c)).collect();
        w.add(&d.device, &d.timestamps, &cols)?;
    }
    let summary = w.finish()?;
    let pack_time = t.elapsed();
    println!(
        "generated {points} points in {:.2?}; packed into {} ({}) in {:.2?} = {:.1} M points/s",
        gen_time,
        path.display(),
        human(summary.bytes),
        pack_time,
        points as f64 / pack_time.as_secs_f64() / 1e6
    );
    println!(
        "size: {:.3} bytes/point, {:.1}x smaller than 16-byte (timestamp, f64) points\n",
        summary.bytes as f64 / points as f64,
        16.0 * points as f64 / summary.bytes as f64
    );
    inspect(&path)?;

    let seg = Segment::open(&path)?;
    let dev = &data[0].device;
    let t0 = data[0].timestamps[0];
    println!("\nsample queries on {dev}:");
    let run = |label: &str, ch: &str, range: TimeRange| -> Result<()> {
        let t = Instant::now();
        let a = seg.aggregate(dev, ch, range)?;
        let el = t.elapsed();
        let s = &a.stats;
        let show = |v: Option<Value>| v.map_or("-".to_string(), |v| v.to_string());
        println!(
            "  {label:<34} count={:<7} min={:<8} max={:<8} avg={:<10} stddev={:<8} [{} blocks from footer, {} decoded, {:.1?}]",
            s.count,
            show(s.min()),
            show(s.max()),
            s.mean().map_or("-".into(), |m| format!("{m:.3}")),
            s.stddev().map_or("-".into(), |m| format!("{m:.3}")),
            a.blocks_from_footer,
            a.blocks_decoded,
            el
        );
        Ok(())
    };
    run("temperature, whole range", "temperature", TimeRange::ALL)?;
    run(
        "pressure, 09:17:05 to 15:42:10",
        "pressure",
        TimeRange::new(t0 + 33_425_000_000, t0 + 56_530_000_000),
    )?;
    run(
        "energy_wh, first 6 hours",
        "energy_wh",
        TimeRange::new(t0 - 1, t0 + 6 * 3_600_000_000),
    )?;
    let t = Instant::now();
    let mut hourly = Vec::new();
    let hour = 3_600_000_000i64;
    let mut w0 = t0.div_euclid(hour) * hour;
    while w0 < data[0].timestamps[data[0].timestamps.len() - 1] {
        hourly.push(seg.aggregate(dev, "temperature", TimeRange::new(w0, w0 + hour))?);
        w0 += hour;
    }
    let decoded: usize = hourly.iter().map(|a| a.blocks_decoded).sum();
    println!(
        "  temperature hourly max over {} windows: {:.1?} total, {decoded} blocks decoded; first 3: {}",
        hourly.len(),
        t.elapsed(),
        hourly.iter().take(3).map(|a| a.stats.max().map_or("-".into(), |v| v.to_string())).collect::<Vec<_>>().join(", ")
    );
    let t = Instant::now();
    let mut s = Series::new(ValueType::F64);
    seg.read_series(dev, "temperature", TimeRange::ALL, &mut s)?;
    println!(
        "  raw read of temperature: {} points in {:.1?}",
        s.timestamps.len(),
        t.elapsed()
    );
    Ok(ExitCode::SUCCESS)
}

fn inspect(path: &PathBuf) -> Result<ExitCode> {
    let seg = Segment::open(path)?;
    let f = seg.footer();
    let rows: u64 = f.blocks.iter().map(|b| b.rows).sum();
    println!(
        "{}: {} devices, {} channels, {} blocks, {} rows, {}",
        path.display(),
        f.devices.len(),
        f.channels.len(),
        f.blocks.len(),
        rows,
        human(seg.len_bytes())
    );
    let ts_bytes: u64 = f.blocks.iter().map(|b| b.ts_chunk_len).sum();
    let mut ts_codecs = std::collections::BTreeMap::<&str, usize>::new();
    for b in &f.blocks {
        *ts_codecs
            .entry(iotarc::codec::int::name(b.ts_codec))
            .or_default() += 1;
    }
    println!(
        "{:<16} {:>6} {:>12} {:>10} {:>9}  codecs (blocks)",
        "channel", "type", "samples", "bytes", "B/sample"
    );
    println!(
        "{:<16} {:>6} {:>12} {:>10} {:>9.3}  {ts_codecs:?}",
        "(timestamps)",
        "i64",
        rows,
        ts_bytes,
        ts_bytes as f64 / rows as f64
    );
    for (ci, name) in f.channels.iter().enumerate() {
        let mut types = std::collections::BTreeMap::<&str, usize>::new();
        let mut codecs = std::collections::BTreeMap::<&str, usize>::new();
        let (mut n, mut bytes) = (0u64, 0u64);
        for b in &f.blocks {
            if let Some(c) = b.column(ci as u32) {
                *types.entry(c.vtype.name()).or_default() += 1;
                *codecs.entry(c.vtype.codec_name(c.codec)).or_default() += 1;
                n += c.stats.count;
                bytes += c.chunk_len;
            }
        }
        let ty = types.keys().copied().collect::<Vec<_>>().join("|");
        println!(
            "{name:<16} {ty:>6} {n:>12} {bytes:>10} {:>9.3}  {codecs:?}",
            bytes as f64 / n.max(1) as f64
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn verify(files: &[PathBuf]) -> Result<ExitCode> {
    let mut problems = 0usize;
    for path in files {
        let seg = match Segment::open(path) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("{e}");
                problems += 1;
                continue;
            }
        };
        let mut ts = Vec::new();
        let mut col = iotarc::ColumnBuf::default();
        for (bi, meta) in seg.footer().blocks.iter().enumerate() {
            let r = seg.block(bi).and_then(|b| {
                b.timestamps(&mut ts)?;
                (0..meta.columns.len()).try_for_each(|ci| b.column(ci, &mut col))
            });
            if let Err(e) = r {
                eprintln!("{}", e.with_path(path).with_block(bi));
                problems += 1;
            }
        }
        if problems == 0 {
            println!(
                "{}: ok ({} blocks)",
                path.display(),
                seg.footer().blocks.len()
            );
        }
    }
    if problems > 0 {
        eprintln!("{problems} problem(s) found");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

fn dump(path: &PathBuf, device: &str, channel: &str) -> Result<ExitCode> {
    let seg = Segment::open(path)?;
    let Some(ch) = seg.channel_id(channel) else {
        eprintln!("note: no channel {channel:?} in {}", path.display());
        return Ok(ExitCode::SUCCESS);
    };
    let vtype = seg
        .footer()
        .blocks
        .iter()
        .find_map(|b| b.column(ch).map(|c| c.vtype))
        .unwrap_or(ValueType::F64);
    let mut s = Series::new(vtype);
    seg.read_series(device, channel, TimeRange::ALL, &mut s)?;
    let out = std::io::stdout();
    let mut out = std::io::BufWriter::new(out.lock());
    for (i, t) in s.timestamps.iter().enumerate() {
        let v = s.values.get(i).map(|v| v.to_string()).unwrap_or_default();
        if writeln!(out, "{t},{device},{channel},{v}").is_err() {
            break; // stdout closed (e.g. piped to head): stop quietly
        }
    }
    let _ = out.flush();
    Ok(ExitCode::SUCCESS)
}
