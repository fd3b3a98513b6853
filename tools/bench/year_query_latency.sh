#!/usr/bin/env bash
# Year-query latency, side by side in one run: one device-channel, a year at 1 s
# (31.5 M points), whole-range aggregate and --every 1h, iotarc (day and month partitions,
# with the archive index) against DuckDB on the equivalent Parquet file.
#
#   tools/bench/year_query_latency.sh [WORKDIR]     (default /tmp/iotarc-bench)
#
# Reuses WORKDIR/data/year.csv and year.parquet from tools/bench/pack_and_query.sh (run
# that once first). IOTARC=path selects the binary (default: built and copied to WORKDIR).
# Needs hyperfine and python3 with duckdb.
set -euo pipefail
W=${1:-/tmp/iotarc-bench}
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
RUNS=${QUERY_RUNS:-30}
DEV=${DEV:-sensor-0000}
DATA="$W/data"
[ -f "$DATA/year.csv" ] && [ -f "$DATA/year.parquet" ] || {
  echo "run tools/bench/pack_and_query.sh $W first (it generates data/year.csv and year.parquet)" >&2
  exit 2
}
build_iotarc "$W/iotarc-year-bench"
need_python duckdb
echo "machine: $(machine)"
echo "iotarc: $("$IOTARC" --version)"
for p in day month; do
  A="$W/year-$p"
  if [ ! -f "$A/MANIFEST" ]; then
    "$IOTARC" pack "$DATA/year.csv" -o "$A" --partition "$p" -q
  fi
done
Q=(--device "$DEV" --channel temperature --agg count,min,max,avg)
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
python3 "$BENCH/timing.py" duckdb --runs "$RUNS" --slow-runs 10 "$DATA/year.parquet" "$DEV" | tail -n 20
echo "load after: $(uptime)"
