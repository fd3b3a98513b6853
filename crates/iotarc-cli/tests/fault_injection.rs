//! Every write-side I/O operation of `iotarc pack`, `ingest` and `compact`, failed and
//! crashed in turn (`IOTARC_FAULT=<k>:fail|crash`, see the library's `fsio` module).
//!
//! For each command a clean run first lists its injection points (`IOTARC_FAULT_LOG`).
//! Then for every point k and both modes, on a fresh copy of the starting archive: the
//! command runs with the fault at k; `iotarc verify` must pass (leftovers of the
//! interrupted write are warnings); the archive must hold either the state before the
//! command or the state after it (pack, compact), or every point the command
//! acknowledged before the fault (ingest); then the command runs again without a fault
//! and the archive must hold exactly what a clean run gives, verify clean, with the
//! leftovers removed.
//!
//! `IOTARC_FAULT_ONLY=<scenario>` runs one scenario; failures are collected and printed
//! together, each naming its scenario, k and mode.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

mod common;
use common::*;

const MODES: [&str; 2] = ["fail", "crash"];

/// A long CSV (timestamp µs, device, channel, value) for pack run `run`: run 0 covers
/// two days, later runs overlap it (some keys re-sent with new values) and add points.
fn pack_csv(dir: &Path, run: u64) -> PathBuf {
    let mut rng = Rng(run * 7 + 1);
    let mut out = String::from("timestamp,device,channel,value\n");
    let (from, to, step) = match run {
        0 => (0, 2 * 24 * 3600, 600),
        1 => (20 * 3600, 30 * 3600, 300),
        _ => (23 * 3600, 25 * 3600, 120),
    };
    let mut t = from;
    while t < to {
        for dev in ["a", "b"] {
            let ts = DAY0 + t * SEC;
            let v = (rng.below(100_000) as f64 - 50_000.0) / 8.0;
            out.push_str(&format!("{ts},{dev},temp,{v:?}\n"));
            out.push_str(&format!(
                "{ts},{dev},count,{}\n",
                rng.below(1000) as i64 - 500
            ));
        }
        t += step;
    }
    let p = dir.join(format!("run{run}.csv"));
    std::fs::write(&p, out).unwrap();
    p
}

fn pack_args(input: &Path, arch: &Path) -> Vec<String> {
    [
        "pack",
        s(input),
        "-o",
        s(arch),
        "--time-unit",
        "us",
        "--block-rows",
        "100",
        // Two day windows: failpoints between partitions and segments of one commit.
        "--partition",
        "day",
        "-q",
    ]
    .map(String::from)
    .to_vec()
}

/// Lines over hours `from..to`, one every `step` seconds per device, a few of them a
/// little out of order.
fn lines(seed: u64, from: i64, to: i64, step: i64) -> Vec<Line> {
    let mut rng = Rng(seed);
    let mut out = Vec::new();
    let mut t = from * 3600;
    while t < to * 3600 {
        for d in 0..3 {
            out.push(Line {
                device: format!("d{d}"),
                // Distinct microseconds per seed: a key sent twice has one value.
                ts: DAY0 + t * SEC + seed as i64 * 1000 + rng.below(1000) as i64,
                v: rng.f64(),
                n: rng.next() as i64,
            });
        }
        t += step;
    }
    for i in (5..out.len()).step_by(17) {
        out.swap(i, i - 4);
    }
    out
}

fn ingest_args(input: &Path, arch: &Path) -> Vec<String> {
    [
        "ingest",
        s(arch),
        s(input),
        "--format",
        "lp",
        "--ack",
        "--sync",
        "batch",
        "--lateness",
        "1m",
        "--max-delay",
        "off",
        "--partition",
        "day",
    ]
    .map(String::from)
    .to_vec()
}

/// The archive's content, `None` if there is no archive yet: no MANIFEST, or the empty
/// generation-0 manifest a new archive gets before anything else (archive.md §4).
fn state(arch: &Path) -> Result<Option<Vec<String>>, String> {
    if !arch.join("MANIFEST").exists() {
        return Ok(None);
    }
    match iotarc::archive::Manifest::read(arch) {
        Ok(m) if m.generation == 0 && m.segments.is_empty() => return Ok(None),
        Ok(_) => {}
        Err(e) => return Err(format!("manifest: {e}")),
    }
    query_outputs(arch).map(Some)
}

/// Runs `iotarc verify`; returns its warnings. With `clean`, leftovers of an
/// interrupted write are an error too.
fn verify(arch: &Path, clean: bool) -> Result<String, String> {
    if !arch.join("MANIFEST").exists() {
        return Ok(String::new());
    }
    let o = run(&["verify", s(arch)]);
    let err = stderr(&o);
    if !o.status.success() {
        return Err(format!("verify failed: {}{err}", stdout(&o)));
    }
    if clean && err.contains("warning") {
        return Err(format!("verify after the clean rerun warns: {err}"));
    }
    Ok(err)
}

/// Checks raw query rows against the lines sent: each key once with the value sent,
/// every acknowledged line present. Returns how many lines are present.
fn check_rows(arch: &Path, lines: &[Line], acked: &[bool]) -> Result<usize, String> {
    let o = run(&["query", s(arch), "--time-format", "epoch-us"]);
    if !o.status.success() {
        return Err(format!("query failed: {}", stderr(&o)));
    }
    let text = stdout(&o);
    let mut rows: BTreeMap<(String, String, i64), Vec<String>> = BTreeMap::new();
    for l in text.lines().skip(1) {
        let f: Vec<&str> = l.splitn(4, ',').collect();
        rows.entry((f[1].to_owned(), f[2].to_owned(), f[0].parse().unwrap()))
            .or_default()
            .push(f[3].to_owned());
    }
    let mut sent: HashMap<(&str, &str, i64), (&Line, bool)> = HashMap::new();
    for (l, &a) in lines.iter().zip(acked) {
        for ch in ["m.v", "m.n"] {
            sent.entry((&l.device, ch, l.ts)).or_insert((l, false)).1 |= a;
        }
    }
    for ((d, c, ts), vals) in &rows {
        if vals.len() != 1 {
            return Err(format!("{d}/{c} at {ts} appears {} times", vals.len()));
        }
        let Some((l, _)) = sent.get(&(d.as_str(), c.as_str(), *ts)) else {
            return Err(format!("{d}/{c} at {ts} was never sent"));
        };
        let ok = match c.as_str() {
            "m.v" => vals[0].parse::<f64>().map(f64::to_bits) == Ok(l.v.to_bits()),
            _ => vals[0].parse::<i64>() == Ok(l.n),
        };
        if !ok {
            return Err(format!(
                "{d}/{c} at {ts} is {}, sent {:?}",
                vals[0],
                l.text()
            ));
        }
    }
    let mut present = 0;
    for ((d, c, ts), (_, a)) in &sent {
        let here = rows.contains_key(&(d.to_string(), c.to_string(), *ts));
        if *a && !here {
            return Err(format!("acknowledged {d}/{c} at {ts} is missing"));
        }
        present += here as usize;
    }
    Ok(present / 2)
}

/// A scenario's command line, given the trial directory.
type Args = dyn Fn(&Path) -> Vec<String> + Sync;

/// What a scenario's command does, and so what must hold after a fault.
enum Kind {
    /// All or nothing: the archive holds the state before or after a clean run.
    Pack,
    /// Moves points between segments: the content never changes.
    Compact,
    /// Sends `chunks` on stdin, each after the previous one is acknowledged (so the
    /// WAL gets one record per chunk). `lines` holds every line ever sent: those before
    /// `first` by the setup, of which the first `acked` were acknowledged, then the
    /// chunks' lines in order.
    Ingest {
        lines: Vec<Line>,
        first: usize,
        acked: usize,
        chunks: Vec<usize>,
    },
}

/// Runs `cmd`, feeding `chunks` of `lines` on stdin one at a time, each once every line
/// before it is acknowledged (or the process has ended).
fn feed(mut cmd: Command, lines: &[Line], chunks: &[usize]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut err = child.stderr.take().unwrap();
    let errs = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let mut acks = Vec::new();
    let mut top = 0;
    let mut sent = 0;
    let mut alive = true;
    for &n in chunks {
        let text: String = lines[sent..sent + n].iter().map(Line::text).collect();
        sent += n;
        if stdin.write_all(text.as_bytes()).is_err() || stdin.flush().is_err() {
            break;
        }
        while alive && top < sent {
            let mut l = String::new();
            if out.read_line(&mut l).unwrap_or(0) == 0 {
                alive = false;
                break;
            }
            acks.extend_from_slice(l.as_bytes());
            if let Some(n) = l.trim().strip_prefix("ack ").and_then(|n| n.parse().ok()) {
                top = n;
            }
        }
        if !alive {
            break;
        }
    }
    drop(stdin);
    let _ = out.read_to_end(&mut acks);
    let status = child.wait().unwrap();
    Output {
        status,
        stdout: acks,
        stderr: errs.join().unwrap(),
    }
}

struct Scenario {
    name: &'static str,
    /// The starting directory: inputs, and the archive at `arch` if it exists yet.
    template: PathBuf,
    /// The command, given the trial directory.
    args: Box<Args>,
    kind: Kind,
    /// Archive content before and after a clean run.
    before: Option<Vec<String>>,
    after: Vec<String>,
}

impl Scenario {
    fn new(
        name: &'static str,
        root: &Path,
        setup: impl FnOnce(&Path) -> usize,
        args: impl Fn(&Path) -> Vec<String> + Sync + 'static,
        kind: Kind,
    ) -> Scenario {
        let template = root.join(name);
        std::fs::create_dir_all(&template).unwrap();
        let setup_acked = setup(&template);
        let before = state(&template.join("arch")).unwrap();
        let probe = root.join(format!("{name}-clean"));
        copy_dir(&template, &probe);
        let mut sc = Scenario {
            name,
            template,
            args: Box::new(args),
            kind,
            before,
            after: Vec::new(),
        };
        if let Kind::Ingest { acked, .. } = &mut sc.kind {
            *acked = setup_acked;
        }
        let o = sc.run(&probe, None);
        assert!(o.status.success(), "{name}: clean run: {}", stderr(&o));
        sc.after = state(&probe.join("arch")).unwrap().expect("an archive");
        sc
    }

    /// Runs the command in `dir` with `env` set (ingest: fed chunk by chunk).
    fn run(&self, dir: &Path, env: Option<(&str, &std::ffi::OsStr)>) -> Output {
        let mut cmd = bin();
        cmd.args((self.args)(dir));
        if let Some((k, v)) = env {
            cmd.env(k, v);
        }
        match &self.kind {
            Kind::Ingest {
                lines,
                first,
                chunks,
                ..
            } => feed(cmd, &lines[*first..], chunks),
            _ => cmd.stdin(Stdio::null()).output().unwrap(),
        }
    }

    /// The injection points a clean run passes through, one `<n> <op> <path>` line each.
    fn points(&self, root: &Path) -> Vec<String> {
        let dir = root.join(format!("{}-count", self.name));
        copy_dir(&self.template, &dir);
        let log = root.join(format!("{}-points.log", self.name));
        let o = self.run(&dir, Some(("IOTARC_FAULT_LOG", log.as_os_str())));
        assert!(o.status.success(), "{}: {}", self.name, stderr(&o));
        let text = std::fs::read_to_string(&log).unwrap();
        text.lines().map(str::to_owned).collect()
    }

    /// One trial: fault at point `k` in `mode`, check, rerun, check. Returns whether the
    /// fault was reached.
    fn trial(&self, root: &Path, k: usize, mode: &str) -> Result<bool, String> {
        let dir = root.join(format!("{}-{k}-{mode}", self.name));
        copy_dir(&self.template, &dir);
        let arch = dir.join("arch");
        let fault = format!("{k}:{mode}");
        let o = self.run(&dir, Some(("IOTARC_FAULT", fault.as_ref())));
        let err = stderr(&o);
        let hit = err.contains("iotarc: injected");
        check_exit(&o, mode, hit)?;
        verify(&arch, false)?;
        let got = state(&arch)?;
        match &self.kind {
            Kind::Pack => {
                if got != self.before && got.as_ref() != Some(&self.after) {
                    return Err("content is neither the state before nor after".into());
                }
                if o.status.success() && got.as_ref() != Some(&self.after) {
                    return Err("pack reported success but its points are missing".into());
                }
            }
            Kind::Compact => {
                if got.as_ref() != Some(&self.after) {
                    return Err("query outputs changed".into());
                }
            }
            Kind::Ingest {
                lines,
                first,
                acked: before,
                ..
            } => {
                let top = acked(&o)?;
                let mut acks = vec![false; lines.len()];
                acks[..*before].fill(true);
                acks[*first..first + top].fill(true);
                // Replay what the WAL holds first: every acknowledged line once.
                let r = bin()
                    .args(["ingest", s(&arch), "-", "--format", "lp"])
                    .stdin(Stdio::null())
                    .output()
                    .unwrap();
                if !r.status.success() {
                    return Err(format!("replay after the fault failed: {}", stderr(&r)));
                }
                verify(&arch, true).map_err(|e| format!("after replay: {e}"))?;
                check_rows(&arch, lines, &acks)
                    .map_err(|e| format!("after replay ({top} lines acknowledged): {e}"))?;
            }
        }
        let o = self.run(&dir, None);
        if !o.status.success() {
            return Err(format!("rerun failed: {}", stderr(&o)));
        }
        verify(&arch, true)?;
        if let Kind::Ingest {
            lines,
            first,
            acked,
            ..
        } = &self.kind
        {
            // Everything but what the setup sent without an acknowledgement.
            let mut all = vec![true; lines.len()];
            all[*acked..*first].fill(false);
            check_rows(&arch, lines, &all).map_err(|e| format!("after the rerun: {e}"))?;
        } else if state(&arch)?.as_ref() != Some(&self.after) {
            return Err("after the rerun the content differs from a clean run".into());
        }
        Ok(hit)
    }
}

/// A fail trial ends with an error (or success if the failed operation's error is
/// ignored, as for best-effort cleanup), never a panic or a signal; a crash trial
/// aborts. A trial whose point was not reached (the numbering of concurrent writers can
/// vary) ends cleanly.
fn check_exit(o: &Output, mode: &str, hit: bool) -> Result<(), String> {
    let err = stderr(o);
    if err.contains("panicked") {
        return Err(format!("panicked: {err}"));
    }
    match (mode, hit, o.status.signal()) {
        (_, false, None) if o.status.success() => Ok(()),
        ("fail", true, None) => Ok(()),
        ("crash", true, Some(6)) => Ok(()),
        _ => Err(format!("unexpected exit {:?}: {err}", o.status)),
    }
}

/// The highest line the ingest acknowledged on stdout.
fn acked(o: &Output) -> Result<usize, String> {
    let mut top = 0;
    for l in stdout(o).lines() {
        let n = l
            .strip_prefix("ack ")
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| format!("unexpected stdout line {l:?}"))?;
        top = n;
    }
    Ok(top)
}

fn scenarios(root: &Path) -> Vec<Scenario> {
    let csv0 = pack_csv(root, 0);
    let csv1 = pack_csv(root, 1);
    let csv2 = pack_csv(root, 2);
    let pack_into = |dir: &Path, csv: &Path| {
        let o = bin()
            .args(pack_args(csv, &dir.join("arch")))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
    };
    // Ingest: hours 20..23 of the first day already sealed; the command sends hours
    // 22..26, a late hour 21 and some lines of hours 20..23 again (same values), in
    // chunks of 40 lines. Crossing midnight closes the first day, which then compacts.
    let first = lines(1, 20, 23, 300);
    let mut second = lines(2, 22, 26, 300);
    second.splice(20..20, lines(3, 21, 22, 600));
    second.extend(first.iter().step_by(5).cloned());
    let chunks: Vec<usize> = (0..second.len())
        .step_by(40)
        .map(|i| (second.len() - i).min(40))
        .collect();
    // For the replay case: lines the setup leaves acknowledged in the WAL only.
    let pending = lines(4, 26, 27, 300);
    let ingest_first = {
        let first = first.clone();
        move |d: &Path| {
            let input = d.join("first.lp");
            std::fs::write(&input, first.iter().map(Line::text).collect::<String>()).unwrap();
            let o = bin()
                .args(ingest_args(&input, &d.join("arch")))
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", stderr(&o));
            first.len()
        }
    };
    let ingest_first2 = ingest_first.clone();
    let pending2 = pending.clone();
    let ingest_pending = move |d: &Path| {
        let n = ingest_first2(d);
        // The seal at end of input aborts after writing its segments: they are left
        // unlisted and the acknowledged lines stay in the WAL, whose tail is then torn.
        let mut cmd = bin();
        cmd.args(ingest_args(Path::new("-"), &d.join("arch")))
            .env("IOTARC_FAILPOINT", "seal-after-write");
        let o = feed(cmd, &pending2, &[pending2.len()]);
        assert_eq!(o.status.signal(), Some(6), "{}", stderr(&o));
        let top = acked(&o).unwrap();
        assert_eq!(top, pending2.len(), "{}", stderr(&o));
        let wal = newest_wal(&d.join("arch"));
        let mut f = std::fs::OpenOptions::new().append(true).open(wal).unwrap();
        f.write_all(&[0x40, 0, 0, 0, 7, 0, 0]).unwrap();
        n + top
    };
    let mut ingest_lines = first.clone();
    ingest_lines.extend(second.iter().cloned());
    let mut replay_lines = first.clone();
    replay_lines.extend(pending.iter().cloned());
    replay_lines.extend(second.iter().cloned());
    let (csv0a, csv1a, csv0b, csv1b, csv2b) = (
        csv0.clone(),
        csv1.clone(),
        csv0.clone(),
        csv1.clone(),
        csv2.clone(),
    );
    let ingest_cmd = |d: &Path| ingest_args(Path::new("-"), &d.join("arch"));
    vec![
        Scenario::new(
            "pack-new",
            root,
            |_| 0,
            move |d| pack_args(&csv0, &d.join("arch")),
            Kind::Pack,
        ),
        Scenario::new(
            "pack-existing",
            root,
            |d| {
                pack_into(d, &csv0a);
                0
            },
            move |d| pack_args(&csv1a, &d.join("arch")),
            Kind::Pack,
        ),
        Scenario::new(
            "compact",
            root,
            |d| {
                for c in [&csv0b, &csv1b, &csv2b] {
                    pack_into(d, c);
                }
                0
            },
            |d| {
                ["compact", s(&d.join("arch")), "-q"]
                    .map(String::from)
                    .to_vec()
            },
            Kind::Compact,
        ),
        Scenario::new(
            "ingest",
            root,
            ingest_first,
            ingest_cmd,
            Kind::Ingest {
                lines: ingest_lines,
                first: first.len(),
                acked: 0,
                chunks: chunks.clone(),
            },
        ),
        Scenario::new(
            "ingest-replay",
            root,
            ingest_pending,
            ingest_cmd,
            Kind::Ingest {
                lines: replay_lines,
                first: first.len() + pending.len(),
                acked: 0,
                chunks,
            },
        ),
    ]
}

#[test]
fn every_write_fault_in_pack_ingest_and_compact() {
    let start = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let only = std::env::var("IOTARC_FAULT_ONLY").ok();
    let scenarios: Vec<Scenario> = scenarios(root)
        .into_iter()
        .filter(|sc| only.as_deref().is_none_or(|o| o == sc.name))
        .collect();
    let mut jobs: Vec<(&Scenario, usize, &str)> = Vec::new();
    for sc in &scenarios {
        let points = sc.points(root);
        eprintln!("{}: {} injection points:", sc.name, points.len());
        for p in &points {
            eprintln!("  {p}");
        }
        for k in 1..=points.len() {
            for mode in MODES {
                jobs.push((sc, k, mode));
            }
        }
    }
    let next = AtomicUsize::new(0);
    let failures: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let hits = AtomicUsize::new(0);
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get().min(4));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&(sc, k, mode)) = jobs.get(i) else {
                    break;
                };
                match sc.trial(root, k, mode) {
                    Ok(hit) => {
                        hits.fetch_add(hit as usize, Ordering::Relaxed);
                    }
                    Err(e) => {
                        let msg = format!("{} k={k} {mode}: {e}", sc.name);
                        eprintln!("FAILED {msg}");
                        failures.lock().unwrap().push(msg);
                    }
                }
                let _ = std::fs::remove_dir_all(root.join(format!("{}-{k}-{mode}", sc.name)));
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    eprintln!(
        "{} trials ({} reached their fault) in {:?}; {} failed",
        jobs.len(),
        hits.load(Ordering::Relaxed),
        start.elapsed(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "failed trials:\n{}",
        failures.join("\n")
    );
}

/// archive.md L1: a directory without MANIFEST is packed into only if it holds nothing
/// but `LOCK` and manifest temp files (a crash before the generation-0 manifest was in
/// place). A crash later leaves that manifest and PENDING, and the next pack deletes
/// the leftovers (L3). A directory with segments but no MANIFEST is a lost manifest:
/// refused, untouched, with the repair command named.
#[test]
fn pack_resumes_an_interrupted_first_pack_only() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = pack_csv(tmp.path(), 0);
    let early = tmp.path().join("early");
    std::fs::create_dir_all(&early).unwrap();
    std::fs::write(early.join("LOCK"), b"").unwrap();
    std::fs::write(early.join(".MANIFEST.17.tmp"), b"partial").unwrap();
    let o = bin().args(pack_args(&csv, &early)).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    verify(&early, true).unwrap();

    // A crash at the commit's rename: generation 0, PENDING 1, segments and INDEX.
    let late = tmp.path().join("late");
    let log = tmp.path().join("points.log");
    let o = bin()
        .args(pack_args(&csv, &tmp.path().join("count")))
        .env("IOTARC_FAULT_LOG", &log)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let points = std::fs::read_to_string(&log).unwrap();
    let k = points
        .lines()
        .rfind(|l| l.contains(" rename ") && l.ends_with("MANIFEST\""))
        .and_then(|l| l.split(' ').next())
        .expect("the commit's rename")
        .to_string();
    let o = bin()
        .args(pack_args(&csv, &late))
        .env("IOTARC_FAULT", format!("{k}:crash"))
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(late.join("PENDING").exists() && late.join("seg").exists());
    let o = bin().args(pack_args(&csv, &late)).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    verify(&late, true).unwrap();
    assert_eq!(state(&late).unwrap(), state(&early).unwrap());

    // The manifest of a committed archive lost: refused, nothing deleted.
    let lost = tmp.path().join("lost");
    copy_dir(&early, &lost);
    std::fs::remove_file(lost.join("MANIFEST")).unwrap();
    let before = files_under(&lost);
    let o = bin().args(pack_args(&csv, &lost)).output().unwrap();
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("iotarc repair --manifest"),
        "{}",
        stderr(&o)
    );
    assert_eq!(files_under(&lost), before, "a refused pack touches nothing");
    for foreign in ["notes.txt", "seg/2023-11-14/notes.txt", "seg/readme"] {
        let dir = tmp.path().join(foreign.replace('/', "_"));
        std::fs::create_dir_all(dir.join("seg/2023-11-14")).unwrap();
        std::fs::write(dir.join("LOCK"), b"").unwrap();
        std::fs::write(dir.join(foreign), b"mine").unwrap();
        let o = bin().args(pack_args(&csv, &dir)).output().unwrap();
        assert!(
            !o.status.success(),
            "{foreign}: packed into a foreign directory"
        );
        assert!(
            stderr(&o).contains("no MANIFEST"),
            "{foreign}: {}",
            stderr(&o)
        );
        assert_eq!(std::fs::read(dir.join(foreign)).unwrap(), b"mine");
    }
}
