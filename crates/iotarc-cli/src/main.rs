//! The `iotarc` command-line tool. Data goes to stdout, diagnostics to stderr. Exit codes:
//! 0 success, 1 runtime error, 2 usage error.

mod demo;
mod ingest;
mod output;
mod repair;

use anyhow::{anyhow, Context, Result};
use clap::{Args, Parser, Subcommand};
use iotarc::archive::{
    self, Agg, Archive, PackOptions, PartitionUnit, QueryStats, MIN_MEMORY_LIMIT,
};
use iotarc::input::{Format, ParseOptions, TimeUnit, Tz};
use iotarc::pack::{self, OnError, RunOptions};
use iotarc::{Segment, ValueType, WriterOptions};
use output::{OutputFormat, TimeFormat};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "iotarc",
    version,
    about = "Columnar archive for IoT sensor time series",
    max_term_width = 100
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Pack CSV, JSON Lines or InfluxDB line protocol into an archive (created if missing).
    Pack(PackArgs),
    /// Print points or aggregates from an archive.
    Query(QueryArgs),
    /// Summarize an archive: devices, channels, codecs, sizes and compression ratios.
    Stats {
        /// Archive directory.
        archive: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Check every checksum and structural invariant; exit 1 if anything is wrong.
    Verify {
        /// Archive directories or segment files.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Print one segment file's devices, channels, blocks and codec mix.
    Inspect {
        /// Segment file.
        file: PathBuf,
    },
    /// Generate a sensor corpus, pack it, print stats and run sample queries with timings.
    Demo(demo::DemoArgs),
    /// Write an endless stream (stdin or a followed file) into an archive: WAL-backed,
    /// tolerant of late, out-of-order and repeated points.
    Ingest(ingest::IngestArgs),
    /// Merge each partition's small and late segments into sorted, deduplicated ones.
    Compact(ingest::CompactArgs),
    /// Rebuild a lost or rolled-back manifest, the index, or damaged WAL files
    /// (--dry-run first); never deletes a segment.
    Repair(repair::RepairArgs),
}

#[derive(Args)]
struct PackArgs {
    /// Input files (`-` for stdin; `.gz` and `.zst` are decompressed).
    #[arg(required = true)]
    inputs: Vec<String>,
    /// Archive directory.
    #[arg(short, long)]
    output: PathBuf,
    #[command(flatten)]
    input: InputArgs,
    /// Partition window of a new archive; auto picks the smallest of day, week, month and
    /// year expected to hold 4 M values at the input's rate (an existing archive keeps
    /// its own).
    #[arg(long, default_value = "auto", value_parser = ["auto", "hour", "day", "week", "month", "year"])]
    partition: String,
    /// Duplicate policy of a new archive (default last; an existing archive keeps its
    /// own, and giving a different one is an error).
    #[arg(long, value_parser = ["last", "first", "keep-all"])]
    dedup: Option<String>,
    /// What to do with a bad row.
    #[arg(long, default_value = "fail", value_parser = ["fail", "skip"])]
    on_error: String,
    /// With --on-error skip, write each rejected line with its reason here.
    #[arg(long)]
    reject_file: Option<PathBuf>,
    /// Target rows per block.
    #[arg(long, default_value_t = 8192)]
    block_rows: usize,
    /// Memory the pack may use, e.g. 256MB, 1G or 512MiB (at least 32MB): row buffers,
    /// input chunks in flight and flush work are sized from it. Less memory means more
    /// flushes, so more segments when the input spans many partition windows.
    #[arg(long, default_value = "512MB")]
    memory_limit: String,
    /// Flush after this many buffered rows instead of when the buffers reach their share
    /// of --memory-limit (rows take 48 to 96 bytes each, so this can exceed the limit).
    #[arg(long)]
    buffer_rows: Option<usize>,
    /// No progress bar or summary.
    #[arg(short, long)]
    quiet: bool,
}

/// How input lines are parsed (shared by pack and ingest).
#[derive(Args)]
struct InputArgs {
    /// Input format (default: from the extension, then the content).
    #[arg(long, value_parser = ["csv", "csv-long", "csv-wide", "jsonl", "lp"])]
    format: Option<String>,
    /// Timestamp column or key.
    #[arg(long, default_value = "timestamp")]
    time_col: String,
    /// Device column or key.
    #[arg(long, default_value = "device")]
    device_col: String,
    /// Channel column or key (long layouts; its absence means wide CSV).
    #[arg(long, default_value = "channel")]
    channel_col: String,
    /// Value column or key (long layouts).
    #[arg(long, default_value = "value")]
    value_col: String,
    /// Unit of numeric timestamps.
    #[arg(long, value_parser = ["s", "ms", "us", "ns"])]
    time_unit: Option<String>,
    /// Time zone of date-times without an offset: UTC, +02:00 or an IANA name.
    #[arg(long, default_value = "UTC")]
    tz: String,
    /// Line protocol tag naming the device.
    #[arg(long, default_value = "device")]
    device_tag: String,
    /// Force a channel's type, e.g. --type status=string (f64, i64, bool, string).
    #[arg(long = "type", value_name = "CHANNEL=TYPE")]
    types: Vec<String>,
}

impl InputArgs {
    fn parse_options(&self) -> Result<ParseOptions> {
        let format = match self.format.as_deref() {
            None | Some("csv") => None,
            Some("csv-long") => Some(Format::CsvLong),
            Some("csv-wide") => Some(Format::CsvWide),
            Some("jsonl") => Some(Format::Jsonl),
            Some("lp") => Some(Format::LineProtocol),
            Some(f) => return Err(usage(format!("unknown format {f}"))),
        };
        let time_unit = match self.time_unit.as_deref() {
            None => None,
            Some(u) => Some(
                u.parse::<TimeUnit>()
                    .map_err(|e| usage(format!("--time-unit: {e}")))?,
            ),
        };
        let mut parse = ParseOptions {
            format,
            time_col: self.time_col.clone(),
            device_col: self.device_col.clone(),
            channel_col: self.channel_col.clone(),
            value_col: self.value_col.clone(),
            time_unit,
            tz: parse_tz(&self.tz)?,
            device_tag: self.device_tag.clone(),
            ..ParseOptions::default()
        };
        for t in &self.types {
            let (c, ty) = parse_type(t)?;
            parse.types.insert(c, ty);
        }
        Ok(parse)
    }
}

#[derive(Args)]
struct QueryArgs {
    /// Archive directory.
    archive: PathBuf,
    /// Device name or glob (repeatable).
    #[arg(long)]
    device: Vec<String>,
    /// Channel name or glob (repeatable).
    #[arg(long)]
    channel: Vec<String>,
    /// Start (inclusive), in pack's time syntax.
    #[arg(long)]
    from: Option<String>,
    /// End (exclusive).
    #[arg(long)]
    to: Option<String>,
    /// Time zone for --from/--to without an offset.
    #[arg(long, default_value = "UTC")]
    tz: String,
    /// Aggregates, comma-separated: count,min,max,sum,avg,stddev,first,last,pNN.
    #[arg(long, value_delimiter = ',')]
    agg: Vec<String>,
    /// Aggregate per window aligned to the UTC epoch: 30s, 1m, 5m, 1h, 1d, 1w...
    #[arg(long)]
    every: Option<String>,
    /// Approximate percentiles with mergeable sketches (relative error 1%).
    #[arg(long)]
    approx: bool,
    /// Memory for values an aggregate holds, e.g. 256MB: exact percentiles of series
    /// that do not fit are found by extra passes over their blocks, not by holding them.
    #[arg(long, default_value = "512MB")]
    memory_limit: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Csv)]
    output: OutputFormat,
    /// Timestamp format.
    #[arg(long, value_enum, default_value_t = TimeFormat::Rfc3339)]
    time_format: TimeFormat,
    /// Print what the query did to stderr.
    #[arg(long)]
    explain: bool,
}

/// A mistake in the command line: exit code 2.
#[derive(Debug)]
struct Usage(String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

fn usage(msg: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Usage(msg.into()))
}

/// Fixes glibc's mmap threshold at 64 KiB. By default glibc raises the threshold to the
/// size of each large block freed, so after the first flush the packer's per-device row
/// buffers (hundreds of KiB each, grown by reallocation) come from the heap, where the
/// blocks a reallocation leaves behind fragment it: the peak RSS of a 1,000-device pack
/// crept from 433 to 499 MiB over 18 flushes. With the threshold fixed, large buffers are
/// mapped and unmapped whole (measured: 366 to 385 MiB, flat after a few flushes).
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::os::raw::c_int;
        extern "C" {
            fn mallopt(param: c_int, value: c_int) -> c_int;
        }
        const M_MMAP_THRESHOLD: c_int = -3;
        // SAFETY: mallopt takes two integers and only changes allocator settings; it is
        // called before any other thread exists.
        unsafe {
            mallopt(M_MMAP_THRESHOLD, 64 << 10);
        }
    }
}

fn main() -> ExitCode {
    tune_allocator();
    let cli = Cli::parse();
    let r = match cli.cmd {
        Cmd::Pack(a) => pack(a),
        Cmd::Query(a) => query(a),
        Cmd::Stats { archive, json } => stats(&archive, json),
        Cmd::Verify { paths } => verify(&paths),
        Cmd::Inspect { file } => inspect(&file),
        Cmd::Demo(a) => demo::run(a),
        Cmd::Ingest(a) => ingest::ingest(a),
        Cmd::Compact(a) => ingest::compact(a),
        Cmd::Repair(a) => repair::repair(a),
    };
    match r {
        Ok(code) => code,
        Err(e) if e.downcast_ref::<Usage>().is_some() => {
            eprintln!("iotarc: {e:#}");
            ExitCode::from(2)
        }
        Err(e) => {
            if is_broken_pipe(&e) {
                return ExitCode::SUCCESS;
            }
            eprintln!("iotarc: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    let broken = |io: &std::io::Error| io.kind() == std::io::ErrorKind::BrokenPipe;
    e.chain().any(|c| {
        // An iotarc::Error holds its I/O error in its kind, not as its source.
        c.downcast_ref::<std::io::Error>().is_some_and(broken)
            || c.downcast_ref::<iotarc::Error>()
                .is_some_and(|x| matches!(x.kind(), iotarc::ErrorKind::Io(io) if broken(io)))
    })
}

fn parse_type(s: &str) -> Result<(String, ValueType)> {
    let (ch, t) = s
        .rsplit_once('=')
        .ok_or_else(|| usage(format!("--type {s:?}: expected CHANNEL=TYPE")))?;
    let t = match t {
        "f64" | "float" => ValueType::F64,
        "i64" | "int" => ValueType::I64,
        "bool" => ValueType::Bool,
        "string" | "str" => ValueType::Str,
        _ => {
            return Err(usage(format!(
                "--type {s:?}: type must be f64, i64, bool or string"
            )))
        }
    };
    Ok((ch.to_string(), t))
}

fn parse_tz(s: &str) -> Result<Tz> {
    s.parse::<Tz>()
        .map_err(|e| usage(format!("--tz {s:?}: {e}")))
}

pub(crate) fn human(bytes: u64) -> String {
    let b = bytes as f64;
    match b {
        b if b >= 1e9 => format!("{:.2} GB", b / 1e9),
        b if b >= 1e6 => format!("{:.2} MB", b / 1e6),
        b if b >= 1e3 => format!("{:.1} kB", b / 1e3),
        _ => format!("{bytes} B"),
    }
}

/// A `--partition` value: `auto` (`None`: the writer chooses, archive.md §3.1) or a unit.
pub(crate) fn parse_partition(s: &str) -> Result<Option<PartitionUnit>> {
    match s {
        "auto" => Ok(None),
        p => PartitionUnit::parse(p).map(Some).ok_or_else(|| {
            usage(format!(
                "--partition {p:?}: expected auto, hour, day, week, month or year"
            ))
        }),
    }
}

fn pack(a: PackArgs) -> Result<ExitCode> {
    let parse = a.input.parse_options()?;
    let on_error = if a.on_error == "skip" {
        OnError::Skip
    } else {
        OnError::Fail
    };
    if a.reject_file.is_some() && on_error == OnError::Fail {
        return Err(usage("--reject-file needs --on-error skip"));
    }
    for i in &a.inputs {
        if i != "-" && !Path::new(i).exists() {
            return Err(anyhow!("{i}: no such file"));
        }
    }
    let opts = RunOptions {
        parse,
        pack: PackOptions {
            partition: parse_partition(&a.partition)?,
            writer: WriterOptions {
                target_rows: a.block_rows.max(1),
                ..WriterOptions::default()
            },
            memory_limit: ingest::parse_size("--memory-limit", &a.memory_limit, MIN_MEMORY_LIMIT)?,
            flush_rows: a.buffer_rows.map(|n| n.max(1024)),
            dedup: match &a.dedup {
                Some(d) => Some(archive::Dedup::parse(d).ok_or_else(|| usage("bad --dedup"))?),
                None => None,
            },
            ..PackOptions::default()
        },
        on_error,
    };
    let mut reject_out = match &a.reject_file {
        Some(p) => Some(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None => None,
    };
    let total: u64 = a
        .inputs
        .iter()
        .filter_map(|i| std::fs::metadata(i).ok())
        .map(|m| m.len())
        .sum();
    let compressed = a
        .inputs
        .iter()
        .any(|i| i == "-" || i.ends_with(".gz") || i.ends_with(".zst"));
    let bar = if !a.quiet && std::io::stderr().is_terminal() {
        let b = if compressed {
            indicatif::ProgressBar::new_spinner()
        } else {
            indicatif::ProgressBar::new(total)
        };
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {bytes}/{total_bytes} {bytes_per_sec} {wide_bar} {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Some(b)
    } else {
        None
    };
    let mut skipped_shown = 0usize;
    let report = pack::run(
        &a.output,
        &a.inputs,
        &opts,
        |r| {
            if let Some(out) = reject_out.as_mut() {
                writeln!(
                    out,
                    "{}:{}: {}\t{}",
                    r.input,
                    r.line,
                    r.reason,
                    r.text.unwrap_or("")
                )?;
            } else if skipped_shown < 10 && !a.quiet {
                eprintln!("skipped {}:{}: {}", r.input, r.line, r.reason);
                skipped_shown += 1;
            }
            Ok(())
        },
        |bytes| {
            if let Some(b) = &bar {
                b.set_position(bytes);
            }
        },
    );
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let report = report.map_err(|e| match e.kind() {
        iotarc::ErrorKind::InvalidInput { line: Some(_), .. } => {
            anyhow!("{e}\nnothing was written (use --on-error skip to skip bad rows)")
        }
        _ => anyhow!(e),
    })?;
    if let Some(mut out) = reject_out {
        out.flush()?;
    }
    // Warnings name what the writer found or removed (leftovers, index problems): never
    // silenced, even with --quiet.
    for w in &report.pack.warnings {
        eprintln!("warning: {w}");
    }
    if !a.quiet {
        let secs = report.elapsed.as_secs_f64();
        eprintln!(
            "read {} lines ({} values, {} empty cells) from {} input(s), {} in {:.2} s ({:.0} MB/s)",
            report.lines,
            report.values,
            report.missing,
            report.inputs,
            human(report.bytes_in),
            secs,
            report.bytes_in as f64 / secs.max(1e-9) / 1e6
        );
        eprintln!(
            "wrote {} values in {} segment(s), {}; rejected {}; duplicates resolved by the archive's policy {}",
            report.pack.points_written, report.pack.segments, human(report.pack.bytes), report.rejected, report.pack.duplicates
        );
        if report.rejected > 0
            && a.reject_file.is_none()
            && skipped_shown < report.rejected as usize
        {
            eprintln!(
                "({} more rejected rows not shown; use --reject-file to keep them all)",
                report.rejected as usize - skipped_shown
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Parses a window length: a number and a unit (us, ms, s, m, h, d, w).
fn parse_duration(s: &str) -> Result<i64> {
    parse_duration_for("--every", s)
}

/// [`parse_duration`] naming `flag` in its messages.
pub(crate) fn parse_duration_for(flag: &str, s: &str) -> Result<i64> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: i64 = num
        .parse()
        .map_err(|_| usage(format!("{flag} {s:?}: expected e.g. 30s, 5m, 1h, 1d")))?;
    let mult = match unit {
        "us" => 1,
        "ms" => 1_000,
        "s" => 1_000_000,
        "m" | "min" => 60_000_000,
        "h" => 3_600_000_000,
        "d" => 86_400_000_000,
        "w" => 7 * 86_400_000_000,
        _ => {
            return Err(usage(format!(
                "{flag} {s:?}: unit must be us, ms, s, m, h, d or w (months vary in length)"
            )))
        }
    };
    match n.checked_mul(mult) {
        Some(v) if v > 0 => Ok(v),
        _ => Err(usage(format!(
            "{flag} {s:?}: must be positive and fit 64-bit microseconds"
        ))),
    }
}

fn parse_time_arg(name: &str, s: &str, tz: &Tz) -> Result<i64> {
    iotarc::input::parse_timestamp(s.as_bytes(), Some(TimeUnit::S), tz)
        .map_err(|e| usage(format!("--{name} {s:?}: {e}")))
}

fn explain(s: &QueryStats) {
    eprintln!(
        "explain: partitions {} total, {} pruned from the manifest; segments {} of {} read: {} from the INDEX, {} opened; blocks {} answered from footers, {} decoded; {} device(s) matched; {:.3} ms",
        s.partitions_total,
        s.partitions_pruned,
        s.segments_from_index + s.segments_opened,
        s.segments_total,
        s.segments_from_index,
        s.segments_opened,
        s.blocks_from_footer,
        s.blocks_decoded,
        s.devices_matched,
        s.elapsed.as_secs_f64() * 1e3
    );
}

fn query(a: QueryArgs) -> Result<ExitCode> {
    let tz = parse_tz(&a.tz)?;
    let aggs: Vec<Agg> = a
        .agg
        .iter()
        .filter(|s| !s.is_empty())
        .map(|s| {
            Agg::parse(s.trim()).ok_or_else(|| {
                usage(format!(
                    "--agg {s:?}: expected count, min, max, sum, avg, stddev, first, last or pNN"
                ))
            })
        })
        .collect::<Result<_>>()?;
    let every = a.every.as_deref().map(parse_duration).transpose()?;
    if every.is_some() && aggs.is_empty() {
        return Err(usage("--every needs --agg"));
    }
    if a.approx && !aggs.iter().any(|g| matches!(g, Agg::Percentile(_))) {
        return Err(usage("--approx applies to percentiles (pNN) only"));
    }
    let from = a
        .from
        .as_deref()
        .map(|s| parse_time_arg("from", s, &tz))
        .transpose()?;
    let to =
        a.to.as_deref()
            .map(|s| parse_time_arg("to", s, &tz))
            .transpose()?;
    let arch = Archive::open(&a.archive)?;
    let memory = ingest::parse_size("--memory-limit", &a.memory_limit, 1 << 20)?;
    let mut q = arch.query().approx(a.approx).memory_limit(memory);
    for d in &a.device {
        q = q.device(d);
    }
    for c in &a.channel {
        q = q.channel(c);
    }
    if let Some(f) = from {
        q = q.from(f);
    }
    if let Some(t) = to {
        q = q.to(t);
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let tf = a.time_format;
    let stats = if aggs.is_empty() {
        let mut table = (a.output == OutputFormat::Table).then(|| {
            output::Table::new(vec![
                "timestamp".into(),
                "device".into(),
                "channel".into(),
                "value".into(),
            ])
        });
        if a.output == OutputFormat::Csv {
            writeln!(out, "timestamp,device,channel,value")?;
        }
        let mut io_err: Option<std::io::Error> = None;
        let stats = q.run_raw(|dev, ch, t, v| {
            let r = match a.output {
                OutputFormat::Csv => (|| {
                    output::write_time(&mut out, t, tf)?;
                    write!(out, ",{},{},", output::csv_field(dev), output::csv_field(ch))?;
                    output::write_value_csv(&mut out, v)?;
                    out.write_all(b"\n")
                })(),
                OutputFormat::Jsonl => {
                    let ts = match tf {
                        TimeFormat::Rfc3339 => serde_json::Value::from(output::rfc3339(t)),
                        TimeFormat::EpochUs => serde_json::Value::from(t),
                    };
                    let o = serde_json::json!({"timestamp": ts, "device": dev, "channel": ch, "value": output::value_json(v)});
                    writeln!(out, "{o}")
                }
                OutputFormat::Table => {
                    if let Some(tb) = table.as_mut() {
                        tb.push(vec![output::time(t, tf), dev.into(), ch.into(), output::value_text(v)]);
                    }
                    Ok(())
                }
            };
            match r {
                Ok(()) => Ok(true),
                Err(e) => {
                    io_err = Some(e);
                    Ok(false)
                }
            }
        })?;
        if let Some(e) = io_err {
            return Err(e.into());
        }
        if let Some(tb) = table {
            tb.print(&mut out)?;
        }
        stats
    } else {
        let mut q = q.aggregates(&aggs);
        if let Some(e) = every {
            q = q.every(e);
        }
        let mut header = vec!["device".to_string(), "channel".to_string()];
        if every.is_some() {
            header.push("window".into());
        }
        header.extend(aggs.iter().map(|g| g.name()));
        let cells = |r: &archive::AggRowRef| -> Vec<String> {
            let mut c = vec![r.device.to_owned(), r.channel.to_owned()];
            if let Some(w) = r.window {
                c.push(output::time(w, tf));
            }
            c.extend(
                r.values
                    .iter()
                    .map(|v| v.as_ref().map(output::value_text).unwrap_or_default()),
            );
            c
        };
        let mut table = None;
        match a.output {
            OutputFormat::Csv => writeln!(out, "{}", header.join(","))?,
            OutputFormat::Table => table = Some(output::Table::new(header)),
            OutputFormat::Jsonl => {}
        }
        // Rows are written as the query hands them over rather than collected first: a
        // year of hourly windows is 8,760 rows per series.
        let mut io_err = None;
        let res = q.run_aggregate_each(|r| {
            let w: std::io::Result<()> = match a.output {
                OutputFormat::Csv => (|| {
                    out.write_all(output::csv_field(r.device).as_bytes())?;
                    out.write_all(b",")?;
                    out.write_all(output::csv_field(r.channel).as_bytes())?;
                    if let Some(w) = r.window {
                        out.write_all(b",")?;
                        output::write_time(&mut out, w, tf)?;
                    }
                    for v in r.values {
                        out.write_all(b",")?;
                        if let Some(v) = v {
                            output::write_value_csv(&mut out, v)?;
                        }
                    }
                    out.write_all(b"\n")
                })(),
                OutputFormat::Jsonl => {
                    let mut o = serde_json::Map::new();
                    o.insert("device".into(), r.device.into());
                    o.insert("channel".into(), r.channel.into());
                    if let Some(w) = r.window {
                        let v = match tf {
                            TimeFormat::Rfc3339 => serde_json::Value::from(output::rfc3339(w)),
                            TimeFormat::EpochUs => serde_json::Value::from(w),
                        };
                        o.insert("window".into(), v);
                    }
                    for (g, v) in aggs.iter().zip(r.values) {
                        o.insert(
                            g.name(),
                            v.as_ref()
                                .map_or(serde_json::Value::Null, output::value_json),
                        );
                    }
                    writeln!(out, "{}", serde_json::Value::Object(o))
                }
                OutputFormat::Table => {
                    if let Some(tb) = table.as_mut() {
                        tb.push(cells(&r));
                    }
                    Ok(())
                }
            };
            w.map_err(|e| {
                let msg = e.to_string();
                io_err = Some(e);
                iotarc::Error::invalid_input(msg)
            })
        });
        if let Some(e) = io_err {
            return Err(e.into());
        }
        let stats = res?;
        if let Some(tb) = table {
            tb.print(&mut out)?;
        }
        stats
    };
    out.flush()?;
    for d in &stats.unmatched_devices {
        eprintln!("note: no device matches {d:?}");
    }
    if a.explain {
        explain(&stats);
    }
    Ok(ExitCode::SUCCESS)
}

fn stats(path: &Path, json: bool) -> Result<ExitCode> {
    let s = stats::collect(path)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&s.to_json())?)?;
    } else {
        s.print(&mut out)?;
    }
    Ok(ExitCode::SUCCESS)
}

mod stats;
mod verify;

fn verify(paths: &[PathBuf]) -> Result<ExitCode> {
    let problems = verify::run(paths)?;
    Ok(if problems == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn inspect(path: &Path) -> Result<ExitCode> {
    let seg = Segment::open(path)?;
    stats::print_segment(&seg, path, &mut std::io::stdout().lock())?;
    Ok(ExitCode::SUCCESS)
}
