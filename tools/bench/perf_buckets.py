#!/usr/bin/env python3
"""Attributes `perf script` samples (recorded with --call-graph dwarf) to coarse buckets:
each sample goes to the first bucket whose pattern occurs anywhere in its stack, checked in
the order given. Prints the share of samples per bucket, then the top leaf functions.

usage: perf script -i perf.data | tools/bench/perf_buckets.py [--comm iotarc] NAME=PATTERN...
  e.g. createDCtx=ZSTD_createDCtx open=Segment::open manifest=Manifest::read
"""
import collections
import sys

args = sys.argv[1:]
comm = None
if args[:1] == ["--comm"]:
    comm, args = args[1], args[2:]
buckets = [a.split("=", 1) for a in args]
counts = collections.Counter()
leaves = collections.Counter()
total = 0


def flush(header, frames):
    global total
    if not header:
        return
    if comm and header.split()[0] != comm:
        return
    total += 1
    stack = " ".join(frames)
    for name, pat in buckets:
        if pat in stack:
            counts[name] += 1
            break
    else:
        counts["(other)"] += 1
    if frames:
        leaves[frames[0]] += 1


header, frames = None, []
for line in sys.stdin:
    if not line.strip():
        flush(header, frames)
        header, frames = None, []
    elif not line.startswith((" ", "\t")):
        header, frames = line, []
    else:
        parts = line.split(None, 1)
        if len(parts) == 2:
            sym = parts[1].rsplit(" (", 1)[0].strip()
            frames.append(sym)
flush(header, frames)
print(f"{total} samples" + (f" of {comm}" if comm else ""))
for name, _ in buckets + [("(other)", "")]:
    print(f"  {name:24s} {100 * counts[name] / max(total, 1):5.1f}%")
print("top leaf functions:")
for f, n in leaves.most_common(15):
    print(f"  {100 * n / max(total, 1):5.1f}%  {f[:110]}")
