#!/usr/bin/env bash
# Issue 4 figures: sustained ingest (CLI with parsing, and the writer alone), 10,000
# interleaved device streams under a memory bound, and acknowledgement-to-queryable
# latency of a paced live stream. Usage: tools/bench_issue4.sh [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
W=${1:-/tmp/iotarc-bench4}
mkdir -p "$W"
cargo build --release --quiet --bin iotarc --example stream_ingest
cargo build --release --quiet -p iotarc-gen
T=${CARGO_TARGET_DIR:-target}/release
echo "== machine: $(nproc) cores; $(uptime)"
echo "== commit $(git rev-parse --short HEAD)"

[ -f "$W/s10m.lp" ] || "$T/gen" --devices 1000 --points 10M --interval 10s --format lp -o "$W/s10m.lp" -q
[ -f "$W/d10k.lp" ] || "$T/gen" --devices 10000 --points 10M --interval 1s --format lp -o "$W/d10k.lp" -q
ls -l "$W"/*.lp

echo "== 1. iotarc ingest, 10 M values of line protocol from 1,000 devices (parsing included)"
for sync in interval=100ms batch; do
  rm -rf "$W/a1"
  /usr/bin/time -f "   wall %e s, max RSS %M KB" "$T/iotarc" ingest "$W/a1" "$W/s10m.lp" --sync "$sync" 2>&1 | sed "s/^/   [$sync] /"
done

echo "== 2. StreamWriter alone: 20 M points, 10,000 devices interleaved, 2 producer threads"
"$T/examples/stream_ingest" 20000000 10000 2 interval=100 256 | sed 's/^/   /'

echo "== 3. 10,000 device streams through the CLI with --max-memory 64M"
rm -rf "$W/a3"
/usr/bin/time -f "   wall %e s, max RSS %M KB" "$T/iotarc" ingest "$W/a3" "$W/d10k.lp" --sync interval=100ms --max-memory 64M 2>&1 | sed 's/^/   /'

echo "== 4. live stream paced at 20,000 lines/s (~140,000 values/s) for 30 s"
for delay in 10s 1s; do
  rm -rf "$W/a4"
  python3 tools/pace.py "$W/s10m.lp" 20000 30 | "$T/iotarc" ingest "$W/a4" - --format lp --sync interval=100ms --max-delay "$delay" 2>&1 | sed "s/^/   [max-delay $delay] /"
done
