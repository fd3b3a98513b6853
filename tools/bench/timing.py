#!/usr/bin/env python3
"""Timing helpers for the scripts in tools/bench/. Every subcommand prints one JSON object.

  cmd      --runs N [--rm DIR] [--label L] -- CMD...
           runs CMD N times (removing DIR before each run, outside the timing); wall from
           time.perf_counter, user/sys/max RSS of the child from os.wait4.
  pyarrow  --mode whole|stream --runs N CSV PARQUET
           pyarrow CSV -> Parquet (zstd), each run in a fresh interpreter; the conversion
           is timed inside it (imports excluded), user/sys from getrusage(RUSAGE_SELF).
  duckdb   --runs N [--slow-runs M] PARQUET DEVICE
           DuckDB (in-process) queries on the Parquet file: execution only (one open
           connection) and connect+execute+close per run.
  pyloop   --runs N -- CMD...
           fallback wall timer when hyperfine is missing.

Each result carries the 1-minute load average before and after the measurement.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time


def load():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def summary(xs):
    xs = list(xs)
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs), "all": xs}


def run_child(argv, stdout=subprocess.DEVNULL):
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, stdout=stdout, stderr=subprocess.PIPE)
    err = p.stderr.read()
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        sys.stderr.write(err.decode(errors="replace"))
        raise SystemExit(f"command failed ({p.returncode}): {' '.join(argv)}")
    return wall, ru.ru_utime, ru.ru_stime, ru.ru_maxrss * 1024, err.decode(errors="replace")


def cmd_cmd(a):
    argv = a.argv[1:] if a.argv and a.argv[0] == "--" else a.argv
    res = {"label": a.label, "argv": argv, "load_before": load()}
    walls, users, syss, rss = [], [], [], []
    for _ in range(a.runs):
        if a.rm:
            shutil.rmtree(a.rm, ignore_errors=True)
        w, u, s, m, err = run_child(argv)
        walls.append(w); users.append(u); syss.append(s); rss.append(m)
        print(f"  {a.label}: wall {w:.2f} s user {u:.2f} s sys {s:.2f} s maxrss {m / 1e6:.0f} MB (load {load():.2f})",
              file=sys.stderr)
    res.update(wall=summary(walls), user=summary(users), sys=summary(syss), maxrss=summary(rss),
               load_after=load(), stderr_last=err[-2000:])
    print(json.dumps(res))


def pyarrow_once(a):
    import resource
    import pyarrow as pa
    import pyarrow.csv as pv
    import pyarrow.parquet as pq

    types = {"timestamp": pa.timestamp("us", tz="UTC"), "device": pa.string(),
             "channel": pa.string(), "value": pa.float64()}
    conv = pv.ConvertOptions(column_types=types)
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    rows = 0
    if a.mode == "whole":
        tbl = pv.read_csv(a.csv, convert_options=conv)
        t1 = time.perf_counter()
        pq.write_table(tbl, a.parquet, compression="zstd", row_group_size=1_000_000)
        rows = len(tbl)
    else:
        reader = pv.open_csv(a.csv, read_options=pv.ReadOptions(block_size=16 << 20), convert_options=conv)
        w = None
        pend, n = [], 0
        for b in reader:
            if w is None:
                w = pq.ParquetWriter(a.parquet, b.schema, compression="zstd")
            pend.append(b); n += len(b)
            if n >= 1_000_000:
                w.write_table(pa.Table.from_batches(pend), row_group_size=1_000_000)
                rows += n; pend, n = [], 0
        if pend:
            w.write_table(pa.Table.from_batches(pend), row_group_size=1_000_000); rows += n
        w.close()
        t1 = None
    t2 = time.perf_counter()
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"wall": t2 - t0, "read": (t1 - t0) if t1 else None, "user": r1.ru_utime - r0.ru_utime,
                      "sys": r1.ru_stime - r0.ru_stime, "maxrss": r1.ru_maxrss * 1024, "rows": rows}))


def cmd_pyarrow(a):
    res = {"label": f"pyarrow-{a.mode}", "load_before": load()}
    runs = []
    for _ in range(a.runs):
        if os.path.exists(a.parquet):
            os.remove(a.parquet)
        p = subprocess.run([sys.executable, __file__, "pyarrow-once", "--mode", a.mode, a.csv, a.parquet],
                           capture_output=True, text=True, check=True)
        r = json.loads(p.stdout)
        runs.append(r)
        print(f"  pyarrow {a.mode}: wall {r['wall']:.2f} s user {r['user']:.2f} s sys {r['sys']:.2f} s "
              f"maxrss {r['maxrss'] / 1e6:.0f} MB (load {load():.2f})", file=sys.stderr)
    for k in ("wall", "user", "sys", "maxrss"):
        res[k] = summary(r[k] for r in runs)
    if runs[0]["read"] is not None:
        res["read"] = summary(r["read"] for r in runs)
    res["rows"] = runs[0]["rows"]
    res["parquet_bytes"] = os.path.getsize(a.parquet)
    res["load_after"] = load()
    print(json.dumps(res))


def cmd_duckdb(a):
    import duckdb

    where = f"device='{a.device}' AND channel='temperature'"
    src = f"read_parquet('{a.parquet}')"
    queries = {
        "agg": f"SELECT count(*), min(value), max(value), avg(value) FROM {src} WHERE {where}",
        # the outer CAST keeps Python from converting TIMESTAMPTZ values (which needs pytz)
        "hourly": f"SELECT CAST(w AS VARCHAR), c, mn, mx, av FROM (SELECT time_bucket(INTERVAL 1 hour, timestamp) AS w, "
                  f"count(*) AS c, min(value) AS mn, max(value) AS mx, avg(value) AS av "
                  f"FROM {src} WHERE {where} GROUP BY w) ORDER BY w",
        # same result, bucketing on integer epoch microseconds: avoids DuckDB's
        # time-zone-aware (ICU) time_bucket path for TIMESTAMPTZ, which is ~3x slower
        "hourly_epoch": f"SELECT w, c, mn, mx, av FROM (SELECT epoch_us(timestamp) // 3600000000 AS w, "
                        f"count(*) AS c, min(value) AS mn, max(value) AS mx, avg(value) AS av "
                        f"FROM {src} WHERE {where} GROUP BY w) ORDER BY w",
    }
    res = {"label": "duckdb", "version": duckdb.__version__, "queries": queries, "load_before": load()}

    def connect():
        con = duckdb.connect()
        con.execute("SET TimeZone='UTC'")
        return con

    con = connect()
    res["threads"] = con.execute("SELECT current_setting('threads')").fetchone()[0]
    for name, q in queries.items():
        t0 = time.perf_counter()
        rows = con.execute(q).fetchall()
        first = time.perf_counter() - t0
        runs = a.runs if first < 0.5 else a.slow_runs
        exec_t = []
        for _ in range(runs):
            t0 = time.perf_counter()
            rows = con.execute(q).fetchall()
            exec_t.append(time.perf_counter() - t0)
        conn_t = []
        for _ in range(runs):
            t0 = time.perf_counter()
            c = connect()
            c.execute(q).fetchall()
            c.close()
            conn_t.append(time.perf_counter() - t0)
        res[name] = {"first": first, "exec": summary(exec_t), "with_connect": summary(conn_t), "rows": len(rows),
                     "head": [[str(x) for x in r] for r in rows[:2]]}
        print(f"  duckdb {name}: first {first * 1e3:.1f} ms, exec median {statistics.median(exec_t) * 1e3:.1f} ms, "
              f"with connect median {statistics.median(conn_t) * 1e3:.1f} ms (load {load():.2f})", file=sys.stderr)
    res["load_after"] = load()
    print(json.dumps(res))


def cmd_pyloop(a):
    argv = a.argv[1:] if a.argv and a.argv[0] == "--" else a.argv
    res = {"label": a.label, "argv": argv, "load_before": load(), "tool": "python-loop"}
    for _ in range(3):
        run_child(argv)
    walls = [run_child(argv)[0] for _ in range(a.runs)]
    res.update(wall=summary(walls), load_after=load())
    print(json.dumps(res))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("cmd")
    s.add_argument("--runs", type=int, default=3)
    s.add_argument("--rm")
    s.add_argument("--label", default="cmd")
    s.add_argument("argv", nargs=argparse.REMAINDER)
    s = sub.add_parser("pyarrow")
    s.add_argument("--mode", choices=["whole", "stream"], required=True)
    s.add_argument("--runs", type=int, default=3)
    s.add_argument("csv"); s.add_argument("parquet")
    s = sub.add_parser("pyarrow-once")
    s.add_argument("--mode", choices=["whole", "stream"], required=True)
    s.add_argument("csv"); s.add_argument("parquet")
    s = sub.add_parser("duckdb")
    s.add_argument("--runs", type=int, default=20)
    s.add_argument("--slow-runs", type=int, default=10, help="runs for queries whose first run takes > 0.5 s")
    s.add_argument("parquet"); s.add_argument("device")
    s = sub.add_parser("pyloop")
    s.add_argument("--runs", type=int, default=20)
    s.add_argument("--label", default="cmd")
    s.add_argument("argv", nargs=argparse.REMAINDER)
    a = p.parse_args()
    {"cmd": cmd_cmd, "pyarrow": cmd_pyarrow, "pyarrow-once": pyarrow_once, "duckdb": cmd_duckdb,
     "pyloop": cmd_pyloop}[a.cmd](a)


if __name__ == "__main__":
    main()
