//! `iotarc demo`: generate a realistic corpus as wide CSV, pack it with the same code path
//! as `iotarc pack`, print the archive's stats and run sample queries with timings.

use crate::output::{rfc3339, value_text};
use anyhow::{Context, Result};
use clap::Args;
use iotarc::archive::{self, Agg, Archive, LoadOptions, OnError, PackOptions};
use iotarc::ingest::ParseOptions;
use iotarc::Value;
use rayon::prelude::*;
use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

/// A sample query, given the opened archive.
type QueryFn<'a> =
    dyn Fn(&Archive) -> iotarc::Result<(Vec<archive::AggRow>, archive::QueryStats)> + 'a;

#[derive(Args)]
pub struct DemoArgs {
    /// Working directory (default: a new directory under the system temp dir).
    dir: Option<PathBuf>,
    /// Number of devices.
    #[arg(long, default_value_t = 50)]
    devices: usize,
    /// Days of readings per device.
    #[arg(long, default_value_t = 2.0)]
    days: f64,
    /// Seconds between readings.
    #[arg(long, default_value_t = 10)]
    interval: u32,
}

fn device_csv(i: usize, start: i64, rows: usize, interval_us: i64) -> String {
    let d = iotarc::demo::device(i, start, rows, interval_us, 42);
    let mut s = String::with_capacity(rows * 80);
    for (r, &t) in d.timestamps.iter().enumerate() {
        let _ = write!(s, "{},{}", rfc3339(t), d.device);
        for (_, col) in &d.columns {
            let v = col
                .values
                .get(r)
                .map(|v| value_text(&v))
                .unwrap_or_default();
            s.push(',');
            s.push_str(&v);
        }
        s.push('\n');
    }
    s
}

pub fn run(a: DemoArgs) -> Result<ExitCode> {
    if a.devices == 0 || a.days.is_nan() || a.days <= 0.0 || a.interval == 0 {
        return Err(crate::usage(
            "--devices, --days and --interval must be positive",
        ));
    }
    let dir = a.dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("iotarc-demo-{}", std::process::id()))
    });
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let csv = dir.join("corpus.csv");
    let arch_dir = dir.join("archive");
    if arch_dir.exists() {
        std::fs::remove_dir_all(&arch_dir)
            .with_context(|| format!("removing old {}", arch_dir.display()))?;
    }
    let interval_us = a.interval as i64 * 1_000_000;
    let rows = (a.days * 86_400.0 / a.interval as f64) as usize;
    let start = 1_767_225_600_000_000i64; // 2026-01-01T00:00:00Z

    let t = Instant::now();
    let mut f = std::io::BufWriter::new(
        std::fs::File::create(&csv).with_context(|| format!("creating {}", csv.display()))?,
    );
    let sample = iotarc::demo::device(0, start, 1, interval_us, 42);
    let names: Vec<&str> = sample.columns.iter().map(|(n, _)| n.as_str()).collect();
    writeln!(f, "timestamp,device,{}", names.join(","))?;
    for chunk in (0..a.devices).collect::<Vec<_>>().chunks(8) {
        let parts: Vec<String> = chunk
            .par_iter()
            .map(|&i| device_csv(i, start, rows, interval_us))
            .collect();
        for p in parts {
            f.write_all(p.as_bytes())?;
        }
    }
    f.flush()?;
    drop(f);
    let csv_bytes = std::fs::metadata(&csv)?.len();
    println!(
        "1. generated {} devices x {} readings x {} channels ({}) as wide CSV: {} ({}) in {:.2} s",
        a.devices,
        rows,
        names.len(),
        names.join(", "),
        csv.display(),
        crate::human(csv_bytes),
        t.elapsed().as_secs_f64()
    );

    let opts = LoadOptions {
        parse: ParseOptions::default(),
        pack: PackOptions::default(),
        on_error: OnError::Fail,
    };
    let report = archive::load(
        &arch_dir,
        &[csv.display().to_string()],
        &opts,
        |_| Ok(()),
        |_| {},
    )?;
    let secs = report.elapsed.as_secs_f64();
    println!(
        "2. packed into {} in {:.2} s ({:.0} MB/s of CSV): {} values in {} segments, {}; rejected {}",
        arch_dir.display(),
        secs,
        csv_bytes as f64 / secs / 1e6,
        report.pack.points_written,
        report.pack.segments,
        crate::human(report.pack.bytes),
        report.rejected
    );
    println!(
        "   $ iotarc pack {} -o {}\n",
        csv.display(),
        arch_dir.display()
    );
    println!("3. $ iotarc stats {}", arch_dir.display());
    crate::stats::collect(&arch_dir)?.print(&mut std::io::stdout().lock())?;

    println!("\n4. sample queries (times include opening the archive):");
    let dev = "sensor-0000";
    let show = |v: &Option<Value>| v.as_ref().map_or("-".to_string(), value_text);
    let run = |cmd: &str, f: &QueryFn<'_>| -> Result<()> {
        let t = Instant::now();
        let arch = Archive::open(&arch_dir)?;
        let (rows, st) = f(&arch)?;
        let el = t.elapsed();
        println!("   $ iotarc query {} {cmd}", arch_dir.display());
        for r in rows.iter().take(4) {
            let w = r
                .window
                .map(|w| format!(" {}", rfc3339(w)))
                .unwrap_or_default();
            println!(
                "     {} {}{w}: {}",
                r.device,
                r.channel,
                r.values.iter().map(show).collect::<Vec<_>>().join(" ")
            );
        }
        if rows.len() > 4 {
            println!("     ... {} rows", rows.len());
        }
        println!(
            "     [{:.2} ms; {} segments opened, {} partitions pruned; {} blocks from footers, {} decoded]",
            el.as_secs_f64() * 1e3,
            st.segments_opened,
            st.partitions_pruned,
            st.blocks_from_footer,
            st.blocks_decoded
        );
        Ok(())
    };
    let basic = [Agg::Count, Agg::Min, Agg::Max, Agg::Avg, Agg::Stddev];
    run(
        &format!("--device {dev} --channel temperature --agg count,min,max,avg,stddev"),
        &|ar| {
            ar.query()
                .device(dev)
                .channel("temperature")
                .aggregates(&basic)
                .run_aggregate()
        },
    )?;
    run(
        &format!("--device {dev} --channel temperature --agg min,max --every 1h"),
        &|ar| {
            ar.query()
                .device(dev)
                .channel("temperature")
                .aggregates(&[Agg::Min, Agg::Max])
                .every(3_600_000_000)
                .run_aggregate()
        },
    )?;
    let from = start + 9 * 3_600_000_000 + 17 * 60_000_000;
    run(
        &format!(
            "--device 'sensor-00*' --channel pressure --from {} --to {} --agg count,avg,p99",
            rfc3339(from),
            rfc3339(from + 5_400_000_000)
        ),
        &|ar| {
            ar.query()
                .device("sensor-00*")
                .channel("pressure")
                .from(from)
                .to(from + 5_400_000_000)
                .aggregates(&[Agg::Count, Agg::Avg, Agg::Percentile(99.0)])
                .run_aggregate()
        },
    )?;
    run("--channel energy_wh --agg count,last", &|ar| {
        ar.query()
            .channel("energy_wh")
            .aggregates(&[Agg::Count, Agg::Last])
            .run_aggregate()
    })?;
    let t = Instant::now();
    let arch = Archive::open(&arch_dir)?;
    let mut n = 0u64;
    let mut first = Vec::new();
    arch.query()
        .device(dev)
        .channel("temperature")
        .run_raw(|d, c, t, v| {
            if first.len() < 3 {
                first.push(format!("{},{d},{c},{}", rfc3339(t), value_text(v)));
            }
            n += 1;
            Ok(true)
        })?;
    println!(
        "   $ iotarc query {} --device {dev} --channel temperature",
        arch_dir.display()
    );
    for l in &first {
        println!("     {l}");
    }
    println!(
        "     ... {n} points in {:.2} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    Ok(ExitCode::SUCCESS)
}
