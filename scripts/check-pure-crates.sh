#!/usr/bin/env bash
# Keeps the shape ARCHITECTURE.md describes:
# 1. the pure crates never pull an async runtime or an HTTP client, not even through their
#    dev-dependencies: they compile once and evaluate many times, and must be usable with no
#    Kubernetes client at all;
# 2. dependencies between kro crates point one way: each crate may use only the kro crates below
#    it.
# Fails naming the offending crate and path.
set -euo pipefail
cd "$(dirname "$0")/.."
forbidden='^(tokio|hyper|kube-client|kube|kube-runtime|reqwest|tower) '
status=0
tree() { # crate edges
  cargo tree -p "$1" -e "$2" --prefix none --no-dedupe --offline 2>/dev/null \
    || cargo tree -p "$1" -e "$2" --prefix none --no-dedupe
}
for crate in kro-api kro-schema kro-cel kro-graph kro-applyset kro-runtime; do
  deps=$(tree "$crate" normal,dev)
  bad=$(printf '%s\n' "$deps" | grep -E "$forbidden" | sort -u || true)
  if [ -n "$bad" ]; then
    echo "check-pure-crates: $crate depends on a forbidden crate:" >&2
    printf '  %s\n' $bad >&2
    cargo tree -p "$crate" -e normal,dev -i "$(printf '%s\n' "$bad" | head -1 | cut -d' ' -f1)" >&2 || true
    status=1
  else
    echo "check-pure-crates: $crate is free of tokio, hyper and kube (dev-dependencies included)"
  fi
done

# The kro crates each crate may depend on (normal dependencies), per ARCHITECTURE.md.
declare -A allowed=(
  [kro-api]=""
  [kro-schema]="kro-api"
  [kro-cel]=""
  [kro-applyset]="kro-api"
  [kro-graph]="kro-api kro-schema kro-cel"
  [kro-runtime]="kro-api kro-schema kro-cel kro-graph kro-applyset"
  [kro-controller]="kro-api kro-schema kro-cel kro-graph kro-applyset kro-runtime"
)
for crate in "${!allowed[@]}"; do
  direct=$(cargo tree -p "$crate" -e normal --depth 1 --prefix none --offline 2>/dev/null \
    | awk 'NR > 1 && /^kro-/ {print $1}' | sort -u)
  for dep in $direct; do
    if ! grep -qw -- "$dep" <<<"${allowed[$crate]}"; then
      echo "check-pure-crates: $crate depends on $dep, which is above it (see ARCHITECTURE.md)" >&2
      status=1
    fi
  done
done
[ $status -eq 0 ] && echo "check-pure-crates: dependencies between kro crates point one way"
exit $status
