//! `compare --corpus all`: every data set under the shared data directory and a generated
//! corpus, sizes only, in one run, with a summary against the size goals.
//!
//! Per corpus:
//! - **how it was read.** Each folder of the data directory is tried in this order: its
//!   `to_long.py OUT`, its `to_csv.py long OUT` (both write iotarc long CSV,
//!   `timestamp,device,channel,value`; the output is cached under `--work` and made again
//!   when a file of the folder is newer), else its `*.csv` (`.gz`, `.zst`) files as they
//!   are. The first whose output iotarc's parser reads is used; a folder where none works
//!   is skipped with the reasons.
//! - **iotarc** with default options (`iotarc pack FILE -o ARCH`: the partition unit
//!   picked automatically, no `--type`) and with each explicit `--partition` day, week,
//!   month and year. Size is every file of the archive directory (segments, MANIFEST,
//!   INDEX).
//! - **peers** from the same parse (iotarc's parser, series sorted and de-duplicated):
//!   pco per series (one timestamp stream and one value stream per series, as the data
//!   READMEs define it), Parquet long (sorted by device, channel, ts; dictionary
//!   device/channel; zstd 9) and wide (one row per device timestamp; zstd 9), Gorilla per
//!   series. "Tuned Parquet", the goal's yardstick, is the smaller of the two layouts as
//!   the READMEs describe them (long: dictionaries on device and channel, values plain;
//!   wide: default encodings); a grid of writer settings ([`pq::Tuning`]: value
//!   dictionaries on or off, default or 1 Mi-row pages) is also written and its smallest
//!   file reported, for information.
//! - **per-series bytes of iotarc** from the segment footers: a series owns its column
//!   chunks; the timestamp chunk of a block is shared by the block's columns and is split
//!   among them in proportion to their value counts; a segment's header, footer and
//!   trailer are split evenly among its column entries. Archive files outside the
//!   segments (MANIFEST, INDEX) are not attributed. The worst 5 series are those where
//!   iotarc's bytes per value exceed pco's (timestamp + value streams) the most.

use crate::corpus::{self, Corpus};
use crate::perseries::{self, Codec};
use crate::{cpu_model, dir_bytes, fmt_bytes, gen_file, git_commit, load1, pq, repo_root, Args};
use anyhow::{bail, Context, Result};
use iotarc::archive::{Archive, PackOptions, PartitionUnit};
use iotarc::input::ParseOptions;
use iotarc::pack::{self, OnError, RunOptions};
use iotarc::ValueType;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

/// The explicit partition units measured against the default.
const UNITS: [PartitionUnit; 4] = [
    PartitionUnit::Day,
    PartitionUnit::Week,
    PartitionUnit::Month,
    PartitionUnit::Year,
];

/// Goal: default size at most this much above the best explicit partition.
const PARTITION_SLACK: f64 = 1.03;
/// Goal: default size at most this fraction of tuned Parquet.
const PARQUET_GOAL: f64 = 0.6;

/// A corpus ready to measure: the files to pack and how they were made.
struct Input {
    name: String,
    paths: Vec<String>,
    how: String,
}

/// Newest modification time of the files directly in `dir`.
fn newest_mtime(dir: &Path) -> Option<SystemTime> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok()?.metadata().ok()?.modified().ok())
        .max()
}

/// Runs `python3 SCRIPT ARGS.. OUT` in `dir` unless `out` is newer than every file of
/// `dir`; returns whether the cached file was reused.
fn convert(dir: &Path, script: &str, args: &[&str], out: &Path) -> Result<bool> {
    if let (Ok(m), Some(src)) = (
        std::fs::metadata(out).and_then(|m| m.modified()),
        newest_mtime(dir),
    ) {
        if m >= src {
            return Ok(true);
        }
    }
    let tmp = out.with_extension("tmp");
    let o = std::process::Command::new("python3")
        .arg(dir.join(script))
        .args(args)
        .arg(&tmp)
        .current_dir(dir)
        .output()
        .context("running python3")?;
    if !o.status.success() {
        let _ = std::fs::remove_file(&tmp);
        let err = String::from_utf8_lossy(&o.stderr);
        bail!(
            "{script} exited with {}: {}",
            o.status,
            err.lines().last().unwrap_or("").trim()
        );
    }
    std::fs::rename(&tmp, out)?;
    Ok(false)
}

/// The files of `dir` that look like CSV iotarc reads (plain, gzip or zstd), sorted.
fn csv_files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.path())
        .filter(|p| {
            let n = p.file_name().map(|n| n.to_string_lossy().to_lowercase());
            n.is_some_and(|n| {
                n.ends_with(".csv") || n.ends_with(".csv.gz") || n.ends_with(".csv.zst")
            })
        })
        .map(|p| p.display().to_string())
        .collect();
    v.sort();
    v
}

/// Reads one data folder: the first method whose output iotarc's parser accepts.
fn read_folder(dir: &Path, cache: &Path) -> std::result::Result<(Input, Corpus, f64), String> {
    let name = dir
        .file_name()
        .map_or("data".into(), |n| n.to_string_lossy().into_owned());
    let out = cache.join(format!("{name}-long.csv"));
    let out_s = out.display().to_string();
    let mut why: Vec<String> = Vec::new();
    let scripts: [(&str, &[&str]); 2] = [("to_long.py", &[]), ("to_csv.py", &["long"])];
    for (script, args) in scripts {
        if !dir.join(script).is_file() {
            continue;
        }
        let cmd = format!(
            "python3 {} {}OUT",
            dir.join(script).display(),
            args.iter().map(|a| format!("{a} ")).collect::<String>()
        );
        let cached = match convert(dir, script, args, &out) {
            Ok(c) => c,
            Err(e) => {
                why.push(format!("`{cmd}` failed: {e:#}"));
                continue;
            }
        };
        let t0 = Instant::now();
        match corpus::load(&out_s) {
            Ok(c) => {
                let how = format!(
                    "`{cmd}` → `{out_s}`{}",
                    if cached {
                        " (cached: newer than every file of the folder)"
                    } else {
                        ""
                    }
                );
                return Ok((
                    Input {
                        name,
                        paths: vec![out_s],
                        how,
                    },
                    c,
                    t0.elapsed().as_secs_f64(),
                ));
            }
            Err(e) => {
                let _ = std::fs::remove_file(&out);
                why.push(format!("`{cmd}` wrote a file iotarc cannot read: {e:#}"));
            }
        }
    }
    let files = csv_files(dir);
    if !files.is_empty() {
        let t0 = Instant::now();
        match corpus::load_many(&files) {
            Ok(c) => {
                let how = format!(
                    "its {} CSV file(s) read as they are: {}",
                    files.len(),
                    files
                        .iter()
                        .map(|f| format!("`{f}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                return Ok((
                    Input {
                        name,
                        paths: files,
                        how,
                    },
                    c,
                    t0.elapsed().as_secs_f64(),
                ));
            }
            Err(e) => why.push(format!(
                "its {} CSV file(s) are not iotarc input: {e:#}",
                files.len()
            )),
        }
    }
    if why.is_empty() {
        why.push("no to_long.py, to_csv.py or CSV file".into());
    }
    Err(why.join("; "))
}

/// One iotarc archive measured.
struct Variant {
    /// `None`: default options (auto partition).
    asked: Option<PartitionUnit>,
    /// The unit the archive has.
    unit: PartitionUnit,
    bytes: u64,
    /// Of which segment files.
    seg_bytes: u64,
    segments: usize,
    /// Values stored (footer counts).
    stored: u64,
    wall: f64,
}

impl Variant {
    fn label(&self) -> String {
        match self.asked {
            None => format!("iotarc default (auto → {})", self.unit.name()),
            Some(u) => format!("iotarc `--partition {}`", u.name()),
        }
    }
}

fn pack(arch: &Path, inputs: &[String], unit: Option<PartitionUnit>) -> Result<Variant> {
    if arch.exists() {
        std::fs::remove_dir_all(arch)?;
    }
    let opts = RunOptions {
        parse: ParseOptions::default(),
        pack: PackOptions {
            partition: unit,
            ..PackOptions::default()
        },
        on_error: OnError::Fail,
    };
    let t0 = Instant::now();
    pack::run(arch, inputs, &opts, |_| Ok(()), |_| {})?;
    let wall = t0.elapsed().as_secs_f64();
    let a = Archive::open(arch)?;
    let m = a.manifest();
    Ok(Variant {
        asked: unit,
        unit: m.partition,
        bytes: dir_bytes(arch)?,
        seg_bytes: m.segments.iter().map(|e| e.bytes).sum(),
        segments: m.segments.len(),
        stored: m.segments.iter().map(|e| e.points).sum(),
        wall,
    })
}

/// iotarc bytes of one (device, channel), attributed as the module doc says.
#[derive(Default)]
struct SeriesBytes {
    values: u64,
    /// Column chunks.
    chunks: u64,
    /// Share of the blocks' timestamp chunks.
    ts: f64,
    /// Share of segment header, footer and trailer.
    seg: f64,
    /// Chunk bytes per codec name.
    codecs: BTreeMap<String, u64>,
}

impl SeriesBytes {
    fn total(&self) -> f64 {
        self.chunks as f64 + self.ts + self.seg
    }

    /// The codecs that hold most of the series' chunk bytes, with their share.
    fn codec_summary(&self) -> String {
        let mut v: Vec<(&String, &u64)> = self.codecs.iter().collect();
        v.sort_by(|a, b| b.1.cmp(a.1));
        let tot = self.chunks.max(1) as f64;
        v.iter()
            .take(2)
            .map(|(k, b)| format!("{k} {:.0} %", **b as f64 / tot * 100.0))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Blocks, bytes and values coded with one codec.
#[derive(Default, Clone, Copy)]
struct Mix {
    blocks: u64,
    bytes: u64,
    values: u64,
}

struct Breakdown {
    series: HashMap<(String, String), SeriesBytes>,
    /// ("timestamps" or the value type, codec) → mix.
    mix: BTreeMap<(String, String), Mix>,
    /// Segment headers, footers and trailers.
    seg_overhead: u64,
    blocks: u64,
}

fn breakdown(arch: &Path) -> Result<Breakdown> {
    let a = Archive::open(arch)?;
    let mut out = Breakdown {
        series: HashMap::new(),
        mix: BTreeMap::new(),
        seg_overhead: 0,
        blocks: 0,
    };
    for e in &a.manifest().segments {
        let seg = a.open_segment(e)?;
        let f = seg.footer();
        let data: u64 = f.blocks.iter().map(|b| b.len).sum();
        let over = seg.len_bytes().saturating_sub(data);
        out.seg_overhead += over;
        let entries: usize = f.blocks.iter().map(|b| b.columns.len()).sum();
        let per_entry = over as f64 / entries.max(1) as f64;
        for b in &f.blocks {
            out.blocks += 1;
            let m = out
                .mix
                .entry((
                    "timestamps".into(),
                    ValueType::I64.codec_name(b.ts_codec).into(),
                ))
                .or_default();
            m.blocks += 1;
            m.bytes += b.ts_chunk_len;
            m.values += b.rows;
            let total: u64 = b.columns.iter().map(|c| c.stats.count).sum();
            for c in &b.columns {
                let codec = c.vtype.codec_name(c.codec).to_string();
                let m = out
                    .mix
                    .entry((c.vtype.name().into(), codec.clone()))
                    .or_default();
                m.blocks += 1;
                m.bytes += c.chunk_len;
                m.values += c.stats.count;
                let share = if total > 0 {
                    c.stats.count as f64 / total as f64
                } else {
                    1.0 / b.columns.len() as f64
                };
                let s = out
                    .series
                    .entry((
                        f.devices[b.device as usize].clone(),
                        f.channels[c.channel as usize].clone(),
                    ))
                    .or_default();
                s.values += c.stats.count;
                s.chunks += c.chunk_len;
                s.ts += b.ts_chunk_len as f64 * share;
                s.seg += per_entry;
                *s.codecs.entry(codec).or_default() += c.chunk_len;
            }
        }
    }
    Ok(out)
}

/// One row of the worst-5 table.
struct Worst {
    device: String,
    channel: String,
    values: u64,
    io: f64,
    io_ts: f64,
    io_seg: f64,
    io_codecs: String,
    pco_ts: u64,
    pco_vals: u64,
}

impl Worst {
    fn pco(&self) -> f64 {
        (self.pco_ts + self.pco_vals) as f64
    }

    /// iotarc bytes per value less pco's.
    fn excess_per_value(&self) -> f64 {
        (self.io - self.pco()) / self.values.max(1) as f64
    }
}

/// Everything measured on one corpus.
struct Measured {
    name: String,
    how: String,
    input_bytes: u64,
    parse_s: f64,
    values: u64,
    values_read: u64,
    series: usize,
    devices: usize,
    default: Variant,
    explicit: Vec<Variant>,
    pco: Option<u64>,
    /// The harness's Parquet settings (the goal's "tuned Parquet").
    pq_long: Option<u64>,
    pq_wide: Option<u64>,
    /// Every (layout, tuning) of the grid, defaults included.
    pq_grid: Vec<(&'static str, pq::Tuning, u64)>,
    gorilla: Option<u64>,
    bd: Breakdown,
    /// Series ranked by iotarc bytes per value less pco's, worst first.
    ranked: Vec<Worst>,
    wall: f64,
}

impl Measured {
    fn best(&self) -> &Variant {
        self.explicit
            .iter()
            .min_by_key(|v| v.bytes)
            .unwrap_or(&self.default)
    }

    fn grid_best(&self) -> Option<&(&'static str, pq::Tuning, u64)> {
        self.pq_grid.iter().min_by_key(|g| g.2)
    }

    fn tuned_parquet(&self) -> Option<u64> {
        match (self.pq_long, self.pq_wide) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// The settings of the goal's "tuned Parquet" per layout, as the data READMEs describe
/// them: long with dictionaries on device and channel only (the values plain), wide with
/// the default encodings.
fn tuned(layout: &str) -> pq::Tuning {
    pq::Tuning {
        no_value_dict: layout == "long",
        big_pages: false,
    }
}

fn skipped(a: &Args, key: &str) -> bool {
    a.skip.iter().any(|s| s == key)
}

fn measure(a: &Args, input: Input, c: Corpus, parse_s: f64, t_all: Instant) -> Result<Measured> {
    let t0 = Instant::now();
    let work = a.work.join("all").join(format!("{}.work", input.name));
    std::fs::create_dir_all(&work)?;
    let step = |what: &str| {
        eprintln!(
            "[{:.0} s] {}: {what} (load {:.2})",
            t_all.elapsed().as_secs_f64(),
            input.name,
            load1()
        );
    };
    let input_bytes = input
        .paths
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    step("iotarc default");
    let default = pack(&work.join("iotarc-default"), &input.paths, None)?;
    if default.stored != c.points {
        eprintln!(
            "  WARNING: iotarc stores {} values, the peers {}",
            default.stored, c.points
        );
    }
    let mut explicit = Vec::new();
    for u in UNITS {
        step(&format!("iotarc --partition {}", u.name()));
        let arch = work.join(format!("iotarc-{}", u.name()));
        explicit.push(pack(&arch, &input.paths, Some(u))?);
        std::fs::remove_dir_all(&arch)?;
    }
    let bd = breakdown(&work.join("iotarc-default"))?;
    let (mut pco, mut pq_long, mut pq_wide, mut gorilla) = (None, None, None, None);
    let mut ranked = Vec::new();
    if !skipped(a, "pco") {
        step("pco per series");
        let (total, sizes) = perseries::write_sizes(&c, Codec::Pco, &work.join("series.pco"))?;
        pco = Some(total);
        for (s, sz) in c.series.iter().zip(&sizes) {
            let Some(io) = bd.series.get(&(s.device.clone(), s.channel.clone())) else {
                continue;
            };
            ranked.push(Worst {
                device: s.device.clone(),
                channel: s.channel.clone(),
                values: s.ts.len() as u64,
                io: io.total(),
                io_ts: io.ts,
                io_seg: io.seg,
                io_codecs: io.codec_summary(),
                pco_ts: sz[0],
                pco_vals: sz[1],
            });
        }
        ranked.sort_by(|x, y| y.excess_per_value().total_cmp(&x.excess_per_value()));
    }
    let mut pq_grid = Vec::new();
    for layout in ["long", "wide"] {
        if skipped(a, &format!("parquet-{layout}")) {
            continue;
        }
        let yardstick = tuned(layout);
        for t in pq::Tuning::GRID {
            if t != yardstick && skipped(a, "parquet-grid") {
                continue;
            }
            step(&format!("Parquet {layout}, zstd 9, {}", t.label()));
            let f = work.join(format!("{layout}-z9.parquet"));
            let b = if layout == "long" {
                pq::write_long_tuned(&c, &f, 9, t)?
            } else {
                pq::write_wide_tuned(&c, &f, 9, t)?
            };
            if t == yardstick {
                if layout == "long" {
                    pq_long = Some(b);
                } else {
                    pq_wide = Some(b);
                }
            }
            pq_grid.push((layout, t, b));
        }
    }
    if !skipped(a, "gorilla") {
        step("Gorilla per series");
        gorilla = Some(perseries::write(
            &c,
            Codec::Gorilla,
            &work.join("series.gorilla"),
        )?);
    }
    Ok(Measured {
        name: input.name,
        how: input.how,
        input_bytes,
        parse_s,
        values: c.points,
        values_read: c.values_read,
        series: c.series.len(),
        devices: c.devices(),
        default,
        explicit,
        pco,
        pq_long,
        pq_wide,
        pq_grid,
        gorilla,
        bd,
        ranked,
        wall: t0.elapsed().as_secs_f64() + parse_s,
    })
}

fn ratio(a: u64, b: Option<u64>) -> Option<f64> {
    b.filter(|&b| b > 0).map(|b| a as f64 / b as f64)
}

fn mark(ok: bool) -> &'static str {
    if ok {
        "pass"
    } else {
        "**FAIL**"
    }
}

fn fmt_ratio(r: Option<f64>, goal: impl Fn(f64) -> bool) -> String {
    match r {
        Some(r) => format!("{r:.3} {}", mark(goal(r))),
        None => "-".into(),
    }
}

fn report(md: &mut String, m: &Measured) {
    let v = m.values as f64;
    let _ = writeln!(md, "### `{}`\n", m.name);
    let _ = writeln!(md, "- read: {}", m.how);
    let _ = writeln!(
        md,
        "- {} bytes of input; {} distinct values ({} read) in {} series of {} devices; parsed once for the peers in {:.2} s",
        fmt_bytes(m.input_bytes),
        fmt_bytes(m.values),
        fmt_bytes(m.values_read),
        m.series,
        m.devices,
        m.parse_s
    );
    if m.default.stored != m.values {
        let _ = writeln!(
            md,
            "- **iotarc stores {} values, the peers {}**",
            fmt_bytes(m.default.stored),
            fmt_bytes(m.values)
        );
    }
    let _ = writeln!(md);
    let _ = writeln!(
        md,
        "| system | size (bytes) | bytes/value | ÷ iotarc default | notes |"
    );
    let _ = writeln!(md, "|---|---:|---:|---:|---|");
    let d = m.default.bytes as f64;
    let best = m.best();
    let row = |md: &mut String, name: &str, b: u64, note: &str| {
        let _ = writeln!(
            md,
            "| {name} | {} | {:.3} | {:.3}× | {note} |",
            fmt_bytes(b),
            b as f64 / v,
            b as f64 / d
        );
    };
    for var in std::iter::once(&m.default).chain(&m.explicit) {
        let note = format!(
            "{} segment(s), {} bytes of other files; pack {:.2} s{}",
            var.segments,
            fmt_bytes(var.bytes - var.seg_bytes),
            var.wall,
            if var.asked.is_some() && std::ptr::eq(var, best) {
                "; **best explicit**"
            } else {
                ""
            }
        );
        row(md, &var.label(), var.bytes, &note);
    }
    if let Some(b) = m.pco {
        row(
            md,
            "pco per series",
            b,
            "pco 1.1 level 8: one timestamp and one value stream per series (strings as dictionary codes)",
        );
    }
    if let Some(b) = m.pq_long {
        row(
            md,
            "Parquet long, zstd 9",
            b,
            "device, channel, ts, f64, i64, str; sorted; dictionary device/channel (values plain); ts delta",
        );
    }
    if let Some(b) = m.pq_wide {
        row(
            md,
            "Parquet wide, zstd 9",
            b,
            "device, ts, one column per channel; sorted; default encodings (dictionary), ts delta",
        );
    }
    if let Some(b) = m.gorilla {
        row(
            md,
            "Gorilla per series",
            b,
            "delta-of-delta timestamps + XOR values",
        );
    }
    if let Some((layout, t, b)) = m.grid_best() {
        row(
            md,
            "Parquet, smallest of the grid",
            *b,
            &format!(
                "{layout}, zstd 9, {}; grid: {}",
                t.label(),
                m.pq_grid
                    .iter()
                    .map(|(l, t, b)| format!("{l} {} {}", t.label(), fmt_bytes(*b)))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        );
    }
    let _ = writeln!(
        md,
        "\nBest explicit partition: `{}` ({} bytes); default ÷ best = {:.3}.\n",
        best.unit.name(),
        fmt_bytes(best.bytes),
        d / best.bytes as f64
    );

    // Codec mix.
    let _ = writeln!(
        md,
        "Codec mix of the default archive ({} blocks; segment headers, footers and trailers {} bytes, other files {} bytes):\n",
        fmt_bytes(m.bd.blocks),
        fmt_bytes(m.bd.seg_overhead),
        fmt_bytes(m.default.bytes - m.default.seg_bytes)
    );
    let _ = writeln!(
        md,
        "| column | codec | blocks | bytes | share of bytes | values | bytes/value |"
    );
    let _ = writeln!(md, "|---|---|---:|---:|---:|---:|---:|");
    for ((kind, codec), x) in &m.bd.mix {
        let _ = writeln!(
            md,
            "| {kind} | {codec} | {} | {} | {:.1} % | {} | {:.3} |",
            fmt_bytes(x.blocks),
            fmt_bytes(x.bytes),
            x.bytes as f64 / d * 100.0,
            fmt_bytes(x.values),
            x.bytes as f64 / x.values.max(1) as f64
        );
    }

    // Worst 5.
    if !m.ranked.is_empty() {
        let _ = writeln!(
            md,
            "\nWorst 5 series: the largest iotarc bytes per value over pco per series (iotarc = value chunks + share of the block's timestamp chunk by value count + even share of the segment's header, footer and trailer; pco = the series' timestamp and value streams):\n"
        );
        let _ = writeln!(md, "| device | channel | values | iotarc codecs (of chunk bytes) | iotarc B/value | of which ts | of which footer | pco B/value | of which ts | excess B/value | iotarc ÷ pco |");
        let _ = writeln!(md, "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|");
        for w in m.ranked.iter().take(5) {
            let n = w.values.max(1) as f64;
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:+.3} | {:.2}× |",
                w.device,
                w.channel,
                fmt_bytes(w.values),
                w.io_codecs,
                w.io / n,
                w.io_ts / n,
                w.io_seg / n,
                w.pco() / n,
                w.pco_ts as f64 / n,
                w.excess_per_value(),
                w.io / w.pco().max(1.0)
            );
        }
    }

    // Goals.
    let _ = writeln!(md, "\nGoals (iotarc with default options):");
    let _ = writeln!(
        md,
        "- default ≤ pco per series: {}",
        fmt_ratio(ratio(m.default.bytes, m.pco), |r| r <= 1.0)
    );
    let _ = writeln!(
        md,
        "- default ≤ {PARQUET_GOAL} × tuned Parquet (smaller of long and wide, zstd 9): {}",
        fmt_ratio(ratio(m.default.bytes, m.tuned_parquet()), |r| r
            <= PARQUET_GOAL)
    );
    let _ = writeln!(
        md,
        "- default ≤ {PARTITION_SLACK} × best explicit partition: {}",
        fmt_ratio(ratio(m.default.bytes, Some(best.bytes)), |r| r
            <= PARTITION_SLACK)
    );
    if let Some(h) = hint(m) {
        let _ = writeln!(md, "- where the bytes over pco are: {h}");
    }
    let _ = writeln!(md, "\n_{} measured in {:.1} s._\n", m.name, m.wall);
}

/// Where iotarc's bytes exceed pco's: the series with the largest excess, and the
/// overhead outside the series.
fn hint(m: &Measured) -> Option<String> {
    let pco = m.pco?;
    if m.default.bytes <= pco {
        return None;
    }
    let mut ex: Vec<&Worst> = m.ranked.iter().filter(|w| w.io > w.pco()).collect();
    ex.sort_by(|x, y| (y.io - y.pco()).total_cmp(&(x.io - x.pco())));
    let top: Vec<String> = ex
        .iter()
        .take(3)
        .map(|w| {
            format!(
                "{}/{} +{:.0} bytes ({})",
                w.device,
                w.channel,
                w.io - w.pco(),
                w.io_codecs
            )
        })
        .collect();
    Some(format!(
        "total excess {} bytes; largest per series: {}; archive files outside the segments {} bytes",
        fmt_bytes(m.default.bytes - pco),
        if top.is_empty() {
            "none".into()
        } else {
            top.join("; ")
        },
        fmt_bytes(m.default.bytes - m.default.seg_bytes)
    ))
}

fn summary(md: &mut String, all: &[Measured]) {
    let _ = writeln!(md, "### Summary\n");
    let _ = writeln!(md, "Goals, with iotarc's default options: default ≤ pco per series; default ≤ {PARQUET_GOAL} × tuned Parquet (the smaller of long and wide, sorted, zstd 9, delta timestamps, as the data READMEs describe them: long with dictionaries on device and channel only, wide with the default encodings); default ≤ {PARTITION_SLACK} × the best explicit `--partition` (day, week, month, year). The smallest Parquet of the grid (value dictionary on/off × 20 k- or 1 Mi-row pages, both layouts) is shown for information, without a goal: 1 Mi-row pages give up most page-level pruning.\n");
    let _ = writeln!(md, "| corpus | values | iotarc default | best explicit | default ÷ best (≤ {PARTITION_SLACK}) | pco per series | default ÷ pco (≤ 1) | tuned Parquet | default ÷ Parquet (≤ {PARQUET_GOAL}) | smallest Parquet of the grid | default ÷ it | Gorilla |");
    let _ = writeln!(
        md,
        "|---|---:|---:|---:|---|---:|---|---:|---|---:|---:|---:|"
    );
    let opt = |b: Option<u64>| b.map_or("-".into(), fmt_bytes);
    for m in all {
        let best = m.best();
        let _ = writeln!(
            md,
            "| {} | {} | {} ({}) | {} ({}) | {} | {} | {} | {} | {} | {} | {} | {} |",
            m.name,
            fmt_bytes(m.values),
            fmt_bytes(m.default.bytes),
            m.default.unit.name(),
            fmt_bytes(best.bytes),
            best.unit.name(),
            fmt_ratio(ratio(m.default.bytes, Some(best.bytes)), |r| r
                <= PARTITION_SLACK),
            opt(m.pco),
            fmt_ratio(ratio(m.default.bytes, m.pco), |r| r <= 1.0),
            opt(m.tuned_parquet()),
            fmt_ratio(ratio(m.default.bytes, m.tuned_parquet()), |r| r
                <= PARQUET_GOAL),
            m.grid_best().map_or("-".into(), |(l, t, b)| format!(
                "{} ({l}, {})",
                fmt_bytes(*b),
                t.label()
            )),
            ratio(m.default.bytes, m.grid_best().map(|g| g.2))
                .map_or("-".into(), |r| format!("{r:.3}")),
            opt(m.gorilla),
        );
    }
}

/// `compare --corpus all`.
pub fn run(a: &Args) -> Result<()> {
    let t_all = Instant::now();
    let data_dir = a
        .data_dir
        .clone()
        .unwrap_or_else(|| repo_root().join("../shared/data"));
    let data_dir = data_dir.canonicalize().unwrap_or(data_dir);
    let cache = a.work.join("all");
    std::fs::create_dir_all(&cache)?;
    let mut folders: Vec<PathBuf> = match std::fs::read_dir(&data_dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.path())
            .collect(),
        Err(e) => {
            eprintln!("no data folder {}: {e}", data_dir.display());
            Vec::new()
        }
    };
    folders.sort();
    let mut done: Vec<Measured> = Vec::new();
    let mut skips: Vec<(String, String)> = Vec::new();
    let one = |input: Input,
               c: Corpus,
               parse_s: f64|
     -> std::result::Result<Measured, (String, String)> {
        let name = input.name.clone();
        measure(a, input, c, parse_s, t_all).map_err(|e| {
            eprintln!("{name}: skipped: {e:#}");
            (name, format!("{e:#}"))
        })
    };
    for dir in &folders {
        let name = dir
            .file_name()
            .map_or(String::new(), |n| n.to_string_lossy().into_owned());
        if skipped(a, &name) {
            continue;
        }
        eprintln!(
            "[{:.0} s] {name}: reading {}",
            t_all.elapsed().as_secs_f64(),
            dir.display()
        );
        match read_folder(dir, &cache) {
            Ok((input, c, parse_s)) => match one(input, c, parse_s) {
                Ok(m) => done.push(m),
                Err(x) => skips.push(x),
            },
            Err(why) => {
                eprintln!("{name}: skipped: {why}");
                skips.push((name, why));
            }
        }
    }
    if !skipped(a, "gen") {
        let points = a.points.as_deref().unwrap_or("5M");
        eprintln!(
            "[{:.0} s] gen: generating or reusing {points} values",
            t_all.elapsed().as_secs_f64()
        );
        let (name, path) = gen_file(&a.work, points, a.devices, a.seed)?;
        let path_s = path.display().to_string();
        let t0 = Instant::now();
        let c = corpus::load(&path_s)?;
        let input = Input {
            name: "gen".into(),
            paths: vec![path_s.clone()],
            how: format!(
                "`iotarc-gen --devices {} --points {points} --seed {} --format csv-wide` → `{path_s}` ({name})",
                a.devices, a.seed
            ),
        };
        match one(input, c, t0.elapsed().as_secs_f64()) {
            Ok(m) => done.push(m),
            Err(x) => skips.push(x),
        }
    }

    let (commit, dirty) = git_commit();
    let mut md = String::new();
    let _ = writeln!(
        md,
        "- data folder `{}`; work folder `{}`",
        data_dir.display(),
        a.work.display()
    );
    let _ = writeln!(
        md,
        "- machine: {}, {} cores; git {commit}{}",
        cpu_model(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if dirty {
            " (+ uncommitted changes)"
        } else {
            ""
        }
    );
    let _ = writeln!(md, "- sizes only (no query timings: run a single `--corpus` for those); every figure is bytes on disk, iotarc's every file of the archive directory\n");
    summary(&mut md, &done);
    if !skips.is_empty() {
        let _ = writeln!(md);
    }
    for (n, why) in &skips {
        let _ = writeln!(md, "- `{n}` skipped: {why}");
    }
    let _ = writeln!(md);
    for m in &done {
        report(&mut md, m);
    }
    let _ = writeln!(
        md,
        "_All corpora measured in {:.0} s._",
        t_all.elapsed().as_secs_f64()
    );
    print!("{md}");
    if let Some(p) = &a.md {
        std::fs::write(p, &md)?;
    }
    Ok(())
}
