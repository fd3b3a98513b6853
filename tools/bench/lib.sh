# Shared helpers of the benchmark scripts in tools/bench/. Source it, do not run it:
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# Sets BENCH (this directory), REPO (the workspace root) and TARGET (cargo's target
# directory, honouring CARGO_TARGET_DIR).

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH/../.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$REPO/target}
case $TARGET in /*) ;; *) TARGET=$REPO/$TARGET ;; esac

# A progress line on stderr with the 1-minute, 5-minute and 15-minute load averages.
log() { printf '== %s (load: %s)\n' "$*" "$(cut -d' ' -f1-3 /proc/loadavg)" >&2; }

# The binary to measure, in $IOTARC. When IOTARC is unset: cargo build --release of the
# CLI, copied to $1 so that a concurrent build cannot swap it mid-run.
build_iotarc() {
    if [[ -n "${IOTARC:-}" ]]; then
        IOTARC_GIVEN=1
    else
        log "cargo build --release -p iotarc-cli"
        (cd "$REPO" && cargo build --release -q -p iotarc-cli)
        mkdir -p "$(dirname "$1")"
        cp "$TARGET/release/iotarc" "$1"
        IOTARC=$1
    fi
}

# `iotarc --version` of $1, the commit and `+dirty` when the library, the CLI or the
# lock file differ from it; for a binary given with IOTARC, its path instead.
iotarc_version() {
    if [[ -n "${IOTARC_GIVEN:-}" ]]; then
        echo "$("$1" --version) ($1)"
    else
        echo "$("$1" --version) $(git -C "$REPO" rev-parse --short HEAD)$(git -C "$REPO" diff --quiet HEAD -- crates Cargo.toml Cargo.lock || echo '+dirty')"
    fi
}

# The corpus generator (tools/gen), built once: `gen_corpus ARGS...` runs it.
gen_corpus() {
    if [[ -z "${GEN_BUILT:-}" ]]; then
        (cd "$REPO" && cargo build --release -q -p iotarc-gen)
        GEN_BUILT=1
    fi
    "$TARGET/release/gen" "$@"
}

# Python modules the script needs: installed with pip when an import fails.
need_python() {
    local m
    for m in "$@"; do
        python3 -c "import $m" 2>/dev/null || pip install -q "$m"
    done
}

# Sets HAVE_HYPERFINE to 1 when hyperfine is on PATH (trying apt-get once), else 0.
find_hyperfine() {
    if ! command -v hyperfine >/dev/null; then
        (apt-get install -y -qq hyperfine >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq hyperfine; }) >/dev/null 2>&1 || true
    fi
    HAVE_HYPERFINE=$(command -v hyperfine >/dev/null && echo 1 || echo 0)
}

# `timed CMD...`: runs CMD, then prints its wall time and peak RSS on stderr (GNU time).
timed() { /usr/bin/time -f "   wall %e s, max RSS %M KB" "$@"; }

# One line describing the machine and its load.
machine() { echo "$(nproc) cores; $(uptime)"; }
