//! `compare`: iotarc against Parquet, CSV+zstd, pco and a plain Gorilla encoding, on one
//! corpus, in one run. Prints a markdown report (pack time, size, aggregate-query time).
//!
//! ```text
//! cargo run --release -p iotarc-compare -- --corpus all      # every data set + gen 5M, sizes
//! cargo run --release -p iotarc-compare -- --corpus beijing
//! cargo run --release -p iotarc-compare -- --corpus gen --points 100M
//! cargo run --release -p iotarc-compare -- --corpus my.csv --device d1 --channel temp
//! ```
//!
//! Method:
//! - **iotarc pack** is `iotarc::pack` on the corpus file, the code path of
//!   `iotarc pack` (parsing and packing overlap on the machine's cores).
//! - **Peers** start from the same file: it is parsed once with iotarc's parser (in
//!   parallel chunks, as `pack` does) into sorted, de-duplicated series; that shared
//!   ingest time is added to each peer's encode time, so every "pack" column is
//!   file-on-disk to format-on-disk. CSV+zstd only compresses the file.
//! - **Queries** open the format from scratch each run (warm page cache): count, min, max
//!   and sum of one device-channel over the whole range and over a range whose ends cut
//!   blocks and row groups. Median of several runs after one warm-up.
//! - Every query result is checked against the aggregate of the in-memory series.

mod all;
mod corpus;
mod csvz;
mod gorilla;
mod perseries;
mod pq;

use anyhow::{bail, Context, Result};
use clap::Parser;
use corpus::{aggregate_f64, aggregate_i64, Agg, Vals};
use iotarc::archive::{self, Archive, PackOptions, PartitionUnit};
use iotarc::input::ParseOptions;
use iotarc::pack::{self, OnError, RunOptions};
use iotarc::Value;
use perseries::Codec;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Parser)]
#[command(
    name = "compare",
    about = "iotarc vs Parquet, CSV+zstd, pco and Gorilla on one corpus"
)]
struct Args {
    /// `all` (every folder of the data directory, then gen; sizes against the goals, no
    /// query timings), `beijing` (../shared/data/beijing, converted to wide CSV), `gen`
    /// (iotarc-gen, wide CSV) or the path of any file `iotarc pack` reads.
    #[arg(long, default_value = "beijing")]
    corpus: String,
    /// gen: distinct values to generate (100M, 5M, ...; default 100M, with `--corpus all`
    /// 5M).
    #[arg(long)]
    points: Option<String>,
    /// gen: devices.
    #[arg(long, default_value_t = 200)]
    devices: usize,
    /// gen: seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Working directory (corpus files are cached here between runs).
    #[arg(long, default_value = "/tmp/iotarc-compare")]
    work: PathBuf,
    /// Directory of the Beijing data and its to_csv.py.
    #[arg(long)]
    beijing_dir: Option<PathBuf>,
    /// `--corpus all`: the folder whose subfolders are the data sets (default
    /// ../shared/data beside the repository).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Timed runs per query (after one warm-up); slow systems stop after --query-budget.
    #[arg(long, default_value_t = 15)]
    runs: usize,
    /// Seconds of timed runs per query and system before stopping early (at least 3 runs).
    #[arg(long, default_value_t = 20.0)]
    query_budget: f64,
    /// iotarc partition: hour, day, week, month, year, or auto (`iotarc pack`'s default:
    /// the packer picks the unit from the input's rate, archive.md §3.1).
    #[arg(long, default_value = "auto")]
    partition: String,
    /// Query series (default: beijing Aotizhongxin/PM2.5; otherwise the temperature, else
    /// any f64 channel, of the device with the most readings).
    #[arg(long)]
    device: Option<String>,
    #[arg(long)]
    channel: Option<String>,
    /// Also write the markdown report to this file.
    #[arg(long)]
    md: Option<PathBuf>,
    /// Leave out systems (comma-separated: parquet-long, parquet-wide, parquet-wide-z9,
    /// pco, gorilla, csv-zstd); with `--corpus all`: parquet-long, parquet-wide,
    /// parquet-grid (only the goal's settings), pco, gorilla, and corpora by folder name
    /// or `gen`.
    #[arg(long, value_delimiter = ',')]
    skip: Vec<String>,
}

fn load1() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

/// User + system CPU seconds of this process (all threads), from /proc/self/stat.
fn cpu_s() -> f64 {
    let Ok(s) = std::fs::read_to_string("/proc/self/stat") else {
        return f64::NAN;
    };
    let Some(rest) = s.rsplit(')').next() else {
        return f64::NAN;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let t = |i: usize| {
        f.get(i)
            .and_then(|x| x.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    // Fields 14 and 15 of stat (utime, stime) are 12 and 13 after the ')'.
    (t(11) + t(12)) / 100.0
}

fn dir_bytes(p: &Path) -> Result<u64> {
    let mut n = 0;
    for e in std::fs::read_dir(p)? {
        let e = e?;
        let m = e.metadata()?;
        n += if m.is_dir() {
            dir_bytes(&e.path())?
        } else {
            m.len()
        };
    }
    Ok(n)
}

fn sh(cmd: &str, args: &[&str]) -> String {
    std::process::Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

struct Pack {
    wall: f64,
    cpu: f64,
    bytes: u64,
    load: f64,
}

struct Sys {
    name: String,
    pack: Pack,
    whole: Option<Timing>,
    cut: Option<Timing>,
    note: String,
}

#[derive(Clone, Copy)]
struct Timing {
    median: f64,
    /// Median process CPU time.
    cpu: f64,
    runs: usize,
    ok: bool,
}

/// CPU time of the whole process (all threads), nanoseconds: robust to other load on
/// the machine, unlike wall time (cache and memory-bandwidth interference remain).
fn process_cpu_ns() -> u64 {
    #[repr(C)]
    struct Timespec {
        tv_sec: i64,
        tv_nsec: i64,
    }
    extern "C" {
        fn clock_gettime(clk: i32, tp: *mut Timespec) -> i32;
    }
    const CLOCK_PROCESS_CPUTIME_ID: i32 = 2;
    let mut t = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid, writable timespec (two C longs on 64-bit Linux) and
    // clock_gettime only writes to it.
    let rc = unsafe { clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &mut t) };
    if rc != 0 {
        return 0;
    }
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

fn time_query(
    runs: usize,
    budget: f64,
    want: &Agg,
    mut f: impl FnMut() -> Result<Agg>,
) -> Result<Timing> {
    let first = f()?;
    let ok = first.agrees(want);
    if !ok {
        eprintln!("  MISMATCH: got {first:?}, want {want:?}");
    }
    let mut t = Vec::new();
    let mut cpu = Vec::new();
    let start = Instant::now();
    while t.len() < runs.max(1) && (t.len() < 3 || start.elapsed().as_secs_f64() < budget) {
        let c = process_cpu_ns();
        let s = Instant::now();
        let g = f()?;
        t.push(s.elapsed().as_secs_f64());
        cpu.push((process_cpu_ns() - c) as f64 / 1e9);
        std::hint::black_box(g);
    }
    t.sort_by(f64::total_cmp);
    cpu.sort_by(f64::total_cmp);
    Ok(Timing {
        median: t[t.len() / 2],
        cpu: cpu[cpu.len() / 2],
        runs: t.len(),
        ok,
    })
}

fn fmt_time(s: f64) -> String {
    if s < 1e-3 {
        format!("{:.1} µs", s * 1e6)
    } else if s < 1.0 {
        format!("{:.2} ms", s * 1e3)
    } else {
        format!("{:.2} s", s)
    }
}

fn fmt_bytes(b: u64) -> String {
    let mut s = b.to_string();
    let mut i = s.len() as isize - 3;
    while i > 0 {
        s.insert(i as usize, ',');
        i -= 3;
    }
    s
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Prepares the corpus file; returns (name, path).
fn corpus_file(a: &Args) -> Result<(String, PathBuf)> {
    std::fs::create_dir_all(&a.work)?;
    match a.corpus.as_str() {
        "beijing" => {
            let dir = a
                .beijing_dir
                .clone()
                .unwrap_or_else(|| repo_root().join("../shared/data/beijing"));
            let out = a.work.join("beijing-wide.csv");
            if !out.exists() {
                let tmp = out.with_extension("tmp");
                let st = std::process::Command::new("python3")
                    .arg(dir.join("to_csv.py"))
                    .arg("wide")
                    .arg(&tmp)
                    .status()
                    .context("running to_csv.py")?;
                if !st.success() {
                    bail!("to_csv.py failed");
                }
                std::fs::rename(&tmp, &out)?;
            }
            Ok(("beijing".into(), out))
        }
        "gen" => gen_file(
            &a.work,
            a.points.as_deref().unwrap_or("100M"),
            a.devices,
            a.seed,
        ),
        p => Ok((
            Path::new(p)
                .file_stem()
                .map_or("corpus".into(), |n| n.to_string_lossy().into_owned()),
            PathBuf::from(p),
        )),
    }
}

/// The generated corpus (wide CSV) in `work`, made unless cached; returns (name, path).
fn gen_file(work: &Path, points: &str, devices: usize, seed: u64) -> Result<(String, PathBuf)> {
    std::fs::create_dir_all(work)?;
    let n = iotarc_gen::parse_count(points).map_err(anyhow::Error::msg)?;
    let name = format!("gen-{points}-d{devices}-s{seed}");
    let out = work.join(format!("{name}.csv"));
    if !out.exists() {
        let cfg = iotarc_gen::Config {
            devices,
            extent: iotarc_gen::Extent::Points(n),
            seed,
            ..iotarc_gen::Config::default()
        };
        let tmp = out.with_extension("tmp");
        let s = iotarc_gen::generate(
            &cfg,
            iotarc_gen::Format::CsvWide,
            std::fs::File::create(&tmp)?,
        )?;
        eprintln!(
            "generated {} values, {} rows, {} bytes in {:.1} s",
            s.points,
            s.rows,
            s.bytes,
            s.elapsed.as_secs_f64()
        );
        std::fs::rename(&tmp, &out)?;
    }
    Ok((name, out))
}

/// The repository's short commit (or `IOTARC_COMMIT` for an exported tree) and whether
/// src, tools or Cargo.toml have uncommitted changes.
fn git_commit() -> (String, bool) {
    let root = repo_root().display().to_string();
    let commit = sh("git", &["-C", &root, "rev-parse", "--short", "HEAD"]);
    // An exported tree (git archive) has no repository: the commit comes from the
    // environment then.
    let commit = if commit.is_empty() {
        std::env::var("IOTARC_COMMIT").unwrap_or_else(|_| "unknown".into())
    } else {
        commit
    };
    let dirty = !sh(
        "git",
        &[
            "-C",
            &root,
            "status",
            "--porcelain",
            "--",
            "src",
            "Cargo.toml",
            "tools",
        ],
    )
    .is_empty();
    (commit, dirty)
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default()
}

fn value_f64(v: &Option<Value>) -> f64 {
    match v {
        Some(Value::F64(x)) => *x,
        Some(Value::I64(x)) => *x as f64,
        _ => f64::NAN,
    }
}

fn iotarc_query(
    dir: &Path,
    dev: &str,
    ch: &str,
    from: i64,
    to: i64,
) -> Result<(Agg, archive::QueryStats)> {
    let a = Archive::open(dir)?;
    let mut q = a.query().device(dev).channel(ch).aggregates(&[
        archive::Agg::Count,
        archive::Agg::Min,
        archive::Agg::Max,
        archive::Agg::Sum,
    ]);
    if from != i64::MIN {
        q = q.from(from);
    }
    if to != i64::MAX {
        q = q.to(to);
    }
    let (rows, st) = q.run_aggregate()?;
    let Some(r) = rows.first() else {
        return Ok((Agg::empty(), st));
    };
    Ok((
        Agg {
            count: r.count,
            min: value_f64(&r.values[1]),
            max: value_f64(&r.values[2]),
            sum: value_f64(&r.values[3]),
        },
        st,
    ))
}

fn main() -> Result<()> {
    let a = Args::parse();
    if a.corpus == "all" {
        return all::run(&a);
    }
    let wall0 = Instant::now();
    let (name, path) = corpus_file(&a)?;
    let path_s = path.display().to_string();
    let input_bytes = std::fs::metadata(&path)?.len();
    let work = a.work.join(format!("{name}.work"));
    std::fs::create_dir_all(&work)?;
    let mut md = String::new();
    let (commit, dirty) = git_commit();
    let cpu_model = cpu_model();

    // ---- Shared ingest for the peers.
    eprintln!(
        "[{:.0} s] parsing {path_s} for the peers (load {:.2})",
        wall0.elapsed().as_secs_f64(),
        load1()
    );
    let (l0, c0, t0) = (load1(), cpu_s(), Instant::now());
    let corpus = corpus::load(&path_s)?;
    let ingest = Pack {
        wall: t0.elapsed().as_secs_f64(),
        cpu: cpu_s() - c0,
        bytes: 0,
        load: l0,
    };
    let points = corpus.points;
    eprintln!(
        "  {} distinct values ({} read) in {} series of {} devices, {:.2} s",
        points,
        corpus.values_read,
        corpus.series.len(),
        corpus.devices(),
        ingest.wall
    );

    // ---- Query series and ranges.
    let (qdev, qch) = match (&a.device, &a.channel) {
        (Some(d), Some(c)) => (d.clone(), c.clone()),
        _ if name == "beijing" => ("Aotizhongxin".to_string(), "PM2.5".to_string()),
        _ => {
            // The temperature (else any f64 channel) of the device with the most readings.
            let f64s = || {
                corpus
                    .series
                    .iter()
                    .filter(|s| matches!(s.vals, Vals::F64(_)))
            };
            let s = f64s()
                .filter(|s| s.channel == "temperature")
                .max_by_key(|s| s.ts.len())
                .or_else(|| f64s().max_by_key(|s| s.ts.len()))
                .context("no f64 series")?;
            (s.device.clone(), s.channel.clone())
        }
    };
    let qs = corpus
        .find(&qdev, &qch)
        .with_context(|| format!("no series {qdev}/{qch}"))?;
    let (t_lo, t_hi) = (qs.ts[0], qs.ts[qs.ts.len() - 1]);
    let span = (t_hi - t_lo) as f64;
    let cut = (
        t_lo + (span * 0.137) as i64 + 1_234_567,
        t_lo + (span * 0.863) as i64 + 7_654_321,
    );
    let ranges = [(i64::MIN, i64::MAX), cut];
    let want: Vec<Agg> = ranges
        .iter()
        .map(|&(f, t)| match &qs.vals {
            Vals::F64(v) => aggregate_f64(&qs.ts, v, f, t),
            Vals::I64(v) => aggregate_i64(&qs.ts, v, f, t),
            Vals::Str { .. } => Agg::empty(),
        })
        .collect();

    let mut systems: Vec<Sys> = Vec::new();

    // ---- iotarc.
    let partition = match a.partition.as_str() {
        "auto" => None,
        p => Some(PartitionUnit::parse(p).context("bad --partition")?),
    };
    let arch = work.join("iotarc");
    if arch.exists() {
        std::fs::remove_dir_all(&arch)?;
    }
    eprintln!(
        "[{:.0} s] iotarc pack (partition {}, load {:.2})",
        partition.map_or("auto", |u| u.name()),
        wall0.elapsed().as_secs_f64(),
        load1()
    );
    // A channel whose text mixes integers and decimals (Beijing: all 11 numeric ones)
    // would be i64 in some blocks and f64 in others; as a user would with
    // `--type CH=f64`, force f64 where the peers settled on f64.
    let mut parse = ParseOptions::default();
    for s in &corpus.series {
        if matches!(s.vals, Vals::F64(_)) {
            parse
                .types
                .insert(s.channel.clone(), iotarc::ValueType::F64);
        }
    }
    let forced: Vec<String> = {
        let mut v: Vec<String> = parse.types.keys().cloned().collect();
        v.sort();
        v
    };
    let opts = RunOptions {
        parse,
        pack: PackOptions {
            partition,
            ..PackOptions::default()
        },
        on_error: OnError::Fail,
    };
    let (l0, c0, t0) = (load1(), cpu_s(), Instant::now());
    let rep = pack::run(
        &arch,
        std::slice::from_ref(&path_s),
        &opts,
        |_| Ok(()),
        |_| {},
    )?;
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu_s() - c0;
    let bytes = dir_bytes(&arch)?;
    let (stored, unit) = {
        let ar = Archive::open(&arch)?;
        let (rows, _) = ar
            .query()
            .aggregates(&[archive::Agg::Count])
            .run_aggregate()?;
        (
            rows.iter().map(|r| r.count).sum::<u64>(),
            ar.manifest().partition,
        )
    };
    if stored != points {
        eprintln!("  WARNING: iotarc stores {stored} values, the peers {points}");
    }
    systems.push(Sys {
        name: "iotarc".into(),
        pack: Pack {
            wall,
            cpu,
            bytes,
            load: l0,
        },
        whole: None,
        cut: None,
        note: format!(
            "`pack` (= `iotarc pack --partition {}{}`), {} partitions{}: {} segments, {} duplicates merged",
            partition.map_or("auto", |u| u.name()),
            forced
                .iter()
                .map(|c| format!(" --type {c}=f64"))
                .collect::<String>(),
            unit.name(),
            if partition.is_none() { " (picked by the packer)" } else { "" },
            rep.pack.segments,
            rep.pack.duplicates
        ),
    });

    // ---- Peers.
    type Enc<'a> = Box<dyn Fn(&Path) -> Result<u64> + 'a>;
    let c = &corpus;
    let peers: Vec<(&str, &str, PathBuf, Enc, String)> = vec![
        (
            "parquet-long",
            "Parquet long, zstd 3",
            work.join("long-z3.parquet"),
            Box::new(|p: &Path| pq::write_long(c, p, 3)),
            "device, channel, ts, f64, i64, str; sorted by device, channel, ts".into(),
        ),
        (
            "parquet-wide",
            "Parquet wide, zstd 3",
            work.join("wide-z3.parquet"),
            Box::new(|p: &Path| pq::write_wide(c, p, 3)),
            "device, ts, one column per channel; sorted by device, ts".into(),
        ),
        (
            "parquet-wide-z9",
            "Parquet wide, zstd 9",
            work.join("wide-z9.parquet"),
            Box::new(|p: &Path| pq::write_wide(c, p, 9)),
            "as above, zstd level 9 (the shared README's setting)".into(),
        ),
        (
            "pco",
            "pco per series",
            work.join("series.pco"),
            Box::new(|p: &Path| perseries::write(c, Codec::Pco, p)),
            "pco 1.1 level 8, timestamps and values per series; strings as dictionary codes".into(),
        ),
        (
            "gorilla",
            "Gorilla per series",
            work.join("series.gorilla"),
            Box::new(|p: &Path| perseries::write(c, Codec::Gorilla, p)),
            "paper's DoD timestamps + XOR values; ints and string codes as 64-bit patterns".into(),
        ),
        (
            "csv-zstd",
            "CSV + zstd 3",
            work.join("corpus.csv.zst"),
            Box::new(|p: &Path| csvz::compress(&path, p, 3)),
            "the input file, one zstd stream (level 3, one thread)".into(),
        ),
    ];
    for (key, label, file, enc, note) in &peers {
        if a.skip.iter().any(|s| s == key) {
            continue;
        }
        eprintln!(
            "[{:.0} s] {label} (load {:.2})",
            wall0.elapsed().as_secs_f64(),
            load1()
        );
        let (l0, c0, t0) = (load1(), cpu_s(), Instant::now());
        let bytes = enc(file)?;
        let wall = t0.elapsed().as_secs_f64();
        let cpu = cpu_s() - c0;
        let shared = *key != "csv-zstd";
        systems.push(Sys {
            name: label.to_string(),
            pack: Pack {
                wall: wall + if shared { ingest.wall } else { 0.0 },
                cpu: cpu + if shared { ingest.cpu } else { 0.0 },
                bytes,
                load: l0,
            },
            whole: None,
            cut: None,
            note: note.clone(),
        });
    }
    let corpus_series = corpus.series.len();
    let corpus_devices = corpus.devices();
    let values_read = corpus.values_read;
    let qpoints = qs.ts.len();
    let cut_points = want[1].count;
    drop(peers);
    drop(corpus);

    // ---- Queries.
    let qload0 = load1();
    let mut iotarc_stats = Vec::new();
    let mut pq_reads = Vec::new();
    for s in &mut systems {
        eprintln!(
            "[{:.0} s] queries: {} (load {:.2})",
            wall0.elapsed().as_secs_f64(),
            s.name,
            load1()
        );
        for (k, &(from, to)) in ranges.iter().enumerate() {
            let w = &want[k];
            let t = match s.name.as_str() {
                "iotarc" => {
                    let (_, st) = iotarc_query(&arch, &qdev, &qch, from, to)?;
                    iotarc_stats.push(st);
                    time_query(a.runs, a.query_budget, w, || {
                        Ok(iotarc_query(&arch, &qdev, &qch, from, to)?.0)
                    })?
                }
                n if n.starts_with("Parquet") => {
                    let file = if n.contains("long") {
                        work.join("long-z3.parquet")
                    } else if n.contains("zstd 9") {
                        work.join("wide-z9.parquet")
                    } else {
                        work.join("wide-z3.parquet")
                    };
                    let wide = !n.contains("long");
                    let (_, rd) = pq::query(&file, wide, &qdev, &qch, from, to)?;
                    pq_reads.push((n.to_string(), k, rd));
                    time_query(a.runs, a.query_budget, w, || {
                        Ok(pq::query(&file, wide, &qdev, &qch, from, to)?.0)
                    })?
                }
                "pco per series" => {
                    let f = work.join("series.pco");
                    time_query(a.runs, a.query_budget, w, || {
                        perseries::query(&f, Codec::Pco, &qdev, &qch, from, to)
                    })?
                }
                "Gorilla per series" => {
                    let f = work.join("series.gorilla");
                    time_query(a.runs, a.query_budget, w, || {
                        perseries::query(&f, Codec::Gorilla, &qdev, &qch, from, to)
                    })?
                }
                "CSV + zstd 3" => {
                    let f = work.join("corpus.csv.zst");
                    time_query(a.runs.min(5), a.query_budget, w, || {
                        csvz::query(&f, &qdev, &qch, from, to)
                    })?
                }
                _ => continue,
            };
            if k == 0 {
                s.whole = Some(t);
            } else {
                s.cut = Some(t);
            }
        }
    }
    let qload1 = load1();

    // ---- Report.
    let io = &systems[0];
    let (io_bytes, io_pack) = (io.pack.bytes as f64, io.pack.wall);
    let (io_w, io_c) = (
        io.whole.map_or(f64::NAN, |t| t.median),
        io.cut.map_or(f64::NAN, |t| t.median),
    );
    let _ = writeln!(md, "### Corpus `{name}`\n");
    let _ = writeln!(md, "- input: `{path_s}`, {} bytes ({:.1} MB); {} distinct values ({} read, duplicates included) in {} series of {} devices", fmt_bytes(input_bytes), input_bytes as f64 / 1e6, fmt_bytes(points), fmt_bytes(values_read), corpus_series, corpus_devices);
    let _ = writeln!(md, "- query series: `{qdev}` / `{qch}` ({qpoints} values); whole range, and `[{}, {})` ({cut_points} values), which cuts blocks and row groups", fmt_ts(cut.0), fmt_ts(cut.1));
    let _ = writeln!(md, "- machine: {cpu_model}, {} cores; git {commit}{}; load (1 min) at start {:.2}, before queries {qload0:.2}, after {qload1:.2}", std::thread::available_parallelism().map_or(0, |n| n.get()), if dirty { " (+ uncommitted changes)" } else { "" }, ingest.load);
    let _ = writeln!(md, "- peers' pack = shared ingest ({:.2} s wall, {:.2} s CPU: parse with iotarc's parser, group, sort, de-duplicate) + their encoder", ingest.wall, ingest.cpu);
    let _ = writeln!(md);
    let _ = writeln!(md, "| system | pack wall | pack CPU | input MB/s | size (bytes) | bytes/value | size ÷ iotarc | agg whole range | ÷ iotarc | agg cut range | ÷ iotarc | load at pack |");
    let _ = writeln!(
        md,
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for s in &systems {
        let q = |t: Option<Timing>, base: f64| match t {
            Some(t) => (
                format!(
                    "{}{}",
                    fmt_time(t.median),
                    if t.ok { "" } else { " **wrong**" }
                ),
                format!("{:.1}×", t.median / base),
            ),
            None => ("-".into(), "-".into()),
        };
        let (w, wr) = q(s.whole, io_w);
        let (cq, cr) = q(s.cut, io_c);
        let _ = writeln!(
            md,
            "| {} | {:.2} s | {:.2} s | {:.0} | {} | {:.3} | {:.2}× | {w} | {wr} | {cq} | {cr} | {:.2} |",
            s.name,
            s.pack.wall,
            s.pack.cpu,
            input_bytes as f64 / 1e6 / s.pack.wall,
            fmt_bytes(s.pack.bytes),
            s.pack.bytes as f64 / points as f64,
            s.pack.bytes as f64 / io_bytes,
            s.pack.load
        );
    }
    let _ = writeln!(md);
    let _ = writeln!(md, "Query CPU time (process, all threads; median), less sensitive to other load than wall time:\n");
    let _ = writeln!(
        md,
        "| system | agg whole range CPU | ÷ iotarc | agg cut range CPU | ÷ iotarc |"
    );
    let _ = writeln!(md, "|---|---:|---:|---:|---:|");
    let (io_wc, io_cc) = (
        io.whole.map_or(f64::NAN, |t| t.cpu),
        io.cut.map_or(f64::NAN, |t| t.cpu),
    );
    for s in &systems {
        let (Some(w), Some(c)) = (s.whole, s.cut) else {
            continue;
        };
        let _ = writeln!(
            md,
            "| {} | {} | {:.1}× | {} | {:.1}× |",
            s.name,
            fmt_time(w.cpu),
            w.cpu / io_wc,
            fmt_time(c.cpu),
            c.cpu / io_cc
        );
    }
    let _ = writeln!(md);
    let _ = writeln!(md, "Query times are medians (runs: {}); ratios are peer ÷ iotarc (above 1: iotarc smaller or faster). Pack wall ÷ iotarc: {}.", systems.iter().map(|s| format!("{} {}/{}", s.name, s.whole.map_or(0, |t| t.runs), s.cut.map_or(0, |t| t.runs))).collect::<Vec<_>>().join(", "), systems.iter().skip(1).map(|s| format!("{} {:.2}×", s.name, s.pack.wall / io_pack)).collect::<Vec<_>>().join(", "));
    let _ = writeln!(md);
    for (k, st) in iotarc_stats.iter().enumerate() {
        let _ = writeln!(
            md,
            "- iotarc {} range: {} segments opened, {} blocks from footers, {} decoded",
            ["whole", "cut"][k],
            st.segments_opened,
            st.blocks_from_footer,
            st.blocks_decoded
        );
    }
    for (n, k, rd) in &pq_reads {
        let _ = writeln!(
            md,
            "- {n} {} range: {} of {} row groups, {} rows selected by the page index",
            ["whole", "cut"][*k],
            rd.row_groups,
            rd.row_groups_total,
            rd.rows_selected
        );
    }
    for s in &systems {
        let _ = writeln!(md, "- {}: {}", s.name, s.note);
    }
    // Goals.
    let best = |pred: &dyn Fn(&Sys) -> bool, key: &dyn Fn(&Sys) -> f64| {
        systems
            .iter()
            .filter(|s| pred(s))
            .map(key)
            .fold(f64::INFINITY, f64::min)
    };
    let is_pq = |s: &Sys| s.name.starts_with("Parquet");
    let pq_size = best(&is_pq, &|s| s.pack.bytes as f64);
    let pco_size = best(&|s: &Sys| s.name.starts_with("pco"), &|s| {
        s.pack.bytes as f64
    });
    let pq_whole = best(&is_pq, &|s| s.whole.map_or(f64::INFINITY, |t| t.median));
    let pq_pack = best(&is_pq, &|s| s.pack.wall);
    let _ = writeln!(md);
    let _ = writeln!(
        md,
        "Goals (against the strongest peer of each kind in this run):"
    );
    let _ = writeln!(
        md,
        "- size ≤ pco: iotarc ÷ pco = {:.3} → {}",
        io_bytes / pco_size,
        verdict(io_bytes / pco_size <= 1.0)
    );
    let _ = writeln!(
        md,
        "- size ≤ 0.6 × Parquet (smallest variant): iotarc ÷ Parquet = {:.3} → {}",
        io_bytes / pq_size,
        verdict(io_bytes / pq_size <= 0.6)
    );
    let pq_whole_cpu = best(&is_pq, &|s| s.whole.map_or(f64::INFINITY, |t| t.cpu));
    let _ = writeln!(md, "- whole-range aggregate ≥ 20× faster than Parquet with pruning (fastest variant): {:.1}× wall, {:.1}× CPU → {}", pq_whole / io_w, pq_whole_cpu / io_wc, verdict(pq_whole / io_w >= 20.0));
    let pq_pack_cpu = best(&is_pq, &|s| s.pack.cpu);
    let _ = writeln!(
        md,
        "- pack faster than the Parquet writer (fastest variant, incl. its ingest): {:.2}× wall, {:.2}× CPU → {}",
        pq_pack / io_pack,
        pq_pack_cpu / systems[0].pack.cpu,
        verdict(pq_pack > io_pack)
    );
    let _ = writeln!(
        md,
        "\n_{} run in {:.0} s._",
        name,
        wall0.elapsed().as_secs_f64()
    );
    print!("{md}");
    if let Some(p) = &a.md {
        std::fs::write(p, &md)?;
    }
    Ok(())
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "**missed**"
    }
}

fn fmt_ts(t: i64) -> String {
    let days = t.div_euclid(86_400_000_000);
    let rem = t.rem_euclid(86_400_000_000);
    let (y, m, d) = iotarc_gen::civil_from_days(days);
    let s = rem / 1_000_000;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:06}Z",
        s / 3600,
        s / 60 % 60,
        s % 60,
        rem % 1_000_000
    )
}
