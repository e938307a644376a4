#!/usr/bin/env bash
# kro-rs against an earlier kro-rs, side by side in one run: did a change cost requests, CPU or
# wall time?
#
# Usage: bench/before-after.sh BASE_REV [--scenario S ...]
#   (KRO_BEFORE_AFTER_BASE_BIN=path: an operator already built from BASE_REV)
#   (default scenarios: three-resource:1000 and chain:1000; KRO_BEFORE_AFTER_RUNS=3 repetitions)
#
# Builds the operator of BASE_REV in a temporary git worktree (its own target directory: cargo
# names a workspace's artifacts by their path inside the workspace, so two checkouts sharing a
# target directory overwrite each other's crates) and the operator of the working tree, then
# runs kro-bench with BASE_REV as the baseline ("upstream-kro" in the report's columns) and the
# working tree as kro-rs, each repetition on fresh control planes. Writes one report per
# repetition under bench/results/before-after/run-N and the medians to
# bench/results/before-after/summary.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
unset HTTPS_PROXY https_proxy HTTP_PROXY http_proxy ALL_PROXY all_proxy

base=${1:?usage: bench/before-after.sh BASE_REV [--scenario S ...]}
shift
args=("$@")
if [ ${#args[@]} -eq 0 ]; then
  args=(--scenario three-resource:1000 --scenario chain:1000)
fi
runs=${KRO_BEFORE_AFTER_RUNS:-3}
cache=${XDG_CACHE_HOME:-$HOME/.cache}/kro-rs
base_sha=$(git rev-parse --short "$base")

# KRO_BEFORE_AFTER_BASE_BIN: an operator already built from BASE_REV (skips its build).
before_bin=${KRO_BEFORE_AFTER_BASE_BIN:-}
if [ -z "$before_bin" ]; then
  worktree=$(mktemp -d)
  trap 'git worktree remove --force "$worktree" >/dev/null 2>&1 || true' EXIT
  git worktree add --quiet --detach "$worktree" "$base"
  echo "before-after: building the operator of $base_sha" >&2
  (cd "$worktree" && CARGO_TARGET_DIR="$cache/target-before" cargo build --release --locked -p kro-operator >&2)
  before_bin="$cache/target-before/release/kro-operator"
fi
echo "before-after: building the working tree's operator and kro-bench" >&2
cargo build --release --locked -p kro-operator -p kro-bench >&2
target=${CARGO_TARGET_DIR:-$cache/target}
after_bin="$target/release/kro-operator"
driver="$target/release/kro-bench"

out="$root/bench/results/before-after"
mkdir -p "$out"
for run in $(seq 1 "$runs"); do
  echo "before-after: repetition $run of $runs" >&2
  "$driver" --root "$root" --upstream "$before_bin" --kro-rs "$after_bin" \
    --note "baseline (upstream-kro column)=kro-rs $base_sha" \
    --note "kro-rs=$(git rev-parse --short HEAD)$(git diff --quiet || echo '+changes')" \
    --quiet-seconds "${KRO_BEFORE_AFTER_QUIET:-10}" --require-convergence \
    --out-dir "$out/run-$run" "${args[@]}"
done
python3 "$root/bench/before-after-summary.py" "$out" "$base_sha" >"$out/summary.md"
cat "$out/summary.md"
