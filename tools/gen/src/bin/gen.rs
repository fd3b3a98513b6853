//! `gen`: write a deterministic IoT sensor corpus. See the `iotarc_gen` crate docs.
//!
//! ```text
//! gen --devices 200 --duration 7d --format csv-wide -o corpus.csv
//! gen --points 100M --format lp --seed 1 -o - | gzip > corpus.lp.gz
//! ```

use clap::Parser;
use iotarc_gen::{
    days_from_civil, generate, parse_count, parse_duration, Config, Extent, Format, Kind,
};
use std::io::Write;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "gen",
    version,
    about = "Generate a realistic, deterministic IoT sensor corpus (streamed, constant memory)"
)]
struct Args {
    /// Number of devices.
    #[arg(long, default_value_t = 100)]
    devices: usize,
    /// Time span: 30s, 12h, 7d, 2w ... (default 1d unless --points is given).
    #[arg(long, conflicts_with = "points")]
    duration: Option<String>,
    /// Stop after this many distinct values instead: 5000, 1.5M, 100M, 1e9.
    #[arg(long)]
    points: Option<String>,
    /// csv-long, csv-wide, jsonl or lp (InfluxDB line protocol).
    #[arg(long, default_value = "csv-wide")]
    format: String,
    /// PRNG seed: the same seed and options give byte-identical output.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// First timestamp: YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (UTC).
    #[arg(long, default_value = "2026-01-01")]
    start: String,
    /// One sampling interval for all devices (1s, 10s, 1h, ...); default: each device
    /// picks one between 1 s and 1 h.
    #[arg(long)]
    interval: Option<String>,
    /// Comma-separated channels (default all): temperature, humidity, pressure,
    /// vibration, energy_wh, battery, status, lat, lon, co2.
    #[arg(long, value_delimiter = ',')]
    channels: Vec<String>,
    /// Fraction of rows delivered late (out of order).
    #[arg(long, default_value_t = 0.001)]
    out_of_order: f64,
    /// Fraction of rows sent twice.
    #[arg(long, default_value_t = 0.0005)]
    duplicates: f64,
    /// Fraction of analog values replaced by spikes / error codes.
    #[arg(long, default_value_t = 0.0001)]
    outliers: f64,
    /// Stuck-sensor episodes per channel per day.
    #[arg(long, default_value_t = 0.2)]
    stuck: f64,
    /// Outages per device per day.
    #[arg(long, default_value_t = 0.3)]
    gaps: f64,
    /// No imperfections at all (overrides the five options above).
    #[arg(long)]
    clean: bool,
    /// No timestamp jitter (every device reports exactly on its interval).
    #[arg(long)]
    no_jitter: bool,
    /// Output file, `-` for stdout.
    #[arg(short = 'o', long, default_value = "-")]
    output: String,
    /// No summary on stderr.
    #[arg(short, long)]
    quiet: bool,
}

fn parse_start(s: &str) -> Result<i64, String> {
    let bad = || format!("bad --start {s:?} (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ)");
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Result<i64, String> {
        s.get(r).and_then(|x| x.parse().ok()).ok_or_else(bad)
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return Err(bad());
    }
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return Err(bad());
    }
    let mut secs = days_from_civil(y, m as u32, d as u32) * 86_400;
    if b.len() > 10 {
        if b.len() != 20 || b[10] != b'T' || b[19] != b'Z' {
            return Err(bad());
        }
        secs += num(11..13)? * 3600 + num(14..16)? * 60 + num(17..19)?;
    }
    Ok(secs * 1_000_000)
}

fn config(a: &Args) -> Result<Config, String> {
    let extent = match (&a.duration, &a.points) {
        (_, Some(p)) => Extent::Points(parse_count(p)?),
        (Some(d), None) => Extent::Duration(parse_duration(d)?),
        (None, None) => Extent::Duration(86_400_000_000),
    };
    let channels = if a.channels.is_empty() {
        Kind::ALL.to_vec()
    } else {
        a.channels
            .iter()
            .map(|c| Kind::parse(c.trim()).ok_or_else(|| format!("unknown channel {c:?}")))
            .collect::<Result<_, _>>()?
    };
    let cfg = Config {
        devices: a.devices,
        start_us: parse_start(&a.start)?,
        extent,
        seed: a.seed,
        interval_us: a.interval.as_deref().map(parse_duration).transpose()?,
        channels,
        out_of_order: a.out_of_order,
        duplicates: a.duplicates,
        outliers: a.outliers,
        stuck: a.stuck,
        gaps: a.gaps,
        jitter: !a.no_jitter,
        ..Config::default()
    };
    Ok(if a.clean { cfg.clean() } else { cfg })
}

fn main() -> ExitCode {
    let a = Args::parse();
    let fail = |m: String| {
        eprintln!("gen: {m}");
        ExitCode::from(2)
    };
    let format: Format = match a.format.parse() {
        Ok(f) => f,
        Err(e) => return fail(e),
    };
    let cfg = match config(&a) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let result = if a.output == "-" {
        generate(&cfg, format, std::io::stdout().lock())
    } else {
        match std::fs::File::create(&a.output) {
            Ok(f) => generate(&cfg, format, f),
            Err(e) => return fail(format!("{}: {e}", a.output)),
        }
    };
    let s = match result {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => return fail(e.to_string()),
        Err(e) => {
            eprintln!("gen: {e}");
            return ExitCode::from(1);
        }
    };
    if !a.quiet {
        let secs = s.elapsed.as_secs_f64();
        let mut err = std::io::stderr().lock();
        let _ = writeln!(
            err,
            "gen: {} devices, {} rows, {} values ({} channels: {}), {} bytes as {format} in {:.2} s \
             ({:.1} M values/s, {:.0} MB/s); late rows {}, duplicate rows {}, outliers {}, stuck episodes {}, outages {}",
            cfg.devices,
            s.rows,
            s.points,
            s.channels.len(),
            s.channels.join(","),
            s.bytes,
            secs,
            s.points as f64 / secs / 1e6,
            s.bytes as f64 / secs / 1e6,
            s.late_rows,
            s.duplicate_rows,
            s.outliers,
            s.stuck_episodes,
            s.gaps
        );
    }
    ExitCode::SUCCESS
}
