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
for target in $("${fuzz[@]}" list); do
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
  grep -E '^Done [0-9]+ runs' "$log" || tail -n 2 "$log"
done
echo "fuzz-smoke: all targets ran ${seconds}s without a crash"
