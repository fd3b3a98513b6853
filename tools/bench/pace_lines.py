#!/usr/bin/env python3
"""Copies lines from a file to stdout at a fixed rate (lines per second), in 10 ms
slices, for measuring a live writer: python3 tools/bench/pace_lines.py FILE RATE [SECONDS]."""
import sys, time

path, rate = sys.argv[1], float(sys.argv[2])
limit = float(sys.argv[3]) if len(sys.argv) > 3 else float("inf")
out = sys.stdout.buffer
start = time.monotonic()
sent = 0
with open(path, "rb") as f:
    header = None
    while True:
        now = time.monotonic() - start
        if now >= limit:
            break
        due = int(now * rate) - sent
        if due <= 0:
            time.sleep(0.01)
            continue
        lines = []
        for _ in range(due):
            line = f.readline()
            if not line:
                break
            lines.append(line)
        if not lines:
            break
        out.write(b"".join(lines))
        out.flush()
        sent += len(lines)
print(f"pace: sent {sent} lines in {time.monotonic() - start:.1f} s", file=sys.stderr)
