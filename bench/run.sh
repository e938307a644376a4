#!/usr/bin/env bash
# Reproduces bench/results/latest.{json,md} and active-over-time.svg: kro-rs against upstream kro
# (v0.9.4, built from the Go module proxy), one fresh local control plane per measurement.
#
# Usage: bench/run.sh [--scenario S ...]   (default: N = 100 and 1,000 for both RGDs, and idle-noise)
#   KRO_BENCH_FULL=1 adds N = 3,000.  KRO_RS_BIN overrides the kro-rs operator binary (default: a
#   release build of kro-operator).  Other kro-bench flags (e.g. --quiet-seconds) pass through;
#   --out-dir DIR writes the results there instead of bench/results.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
upstream=$(bash scripts/upstream-kro-build.sh)
upstream_dir=$(cd testenv/upstream-kro && go list -m -f '{{.Dir}}' github.com/kubernetes-sigs/kro)
upstream_version=$(cd testenv/upstream-kro && go list -m -f '{{.Version}}' github.com/kubernetes-sigs/kro)
if [ -z "${KRO_RS_BIN:-}" ]; then
  cargo build --release -p kro-operator >&2
  KRO_RS_BIN=${CARGO_TARGET_DIR:-$root/target}/release/kro-operator
fi
cargo build --release -p kro-bench >&2
driver=${CARGO_TARGET_DIR:-$root/target}/release/kro-bench
. testenv/versions.env

args=("$@")
if ! printf '%s\n' "${args[@]}" | grep -q -- '--scenario'; then
  args+=(--scenario three-resource:100 --scenario chain:100 --scenario three-resource:1000 --scenario chain:1000)
  if [ "${KRO_BENCH_FULL:-0}" = 1 ]; then
    args+=(--scenario three-resource:3000 --scenario chain:3000)
  fi
  args+=(--scenario idle-noise)
fi
# An --out-dir of the caller's replaces the default.
out_args=(--out-dir "$root/bench/results")
if printf '%s\n' "${args[@]}" | grep -q -- '--out-dir'; then
  out_args=()
fi
exec "$driver" --root "$root" \
  --upstream "$upstream" --upstream-crds "$upstream_dir/helm/crds" \
  --kro-rs "$KRO_RS_BIN" \
  --note "upstream-kro=$upstream_version" \
  --note "kro-rs=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
  --note "kubernetes=v$K8S_VERSION" \
  "${out_args[@]}" \
  "${args[@]}"
