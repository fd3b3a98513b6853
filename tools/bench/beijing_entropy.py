#!/usr/bin/env python3
"""Lower bounds for per-series delta coding of the Beijing air-quality data.

For each numeric channel, per station and calendar year (the blocks of a year-partitioned
archive), the values are scaled to integers at the smallest decimal exponent that covers
97 % of them, divided by the gcd of their deltas, and the order-0 entropy of the zigzagged
deltas is summed. Values that are not short decimals at that exponent (interpolated
readings such as 4.66666666666667) are counted as exceptions at 10 bytes each, as DECIMAL
stores them. The total is what an ideal order-0 coder of each block's deltas would need
(no table, no framing); compare it with `iotarc stats` of a packed archive.

Then, as a check on whether cross-series modelling would help, the same entropy after
predicting each station's delta by the mean delta of the stations before it at that hour.

    python3 tools/bench/beijing_entropy.py [../shared/data/beijing]

Standard library only; about a minute.
"""
import csv
import glob
import math
import sys
from collections import Counter

CHANNELS = ["PM2.5", "PM10", "SO2", "NO2", "CO", "O3", "TEMP", "PRES", "DEWP", "RAIN", "WSPM"]


def zigzag(d):
    return 2 * d if d >= 0 else -2 * d - 1


def entropy_bytes(xs):
    c = Counter(xs)
    n = len(xs)
    return -sum(v * math.log2(v / n) for v in c.values()) / 8 if n else 0.0


def scaled(values):
    """(integers, exception count) at the smallest exponent covering 97 % of values."""
    cnt = Counter(min(len(v.split(".")[1]) if "." in v else 0, 9) for v in values)
    acc, e = 0, 0
    for e in range(10):
        acc += cnt.get(e, 0)
        if acc >= 0.97 * len(values):
            break
    ints, exc = [], 0
    for v in values:
        x = float(v) * 10**e
        if abs(x - round(x)) > 1e-9:
            exc += 1
        ints.append(round(x))
    return ints, exc


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else "../shared/data/beijing"
    stations = [list(csv.DictReader(open(f))) for f in sorted(glob.glob(f"{d}/PRSA_Data_*.csv"))]
    if not stations:
        sys.exit(f"no PRSA_Data_*.csv in {d}")
    total = 0.0
    print(f"{'channel':8} {'bound KB':>9} {'exceptions':>10} {'cross-station':>14}")
    for ch in CHANNELS:
        bound, exc_bytes = 0.0, 0
        for rows in stations:
            by_year = {}
            for r in rows:
                if r[ch] != "NA":
                    by_year.setdefault(r["year"], []).append(r[ch])
            for vs in by_year.values():
                ints, exc = scaled(vs)
                g = 0
                for a, b in zip(ints, ints[1:]):
                    g = math.gcd(g, b - a)
                g = g or 1
                bound += entropy_bytes([zigzag((b - a) // g) for a, b in zip(ints, ints[1:])])
                exc_bytes += 10 * exc
        # Cross-station prediction on whole series: integers at the channel's exponent (as
        # above; exceptions left out), in units most deltas are multiples of (CO is stored
        # in hundreds); the prediction is rounded to a whole unit.
        allv = [r[ch] for rows in stations for r in rows if r[ch] != "NA"]
        cnt = Counter(min(len(v.split(".")[1]) if "." in v else 0, 9) for v in allv)
        acc = 0
        for e in range(10):
            acc += cnt.get(e, 0)
            if acc >= 0.97 * len(allv):
                break

        def exact(v):
            x = float(v) * 10**e
            return round(x) if abs(x - round(x)) <= 1e-9 else None

        vals = [[exact(r[ch]) if r[ch] != "NA" else None for r in rows] for rows in stations]
        deltas = [x - p for v in vals for x, p in zip(v[1:], v) if x is not None and p is not None]
        # The unit most deltas are multiples of (a rare odd value must not set it to 1).
        moves = [d for d in deltas if d != 0]
        g = next(k for k in (1000, 100, 50, 10, 5, 2, 1)
                 if sum(d % k == 0 for d in moves) >= 0.95 * len(moves))
        vals = [[None if x is None else x // g for x in v] for v in vals]
        own = cross = 0.0
        for a in range(len(vals)):
            d_own, d_cross = [], []
            for t in range(1, len(vals[a])):
                x, p = vals[a][t], vals[a][t - 1]
                if x is None or p is None:
                    continue
                o = [vals[b][t] - vals[b][t - 1] for b in range(a)
                     if vals[b][t] is not None and vals[b][t - 1] is not None]
                pred = round(sum(o) / len(o)) if o else 0
                d_own.append(x - p)
                d_cross.append(x - p - pred)
            own += entropy_bytes(d_own)
            cross += entropy_bytes(d_cross)
        total += bound + exc_bytes
        print(f"{ch:8} {bound / 1e3:9.0f} {exc_bytes / 1e3:9.0f}K {cross / max(own, 1e-9):13.2f}x")
    print(f"total bound, numeric channels: {total / 1e6:.3f} MB")


if __name__ == "__main__":
    main()
