#!/usr/bin/env bash
# Issue #3 year-query targets, side by side in one run: one device-channel, a year at 1 s
# (31.5 M points), whole-range aggregate and --every 1h, iotarc (day and month partitions,
# with the archive index) against DuckDB on the equivalent Parquet file.
#
#   tools/bench_issue3_year.sh [WORKDIR]     (default /tmp/iotarc-bench3)
#
# Reuses WORKDIR/data/year.csv and year.parquet from tools/bench_issue3.sh (run that once
# first). IOTARC=path selects the binary (default: target/release/iotarc, built).
# Needs hyperfine and python3 with duckdb.
set -euo pipefail
W=${1:-/tmp/iotarc-bench3}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
RUNS=${QUERY_RUNS:-30}
if [ -z "${IOTARC:-}" ]; then
  (cd "$ROOT" && cargo build --release -q)
  IOTARC="${CARGO_TARGET_DIR:-$ROOT/target}/release/iotarc"
fi
DATA="$W/data"
[ -f "$DATA/year.csv" ] && [ -f "$DATA/year.parquet" ] || {
  echo "run tools/bench_issue3.sh $W first (it generates data/year.csv and year.parquet)" >&2
  exit 2
}
echo "machine: $(nproc) cores, $(uptime)"
echo "iotarc: $("$IOTARC" --version)"
for p in day month; do
  A="$W/year-$p"
  if [ ! -f "$A/MANIFEST" ]; then
    "$IOTARC" pack "$DATA/year.csv" -o "$A" --partition "$p" -q
  fi
done
Q=(--device sensor-0042 --channel temperature --agg count,min,max,avg)
for p in day month; do
  A="$W/year-$p"
  "$IOTARC" query "$A" "${Q[@]}" --explain >/dev/null
  "$IOTARC" query "$A" "${Q[@]}" --every 1h --explain >/dev/null
done
hyperfine -N --warmup 3 --runs "$RUNS" \
  "$IOTARC query $W/year-day ${Q[*]}" \
  "$IOTARC query $W/year-day ${Q[*]} --every 1h" \
  "$IOTARC query $W/year-month ${Q[*]}" \
  "$IOTARC query $W/year-month ${Q[*]} --every 1h"
python3 "$HERE/bench3_time.py" duckdb --runs "$RUNS" --slow-runs 10 "$DATA/year.parquet" sensor-0042 | tail -n 20
echo "load after: $(uptime)"
