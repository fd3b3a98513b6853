#!/usr/bin/env bash
# Streaming ingest: sustained ingest (CLI with parsing, and the writer alone), 10,000
# interleaved device streams under a memory bound, and acknowledgement-to-queryable
# latency of a paced live stream. Results: docs/benchmarks/stream-ingest.md.
#
#   tools/bench/stream_ingest.sh [WORKDIR]      (default /tmp/iotarc-bench-ingest)
#
# Environment: IOTARC=path (binary to test; default: cargo build --release, copied into
# WORKDIR), POINTS (10M values per corpus), PACE_SECONDS (30).
set -euo pipefail
W=${1:-/tmp/iotarc-bench-ingest}
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
POINTS=${POINTS:-10M}
PACE_SECONDS=${PACE_SECONDS:-30}
mkdir -p "$W"
build_iotarc "$W/iotarc"
(cd "$REPO" && cargo build --release -q -p iotarc-measure --bin stream_ingest)
echo "== machine: $(machine)"
echo "== $(iotarc_version "$IOTARC")"

[ -f "$W/s10m.lp" ] || gen_corpus --devices 1000 --points "$POINTS" --interval 10s --format lp -o "$W/s10m.lp" -q
[ -f "$W/d10k.lp" ] || gen_corpus --devices 10000 --points "$POINTS" --interval 1s --format lp -o "$W/d10k.lp" -q
ls -l "$W"/*.lp

echo "== 1. iotarc ingest, $POINTS values of line protocol from 1,000 devices (parsing included)"
for sync in interval=100ms batch; do
  rm -rf "$W/a1"
  timed "$IOTARC" ingest "$W/a1" "$W/s10m.lp" --sync "$sync" 2>&1 | sed "s/^/   [$sync] /"
done

echo "== 2. StreamWriter alone: 20 M points, 10,000 devices interleaved, 2 producer threads"
"$TARGET/release/stream_ingest" 20000000 10000 2 interval=100 683 | sed 's/^/   /'

echo "== 3. 10,000 device streams through the CLI with --memory-limit 171M (buffers 64 MiB)"
rm -rf "$W/a3"
timed "$IOTARC" ingest "$W/a3" "$W/d10k.lp" --sync interval=100ms --memory-limit 171M 2>&1 | sed 's/^/   /'

echo "== 4. live stream paced at 20,000 lines/s (~140,000 values/s) for $PACE_SECONDS s"
for delay in 10s 1s; do
  rm -rf "$W/a4"
  python3 "$BENCH/pace_lines.py" "$W/s10m.lp" 20000 "$PACE_SECONDS" | "$IOTARC" ingest "$W/a4" - --format lp --sync interval=100ms --max-delay "$delay" 2>&1 | sed "s/^/   [max-delay $delay] /"
done
