//! Crash safety of the real binary: `iotarc ingest` killed with SIGKILL at random
//! moments (and aborted by failpoints inside seals and compactions), `iotarc compact`
//! aborted at each step, and torn WAL tails. After each, every acknowledged point must
//! be in the archive exactly once with its value, and nothing that was never sent.
//!
//! `IOTARC_CRASH_TRIALS` sets the number of kill trials (default 25);
//! `IOTARC_CRASH_SEED` the base seed (each trial prints its own seed).

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

mod common;
use common::*;

/// What a raw query returned: (device, channel, ts) -> value texts, one per row.
type Rows = BTreeMap<(String, String, i64), Vec<String>>;

fn query_rows(arch: &Path) -> Rows {
    let o = run(&["query", s(arch), "--time-format", "epoch-us"]);
    assert!(o.status.success(), "query: {}", stderr(&o));
    let text = stdout(&o);
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("timestamp,device,channel,value"));
    let mut rows = Rows::new();
    for l in lines {
        let f: Vec<&str> = l.splitn(4, ',').collect();
        assert_eq!(f.len(), 4, "raw row {l:?}");
        rows.entry((f[1].to_owned(), f[2].to_owned(), f[0].parse().unwrap()))
            .or_default()
            .push(f[3].to_owned());
    }
    rows
}

/// Checks the raw rows against the lines: no key twice, every key was sent with exactly
/// that value (bit for bit), every acknowledged line is present. Returns the number of
/// lines present.
fn check_rows(rows: &Rows, lines: &[Line], acked: &[bool], what: &str) -> usize {
    let mut sent: HashMap<(&str, &str, i64), (&Line, bool)> = HashMap::new();
    for (l, &a) in lines.iter().zip(acked) {
        for ch in ["m.v", "m.n"] {
            let e = sent.entry((&l.device, ch, l.ts)).or_insert((l, a));
            e.1 |= a;
        }
    }
    for ((d, c, ts), vals) in rows {
        assert_eq!(
            vals.len(),
            1,
            "{what}: {d}/{c} at {ts} appears {} times: {vals:?}",
            vals.len()
        );
        let Some((l, _)) = sent.get(&(d.as_str(), c.as_str(), *ts)) else {
            panic!("{what}: {d}/{c} at {ts} = {} was never sent", vals[0]);
        };
        let ok = match c.as_str() {
            "m.v" => vals[0].parse::<f64>().map(f64::to_bits) == Ok(l.v.to_bits()),
            _ => vals[0].parse::<i64>() == Ok(l.n),
        };
        assert!(
            ok,
            "{what}: {d}/{c} at {ts} is {}, sent v={:?} n={}",
            vals[0], l.v, l.n
        );
    }
    let mut present = 0;
    for ((d, c, ts), (l, a)) in &sent {
        let here = rows.contains_key(&(d.to_string(), c.to_string(), *ts));
        if *a {
            assert!(
                here,
                "{what}: acknowledged {d}/{c} at {ts} (v={:?} n={}) is missing",
                l.v, l.n
            );
        }
        present += here as usize;
    }
    present / 2
}

fn verify_ok(arch: &Path, what: &str) -> String {
    let o = run(&["verify", s(arch)]);
    assert!(
        o.status.success(),
        "{what}: verify failed: {}{}",
        stdout(&o),
        stderr(&o)
    );
    stderr(&o)
}

/// True for a child that exited 0 or died of SIGKILL / SIGABRT (what we expect); the
/// reason otherwise.
fn expected_death(st: ExitStatus) -> Result<(), String> {
    match (st.code(), st.signal()) {
        (Some(0), _) => Ok(()),
        (None, Some(9 | 6)) => Ok(()),
        _ => Err(format!("{st:?}")),
    }
}

/// A running `iotarc ingest` fed from a thread, with its acks collected by another.
struct Feeder {
    child: Child,
    stop: Arc<AtomicBool>,
    /// Highest acknowledged line so far.
    top: Arc<AtomicU64>,
    writer: JoinHandle<()>,
    acks: JoinHandle<u64>,
    errs: JoinHandle<String>,
}

impl Feeder {
    /// Starts the child and the threads. The writer sends `text` in random chunks with
    /// short pauses; then it closes stdin if `close`, else holds it open until `stop`.
    fn start(mut cmd: Command, text: Vec<String>, mut rng: Rng, close: bool) -> Feeder {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn iotarc ingest");
        let mut stdin = child.stdin.take().unwrap();
        let out = child.stdout.take().unwrap();
        let mut err = child.stderr.take().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = Arc::clone(&stop);
        let writer = std::thread::spawn(move || {
            let mut i = 0;
            while i < text.len() && !stop2.load(Ordering::SeqCst) {
                let n = 1 + rng.below(400) as usize;
                let chunk: String = text[i..(i + n).min(text.len())].concat();
                i += n;
                if stdin.write_all(chunk.as_bytes()).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_micros(rng.below(8000)));
            }
            if !close {
                while !stop2.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
            drop(stdin);
        });
        let top_shared = Arc::new(AtomicU64::new(0));
        let top2 = Arc::clone(&top_shared);
        let acks = std::thread::spawn(move || {
            let mut top = 0;
            for l in BufReader::new(out).lines() {
                let Ok(l) = l else { break };
                let n: u64 = l
                    .strip_prefix("ack ")
                    .and_then(|n| n.parse().ok())
                    .unwrap_or_else(|| panic!("unexpected stdout line {l:?}"));
                assert!(n >= top, "ack went back from {top} to {n}");
                top = n;
                top2.store(n, Ordering::SeqCst);
            }
            top
        });
        let errs = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            s
        });
        Feeder {
            child,
            stop,
            top: top_shared,
            writer,
            acks,
            errs,
        }
    }

    /// Kills the child (if still running), waits, stops the threads; returns the exit
    /// status, the highest acknowledged line and stderr.
    fn kill(mut self) -> (ExitStatus, u64, String) {
        let _ = self.child.kill();
        let st = self.child.wait().unwrap();
        self.stop.store(true, Ordering::SeqCst);
        self.writer.join().unwrap();
        let acked = self.acks.join().unwrap();
        (st, acked, self.errs.join().unwrap())
    }
}

/// Waits until the child exits by itself or `within` passes.
fn wait_exit(child: &mut Child, within: Duration) -> bool {
    let end = Instant::now() + within;
    while Instant::now() < end {
        if child.try_wait().unwrap().is_some() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    false
}

const FAILPOINTS: [&str; 4] = [
    "seal-after-write",
    "seal-after-commit",
    "compact-after-write",
    "compact-after-commit",
];

#[test]
fn kill_ingest_at_random_moments() {
    let trials: u64 = std::env::var("IOTARC_CRASH_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(25);
    let base_seed: u64 = std::env::var("IOTARC_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x10_7A_2C);
    let tmp = tempfile::tempdir().unwrap();
    let arch = tmp.path().join("arch");
    let start = Instant::now();
    let mut lines: Vec<Line> = Vec::new();
    let mut acked: Vec<bool> = Vec::new();
    let (mut kills, mut aborts, mut clean) = (0, 0, 0);
    for trial in 0..trials {
        let seed = base_seed ^ trial.wrapping_mul(0x2545_F491_4F6C_DD1D);
        let mut rng = Rng(seed);
        // A few hundred to tens of thousands of lines, log-uniformly, spread over the
        // trial's hour (so the previous hour closes during the trial and compacts).
        let n = (300u64 << rng.below(7)).min(30_000) + rng.below(300);
        let earlier = lines.len();
        let base = DAY0 + trial as i64 * HOUR;
        let slot = HOUR / n as i64;
        // Every third trial re-sends ~15% lines of earlier trials (retries, same values;
        // ~5% overall). They land in late segments spanning many hours, so the other
        // trials are kept clean for the hourly compaction tier.
        let retry_percent = if trial % 3 == 2 { 15 } else { 0 };
        let mut order: Vec<usize> = Vec::with_capacity(n as usize);
        for i in 0..n as i64 {
            if earlier > 0 && rng.chance(retry_percent) {
                order.push(rng.below(earlier as u64) as usize);
            } else {
                lines.push(Line {
                    device: format!("d{}", rng.below(16)),
                    ts: base + i * slot + rng.below(slot as u64) as i64,
                    v: rng.f64(),
                    n: rng.next() as i64,
                });
                acked.push(false);
                order.push(lines.len() - 1);
            }
        }
        let text: Vec<String> = order.iter().map(|&i| lines[i].text()).collect();
        let sync = if trial % 3 == 1 {
            "interval=20ms"
        } else {
            "batch"
        };
        // Failpoint trials follow a trial without retries, whose hour then holds several
        // segments that compact once this trial's data passes the lateness window.
        let failpoint = (trial % 6 == 4).then(|| FAILPOINTS[(trial / 6) as usize % 4]);
        let close = failpoint.is_some() || rng.chance(20);
        let delay = match failpoint {
            Some(_) => Duration::from_secs(5),
            None => Duration::from_millis(1 + rng.below(300)),
        };
        let mut cmd = bin();
        cmd.args([
            "ingest",
            s(&arch),
            "-",
            "--format",
            "lp",
            "--ack",
            "--sync",
            sync,
            "--max-delay",
            "50ms",
        ]);
        if let Some(fp) = failpoint {
            cmd.env("IOTARC_FAILPOINT", fp);
        }
        let desc = format!(
            "trial {trial} (seed {seed}, {n} lines, --sync {sync}, failpoint {failpoint:?}, kill after {delay:?}, close stdin {close})"
        );
        let mut f = Feeder::start(cmd, text, rng.clone(), close);
        wait_exit(&mut f.child, delay);
        let (st, top, err) = f.kill();
        if let Err(why) = expected_death(st) {
            panic!("{desc}: iotarc ingest ended with {why}:\n{err}");
        }
        assert!(!err.contains("panicked"), "{desc}: {err}");
        match st.signal() {
            Some(9) => kills += 1,
            Some(_) => aborts += 1,
            None => clean += 1,
        }
        assert!(top <= n, "{desc}: ack {top} beyond the {n} lines sent");
        for &i in &order[..top as usize] {
            acked[i] = true;
        }
        eprintln!("{desc}: {st}, acknowledged {top} lines");
    }
    // Replay and seal what the last trial left in the WAL.
    let o = bin()
        .args(["ingest", s(&arch), "-", "--format", "lp"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "final replay: {}", stderr(&o));
    eprintln!("final replay: {}", stderr(&o).trim());
    let rows = query_rows(&arch);
    let present = check_rows(&rows, &lines, &acked, "after the kill trials");
    verify_ok(&arch, "after the kill trials");
    let n_acked = acked.iter().filter(|&&a| a).count();
    eprintln!(
        "{trials} trials ({kills} killed, {aborts} aborted by failpoints, {clean} ended by EOF) in {:?}: {} distinct lines sent, {n_acked} acknowledged, {present} present, all acknowledged present once with their values",
        start.elapsed(),
        lines.len()
    );
    assert!(n_acked > 0, "no trial acknowledged anything");
}

/// A long CSV (timestamp µs, device, channel, value) for one pack run.
fn pack_run(
    dir: &Path,
    name: &str,
    run: u64,
    model: &mut BTreeMap<(String, String, i64), String>,
) -> PathBuf {
    let mut rng = Rng(run * 7 + 1);
    let mut s = String::from("timestamp,device,channel,value\n");
    // Run 0 covers two days every 20 s; later runs re-send a part (new values for some
    // keys, identical for others) and add new timestamps.
    let (from, to, step) = match run {
        0 => (0, 2 * 24 * 3600, 20),
        1 => (20 * 3600, 30 * 3600, 10),
        _ => (23 * 3600, 25 * 3600, 5),
    };
    let mut t = from;
    while t < to {
        for dev in ["a", "b"] {
            let ts = DAY0 + t as i64 * SEC;
            let key = (dev.to_string(), "temp".to_string(), ts);
            let v = match model.get(&key) {
                Some(old) if rng.chance(50) => old.clone(),
                _ => format!("{:?}", (rng.below(100_000) as f64 - 50_000.0) / 8.0),
            };
            s.push_str(&format!("{ts},{dev},temp,{v}\n"));
            model.insert(key, v);
            let n = (rng.below(1000) as i64 - 500).to_string();
            s.push_str(&format!("{ts},{dev},count,{n}\n"));
            model.insert((dev.to_string(), "count".to_string(), ts), n);
        }
        t += step;
    }
    let p = dir.join(name);
    std::fs::write(&p, s).unwrap();
    p
}

fn segment_partitions(arch: &Path) -> Vec<i64> {
    let m = iotarc::archive::Archive::open(arch).unwrap();
    m.manifest().segments.iter().map(|s| s.partition).collect()
}

#[test]
fn compaction_failpoints_lose_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let arch = tmp.path().join("arch");
    let mut model = BTreeMap::new();
    for run_no in 0..3 {
        let p = pack_run(tmp.path(), &format!("run{run_no}.csv"), run_no, &mut model);
        let o = run(&[
            "pack",
            s(&p),
            "-o",
            s(&arch),
            "--time-unit",
            "us",
            "--block-rows",
            "500",
            "--partition",
            "day",
            "-q",
        ]);
        assert!(o.status.success(), "pack: {}", stderr(&o));
    }
    let before = query_outputs(&arch).unwrap();
    // The raw output is the model (last run wins), once per key.
    let rows: Vec<String> = before[0].lines().skip(1).map(str::to_owned).collect();
    assert_eq!(rows.len(), model.len());
    for r in &rows {
        let f: Vec<&str> = r.split(',').collect();
        let key = (
            f[1].to_string(),
            f[2].to_string(),
            f[0].parse::<i64>().unwrap(),
        );
        let want = &model[&key];
        assert_eq!(
            f[3].parse::<f64>().unwrap().to_bits(),
            want.parse::<f64>().unwrap().to_bits(),
            "{r}"
        );
    }
    let segs = segment_partitions(&arch).len();
    assert!(segs >= 5, "expected overlapping segments, got {segs}");
    // archive.md L3: the merged file of a commit that did not happen; L4: the inputs a
    // committed compaction dropped.
    for (fp, rule) in [
        ("compact-after-write", "L3"),
        ("compact-after-commit", "L4"),
    ] {
        let o = bin()
            .args(["compact", s(&arch)])
            .env("IOTARC_FAILPOINT", fp)
            .output()
            .unwrap();
        assert!(
            !o.status.success() && o.status.signal() == Some(6),
            "{fp}: compaction should abort, got {:?}: {}",
            o.status,
            stderr(&o)
        );
        assert_eq!(
            query_outputs(&arch).unwrap(),
            before,
            "{fp}: query outputs changed"
        );
        let warnings = verify_ok(&arch, fp);
        assert!(
            warnings.contains(rule) && warnings.contains("the next writer deletes it"),
            "{fp}: expected an {rule} warning about the file the crash left: {warnings}"
        );
    }
    let o = run(&["compact", s(&arch)]);
    assert!(o.status.success(), "compact: {}", stderr(&o));
    assert_eq!(
        query_outputs(&arch).unwrap(),
        before,
        "after a full compaction"
    );
    let warnings = verify_ok(&arch, "after compaction");
    assert!(!warnings.contains("warning"), "{warnings}");
    let mut parts = segment_partitions(&arch);
    let n = parts.len();
    parts.dedup();
    assert_eq!(n, parts.len(), "one segment per partition: {parts:?}");
    assert_eq!(n, 2, "two days of data");
}

#[test]
fn torn_wal_tail_is_cut_and_nothing_acknowledged_lost() {
    let tmp = tempfile::tempdir().unwrap();
    let arch = tmp.path().join("arch");
    let mut rng = Rng(77);
    let mut lines: Vec<Line> = Vec::new();
    let mut acked: Vec<bool> = Vec::new();
    // Bytes appended after a kill. What a crash leaves (wal.md §7.1 T1: a partial
    // record header, zero fill, a header claiming more bytes than follow) is a torn tail
    // the next writer cuts. What a crash cannot leave (random bytes, a complete record
    // whose checksum fails) is damage: the writer refuses until `iotarc repair --wal`.
    let damage: Vec<(&str, bool, Vec<u8>)> = vec![
        ("partial header", true, vec![0x40, 0, 0, 0, 7, 0, 0]),
        (
            "random bytes",
            false,
            (0..1000).map(|_| rng.next() as u8).collect(),
        ),
        ("zeros", true, vec![0; 4096]),
        ("bad checksum", false, {
            let mut v = Vec::new();
            v.extend_from_slice(&100u32.to_le_bytes());
            v.extend_from_slice(&u64::MAX.to_le_bytes());
            v.extend_from_slice(&0x1234_5678u64.to_le_bytes());
            v.extend((0..100).map(|i| i as u8));
            v
        }),
        ("huge length", true, {
            let mut v = (60u32 << 20).to_le_bytes().to_vec();
            v.extend_from_slice(&[1; 30]);
            v
        }),
    ];
    for (round, (name, torn, bytes)) in damage.iter().enumerate() {
        // All data in one hour window and no max delay: nothing is sealed, so every
        // point lives in the WAL when the damage is done.
        let first = lines.len();
        for i in 0..2000 {
            lines.push(Line {
                device: format!("d{}", i % 5),
                ts: DAY0 + (round * 2000 + i) as i64 * 1000,
                v: rng.f64(),
                n: rng.next() as i64,
            });
            acked.push(false);
        }
        let text: Vec<String> = lines[first..].iter().map(Line::text).collect();
        let mut cmd = bin();
        cmd.args([
            "ingest",
            s(&arch),
            "-",
            "--format",
            "lp",
            "--ack",
            "--max-delay",
            "off",
        ]);
        let mut f = Feeder::start(cmd, text, Rng(round as u64), false);
        let end = Instant::now() + Duration::from_secs(30);
        while Instant::now() < end && f.top.load(Ordering::SeqCst) < 2000 {
            std::thread::sleep(Duration::from_millis(2));
            if f.child.try_wait().unwrap().is_some() {
                break;
            }
        }
        let (st, top, err) = f.kill();
        expected_death(st).unwrap_or_else(|e| panic!("round {round}: {e}: {err}"));
        if round > 0 && damage[round - 1].1 {
            assert!(
                err.contains("torn WAL tail"),
                "round {round}: damage {:?} not reported: {err}",
                damage[round - 1].0
            );
        }
        assert_eq!(
            top, 2000,
            "round {round}: acknowledged {top} of 2000 lines: {err}"
        );
        for a in &mut acked[first..first + top as usize] {
            *a = true;
        }
        let newest = newest_wal(&arch);
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&newest)
            .unwrap();
        file.write_all(bytes).unwrap();
        eprintln!(
            "round {round}: appended {name} ({} bytes) to {}",
            bytes.len(),
            newest.display()
        );
        if !torn {
            let damaged = std::fs::read(&newest).unwrap();
            let o = bin()
                .args(["ingest", s(&arch), "-", "--format", "lp"])
                .stdin(Stdio::null())
                .output()
                .unwrap();
            assert!(!o.status.success(), "round {round}: {name} was accepted");
            assert!(
                stderr(&o).contains("iotarc repair --wal"),
                "round {round}: {}",
                stderr(&o)
            );
            assert_eq!(std::fs::read(&newest).unwrap(), damaged, "nothing cut");
            let o = run(&["repair", s(&arch), "--wal"]);
            assert!(o.status.success(), "repair: {}", stderr(&o));
            assert!(stdout(&o).contains("original kept at"), "{}", stdout(&o));
        }
    }
    let o = bin()
        .args(["ingest", s(&arch), "-", "--format", "lp"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "final: {}", stderr(&o));
    assert!(stderr(&o).contains("torn WAL tail"), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_dir(arch.join("damaged")).unwrap().count(),
        2,
        "one copy per repaired file"
    );
    let rows = query_rows(&arch);
    let present = check_rows(&rows, &lines, &acked, "after torn tails");
    assert_eq!(present, lines.len());
    verify_ok(&arch, "after torn tails");
}

/// One writer per archive through the CLI too: while an ingest runs, a second ingest,
/// a pack and a compaction fail with a clear error.
#[test]
fn second_ingest_is_locked_out() {
    let tmp = tempfile::tempdir().unwrap();
    let arch = tmp.path().join("arch");
    let line = Line {
        device: "d0".into(),
        ts: DAY0,
        v: 1.5,
        n: 1,
    };
    let mut cmd = bin();
    cmd.args([
        "ingest",
        s(&arch),
        "-",
        "--format",
        "lp",
        "--ack",
        "--max-delay",
        "20ms",
    ]);
    let f = Feeder::start(cmd, vec![line.text()], Rng(1), false);
    // Wait for the ack and the first seal (which writes MANIFEST).
    let end = Instant::now() + Duration::from_secs(20);
    while (f.top.load(Ordering::SeqCst) < 1 || !arch.join("MANIFEST").exists())
        && Instant::now() < end
    {
        std::thread::sleep(Duration::from_millis(2));
    }
    let input = tmp.path().join("x.lp");
    std::fs::write(&input, line.text()).unwrap();
    for args in [
        vec!["ingest", s(&arch), s(&input), "--format", "lp"],
        vec!["pack", s(&input), "-o", s(&arch), "--format", "lp"],
        vec!["compact", s(&arch)],
    ] {
        let o = run(&args);
        assert!(
            !o.status.success(),
            "{args:?} ran while ingest held the lock"
        );
        assert!(stderr(&o).contains("locked"), "{args:?}: {}", stderr(&o));
    }
    let (st, top, err) = f.kill();
    expected_death(st).unwrap_or_else(|e| panic!("{e}: {err}"));
    assert_eq!(top, 1);
}
