#!/usr/bin/env bash
# CI smoke test of the benchmark harness: N = 20 instances of both benchmark RGDs with upstream kro
# and with kro-rs (debug builds), each on a fresh control plane. Asserts only that both controllers
# converge (every instance ACTIVE); never a time. Results go to a temporary directory.
# Builds upstream kro itself when its cache is cold (scripts/upstream-kro-build.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
upstream=$(bash scripts/upstream-kro-build.sh)
upstream_dir=$(cd testenv/upstream-kro && go list -m -f '{{.Dir}}' github.com/kubernetes-sigs/kro)
cargo build -p kro-operator -p kro-bench >&2
target=${CARGO_TARGET_DIR:-$root/target}
out=$(mktemp -d "${TMPDIR:-/tmp}/kro-bench-smoke-XXXXXX")
"$target/debug/kro-bench" --root "$root" \
  --upstream "$upstream" --upstream-crds "$upstream_dir/helm/crds" \
  --kro-rs "${KRO_RS_BIN:-$target/debug/kro-operator}" \
  --scenario three-resource:20 --scenario chain:20 \
  --settle-seconds 2 --quiet-seconds 5 --timeout-seconds 180 \
  --out-dir "$out" --log-dir "$out/logs" --require-convergence
rm -rf "$out"
echo "bench smoke: both controllers converged" >&2
