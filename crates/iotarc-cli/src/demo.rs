//! `iotarc demo`: generate a realistic corpus with `iotarc-gen` (tools/gen) as wide CSV,
//! pack it with the same code path as `iotarc pack`, print the archive's stats and run
//! sample queries with timings.

use crate::output::{rfc3339, value_text};
use anyhow::{Context, Result};
use clap::Args;
use iotarc::archive::{self, Agg, Archive, PackOptions};
use iotarc::input::ParseOptions;
use iotarc::pack::{self, OnError, RunOptions};
use iotarc::Value;
use iotarc_gen::{Config, Extent, Format};
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
    /// Seed of the corpus generator.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

/// 2026-01-01T00:00:00Z.
const START: i64 = iotarc_gen::DEFAULT_START_US;

/// The demo corpus: the generator's defaults (every channel kind, jitter, late rows,
/// duplicates, outliers, stuck sensors, outages, CO2 added part-way) at one interval.
fn corpus_config(a: &DemoArgs) -> Config {
    Config {
        devices: a.devices,
        start_us: START,
        extent: Extent::Duration(((a.days * 86_400e6) as i64).max(1)),
        seed: a.seed,
        interval_us: Some(a.interval as i64 * 1_000_000),
        ..Config::default()
    }
}

pub fn run(a: DemoArgs) -> Result<ExitCode> {
    if a.devices == 0 || a.days.is_nan() || a.days <= 0.0 || a.interval == 0 {
        return Err(crate::usage(
            "--devices, --days and --interval must be positive",
        ));
    }
    if a.days > 1e5 {
        return Err(crate::usage("--days must be at most 100000"));
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
    let start = START;

    let cfg = corpus_config(&a);
    let f = std::fs::File::create(&csv).with_context(|| format!("creating {}", csv.display()))?;
    let g = iotarc_gen::generate(&cfg, Format::CsvWide, f)
        .with_context(|| format!("writing {}", csv.display()))?;
    let csv_bytes = g.bytes;
    let reported: Vec<&str> = g
        .channels
        .iter()
        .zip(&g.channel_points)
        .filter(|(_, &n)| n > 0)
        .map(|(c, _)| *c)
        .collect();
    println!(
        "1. generated {} devices x {} s readings: {} rows, {} values in {} channels ({}) as wide CSV: {} ({}) in {:.2} s",
        a.devices,
        a.interval,
        g.rows,
        g.points,
        reported.len(),
        reported.join(", "),
        csv.display(),
        crate::human(csv_bytes),
        g.elapsed.as_secs_f64()
    );
    println!(
        "   imperfections: {} late rows, {} duplicate rows, {} outliers, {} stuck-sensor episodes, {} outages; co2 starts part-way on odd devices",
        g.late_rows, g.duplicate_rows, g.outliers, g.stuck_episodes, g.gaps
    );
    println!(
        "   $ cargo run --release -p iotarc-gen -- --devices {} --duration {}d --interval {}s --seed {} --format csv-wide -o {}",
        a.devices,
        a.days,
        a.interval,
        a.seed,
        csv.display()
    );

    let opts = RunOptions {
        parse: ParseOptions::default(),
        pack: PackOptions::default(),
        on_error: OnError::Fail,
    };
    let report = pack::run(
        &arch_dir,
        &[csv.display().to_string()],
        &opts,
        |_| Ok(()),
        |_| {},
    )?;
    let secs = report.elapsed.as_secs_f64();
    println!(
        "2. packed into {} in {:.2} s ({:.0} MB/s of CSV): {} values in {} segments, {}; duplicates merged {}; rejected {}",
        arch_dir.display(),
        secs,
        csv_bytes as f64 / secs / 1e6,
        report.pack.points_written,
        report.pack.segments,
        crate::human(report.pack.bytes),
        report.pack.duplicates,
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
            "     [{:.2} ms; {} segments read from the index, {} opened; {} partitions pruned; {} blocks from footers, {} decoded]",
            el.as_secs_f64() * 1e3,
            st.segments_from_index,
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

#[cfg(test)]
mod tests {
    //! The generator's output in every format goes through iotarc's own ingest: parsed
    //! without a rejected line, packed, and every generated value found in the archive.

    use iotarc::archive::{Agg, Archive, PackOptions};
    use iotarc::input::{parse_bytes, ParseOptions, Val};
    use iotarc::pack::{self, OnError, RunOptions};
    use iotarc_gen::{Config, Extent, Format};

    fn corpus() -> Config {
        Config {
            devices: 8,
            extent: Extent::Duration(4 * 3_600_000_000),
            seed: 3,
            // Imperfections up, so that every kind shows up in a small corpus.
            out_of_order: 0.01,
            duplicates: 0.01,
            outliers: 0.002,
            stuck: 20.0,
            gaps: 5.0,
            ..Config::default()
        }
    }

    #[test]
    fn every_generated_format_parses_and_packs() {
        let cfg = corpus();
        let dir = tempfile::tempdir().unwrap();
        for format in Format::ALL {
            let mut bytes = Vec::new();
            let g = iotarc_gen::generate(&cfg, format, &mut bytes).unwrap();
            assert!(g.late_rows > 0 && g.duplicate_rows > 0 && g.outliers > 0);
            let path = dir
                .path()
                .join(format!("corpus-{}.{}", format.name(), format.extension()));
            std::fs::write(&path, &bytes).unwrap();
            let path = path.display().to_string();

            let batch = parse_bytes(&ParseOptions::default(), Some(&path), &bytes).unwrap();
            assert!(
                batch.errors.is_empty(),
                "{format}: {:?}",
                &batch.errors[..1]
            );
            let present = batch
                .rows
                .iter()
                .filter(|r| !matches!(r.value, Val::Missing))
                .count() as u64;
            // Every value, plus the copies in duplicated rows.
            assert!(present > g.points, "{format}: {present} <= {}", g.points);
            for r in &batch.rows {
                let ch = batch.channel(r);
                let ok = match r.value {
                    Val::Missing => format == Format::CsvWide,
                    Val::I64(_) => ch.ends_with("energy_wh") || ch.ends_with("co2"),
                    Val::Str(_) => ch.ends_with("status"),
                    Val::F64(_) => !(ch.ends_with("energy_wh") || ch.ends_with("co2")),
                    Val::Bool(_) => false,
                };
                assert!(ok, "{format}: {ch} got {:?}", r.value);
            }

            let arch = dir.path().join(format!("arch-{}", format.name()));
            let opts = RunOptions {
                parse: ParseOptions::default(),
                pack: PackOptions::default(),
                on_error: OnError::Fail,
            };
            let report = pack::run(&arch, &[path], &opts, |_| Ok(()), |_| {}).unwrap();
            assert_eq!(report.rejected, 0, "{format}");
            assert!(report.pack.duplicates > 0, "{format}");
            let a = Archive::open(&arch).unwrap();
            let (rows, _) = a.query().aggregates(&[Agg::Count]).run_aggregate().unwrap();
            let stored: u64 = rows.iter().map(|r| r.count).sum();
            assert_eq!(stored, g.points, "{format}: distinct values stored");
            let channels = rows
                .iter()
                .map(|r| r.channel.as_str())
                .collect::<std::collections::BTreeSet<_>>();
            assert_eq!(channels.len(), g.channels.len(), "{format}: {channels:?}");
        }
    }
}
