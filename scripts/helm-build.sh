#!/usr/bin/env bash
# Builds the `helm` v4 CLI (helm.sh/helm/v4/cmd/helm) from the wrapper Go module in testenv/helm and
# caches it outside the work tree, keyed by everything that changes the output, like
# scripts/testenv-build.sh does for the control plane. scripts/helm-check.sh uses it.
# Prints the path of the binary on its last line of stdout.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
module="$root/testenv/helm"
cache_root=${KRO_TESTENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kro-testenv}

command -v go >/dev/null || { echo "helm-build: go is not installed (need Go >= 1.26)" >&2; exit 1; }
[ -f "$module/go.mod" ] || { echo "helm-build: $module/go.mod is missing" >&2; exit 1; }

pkg=helm.sh/helm/v4/cmd/helm
# The version stamp helm's Makefile sets for a tagged release, so `helm version` names the release.
version=$(cd "$module" && go list -m -f '{{.Version}}' helm.sh/helm/v4) \
  || { echo "helm-build: cannot read the helm.sh/helm/v4 version from $module/go.mod" >&2; exit 1; }
flags=(-trimpath -pgo=off -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$version -X helm.sh/helm/v4/internal/version.gitTreeState=clean")
key=$( { cat "$module/go.mod" "$module/go.sum"; echo "$pkg" "${flags[*]}"; go version; } | sha256sum | cut -c1-16)
out="$cache_root/helm-$key"
binary="$out/helm"

if [ -x "$binary" ] && "$binary" version --short >/dev/null 2>&1; then
  echo "helm-build: cached binary $binary ($("$binary" version --short))" >&2
  echo "$binary"
  exit 0
fi

mkdir -p "$cache_root"
tmp=$(mktemp -d "$cache_root/.build-helm-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export CGO_ENABLED=0 GOFLAGS=-modcacherw
cd "$module"
t0=$SECONDS
echo "helm-build: building $pkg ($version) into $out" >&2
if [ -x /usr/bin/time ]; then
  /usr/bin/time -f "helm-build: peak RSS %M KiB" go build "${flags[@]}" -o "$tmp/helm" "$pkg" >&2
else
  go build "${flags[@]}" -o "$tmp/helm" "$pkg" >&2
fi
"$tmp/helm" version --short >/dev/null || { echo "helm-build: the built helm does not run" >&2; exit 1; }
echo "helm-build: built in $((SECONDS - t0)) s, $(du -h "$tmp/helm" | cut -f1)" >&2

# Publish atomically: a killed build leaves only the temporary directory behind.
rm -rf "$out.old"
[ -d "$out" ] && mv "$out" "$out.old"
mv "$tmp" "$out"
trap - EXIT
rm -rf "$out.old"
echo "$binary"
