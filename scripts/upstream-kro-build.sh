#!/usr/bin/env bash
# Builds upstream kro's controller (github.com/kubernetes-sigs/kro/cmd/controller) from the wrapper
# Go module in testenv/upstream-kro, for side-by-side benchmarks and the migration check, and caches
# it outside the work tree, keyed by everything that changes the output.
# Prints the path of the binary on its last line of stdout.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
module="$root/testenv/upstream-kro"
cache_root=${KRO_TESTENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kro-testenv}

command -v go >/dev/null || { echo "upstream-kro-build: go is not installed (need Go >= 1.26)" >&2; exit 1; }

pkg=github.com/kubernetes-sigs/kro/cmd/controller
flags=(-trimpath -pgo=off -ldflags "-s -w")
key=$( { cat "$module/go.mod" "$module/go.sum"; echo "$pkg" "${flags[*]}"; go version; } | sha256sum | cut -c1-16)
out="$cache_root/upstream-kro-$key"
binary="$out/kro-controller"

# The callers read upstream's CRDs from the module's source directory (`go list -m -f '{{.Dir}}'`,
# empty when the source is not in the module cache), so make sure it is there even when the
# binary is cached: a cleaned or new module cache must not turn into a missing CRD directory.
(cd "$module" && GOFLAGS=-modcacherw go mod download github.com/kubernetes-sigs/kro) >&2

if [ -x "$binary" ] && "$binary" --help >/dev/null 2>&1; then
  echo "upstream-kro-build: cached binary $binary" >&2
  echo "$binary"
  exit 0
fi

mkdir -p "$cache_root"
tmp=$(mktemp -d "$cache_root/.build-upstream-kro-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export CGO_ENABLED=0 GOFLAGS=-modcacherw
cd "$module"
t0=$SECONDS
echo "upstream-kro-build: building $pkg ($(go list -m -f '{{.Version}}' github.com/kubernetes-sigs/kro)) into $out" >&2
go build "${flags[@]}" -o "$tmp/kro-controller" "$pkg" >&2
echo "upstream-kro-build: built in $((SECONDS - t0)) s, $(du -h "$tmp/kro-controller" | cut -f1)" >&2

# Publish atomically: a killed build leaves only the temporary directory behind.
rm -rf "$out.old"
[ -d "$out" ] && mv "$out" "$out.old"
mv "$tmp" "$out"
trap - EXIT
rm -rf "$out.old"
echo "$binary"
