#!/usr/bin/env bash
# iotarc pack throughput vs pyarrow CSV->Parquet, aggregate query latency vs DuckDB on
# Parquet, and a 10,000-segment archive. One command:
#
#   tools/bench/pack_and_query.sh [WORKDIR]          (default /tmp/iotarc-bench)
#
# Environment knobs: IOTARC=path (binary to test; default: cargo build --release and a copy
# of target/release/iotarc in WORKDIR so concurrent builds cannot swap it mid-run),
# PACK_RUNS (3), QUERY_RUNS (20), DUCK_SLOW_RUNS (10, DuckDB queries slower than 0.5 s), LONG_DAYS (6), YEAR_DAYS (365), HOURS (10000),
# RESULTS (markdown output; default docs/benchmarks/pack-and-query.md).
# Data is generated once with tools/gen and reused (delete WORKDIR/data to regenerate);
# the year series is also converted to Parquet for DuckDB. Needs python3
# with pyarrow and duckdb (installed with pip when missing); hyperfine is used when present
# (apt-get install -y hyperfine is tried), else a Python perf_counter loop.
set -euo pipefail

WORK=${1:-/tmp/iotarc-bench}
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
PACK_RUNS=${PACK_RUNS:-3}
QUERY_RUNS=${QUERY_RUNS:-20}
LONG_DAYS=${LONG_DAYS:-6}
YEAR_DAYS=${YEAR_DAYS:-365}
HOURS=${HOURS:-10000}
RESULTS=${RESULTS:-$REPO/docs/benchmarks/pack-and-query.md}
DEV=sensor-0000
DATA=$WORK/data
RES=$WORK/results
mkdir -p "$DATA" "$RES"
T_START=$(date +%s)

# ---- tools ---------------------------------------------------------------------------
build_iotarc "$WORK/iotarc"
BIN=$IOTARC
need_python pyarrow duckdb
find_hyperfine

# Wall time of a short command: hyperfine (no shell, warmup 3) or the Python loop.
# Writes $RES/$1.json in hyperfine's format or timing.py's.
qtime() {
    local name=$1; shift
    if [[ $HAVE_HYPERFINE == 1 ]]; then
        local l0; l0=$(cut -d' ' -f1 /proc/loadavg)
        hyperfine -N --style basic --warmup 3 --runs "$QUERY_RUNS" --export-json "$RES/$name.json" -n "$name" -- "$*" >&2
        python3 - "$RES/$name.json" "$l0" <<'EOF'
import json, sys
p = sys.argv[1]; d = json.load(open(p))
d["load_before"] = float(sys.argv[2]); d["load_after"] = float(open("/proc/loadavg").read().split()[0])
json.dump(d, open(p, "w"))
EOF
    else
        python3 "$BENCH/timing.py" pyloop --runs "$QUERY_RUNS" --label "$name" -- "$@" > "$RES/$name.json"
    fi
}

{ echo "nproc=$(nproc)"; echo "uptime=$(uptime)"; echo "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')";
  echo "mem=$(free -g | awk '/Mem:/{print $2}') GiB"; echo "kernel=$(uname -r)";
  echo "iotarc=$(iotarc_version "$BIN")";
  echo "python=$(python3 -c 'import sys, pyarrow, duckdb; print(sys.version.split()[0], "pyarrow", pyarrow.__version__, "duckdb", duckdb.__version__)')";
  echo "hyperfine=$(hyperfine --version 2>/dev/null || echo none)";
  echo "long_days=$LONG_DAYS"; echo "year_days=$YEAR_DAYS"; echo "hours=$HOURS"; echo "device=$DEV";
  echo "pack_runs=$PACK_RUNS"; echo "query_runs=$QUERY_RUNS"; } > "$RES/machine.txt"

# ---- 1. corpora ----------------------------------------------------------------------
if [[ ! -f $DATA/corpus.done ]]; then
    log "generating the long corpus ($LONG_DAYS days x 100 devices x 4 channels @10 s)"
    gen_corpus --format csv-long --devices 100 --duration "${LONG_DAYS}d" --interval 10s \
        --channels temperature,humidity,pressure,energy_wh --clean --no-jitter --start 2024-01-01 -q -o "$DATA/corpus.csv"
    touch "$DATA/corpus.done"
fi
if [[ ! -f $DATA/year.done ]]; then
    log "generating 1-year 1 s series ($YEAR_DAYS days) as CSV + Parquet"
    gen_corpus --format csv-long --devices 1 --duration "${YEAR_DAYS}d" --interval 1s \
        --channels temperature --clean --no-jitter --start 2023-01-01 -q -o "$DATA/year.csv"
    python3 "$BENCH/csv_to_parquet.py" "$DATA/year.csv" "$DATA/year.parquet"
    touch "$DATA/year.done"
fi
if [[ ! -f $DATA/hourly.done ]]; then
    log "generating $HOURS-hour CSV"
    gen_corpus --format csv-long --devices 1 --duration "${HOURS}h" --interval 15m \
        --channels temperature --clean --no-jitter --start 2023-01-01 -q -o "$DATA/hourly.csv"
    touch "$DATA/hourly.done"
fi
stat -c '%n %s' "$DATA"/*.csv "$DATA"/*.parquet > "$RES/sizes.txt"

# ---- 2. pack throughput --------------------------------------------------------------
log "iotarc pack corpus.csv x$PACK_RUNS"
python3 "$BENCH/timing.py" cmd --runs "$PACK_RUNS" --rm "$WORK/arch" --label iotarc-pack -- \
    "$BIN" pack "$DATA/corpus.csv" -o "$WORK/arch" -q > "$RES/pack_iotarc.json"
du -sb "$WORK/arch" | cut -f1 > "$RES/arch_bytes.txt"
"$BIN" stats "$WORK/arch" > "$RES/arch_stats.txt"
log "pyarrow read_csv + write_table x$PACK_RUNS"
python3 "$BENCH/timing.py" pyarrow --mode whole --runs "$PACK_RUNS" "$DATA/corpus.csv" "$WORK/corpus.parquet" > "$RES/pack_pa_whole.json"
log "pyarrow open_csv + ParquetWriter x$PACK_RUNS"
python3 "$BENCH/timing.py" pyarrow --mode stream --runs "$PACK_RUNS" "$DATA/corpus.csv" "$WORK/corpus_stream.parquet" > "$RES/pack_pa_stream.json"

# ---- 3. year series: pack (day, month), queries --------------------------------------
for part in day month; do
    A=$WORK/year_$part
    if [[ ! -f $A/MANIFEST ]]; then
        log "pack year.csv --partition $part"
        python3 "$BENCH/timing.py" cmd --runs 1 --rm "$A" --label "iotarc-pack-year-$part" -- \
            "$BIN" pack "$DATA/year.csv" -o "$A" --partition "$part" -q > "$RES/pack_year_$part.json"
    fi
    du -sb "$A" | cut -f1 > "$RES/year_${part}_bytes.txt"
    "$BIN" stats "$A" > "$RES/year_${part}_stats.txt"
done

log "process start: iotarc --version"
qtime start "$BIN" --version
for part in day month; do
    A=$WORK/year_$part
    Q=("$BIN" query "$A" --device "$DEV" --channel temperature --agg count,min,max,avg)
    log "iotarc query ($part partitions)"
    qtime "q_${part}_agg" "${Q[@]}"
    qtime "q_${part}_hourly" "${Q[@]}" --every 1h
    "${Q[@]}" --explain > "$RES/q_${part}_agg.out" 2> "$RES/q_${part}_agg.explain"
    "${Q[@]}" --every 1h --explain > "$RES/q_${part}_hourly.out" 2> "$RES/q_${part}_hourly.explain"
done
log "duckdb"
python3 "$BENCH/timing.py" duckdb --runs "$QUERY_RUNS" --slow-runs "${DUCK_SLOW_RUNS:-10}" "$DATA/year.parquet" "$DEV" > "$RES/duckdb.json"

# ---- 4. 10,000 segments --------------------------------------------------------------
H=$WORK/hourly
if [[ ! -f $H/MANIFEST ]]; then
    log "pack hourly.csv --partition hour"
    python3 "$BENCH/timing.py" cmd --runs 1 --rm "$H" --label iotarc-pack-hourly -- \
        "$BIN" pack "$DATA/hourly.csv" -o "$H" --partition hour -q > "$RES/pack_hourly.json"
fi
MID=$((HOURS / 2))
FROM=$(python3 -c "import datetime as d; print((d.datetime(2023,1,1,tzinfo=d.timezone.utc)+d.timedelta(hours=$MID)).strftime('%Y-%m-%dT%H:%M:%SZ'))")
TO=$(python3 -c "import datetime as d; print((d.datetime(2023,1,1,tzinfo=d.timezone.utc)+d.timedelta(hours=$MID+1)).strftime('%Y-%m-%dT%H:%M:%SZ'))")
echo "$FROM $TO" > "$RES/hourly_range.txt"
stat -c '%s' "$H/MANIFEST" > "$RES/manifest_bytes.txt"
find "$H" -type f -name '*.seg' | wc -l > "$RES/hourly_files.txt"
log "iotarc query over $HOURS segments"
HQ=("$BIN" query "$H" --device "$DEV" --from "$FROM" --to "$TO" --agg count --explain)
qtime q_seg_one "${HQ[@]}"
"${HQ[@]}" > "$RES/q_seg_one.out" 2> "$RES/q_seg_one.explain"
HQA=("$BIN" query "$H" --device "$DEV" --agg count --explain)
qtime q_seg_all "${HQA[@]}"
"${HQA[@]}" > "$RES/q_seg_all.out" 2> "$RES/q_seg_all.explain"

# ---- 5. report -----------------------------------------------------------------------
echo "uptime_end=$(uptime)" >> "$RES/machine.txt"
echo "total_seconds=$(( $(date +%s) - T_START ))" >> "$RES/machine.txt"
python3 "$BENCH/pack_and_query_report.py" "$WORK" "$BIN" > "$RESULTS"
cat "$RESULTS"
echo "results written to $RESULTS" >&2
