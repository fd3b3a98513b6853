#!/usr/bin/env python3
"""Deterministic corpus generator for tools/bench_issue3.sh (pyarrow only, no numpy).

Subcommands:
  long   OUT.csv [--devices 100] [--days 6] [--start 2024-01-01]
         long CSV `timestamp,device,channel,value`, 10 s sampling, channels
         temperature (1 decimal), humidity (integer), pressure (2 decimals), counter
         (integer, monotonic per device). Rows ordered by time, device, channel.
  year   OUT.csv OUT.parquet [--device sensor-0042] [--days 365] [--start 2023-01-01]
         one device, channel temperature at 1 s sampling (daily cycle + seasonal + noise,
         1 decimal); the same rows written to Parquet (sorted by timestamp, zstd,
         statistics, 1M-row row groups).
  hourly OUT.csv [--hours 10000] [--per-hour 4] [--start 2023-01-01]
         one device, one channel, a few rows per hour: packs into one segment per hour
         with --partition hour.

Timestamps are RFC 3339 UTC with microsecond precision, e.g. 2024-01-01T00:00:10.000000Z.
Values come from closed-form functions and an integer hash, so output is byte-identical
on every run and every machine.
"""
import argparse
import datetime as dt
import math
import sys
import time

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

U64 = pa.uint64()
HEADER = b"timestamp,device,channel,value\n"


def arange(n, start=0):
    return pa.array(range(start, start + n), pa.int64())


def noise(idx_i64, seed):
    """Deterministic uniform noise in [-0.5, 0.5) from an int64 index array (splitmix64)."""
    x = pc.add(idx_i64.cast(U64), pa.scalar((seed * 0x632BE59BD9B4E5) & (2**64 - 1), U64))
    x = pc.multiply(x, pa.scalar(0x9E3779B97F4A7C15, U64))
    x = pc.bit_wise_xor(x, pc.shift_right(x, pa.scalar(30, U64)))
    x = pc.multiply(x, pa.scalar(0xBF58476D1CE4E5B9, U64))
    x = pc.bit_wise_xor(x, pc.shift_right(x, pa.scalar(27, U64)))
    x = pc.multiply(x, pa.scalar(0x94D049BB133111EB, U64))
    x = pc.bit_wise_xor(x, pc.shift_right(x, pa.scalar(31, U64)))
    top = pc.shift_right(x, pa.scalar(40, U64)).cast(pa.float64())  # 24 bits
    return pc.subtract(pc.divide(top, float(1 << 24)), 0.5)


def iround(f):
    return pc.round(f).cast(pa.int64())


def fixed(q, decimals):
    """Formats non-negative int64 array q (scaled by 10**decimals) as a decimal string."""
    if decimals == 0:
        return q.cast(pa.string())
    s = 10 ** decimals
    ip = pc.divide(q, s)  # integer division (q >= 0)
    fp = pc.subtract(q, pc.multiply(ip, s))
    return pc.binary_join_element_wise(
        ip.cast(pa.string()), pc.utf8_lpad(fp.cast(pa.string()), decimals, "0"), "."
    )


def sin_cycle(t_sec_f64, period_s, phase):
    # sin(2*pi*t/period + phase)
    return pc.sin(pc.add(pc.multiply(t_sec_f64, 2 * math.pi / period_s), phase))


def write_lines(f, cols):
    """Writes rows joined by ',' and terminated by '\\n' (last column gets the newline)."""
    cols = list(cols)
    cols[-1] = pc.binary_join_element_wise(cols[-1], pa.scalar("\n"), "")
    joined = pc.binary_join_element_wise(*cols, ",")
    if isinstance(joined, pa.ChunkedArray):
        joined = joined.combine_chunks()
    offsets = joined.buffers()[1]
    data = joined.buffers()[2]
    n = len(joined)
    start = int.from_bytes(memoryview(offsets)[joined.offset * 4: joined.offset * 4 + 4], "little", signed=True)
    end = int.from_bytes(memoryview(offsets)[(joined.offset + n) * 4: (joined.offset + n) * 4 + 4], "little", signed=True)
    f.write(memoryview(data)[start:end])
    return end - start


def tod_strings(step_s):
    """'HH:MM:SS.000000Z' for every step in a day."""
    return pa.array(
        [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}.000000Z" for s in range(0, 86400, step_s)],
        pa.string(),
    )


def day_prefix(start, d):
    return (start + dt.timedelta(days=d)).strftime("%Y-%m-%dT")


def gen_long(a):
    start = dt.date.fromisoformat(a.start)
    step_s = 10
    steps = 86400 // step_s
    ndev, nch = a.devices, 4
    devs = pa.array([f"dev-{i:04d}" for i in range(ndev)], pa.string())
    chans = pa.array(["temperature", "humidity", "pressure", "counter"], pa.string())
    tod = tod_strings(step_s)
    n_sd = steps * ndev  # (step, device) pairs per day
    k = arange(n_sd)
    step_idx = pc.divide(k, ndev)
    dev_idx = pc.subtract(k, pc.multiply(step_idx, ndev))
    dev_f = dev_idx.cast(pa.float64())
    # interleave: row r -> channel r % 4, pair r // 4 -> index (r % 4) * n_sd + r // 4
    r = arange(n_sd * nch)
    pair = pc.divide(r, nch)
    ch_idx = pc.subtract(r, pc.multiply(pair, nch))
    inter = pc.add(pc.multiply(ch_idx, n_sd), pair)
    ts_of_row = pc.take(tod, pc.divide(r, ndev * nch))
    dev_of_row = pc.take(devs, pc.take(dev_idx, pair))
    ch_of_row = pc.take(chans, ch_idx)
    total = 0
    t0 = time.time()
    with open(a.out, "wb", buffering=1 << 22) as f:
        f.write(HEADER)
        total += len(HEADER)
        for d in range(a.days):
            gstep = pc.add(step_idx, d * steps)  # global step
            t = pc.multiply(gstep, step_s).cast(pa.float64())
            key = pc.add(pc.multiply(gstep, ndev), dev_idx)  # unique per (time, device)
            temp = iround(pc.add(pc.add(200.0, pc.multiply(sin_cycle(t, 86400, pc.multiply(dev_f, 0.1)), 50.0)),
                                 pc.multiply(noise(key, 1), 10.0)))
            hum = iround(pc.add(pc.add(55.0, pc.multiply(sin_cycle(t, 86400, pc.add(pc.multiply(dev_f, 0.1), math.pi)), 10.0)),
                                pc.multiply(noise(key, 2), 4.0)))
            pres = iround(pc.add(pc.add(101325.0, pc.multiply(sin_cycle(t, 5 * 86400, dev_f), 300.0)),
                                 pc.multiply(noise(key, 3), 40.0)))
            cnt = pc.add(pc.add(pc.multiply(gstep, 7), pc.multiply(dev_idx, 1_000_000)),
                         iround(pc.multiply(pc.add(noise(key, 4), 0.5), 4.0)))
            vals = pa.chunked_array([fixed(temp, 1), fixed(hum, 0), fixed(pres, 2), fixed(cnt, 0)]).combine_chunks()
            val_of_row = pc.take(vals, inter)
            ts = pc.binary_join_element_wise(pa.scalar(day_prefix(start, d)), ts_of_row, "")
            total += write_lines(f, [ts, dev_of_row, ch_of_row, val_of_row])
            print(f"  day {d + 1}/{a.days}: {total / 1e6:.0f} MB, {time.time() - t0:.1f} s", file=sys.stderr)
    print(f"wrote {a.out}: {a.days * steps * ndev * nch} rows, {total} bytes", file=sys.stderr)


def gen_year(a):
    start = dt.date.fromisoformat(a.start)
    epoch_us = int(dt.datetime(start.year, start.month, start.day, tzinfo=dt.timezone.utc).timestamp()) * 1_000_000
    tod = tod_strings(1)
    sec = arange(86400)
    schema = pa.schema([
        ("timestamp", pa.timestamp("us", tz="UTC")),
        ("device", pa.string()),
        ("channel", pa.string()),
        ("value", pa.float64()),
    ])
    rg = a.row_group
    writer = pq.ParquetWriter(a.parquet, schema, compression="zstd", write_statistics=True)
    pending, pending_rows = [], 0
    total = 0
    t0 = time.time()
    dev_col = pa.array([a.device] * 86400, pa.string())
    ch_col = pa.array(["temperature"] * 86400, pa.string())

    def flush(final=False):
        nonlocal pending, pending_rows
        if not pending:
            return
        tbl = pa.concat_tables(pending)
        n = (len(tbl) // rg) * rg if not final else len(tbl)
        if n:
            writer.write_table(tbl.slice(0, n), row_group_size=rg)
        rest = tbl.slice(n)
        pending, pending_rows = ([rest], len(rest)) if len(rest) else ([], 0)

    with open(a.out, "wb", buffering=1 << 22) as f:
        f.write(HEADER)
        total += len(HEADER)
        for d in range(a.days):
            g = pc.add(sec, d * 86400)
            t = g.cast(pa.float64())
            v = pc.add(pc.add(150.0, pc.multiply(sin_cycle(t, 86400, -math.pi / 2), 80.0)),
                       pc.multiply(sin_cycle(t, 365 * 86400, -math.pi / 2), -50.0))
            tenths = iround(pc.add(v, pc.multiply(noise(g, 7), 10.0)))
            ts = pc.binary_join_element_wise(pa.scalar(day_prefix(start, d)), tod, "")
            total += write_lines(f, [ts, dev_col, ch_col, fixed(tenths, 1)])
            tbl = pa.table({
                "timestamp": pc.add(pc.multiply(g, 1_000_000), epoch_us).cast(pa.timestamp("us", tz="UTC")),
                "device": dev_col,
                "channel": ch_col,
                "value": pc.divide(tenths.cast(pa.float64()), 10.0),  # == float("NN.N"): IEEE division is correctly rounded
            }, schema=schema)
            pending.append(tbl)
            pending_rows += len(tbl)
            if pending_rows >= rg:
                flush()
            if (d + 1) % 30 == 0 or d + 1 == a.days:
                print(f"  day {d + 1}/{a.days}: {total / 1e6:.0f} MB, {time.time() - t0:.1f} s", file=sys.stderr)
    flush(final=True)
    writer.close()
    print(f"wrote {a.out}: {a.days * 86400} rows, {total} bytes; {a.parquet}", file=sys.stderr)


def gen_hourly(a):
    start = dt.datetime.fromisoformat(a.start).replace(tzinfo=dt.timezone.utc)
    step = 3600 // a.per_hour
    with open(a.out, "w") as f:
        f.write(HEADER.decode())
        for h in range(a.hours):
            for j in range(a.per_hour):
                t = start + dt.timedelta(seconds=h * 3600 + j * step)
                v = 200 + round(50 * math.sin(2 * math.pi * (h % 24) / 24)) + (h * 7 + j) % 5
                f.write(f"{t.strftime('%Y-%m-%dT%H:%M:%S')}.000000Z,{a.device},temperature,{v // 10}.{v % 10}\n")
    print(f"wrote {a.out}: {a.hours * a.per_hour} rows", file=sys.stderr)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("long")
    s.add_argument("out")
    s.add_argument("--devices", type=int, default=100)
    s.add_argument("--days", type=int, default=6)
    s.add_argument("--start", default="2024-01-01")
    s = sub.add_parser("year")
    s.add_argument("out")
    s.add_argument("parquet")
    s.add_argument("--device", default="sensor-0042")
    s.add_argument("--days", type=int, default=365)
    s.add_argument("--start", default="2023-01-01")
    s.add_argument("--row-group", type=int, default=1_000_000)
    s = sub.add_parser("hourly")
    s.add_argument("out")
    s.add_argument("--device", default="dev-h")
    s.add_argument("--hours", type=int, default=10_000)
    s.add_argument("--per-hour", type=int, default=4)
    s.add_argument("--start", default="2023-01-01T00:00:00")
    a = p.parse_args()
    {"long": gen_long, "year": gen_year, "hourly": gen_hourly}[a.cmd](a)


if __name__ == "__main__":
    main()
