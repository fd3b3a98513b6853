//! `iotarc ingest` (live streams through the WAL-backed stream writer) and
//! `iotarc compact`.

use crate::{human, parse_duration_for, usage, InputArgs};
use anyhow::{anyhow, Context, Result};
use clap::Args;
use iotarc::archive::{CompactOptions, CompactReport, Dedup, PartitionUnit};
use iotarc::input::{Batch, Chunker, Parser};
use iotarc::stream::{PointBatch, StreamOptions, StreamWriter, SyncPolicy};
use rayon::prelude::*;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(Args)]
pub struct IngestArgs {
    /// Archive directory (created if missing).
    archive: PathBuf,
    /// Input file, or `-` for stdin.
    #[arg(default_value = "-")]
    input: String,
    #[command(flatten)]
    parse: InputArgs,
    /// Keep reading the file as it grows (like `tail -f`); stop with Ctrl-C (acknowledged
    /// points are in the WAL and are sealed by the next run).
    #[arg(long)]
    follow: bool,
    /// WAL fsync policy: `batch` (fsync before every acknowledgement; survives power
    /// loss), `interval=MS` (fsync at least every MS ms; survives a process crash, a power
    /// loss may lose the last MS ms) or `none` (survives a process crash only).
    #[arg(long, default_value = "batch")]
    sync: String,
    /// How late a point may arrive and still be sorted into its window's first segment;
    /// later points go to late segments of the right partition.
    #[arg(long, default_value = "10m")]
    lateness: String,
    /// Buffer window: buffers are sealed into segments when their window closes.
    #[arg(long, default_value = "hour", value_parser = ["hour", "day", "week", "month", "year"])]
    seal_window: String,
    /// Seal everything once the oldest buffered point has waited this long (bounds the
    /// delay until points are queryable); `off` disables it.
    #[arg(long, default_value = "10s")]
    max_delay: String,
    /// Memory the ingest may use, e.g. 256MB, 1G or 512MiB (at least 32MB): buffered
    /// points are held to 3/8 of it (reading waits above that), input chunks are sized
    /// from it. A line longer than the limit allows is still read (up to 64 MiB; a longer
    /// one is read past, not held, and rejected).
    #[arg(long, default_value = "512MB", alias = "max-memory")]
    memory_limit: String,
    /// Start a new WAL file once the current one grows past this size, e.g. 64M or 4K.
    /// Smaller files are deleted sooner once their points are sealed.
    #[arg(long, default_value = "64M")]
    wal_file_size: String,
    /// Duplicate policy of a new archive (an existing archive keeps its own; giving a
    /// different one is an error).
    #[arg(long, value_parser = ["last", "first", "keep-all"])]
    dedup: Option<String>,
    /// Partition window of a new archive; auto picks the smallest of day, week, month and
    /// year expected to hold 4 M values at the rate of the first hour of input, holding
    /// that hour unsealed until it decides (an existing archive keeps its own).
    #[arg(long, default_value = "auto", value_parser = ["auto", "hour", "day", "week", "month", "year"])]
    partition: String,
    /// Compaction tiers, smallest first (those not nesting in the partition unit are
    /// dropped; the partition unit is always the last tier).
    #[arg(long, default_value = "hour,day,month", value_delimiter = ',')]
    compact_tiers: Vec<String>,
    /// Do not compact while ingesting.
    #[arg(long)]
    no_compact: bool,
    /// What to do with a bad line or a refused point.
    #[arg(long, default_value = "skip", value_parser = ["fail", "skip"])]
    on_error: String,
    /// Write each rejected line with its reason here.
    #[arg(long)]
    reject_file: Option<PathBuf>,
    /// Print `ack LINE` to stdout whenever every input line up to LINE is acknowledged
    /// (durable under --sync, or rejected and reported).
    #[arg(long)]
    ack: bool,
    /// No summary.
    #[arg(short, long)]
    quiet: bool,
}

#[derive(Args)]
pub struct CompactArgs {
    /// Archive directory.
    archive: PathBuf,
    /// Tiers, smallest first (those not nesting in the partition unit are dropped; the
    /// partition unit is always the last tier).
    #[arg(long, default_value = "hour,day,month", value_delimiter = ',')]
    tiers: Vec<String>,
    /// Merge a tier window once it holds at least this many segments.
    #[arg(long, default_value_t = 2)]
    min_segments: usize,
    /// No summary.
    #[arg(short, long)]
    quiet: bool,
}

fn parse_unit(flag: &str, s: &str) -> Result<PartitionUnit> {
    PartitionUnit::parse(s).ok_or_else(|| {
        usage(format!(
            "{flag} {s:?}: expected hour, day, week, month or year"
        ))
    })
}

/// A size in bytes: a whole number with an optional binary suffix K, M or G, with or
/// without `B` or `iB` (`256M`, `256MB` and `256MiB` are all 256 × 2^20), at least `min`.
pub(crate) fn parse_size(flag: &str, s: &str, min: u64) -> Result<u64> {
    let t = s.trim();
    let t = t
        .strip_suffix("iB")
        .or_else(|| t.strip_suffix("ib"))
        .or_else(|| t.strip_suffix(['B', 'b']))
        .unwrap_or(t);
    let (num, mult) = match t.char_indices().last() {
        Some((i, 'K' | 'k')) => (&t[..i], 1u64 << 10),
        Some((i, 'M' | 'm')) => (&t[..i], 1 << 20),
        Some((i, 'G' | 'g')) => (&t[..i], 1 << 30),
        _ => (t, 1),
    };
    num.trim()
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .filter(|&n| n >= min)
        .ok_or_else(|| {
            usage(format!(
                "{flag} {s:?}: expected a size such as 4K, 256MB or 2GiB (at least {})",
                human(min)
            ))
        })
}

fn tiers(list: &[String]) -> Result<Vec<PartitionUnit>> {
    list.iter().map(|t| parse_unit("--tiers", t)).collect()
}

fn print_compaction(r: &CompactReport) {
    eprintln!(
        "compaction: {} merge(s), {} segment(s) ({}) -> {} ({}), {} -> {} points",
        r.merges,
        r.segments_in,
        human(r.bytes_in),
        r.segments_out,
        human(r.bytes_out),
        r.points_in,
        r.points_out
    );
    for s in &r.skipped {
        eprintln!("compaction: {s}");
    }
}

pub fn compact(a: CompactArgs) -> Result<ExitCode> {
    let opts = CompactOptions {
        tiers: tiers(&a.tiers)?,
        min_segments: a.min_segments,
        ..CompactOptions::default()
    };
    let r = iotarc::archive::compact(&a.archive, &opts)?;
    for w in &r.warnings {
        eprintln!("warning: {w}");
    }
    if !a.quiet {
        print_compaction(&r);
    }
    Ok(ExitCode::SUCCESS)
}

/// Rejected lines and refused points, per the --on-error policy.
struct Rejects {
    fail: bool,
    file: Option<std::io::BufWriter<std::fs::File>>,
    shown: usize,
    count: u64,
    input: String,
}

impl Rejects {
    fn reject(&mut self, line: u64, reason: &str, text: &str) -> Result<()> {
        self.count += 1;
        if self.fail {
            return Err(anyhow!(
                "{}:{line}: {reason}\n(points acknowledged before this line are kept; use --on-error skip to skip bad lines)",
                self.input
            ));
        }
        match self.file.as_mut() {
            Some(f) => writeln!(f, "{}:{line}: {reason}\t{text}", self.input)?,
            None if self.shown < 10 => {
                eprintln!("skipped {}:{line}: {reason}", self.input);
                self.shown += 1;
            }
            None => {}
        }
        Ok(())
    }
}

pub fn ingest(a: IngestArgs) -> Result<ExitCode> {
    let parse = a.parse.parse_options()?;
    let sync = SyncPolicy::parse(&a.sync).ok_or_else(|| {
        usage(format!(
            "--sync {:?}: expected batch, none or interval=MS",
            a.sync
        ))
    })?;
    let max_delay = match a.max_delay.as_str() {
        "off" | "none" | "0" => None,
        s => Some(Duration::from_micros(
            parse_duration_for("--max-delay", s)? as u64
        )),
    };
    let dedup = match &a.dedup {
        Some(d) => Some(Dedup::parse(d).ok_or_else(|| usage("bad --dedup"))?),
        None => None,
    };
    let opts = StreamOptions {
        partition: crate::parse_partition(&a.partition)?,
        dedup,
        sync,
        lateness_us: parse_duration_for("--lateness", &a.lateness)?,
        seal_unit: parse_unit("--seal-window", &a.seal_window)?,
        max_delay,
        memory_limit: parse_size(
            "--memory-limit",
            &a.memory_limit,
            iotarc::archive::MIN_MEMORY_LIMIT,
        )?,
        wal: iotarc::wal::WalOptions {
            max_file_bytes: parse_size("--wal-file-size", &a.wal_file_size, 1)?,
        },
        compact: (!a.no_compact)
            .then(|| {
                tiers(&a.compact_tiers).map(|t| CompactOptions {
                    tiers: t,
                    ..CompactOptions::default()
                })
            })
            .transpose()?,
        ..StreamOptions::default()
    };
    // Chunks are sized so that one read takes up to 4 MiB of a file (more chunks cost
    // more WAL records), and at most 1/128 of the memory limit: a chunk in flight is also
    // held as parsed rows (~5 bytes per input byte), as points and as a WAL record,
    // within the 1/8 of the limit the stream writer leaves to its caller.
    let chunk_size = usize::try_from(opts.memory_limit / 128)
        .unwrap_or(usize::MAX)
        .clamp(64 << 10, 4 << 20);
    if a.follow && a.input == "-" {
        return Err(usage("--follow needs a file, not stdin"));
    }
    let reader: Box<dyn Read> = if a.input == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        let f = std::fs::File::open(&a.input).with_context(|| format!("opening {}", a.input))?;
        if a.follow {
            Box::new(Follow(f))
        } else {
            Box::new(f)
        }
    };
    // The same line limit as `pack`: an overlong line is read past in bounded memory and
    // rejected (an error under --on-error fail, through `Rejects`).
    let mut chunker = Chunker::with_chunk_size(reader, chunk_size)
        .eager(true)
        .skip_long_lines(true);
    let mut rejects = Rejects {
        fail: a.on_error == "fail",
        file: match &a.reject_file {
            Some(p) => Some(std::io::BufWriter::new(
                std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
            )),
            None => None,
        },
        shown: 0,
        count: 0,
        input: a.input.clone(),
    };
    let start = Instant::now();
    let (w, rep) = StreamWriter::open(&a.archive, opts)?;
    for w in &rep.warnings {
        eprintln!("warning: {w}");
    }
    if !a.quiet {
        if rep.records > 0 || rep.truncated.is_some() || rep.orphans_removed > 0 {
            eprintln!(
                "recovered: replayed {} WAL record(s), {} point(s) restored, {} already sealed; {} unlisted file(s) removed",
                rep.records, rep.points, rep.already_sealed, rep.orphans_removed
            );
        }
        if let Some(t) = &rep.truncated {
            eprintln!(
                "recovered: cut a torn WAL tail of {} byte(s) at {}:{} ({}): an unfinished last write with no valid record after it (wal.md §7.1)",
                t.bytes,
                t.file.display(),
                t.offset,
                t.reason
            );
        }
    }
    let path_hint = (a.input != "-").then_some(a.input.as_str());
    // Data lines the chunker cannot read come back through `take_long_lines`; what is
    // left is the header (or first) line, which cannot be skipped, and I/O errors.
    let input_error = |e: iotarc::Error| match e.kind() {
        iotarc::ErrorKind::InvalidInput {
            what,
            line: Some(l),
        } => anyhow!("{}:{l}: {what}", a.input),
        _ => anyhow!(e).context(format!("reading {}", a.input)),
    };
    // No line that is not blank or a comment: nothing to ingest (and no format to detect).
    let empty = chunker.peek_first_line().map_err(input_error)?.is_none();
    let parser = if empty {
        None
    } else {
        Some(Parser::from_input(&parse, path_hint, &mut chunker).map_err(input_error)?)
    };
    let mut lines_total = 0u64;
    let mut stdout = std::io::stdout().lock();
    let mut chunk: Vec<u8> = Vec::with_capacity(chunk_size);
    let mut acked = chunker.next_line() - 1;
    while let Some(p) = parser.as_ref() {
        let next = chunker.next_chunk_into(&mut chunk).map_err(input_error)?;
        for l in chunker.take_long_lines() {
            lines_total += 1;
            rejects.reject(l.line, &l.reason(), "")?;
        }
        if let Some(first_line) = next {
            for b in parse_parallel(p, &chunk, first_line) {
                lines_total += b.lines;
                write_batch(&w, &b, &mut rejects)?;
            }
        }
        let done = chunker.next_line() - 1;
        if a.ack && done > acked {
            writeln!(stdout, "ack {done}")?;
            stdout.flush()?;
        }
        acked = done;
        if next.is_none() {
            break;
        }
    }
    if let Some(f) = rejects.file.as_mut() {
        f.flush()?;
    }
    let stats = w.close()?;
    for w in &stats.warnings {
        eprintln!("warning: {w}");
    }
    if !a.quiet {
        let secs = start.elapsed().as_secs_f64();
        eprintln!(
            "read {lines_total} lines; acknowledged {} points ({:.0}/s), rejected {} line(s)/point(s)",
            stats.points,
            stats.points as f64 / secs.max(1e-9),
            rejects.count
        );
        eprintln!(
            "sealed {} points in {} segment(s) over {} round(s); {} duplicates resolved; WAL: {} records, {} fsyncs; peak buffer memory {}",
            stats.points_sealed,
            stats.segments,
            stats.seals,
            stats.duplicates,
            stats.records,
            stats.syncs,
            human(stats.peak_memory as u64)
        );
        if let (Some(p50), Some(p99)) = (stats.latency.quantile(0.5), stats.latency.quantile(0.99))
        {
            eprintln!(
                "acknowledged -> queryable: p50 {:.1} ms, p99 {:.1} ms",
                p50.as_secs_f64() * 1e3,
                p99.as_secs_f64() * 1e3
            );
        }
        if stats.compaction.merges > 0 || !stats.compaction.skipped.is_empty() {
            print_compaction(&stats.compaction);
        }
    }
    if stats.lost > 0 {
        for p in &stats.problems {
            eprintln!("iotarc: acknowledged point not written: {p}");
        }
        return Err(anyhow!(
            "{} acknowledged point(s) could not be written (they remain in the WAL)",
            stats.lost
        ));
    }
    Ok(ExitCode::SUCCESS)
}

/// A file still being written: at its end, waits for more instead of reporting the end.
struct Follow(std::fs::File);

impl Read for Follow {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            match self.0.read(buf)? {
                0 if !buf.is_empty() => std::thread::sleep(Duration::from_millis(50)),
                n => return Ok(n),
            }
        }
    }
}

/// Parses complete lines, splitting large inputs across cores.
fn parse_parallel(p: &Parser, bytes: &[u8], first_line: u64) -> Vec<Batch> {
    const PIECE: usize = 1 << 20;
    if bytes.len() <= PIECE {
        return vec![p.parse_chunk(bytes, first_line)];
    }
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut line = first_line;
    while start < bytes.len() {
        let mut end = (start + PIECE).min(bytes.len());
        if end < bytes.len() {
            end = match memchr::memchr(b'\n', &bytes[end..]) {
                Some(i) => end + i + 1,
                None => bytes.len(),
            };
        }
        pieces.push((start, end, line));
        line += memchr::memchr_iter(b'\n', &bytes[start..end]).count() as u64;
        start = end;
    }
    pieces
        .par_iter()
        .map(|&(s, e, l)| p.parse_chunk(&bytes[s..e], l))
        .collect()
}

/// Sends one parsed batch to the writer and applies the bad-row policy to parse errors
/// and refused points.
fn write_batch(w: &StreamWriter, b: &Batch, rejects: &mut Rejects) -> Result<()> {
    for e in &b.errors {
        rejects.reject(e.line, &e.reason, &e.text)?;
    }
    // The parser's dictionaries are unique, so they serve as the batch's tables as is.
    let mut pb = PointBatch {
        devices: b.devices.clone(),
        channels: b.channels.clone(),
        points: Vec::with_capacity(b.rows.len()),
    };
    let mut lines = Vec::with_capacity(b.rows.len());
    for r in &b.rows {
        if let Some(v) = b.value(r) {
            pb.points.push((r.device, r.channel, r.ts, v));
            lines.push(r.line);
        }
    }
    if pb.points.is_empty() {
        return Ok(());
    }
    let ack = w.write(pb)?;
    for (i, reason) in &ack.rejected {
        rejects.reject(lines[*i], reason, "")?;
    }
    Ok(())
}
