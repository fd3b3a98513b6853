#!/usr/bin/env bash
# Pack speed on its own: `iotarc pack` vs pyarrow CSV -> Parquet (zstd) on the same long
# CSV (about 1 GB), measured side by side in one run. The tools alternate round by
# round (the order rotates each round), so a change in machine load hits all of them.
#
#   tools/bench/pack_speed.sh [WORKDIR]         (default /tmp/iotarc-bench, shared with
#                                                tools/bench/pack_and_query.sh: same corpus)
#
# Environment: ROUNDS (5), IOTARC=path (default: cargo build --release, copied into
# WORKDIR so concurrent builds cannot swap it mid-run), BASELINE=path (optional: an older
# iotarc binary, measured in the same rotation), LONG_DAYS (6).
# Prints a markdown table; the per-run JSON lines are in WORKDIR/results/pack_rounds.jsonl.
set -euo pipefail

WORK=${1:-/tmp/iotarc-bench}
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ROUNDS=${ROUNDS:-5}
LONG_DAYS=${LONG_DAYS:-6}
DATA=$WORK/data
RES=$WORK/results
CSV=$DATA/corpus.csv
mkdir -p "$DATA" "$RES"

build_iotarc "$WORK/iotarc-pack-bench"
VERSION=$(iotarc_version "$IOTARC")
need_python pyarrow
if [[ ! -f $DATA/corpus.done ]]; then
    log "generating the long corpus ($LONG_DAYS days x 100 devices x 4 channels @10 s)"
    gen_corpus --format csv-long --devices 100 --duration "${LONG_DAYS}d" --interval 10s \
        --channels temperature,humidity,pressure,energy_wh --clean --no-jitter --start 2024-01-01 -q -o "$CSV"
    touch "$DATA/corpus.done"
fi
log "warming the page cache"
cat "$CSV" > /dev/null

OUT=$RES/pack_rounds.jsonl
: > "$OUT"
UPTIME_START=$(uptime)
tools=(iotarc whole stream)
[[ -n "${BASELINE:-}" ]] && tools+=(baseline)
nt=${#tools[@]}
for ((r = 0; r < ROUNDS; r++)); do
    for ((k = 0; k < nt; k++)); do
        t=${tools[$(((r + k) % nt))]}
        log "round $((r + 1))/$ROUNDS: $t"
        case $t in
        iotarc)
            python3 "$BENCH/timing.py" cmd --runs 1 --rm "$WORK/arch_pack" --label iotarc-pack -- \
                "$IOTARC" pack "$CSV" -o "$WORK/arch_pack" -q >> "$OUT" ;;
        baseline)
            python3 "$BENCH/timing.py" cmd --runs 1 --rm "$WORK/arch_pack" --label iotarc-pack-baseline -- \
                "$BASELINE" pack "$CSV" -o "$WORK/arch_pack" -q >> "$OUT" ;;
        whole | stream)
            python3 "$BENCH/timing.py" pyarrow --mode "$t" --runs 1 "$CSV" "$WORK/pack_$t.parquet" >> "$OUT" ;;
        esac
    done
done
rm -rf "$WORK/arch_pack"

BASEV=""
[[ -n "${BASELINE:-}" ]] && BASEV="; baseline: $("$BASELINE" --version) ($BASELINE)"
python3 - "$OUT" "$(stat -c %s "$CSV")" "$VERSION$BASEV" "$UPTIME_START" "$(uptime)" "$ROUNDS" <<'EOF'
import json, statistics, sys
path, size, version, up0, up1, rounds = sys.argv[1], int(sys.argv[2]), *sys.argv[3:]
runs = [json.loads(l) for l in open(path)]
names = {"iotarc-pack": "iotarc pack (whole process)",
         "iotarc-pack-baseline": "iotarc pack, baseline binary (whole process)",
         "pyarrow-whole": "pyarrow read_csv + write_table (zstd; in-process, imports excluded)",
         "pyarrow-stream": "pyarrow open_csv + ParquetWriter (zstd; in-process, imports excluded)"}
print(f"Pack of the {size / 1e9:.2f} GB long CSV, {rounds} interleaved rounds; {version}.\n")
print(f"- start: `{up0.strip()}`\n- end: `{up1.strip()}`\n")
print("| tool | wall median (min..max) | MB/s median (best) | CPU user+sys median | max RSS median | load 1-min during runs |")
print("|---|---|---:|---:|---:|---|")
for label, name in names.items():
    rs = [r for r in runs if r["label"] == label]
    if not rs:
        continue
    w = [r["wall"]["median"] for r in rs]
    cpu = [r["user"]["median"] + r["sys"]["median"] for r in rs]
    rss = [r["maxrss"]["median"] for r in rs]
    loads = [x for r in rs for x in (r["load_before"], r["load_after"])]
    med = statistics.median(w)
    print(f"| {name} | {med:.2f} s ({min(w):.2f}..{max(w):.2f}), n={len(w)} | {size / med / 1e6:.0f} ({size / min(w) / 1e6:.0f}) "
          f"| {statistics.median(cpu):.2f} s | {statistics.median(rss) / 1e6:.0f} MB | {min(loads):.2f}..{max(loads):.2f} |")
EOF
