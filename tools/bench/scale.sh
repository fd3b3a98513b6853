#!/usr/bin/env bash
# Scale: 1,000 devices, POINTS values of wide CSV piped from the generator into
# `iotarc pack -` (never stored as a file), packed twice: with the default memory limit
# and with --memory-limit 256MB. Records pack wall time, points/s and peak RSS of each,
# then query latency and peak RSS on the default-limit archive: a whole-channel
# aggregate cold (first query on a fresh `cp -r` copy, page cache dropped when allowed)
# and warm, one device, hourly windows, exact and approximate p99; and the index size as
# a share of the segment bytes.
#
#   tools/bench/scale.sh [POINTS [WORKDIR]]     (POINTS 1e8 by default, e.g. 1e9;
#                                                WORKDIR /tmp/iotarc-bench-scale)
#
# Environment: IOTARC=path (default: cargo build --release, copied into WORKDIR so
# concurrent builds cannot swap it mid-run), QUERY_RUNS (3: warm queries report the
# fastest), LIMIT (256MB: the second pack's --memory-limit).
# Needs about 1.5 GB of disk per 1e9 points for the two archives. Prints a markdown table.
set -euo pipefail

POINTS=${1:-1e8}
WORK=${2:-/tmp/iotarc-bench-scale}
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
QUERY_RUNS=${QUERY_RUNS:-3}
LIMIT=${LIMIT:-256MB}
mkdir -p "$WORK"

build_iotarc "$WORK/iotarc-scale-bench"
VERSION=$(iotarc_version "$IOTARC")
gen_corpus --version >/dev/null
TIMES=$WORK/time.txt
ROWS=()
UPTIME_START=$(uptime)

# `measure LABEL CMD...`: runs CMD under GNU time; sets WALL (s) and RSS (MiB).
measure() {
    local label=$1
    shift
    /usr/bin/time -o "$TIMES" -f "%e %M" "$@" >/dev/null
    read -r WALL RSS_KB < "$TIMES"
    RSS=$((RSS_KB / 1024))
    log "$label: $WALL s, $RSS MiB"
}

points_per_s() { python3 -c "import sys; print(f'{float(sys.argv[1]) / float(sys.argv[2]) / 1e6:.2f}')" "$1" "$2"; }

pack() { # pack DIR [ARGS...]: generator | iotarc pack -, timed as a whole pipeline
    local dir=$1
    shift
    rm -rf "$dir"
    /usr/bin/time -o "$TIMES" -f "%e %M" bash -c \
        "\"\$1\" --devices 1000 --points $POINTS --format csv-wide --seed 7 -q | \"\$2\" pack - -o \"\$3\" -q \"\${@:4}\"" \
        _ "$TARGET/release/gen" "$IOTARC" "$dir" "$@"
    # GNU time reports the largest RSS of the children of bash: pack's (the generator
    # stays below 10 MiB).
    read -r WALL RSS_KB < "$TIMES"
    RSS=$((RSS_KB / 1024))
}

log "pack $POINTS values (1,000 devices), default memory limit"
pack "$WORK/arch"
ROWS+=("| pack, default limit (512 MiB) | $WALL s | $(points_per_s "$POINTS" "$WALL") M points/s | $RSS MiB |")
log "  $WALL s, $RSS MiB"
SEG_DEFAULT=$(find "$WORK/arch/seg" -name '*.seg' | wc -l)
BYTES_DEFAULT=$(du -sb "$WORK/arch/seg" | cut -f1)

log "pack $POINTS values, --memory-limit $LIMIT"
pack "$WORK/arch_small" --memory-limit "$LIMIT"
ROWS+=("| pack, \`--memory-limit $LIMIT\` | $WALL s | $(points_per_s "$POINTS" "$WALL") M points/s | $RSS MiB |")
log "  $WALL s, $RSS MiB"
SEG_SMALL=$(find "$WORK/arch_small/seg" -name '*.seg' | wc -l)
BYTES_SMALL=$(du -sb "$WORK/arch_small/seg" | cut -f1)
rm -rf "$WORK/arch_small"

A=$WORK/arch
DEV=sensor-0042
query_row() { # query_row LABEL ARGS...: fastest of QUERY_RUNS warm runs after one warm-up
    local label=$1 best="" rss=0
    shift
    "$IOTARC" query "$A" "$@" >/dev/null
    for ((i = 0; i < QUERY_RUNS; i++)); do
        measure "$label" "$IOTARC" query "$A" "$@"
        if [[ -z $best ]] || python3 -c "import sys; sys.exit(not float(sys.argv[1]) < float(sys.argv[2]))" "$WALL" "$best"; then
            best=$WALL
        fi
        ((RSS > rss)) && rss=$RSS
    done
    ROWS+=("| $label | $best s | | $rss MiB |")
}

log "cold whole-channel aggregate on a fresh copy"
rm -rf "$WORK/arch_cold"
cp -r "$A" "$WORK/arch_cold"
DROPPED="page cache not dropped (no permission)"
if sync && echo 1 > /proc/sys/vm/drop_caches 2>/dev/null; then
    DROPPED="page cache dropped"
fi
measure cold "$IOTARC" query "$WORK/arch_cold" --channel temperature --agg count,min,max,avg
ROWS+=("| query, whole channel count,min,max,avg: cold (fresh copy; $DROPPED) | $WALL s | | $RSS MiB |")
rm -rf "$WORK/arch_cold"
query_row "query, whole channel count,min,max,avg: warm" --channel temperature --agg count,min,max,avg
query_row "query, one device (\`--device $DEV\`)" --device "$DEV" --channel temperature --agg count,min,max,avg
query_row "query, hourly windows (\`--every 1h\`)" --channel temperature --agg count,min,max,avg --every 1h
query_row "query, exact p99" --channel temperature --agg p99
query_row "query, approximate p99 (\`--approx\`)" --channel temperature --agg p99 --approx

INDEX_BYTES=$(find "$A" -maxdepth 1 -name 'INDEX-*' -printf '%s\n' | awk '{s += $1} END {print s + 0}')
INDEX_PCT=$(python3 -c "import sys; print(f'{100 * int(sys.argv[1]) / int(sys.argv[2]):.3f}')" "$INDEX_BYTES" "$BYTES_DEFAULT")

echo "Scale run: $POINTS values, 1,000 devices, \`gen --devices 1000 --points $POINTS --format csv-wide --seed 7 | iotarc pack - -o DIR\`; $VERSION; $(machine)."
echo
echo "- start: \`$UPTIME_START\`"
echo "- end: \`$(uptime)\`"
echo
echo "| step | wall | throughput | peak RSS |"
echo "|---|---:|---:|---:|"
printf '%s\n' "${ROWS[@]}"
echo
echo "| archive | segments | segment bytes |"
echo "|---|---:|---:|"
echo "| default limit | $SEG_DEFAULT | $BYTES_DEFAULT |"
echo "| \`--memory-limit $LIMIT\` | $SEG_SMALL | $BYTES_SMALL |"
echo
echo "Index: $INDEX_BYTES bytes, $INDEX_PCT % of the default-limit archive's segment bytes."
