#!/usr/bin/env bash
# The pure crates must never pull an async runtime or an HTTP client: they compile once and evaluate
# many times, and must be usable with no Kubernetes client at all. Fails naming the offending path.
set -euo pipefail
cd "$(dirname "$0")/.."
forbidden='^(tokio|hyper|kube-client|kube|reqwest|tower) '
status=0
# kro-runtime, the reconcile engine, is pure too; kro-controller is the one async library crate.
for crate in kro-api kro-schema kro-cel kro-graph kro-applyset kro-runtime; do
  # shellcheck disable=SC2086
  deps=$(cargo tree -p $crate -e normal --prefix none --no-dedupe --offline 2>/dev/null \
    || cargo tree -p $crate -e normal --prefix none --no-dedupe)
  bad=$(printf '%s\n' "$deps" | grep -E "$forbidden" | sort -u || true)
  if [ -n "$bad" ]; then
    echo "check-pure-crates: $crate depends on a forbidden crate:" >&2
    printf '  %s\n' $bad >&2
    # shellcheck disable=SC2086
    cargo tree -p $crate -e normal -i "$(printf '%s\n' "$bad" | head -1 | cut -d' ' -f1)" >&2 || true
    status=1
  else
    echo "check-pure-crates: $crate is free of tokio, hyper and kube-client"
  fi
done
exit $status
