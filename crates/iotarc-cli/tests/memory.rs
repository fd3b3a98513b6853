//! `--memory-limit` bounds the whole process, measured as the peak RSS of the real
//! binary: a scaled-down version of the 1,000-device scale benchmark
//! (`tools/bench/scale.sh`). The limit is 64 MiB here instead of 256 MiB and the input 3 M
//! values instead of 1 G, so that the test runs in seconds; the same run without the
//! limit must take several times the memory, or the measurement would prove nothing.

mod common;

use common::*;
use std::path::Path;
use std::process::Stdio;

const LIMIT_MIB: u64 = 64;
/// Allowance over the limit for what the budget does not see exactly (allocator slack,
/// code and stacks). The limit is the target; this margin keeps the test from being
/// flaky, not a licence to exceed it.
const MARGIN: f64 = 1.2;

/// Runs `iotarc ARGS...` and returns its peak RSS in KiB (`ru_maxrss` of this child alone,
/// from `wait4`), failing the test if it did not succeed.
///
/// Linux carries the peak of the memory a process replaces at `exec` into its
/// `ru_maxrss`, and `Command` spawns with the parent's memory shared until then: the test
/// process must itself stay small while it measures (checked here), so every
/// measurement comes before anything that reads a large output.
// The child is reaped by `wait4` (which `Child::wait` cannot do with the usage).
#[allow(clippy::zombie_processes)]
fn peak_rss_kib(args: &[&str]) -> u64 {
    let mut child = bin()
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn iotarc");
    // This process's own peak (its `ru_maxrss` would include the peak of whatever ran
    // it, carried over at its exec).
    let own: u64 = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|st| {
            let line = st.lines().find(|l| l.starts_with("VmHWM:"))?;
            line.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0);
    assert!(
        own < 32 << 10,
        "the test process peaked at {own} KiB: too large to measure a child"
    );
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: plain system call on our own child, with valid out-pointers; `rusage` is
    // plain old data, so all-zero is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // The pipe holds the few lines of a failed run's message; a successful quiet run
    // writes nothing, so the child cannot block on it.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid, "wait4: {}", std::io::Error::last_os_error());
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut err);
    }
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "iotarc {args:?} failed ({status}): {err}"
    );
    usage.ru_maxrss as u64
}

fn generate(path: &Path, points: u64) {
    let cfg = iotarc_gen::Config {
        devices: 1000,
        seed: 7,
        extent: iotarc_gen::Extent::Points(points),
        ..iotarc_gen::Config::default()
    };
    let f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    iotarc_gen::generate(&cfg, iotarc_gen::Format::CsvWide, f).unwrap();
}

#[test]
fn pack_and_ingest_stay_within_the_memory_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("wide.csv");
    generate(&input, 3_000_000);
    let input = s(&input);
    let limit = format!("{LIMIT_MIB}MB");
    let bound_kib = (LIMIT_MIB as f64 * 1024.0 * MARGIN) as u64;

    let bounded = tmp.path().join("bounded");
    let pack_kib = peak_rss_kib(&[
        "pack",
        input,
        "-o",
        s(&bounded),
        "-q",
        "--memory-limit",
        &limit,
    ]);
    eprintln!(
        "pack --memory-limit {limit}: peak RSS {} MiB",
        pack_kib / 1024
    );
    assert!(
        pack_kib <= bound_kib,
        "pack --memory-limit {limit} peaked at {pack_kib} KiB (bound {bound_kib} KiB)"
    );

    // The same input with room for all of it in the buffers: the bounded run must have
    // saved memory for the bound above to mean anything.
    let unbounded = tmp.path().join("unbounded");
    let free_kib = peak_rss_kib(&[
        "pack",
        input,
        "-o",
        s(&unbounded),
        "-q",
        "--memory-limit",
        "4GB",
    ]);
    eprintln!("pack --memory-limit 4GB: peak RSS {} MiB", free_kib / 1024);
    assert!(
        free_kib > 2 * pack_kib,
        "without the limit pack peaked at {free_kib} KiB, not well above {pack_kib} KiB: the test input is too small to show the bound"
    );
    let ingested = tmp.path().join("ingested");
    let ingest_kib = peak_rss_kib(&[
        "ingest",
        s(&ingested),
        input,
        "-q",
        "--sync",
        "none",
        "--memory-limit",
        &limit,
    ]);
    eprintln!(
        "ingest --memory-limit {limit}: peak RSS {} MiB",
        ingest_kib / 1024
    );
    assert!(
        ingest_kib <= bound_kib,
        "ingest --memory-limit {limit} peaked at {ingest_kib} KiB (bound {bound_kib} KiB)"
    );

    // Many small flushes and seals lose nothing.
    let count = |a: &Path| {
        let o = run(&["query", s(a), "--agg", "count,sum,min,max"]);
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o)
    };
    assert_eq!(count(&ingested), count(&unbounded));
    assert_eq!(
        query_outputs(&bounded).unwrap(),
        query_outputs(&unbounded).unwrap()
    );
}

/// Refused before anything is written: a limit too small to work in, and a malformed one.
#[test]
fn memory_limit_is_checked() {
    let tmp = tempfile::tempdir().unwrap();
    let arch = tmp.path().join("a");
    for bad in ["16MB", "lots", "-1G", "1T"] {
        let flag = format!("--memory-limit={bad}");
        let (code, _, err) = iotarc(&["pack", "-", "-o", s(&arch), &flag]);
        assert_eq!(code, 2, "--memory-limit {bad}: {err}");
        assert!(err.contains("--memory-limit"), "{err}");
        assert!(!arch.exists());
    }
    // Every spelling of a size means the same.
    for ok in ["64M", "64MB", "64MiB", "64m", "65536K", "64 MB"] {
        let o = bin()
            .args(["pack", "-", "-o", s(&arch), "-q", "--memory-limit", ok])
            .stdin(Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write;
                c.stdin
                    .take()
                    .unwrap()
                    .write_all(b"timestamp,device,channel,value\n2026-01-01T00:00:00Z,d,c,1\n")?;
                c.wait_with_output()
            })
            .unwrap();
        assert!(o.status.success(), "--memory-limit {ok}: {}", stderr(&o));
    }
}
