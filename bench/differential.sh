#!/usr/bin/env bash
# Differential check: upstream kro v0.9.4 and kro-rs, each on its own fresh control plane, get the
# same inputs (upstream's examples/kubernetes and test/upgrade/fixtures from its Go module, and the
# crafted scenarios in bench/differential/), step by step; after each step both clusters settle
# and are captured, normalised and compared (generated CRDs, children, instances, RGDs,
# GraphRevisions, Event reasons, accept/reject of each input). Exit status 0 only if every
# difference is on bench/differential-allow.yaml, every entry there matched a difference, and
# docs/compatibility.md is the list's current rendering.
#
#   bash bench/differential.sh                 the check
#   bash bench/differential.sh --self-test     kro-rs (debug build) alters a condition message;
#                                              passes only if the harness reports it
#   bash bench/differential.sh --render-docs   rewrite docs/compatibility.md
# Env: KRO_RS_BIN (default: the debug kro-operator, built), KRO_DIFFERENTIAL_LOGS (log directory;
# report.txt and differences.json land there), KRO_DIFFERENTIAL_DEBUG_DIR (every fingerprint the
# settle wait sees, to find what keeps a cluster from settling).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
unset HTTPS_PROXY https_proxy HTTP_PROXY http_proxy ALL_PROXY all_proxy
target=${CARGO_TARGET_DIR:-$root/target}
mode=check
case "${1:-}" in
  --self-test) mode=self-test ;;
  --render-docs) mode=render ;;
  "") ;;
  *) echo "usage: $0 [--self-test|--render-docs]" >&2; exit 2 ;;
esac

cargo build --quiet -p kro-bench >&2
bench="$target/debug/kro-bench"
if [ "$mode" = render ]; then
  exec "$bench" differential --root "$root" --render-docs
fi
# The page is checked first: a stale page fails in a second, before any control plane starts.
"$bench" differential --root "$root" --check-docs

upstream=$(bash scripts/upstream-kro-build.sh)
module=$(cd testenv/upstream-kro && go list -m -f '{{.Dir}}' github.com/kubernetes-sigs/kro)
# The self-test hook exists only in debug builds, so that mode always uses the debug binary.
if [ -z "${KRO_RS_BIN:-}" ] || [ "$mode" = self-test ]; then
  cargo build --quiet -p kro-operator --bin kro-operator >&2
  kro_rs="$target/debug/kro-operator"
else
  kro_rs=$KRO_RS_BIN
fi
bash scripts/testenv-build.sh >/dev/null
args=(differential --root "$root" --upstream "$upstream" --upstream-module "$module" --kro-rs "$kro_rs")
[ -n "${KRO_DIFFERENTIAL_LOGS:-}" ] && args+=(--log-dir "$KRO_DIFFERENTIAL_LOGS")
if [ "$mode" = self-test ]; then
  # One step is enough: every instance carries the condition from its first reconcile.
  exec "$bench" "${args[@]}" --step create --self-test " [differential-self-test]"
fi
exec "$bench" "${args[@]}"
