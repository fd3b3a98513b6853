//! Integration tests that drive the real `iotarc` binary.

use std::path::{Path, PathBuf};

mod common;
use common::*;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// Values that must survive bit-exactly, as (text in the input, expected value text out).
const TRICKY: &[&str] = &[
    "0.1",
    "-0.0",
    "0.0",
    "1e-300",
    "5e-324",
    "1.7976931348623157e308",
    "-2.5",
    "NaN",
    "inf",
    "-inf",
    "123456.789012",
];

fn long_csv(rows: &mut Vec<(i64, String, String, String)>) -> String {
    let mut s = String::from("timestamp,device,channel,value\n");
    for i in 0..3000i64 {
        let ts = 1_700_000_000_000_000 + i * 1_000_000 + (i % 7) * 13;
        for dev in ["dev-a", "dev-b"] {
            let temp = format!("{}", ((i as f64 * 0.01).sin() * 300.0).round() / 10.0);
            let tricky = TRICKY[(i as usize) % TRICKY.len()].to_string();
            let count = (i * 1_000_003 + if dev == "dev-a" { 0 } else { i64::MAX / 2 }).to_string();
            let state = ["ok", "warn", "fault, \"quoted\""][(i / 700) as usize % 3].to_string();
            for (ch, v) in [
                ("temp", temp),
                ("tricky", tricky),
                ("count", count),
                ("state", state),
            ] {
                let cell = if v.contains([',', '"']) {
                    format!("\"{}\"", v.replace('"', "\"\""))
                } else {
                    v.clone()
                };
                s.push_str(&format!("{},{dev},{ch},{cell}\n", rfc3339_us(ts)));
                rows.push((ts, dev.to_string(), ch.to_string(), v));
            }
        }
    }
    s
}

fn parse_csv_line(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut q = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, q) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', _) => q = !q,
            (',', false) => out.push(std::mem::take(&mut cur)),
            (c, _) => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// Packs the `long_csv` corpus into `dir/arch`; returns its rows and the archive path.
fn packed_corpus(dir: &Path) -> (Vec<(i64, String, String, String)>, PathBuf) {
    let mut rows = Vec::new();
    let input = write(dir, "in.csv", &long_csv(&mut rows));
    let arch = dir.join("arch");
    let o = run(&[
        "pack",
        input.to_str().unwrap(),
        "-o",
        arch.to_str().unwrap(),
        "-q",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    (rows, arch)
}

#[test]
fn pack_then_raw_query_returns_every_value_bit_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let mut rows = Vec::new();
    let input = write(dir.path(), "in.csv", &long_csv(&mut rows));
    let arch = dir.path().join("arch");
    let o = run(&[
        "pack",
        input.to_str().unwrap(),
        "-o",
        arch.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("rejected 0"), "{}", stderr(&o));

    let o = run(&["query", arch.to_str().unwrap(), "--time-format", "epoch-us"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("timestamp,device,channel,value"));
    let mut got: Vec<(i64, String, String, String)> = lines
        .map(|l| {
            let f = parse_csv_line(l);
            (
                f[0].parse().unwrap(),
                f[1].clone(),
                f[2].clone(),
                f[3].clone(),
            )
        })
        .collect();
    let mut want = rows.clone();
    let key = |r: &(i64, String, String, String)| (r.1.clone(), r.2.clone(), r.0);
    got.sort_by_key(key);
    want.sort_by_key(key);
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert_eq!((g.0, &g.1, &g.2), (w.0, &w.1, &w.2));
        // Numbers compare as the f64 / i64 they denote, bit for bit.
        // (An integer in a channel that also holds decimals comes back as the same f64.)
        match (g.3.parse::<i64>(), w.3.parse::<f64>()) {
            (Ok(i), _) => assert_eq!(w.3.parse::<i64>().unwrap(), i, "{g:?}"),
            (_, Ok(f)) => assert_eq!(
                g.3.parse::<f64>().unwrap().to_bits(),
                f.to_bits(),
                "{g:?} vs {w:?}"
            ),
            _ => assert_eq!(g.3, w.3),
        }
    }

    let o = run(&["verify", arch.to_str().unwrap()]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
}

#[test]
fn aggregates_equal_a_naive_computation() {
    let dir = tempfile::tempdir().unwrap();
    let (rows, arch) = packed_corpus(dir.path());
    let (from, to) = (
        1_700_000_000_000_000i64 + 123_456_789,
        1_700_000_000_000_000i64 + 2_345_678_901,
    );
    let o = run(&[
        "query",
        arch.to_str().unwrap(),
        "--device",
        "dev-a",
        "--channel",
        "temp",
        "--from",
        &rfc3339_us(from),
        "--to",
        &rfc3339_us(to),
        "--agg",
        "count,min,max,sum,avg,first,last,p50,p99",
        "--output",
        "jsonl",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).lines().next().unwrap()).unwrap();
    let sel: Vec<f64> = rows
        .iter()
        .filter(|r| r.1 == "dev-a" && r.2 == "temp" && r.0 >= from && r.0 < to)
        .map(|r| r.3.parse().unwrap())
        .collect();
    let mut sorted = sel.clone();
    sorted.sort_by(f64::total_cmp);
    let rank = |p: f64| sorted[((p / 100.0 * sorted.len() as f64).ceil() as usize).max(1) - 1];
    assert_eq!(v["count"].as_i64().unwrap() as usize, sel.len());
    assert_eq!(v["min"].as_f64().unwrap(), sorted[0]);
    assert_eq!(v["max"].as_f64().unwrap(), *sorted.last().unwrap());
    let sum: f64 = sel.iter().sum();
    assert!((v["sum"].as_f64().unwrap() - sum).abs() < 1e-9 * sum.abs().max(1.0));
    assert!((v["avg"].as_f64().unwrap() - sum / sel.len() as f64).abs() < 1e-9);
    assert_eq!(v["first"].as_f64().unwrap(), sel[0]);
    assert_eq!(v["last"].as_f64().unwrap(), *sel.last().unwrap());
    assert_eq!(v["p50"].as_f64().unwrap(), rank(50.0));
    assert_eq!(v["p99"].as_f64().unwrap(), rank(99.0));

    // Integer sums are exact even near i64::MAX / 2 per value (the total overflows i64).
    let o = run(&[
        "query",
        arch.to_str().unwrap(),
        "--device",
        "dev-b",
        "--channel",
        "count",
        "--agg",
        "count,sum",
    ]);
    let exact: i128 = rows
        .iter()
        .filter(|r| r.1 == "dev-b" && r.2 == "count")
        .map(|r| r.3.parse::<i128>().unwrap())
        .sum();
    let line = stdout(&o).lines().nth(1).unwrap().to_string();
    let sum_text = line.rsplit(',').next().unwrap();
    assert_eq!(sum_text.parse::<f64>().unwrap(), exact as f64, "{line}");

    // Windowed counts add up to the total, windows aligned to the epoch.
    let o = run(&[
        "query",
        arch.to_str().unwrap(),
        "--device",
        "dev-a",
        "--channel",
        "temp",
        "--agg",
        "count",
        "--every",
        "10m",
        "--explain",
    ]);
    assert!(o.status.success());
    let total: i64 = stdout(&o)
        .lines()
        .skip(1)
        .map(|l| l.rsplit(',').next().unwrap().parse::<i64>().unwrap())
        .sum();
    assert_eq!(total, 3000);
    assert!(stderr(&o).contains("explain: partitions"), "{}", stderr(&o));
    assert!(
        stdout(&o)
            .lines()
            .nth(1)
            .unwrap()
            .contains(":00:00.000000Z")
            || stdout(&o).lines().nth(1).unwrap().contains("0:00.000000Z")
    );
}

#[test]
fn bad_rows_fail_with_file_and_line_or_are_skipped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let text = "timestamp,device,channel,value\n\
                2024-01-01T00:00:00Z,a,t,1.5\n\
                2024-13-01T00:00:00Z,a,t,2.5\n\
                2024-01-01T00:00:02Z,a,t,3.5\n\
                2024-01-01T00:00:03Z,a,t\n";
    let input = write(dir.path(), "bad.csv", text);
    let arch = dir.path().join("arch");
    let o = run(&[
        "pack",
        input.to_str().unwrap(),
        "-o",
        arch.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("bad.csv:3:") && err.contains("month 13"),
        "{err}"
    );
    assert!(!arch.exists(), "a failed pack must leave no archive behind");

    let rej = dir.path().join("rejects.txt");
    let o = run(&[
        "pack",
        input.to_str().unwrap(),
        "-o",
        arch.to_str().unwrap(),
        "--on-error",
        "skip",
        "--reject-file",
        rej.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("rejected 2"), "{}", stderr(&o));
    let r = std::fs::read_to_string(&rej).unwrap();
    assert!(r.contains("bad.csv:3:") && r.contains("bad.csv:5:"), "{r}");
    let o = run(&["query", arch.to_str().unwrap(), "--agg", "count"]);
    assert!(stdout(&o).contains(",2"), "{}", stdout(&o));

    // A forced type rejects what does not parse as that type.
    let input = write(
        dir.path(),
        "typed.csv",
        "timestamp,device,channel,value\n2024-01-01T00:00:00Z,a,n,1.5\n",
    );
    let o = run(&[
        "pack",
        input.to_str().unwrap(),
        "-o",
        dir.path().join("a2").to_str().unwrap(),
        "--type",
        "n=i64",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("typed.csv:2:"), "{}", stderr(&o));
}

#[test]
fn verify_catches_a_corrupted_byte() {
    let dir = tempfile::tempdir().unwrap();
    let (_rows, arch) = packed_corpus(dir.path());
    let m: Vec<PathBuf> = paths_under(&arch.join("seg"));
    let seg = &m[0];
    let mut b = std::fs::read(seg).unwrap();
    b[100] ^= 0x10;
    std::fs::write(seg, &b).unwrap();
    let o = run(&["verify", arch.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains(seg.file_name().unwrap().to_str().unwrap())
            && err.contains("block 0")
            && err.contains("checksum"),
        "{err}"
    );
}

#[test]
fn user_mistakes_give_clean_errors_and_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(&[
        "pack",
        "/nonexistent.csv",
        "-o",
        dir.path().join("x").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("no such file") && !stderr(&o).contains("panicked"),
        "{}",
        stderr(&o)
    );
    let o = run(&["query"]);
    assert_eq!(o.status.code(), Some(2));
    let (rows, arch) = packed_corpus(dir.path());
    let o = run(&["query", arch.to_str().unwrap(), "--from", "yesterday-ish"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--from"));
    let o = run(&["query", arch.to_str().unwrap(), "--agg", "median"]);
    assert_eq!(o.status.code(), Some(2));
    let o = run(&[
        "query",
        arch.to_str().unwrap(),
        "--device",
        "nobody",
        "--agg",
        "count",
    ]);
    assert!(o.status.success());
    assert_eq!(stdout(&o).lines().count(), 1, "header only");
    assert!(stderr(&o).contains("no device matches \"nobody\""));
    let o = run(&["query", dir.path().join("missing").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("not an iotarc archive"));
    let o = run(&["stats", arch.to_str().unwrap(), "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["points"].as_u64().unwrap(), rows.len() as u64);
}

#[test]
fn wide_csv_jsonl_and_line_protocol_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let wide = write(
        dir.path(),
        "w.csv",
        "timestamp,device,temp,hum\n2024-01-01 00:00:00,a,20.5,NA\n2024-01-01 00:00:01,a,,41\n",
    );
    let jl = write(dir.path(), "j.jsonl", "{\"timestamp\":\"2024-01-01T00:00:02Z\",\"device\":\"a\",\"channel\":\"temp\",\"value\":21.5}\n");
    let lp = write(
        dir.path(),
        "m.lp",
        "env,device=a temp=22.5 1704067203000000000\n",
    );
    let arch = dir.path().join("arch");
    let o = run(&[
        "pack",
        wide.to_str().unwrap(),
        jl.to_str().unwrap(),
        "-o",
        arch.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    // The summary accounts for every cell: 3 values and 2 missing cells read, 3 written.
    let err = stderr(&o);
    assert!(
        err.contains("read 3 lines (3 values, 2 empty cells)"),
        "{err}"
    );
    assert!(err.contains("wrote 3 values"), "{err}");
    let o = run(&[
        "pack",
        lp.to_str().unwrap(),
        "-o",
        arch.to_str().unwrap(),
        "-q",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(&["query", arch.to_str().unwrap(), "--output", "jsonl"]);
    let out = stdout(&o);
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // temp 20.5, 21.5; hum 41; env.temp 22.5 -- the empty and NA cells are missing, not 0.
    assert_eq!(lines.len(), 4, "{out}");
    assert!(lines.iter().all(|l| l["value"].as_f64() != Some(0.0)));
    assert!(out.contains("\"env.temp\""));
}

/// A CSV input whose line 3 is one byte longer than 65 MiB (over the 64 MiB line limit)
/// between two good lines.
fn csv_with_overlong_line(dir: &Path) -> PathBuf {
    let p = dir.join("big.csv");
    let mut text = b"timestamp,device,channel,value\n2024-01-01T00:00:00Z,a,t,1.5\n".to_vec();
    text.extend_from_slice(b"2024-01-01T00:00:01Z,a,t,");
    text.resize(text.len() + (65 << 20), b'x');
    text.extend_from_slice(b"\n2024-01-01T00:00:02Z,a,t,2.5\n");
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn ingest_and_pack_refuse_a_line_over_the_limit_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let input = csv_with_overlong_line(dir.path());
    let input = input.to_str().unwrap();
    let rej = dir.path().join("rejects.txt");
    let rej_s = rej.to_str().unwrap();
    let count = |arch: &Path| stdout(&run(&["query", arch.to_str().unwrap(), "--agg", "count"]));
    let is_reject = |text: &str| text.contains("big.csv:3: ") && text.contains("64 MiB limit");

    // ingest skips it as a reject and keeps the lines around it.
    let arch = dir.path().join("ingested");
    let o = run(&[
        "ingest",
        arch.to_str().unwrap(),
        input,
        "--max-memory",
        "64M",
        "--on-error",
        "skip",
        "--reject-file",
        rej_s,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("acknowledged 2 points"),
        "{}",
        stderr(&o)
    );
    let r = std::fs::read_to_string(&rej).unwrap();
    assert!(is_reject(&r) && r.lines().count() == 1, "{r}");
    assert!(count(&arch).contains(",2"), "{}", count(&arch));

    // Under --on-error fail, it stops there, naming the line.
    let o = run(&[
        "ingest",
        dir.path().join("ingest-fail").to_str().unwrap(),
        input,
        "--on-error",
        "fail",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(is_reject(&stderr(&o)), "{}", stderr(&o));

    // pack: the same limit, the same reject.
    let arch = dir.path().join("packed");
    let o = run(&[
        "pack",
        input,
        "-o",
        arch.to_str().unwrap(),
        "--on-error",
        "skip",
        "--reject-file",
        rej_s,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("rejected 1"), "{}", stderr(&o));
    let r = std::fs::read_to_string(&rej).unwrap();
    assert!(is_reject(&r) && r.lines().count() == 1, "{r}");
    assert!(count(&arch).contains(",2"), "{}", count(&arch));
    let o = run(&[
        "pack",
        input,
        "-o",
        dir.path().join("pack-fail").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("big.csv:3: ") && err.contains("64 MiB limit"),
        "{err}"
    );
}

#[test]
fn stddev_of_values_with_a_nan_is_nan() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(
        dir.path(),
        "nan.csv",
        "timestamp,device,channel,value\n\
         2024-01-01T00:00:00Z,a,t,1\n\
         2024-01-01T00:00:01Z,a,t,NaN\n\
         2024-01-01T00:00:02Z,a,t,3\n",
    );
    let arch = dir.path().join("arch");
    let o = run(&[
        "pack",
        input.to_str().unwrap(),
        "-o",
        arch.to_str().unwrap(),
        "-q",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(&[
        "query",
        arch.to_str().unwrap(),
        "--agg",
        "sum,avg,stddev",
        "--output",
        "jsonl",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let row: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    // sum and avg are NaN, and so is stddev (it was 0).
    for agg in ["sum", "avg", "stddev"] {
        assert!(
            row[agg]
                .as_str()
                .is_some_and(|s| s.eq_ignore_ascii_case("nan")),
            "{agg}: {out}"
        );
    }
}

#[test]
fn a_truncated_segment_is_reported_as_truncated_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let (_rows, arch) = packed_corpus(dir.path());
    let seg = paths_under(&arch.join("seg"))[0].clone();
    let len = std::fs::metadata(&seg).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    // (A count is answered from the archive index without opening the file.)
    for args in [vec!["query"], vec!["stats"]] {
        let mut a = vec![args[0], arch.to_str().unwrap()];
        a.extend(&args[1..]);
        let o = run(&a);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        let err = stderr(&o);
        assert!(
            err.contains(seg.file_name().unwrap().to_str().unwrap())
                && err.contains("truncated")
                && err.contains(&format!("needs {len} bytes, {} available", len / 2))
                && !err.contains("failed to fill"),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn numbers_beyond_the_f64_range_are_rejected_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write(
        dir.path(),
        "r.csv",
        "timestamp,device,channel,value\n\
         2024-01-01T00:00:00Z,a,t,1e309\n\
         2024-01-01T00:00:01Z,a,t,1e-400\n\
         2024-01-01T00:00:02Z,a,t,5e-324\n\
         2024-01-01T00:00:03Z,a,t,-0.0\n\
         2024-01-01T00:00:04Z,a,t,0e5\n\
         2024-01-01T00:00:05Z,a,t,-inf\n",
    );
    let jl = write(
        dir.path(),
        "r.jsonl",
        "{\"timestamp\":\"2024-01-01T00:01:00Z\",\"device\":\"a\",\"channel\":\"t\",\"value\":-1e309}\n\
         {\"timestamp\":\"2024-01-01T00:01:01Z\",\"device\":\"a\",\"channel\":\"t\",\"value\":2.5}\n",
    );
    let lp = write(
        dir.path(),
        "r.lp",
        "env,device=a t=7 1704067320000000000\nenv,device=a t=1e-999 1704067321000000000\n",
    );
    let rej = dir.path().join("rejects.txt");
    let arch = dir.path().join("arch");
    let o = run(&[
        "pack",
        csv.to_str().unwrap(),
        jl.to_str().unwrap(),
        lp.to_str().unwrap(),
        "-o",
        arch.to_str().unwrap(),
        "--on-error",
        "skip",
        "--reject-file",
        rej.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r = std::fs::read_to_string(&rej).unwrap();
    for want in [
        "r.csv:2: channel \"t\": \"1e309\" is out of f64 range",
        "r.csv:3: channel \"t\": \"1e-400\" underflows f64 to 0",
        "r.jsonl:1: channel \"t\": \"-1e309\" is out of f64 range",
        "r.lp:2: ",
    ] {
        assert!(r.contains(want), "{want}\n{r}");
    }
    assert!(r.contains("\"1e-999\" underflows f64 to 0"), "{r}");
    assert_eq!(r.lines().count(), 4, "{r}");
    // The representable values are kept bit-exactly.
    let o = run(&["query", arch.to_str().unwrap(), "--output", "jsonl"]);
    let mut bits: Vec<u64> = stdout(&o)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            match &v["value"] {
                serde_json::Value::String(s) => s.parse::<f64>().unwrap().to_bits(),
                n => n.as_f64().unwrap().to_bits(),
            }
        })
        .collect();
    let mut want: Vec<u64> = [5e-324, -0.0, 0.0, f64::NEG_INFINITY, 2.5, 7.0]
        .iter()
        .map(|x: &f64| x.to_bits())
        .collect();
    bits.sort_unstable();
    want.sort_unstable();
    assert_eq!(bits, want, "{}", stdout(&o));

    // Under the default --on-error fail, the first one stops the run.
    let o = run(&[
        "pack",
        csv.to_str().unwrap(),
        "-o",
        dir.path().join("a2").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("r.csv:2:") && err.contains("out of f64 range"),
        "{err}"
    );
}

/// archive.md §3.1: without --partition a new archive's unit follows the input's rate;
/// an explicit unit is used as given; an existing archive keeps its own; stats shows it.
#[test]
fn pack_picks_the_partition_unit_from_the_rate() {
    let dir = tempfile::tempdir().unwrap();
    // One room sensor, 3 channels every minute for two days (Feb 2024).
    let mut text = String::from("timestamp,device,channel,value\n");
    let t0 = 1_706_745_600_000_000i64; // 2024-02-01T00:00:00Z
    for i in 0..2 * 1440 {
        let ts = t0 + 12 * 3_600_000_000 + i * 60_000_000;
        for ch in ["temp", "hum", "co2"] {
            text.push_str(&format!("{},room-1,{ch},{}\n", rfc3339_us(ts), i % 50));
        }
    }
    let input = write(dir.path(), "low.csv", &text);
    let stats = |arch: &Path| {
        let o = run(&["stats", s(arch), "--json"]);
        assert!(o.status.success(), "{}", stderr(&o));
        let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        (
            v["partition"].as_str().unwrap().to_string(),
            v["partitions"].as_u64().unwrap(),
            v["values_per_partition"].as_u64().unwrap(),
        )
    };
    let pack = |arch: &Path, extra: &[&str]| {
        let mut args = vec!["pack", s(&input), "-o", s(arch), "-q"];
        args.extend_from_slice(extra);
        let o = run(&args);
        assert!(o.status.success(), "{}", stderr(&o));
    };
    let auto = dir.path().join("auto");
    pack(&auto, &[]);
    assert_eq!(stats(&auto), ("year".into(), 1, 3 * 2 * 1440));
    assert!(auto.join("seg/2024").is_dir());
    let o = run(&["stats", s(&auto)]);
    assert!(
        stdout(&o)
            .contains("partitions   1 (year windows, 8,640 values each on average), 1 segments"),
        "{}",
        stdout(&o)
    );
    let named = dir.path().join("named");
    pack(&named, &["--partition", "auto"]);
    assert_eq!(stats(&named), ("year".into(), 1, 8640));
    let day = dir.path().join("day");
    pack(&day, &["--partition", "day"]);
    assert_eq!(stats(&day), ("day".into(), 3, 2880));
    assert!(day.join("seg/2024-02-02").is_dir());
    // Packing into the day archive again without --partition keeps day.
    pack(&day, &[]);
    assert_eq!(stats(&day).0, "day");
    assert_eq!(stats(&day).1, 3);
}
