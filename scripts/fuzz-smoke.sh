#!/usr/bin/env bash
# Runs every cargo-fuzz target for a bounded time on its seed corpus (fuzz/corpus/<target>) and
# fails on any crash, panic, timeout or out-of-memory. The seeds are copied to a scratch directory so
# that a run never adds files to the repository.
#
# Usage: scripts/fuzz-smoke.sh [SECONDS_PER_TARGET]   (default 20)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-20}
cd "$root/fuzz"

command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
# libFuzzer needs nightly-only rustc flags: use a nightly toolchain when one is installed, else let
# the stable compiler accept them.
if rustup run nightly rustc --version >/dev/null 2>&1; then
  fuzz=(cargo +nightly fuzz)
else
  export RUSTC_BOOTSTRAP=1
  fuzz=(cargo fuzz)
fi

"${fuzz[@]}" build -O
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
targets=$("${fuzz[@]}" list)
# An empty list would pass without fuzzing anything.
[ -n "$targets" ] || { echo "fuzz-smoke: cargo fuzz list found no targets in fuzz/" >&2; exit 1; }
for target in $targets; do
  mkdir -p "$scratch/$target"
  [ -d "corpus/$target" ] && cp -r "corpus/$target/." "$scratch/$target/"
  echo "fuzz-smoke: $target for ${seconds}s"
  log="$scratch/$target.log"
  if ! "${fuzz[@]}" run -O "$target" "$scratch/$target" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=4096 >"$log" 2>&1; then
    tail -n 60 "$log" >&2
    echo "fuzz-smoke: $target FAILED (the crashing input is under fuzz/artifacts/$target)" >&2
    exit 1
  fi
  # libFuzzer ends a completed run with `Done N runs in S second(s)`. Without it, or with N = 0,
  # the target exited without fuzzing (a seed directory it could not read, an early return).
  runs=$(sed -n 's/^Done \([0-9][0-9]*\) runs.*/\1/p' "$log" | tail -n 1)
  if [ -z "$runs" ] || [ "$runs" -eq 0 ]; then
    tail -n 20 "$log" >&2
    echo "fuzz-smoke: $target ran ${runs:-no} inputs (no \"Done N runs\" line with N > 0)" >&2
    exit 1
  fi
  echo "fuzz-smoke: $target ran $runs inputs"
done
echo "fuzz-smoke: all $(wc -w <<<"$targets") targets ran ${seconds}s without a crash"
