#!/usr/bin/env bash
# Builds kube-apiserver, etcd, kube-controller-manager, kube-scheduler and kubectl from the wrapper
# Go module in testenv/k8s, and kwok from testenv/kwok, and caches them outside the work tree, keyed
# by everything that changes the output.
# Prints the directory that holds the binaries on its last line of stdout.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=../testenv/versions.env
. "$root/testenv/versions.env"
module="$root/testenv/k8s"
kwok_module="$root/testenv/kwok"
cache_root=${KRO_TESTENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kro-testenv}

command -v go >/dev/null || { echo "testenv-build: go is not installed (need Go >= 1.26)" >&2; exit 1; }

tags="selinux,notest,grpcnotrace"
common=(-trimpath -pgo=off "-tags=$tags")
build_date="2026-01-01T00:00:00Z"
stamp=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  stamp+=" -X $pkg.gitVersion=v$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$K8S_MINOR"
  stamp+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$build_date"
done
binaries=(kube-apiserver etcd kube-controller-manager kube-scheduler kubectl kwok)
key=$( { cat "$module/go.mod" "$module/go.sum" "$kwok_module/go.mod" "$kwok_module/go.sum"; echo "${common[*]}" "$stamp" "${binaries[*]}"; go version; } | sha256sum | cut -c1-16)
out="$cache_root/$key"

cached_ok() {
  local b
  for b in "${binaries[@]}"; do [ -x "$out/$b" ] || return 1; done
  [ -s "$out/kwok-stages.yaml" ] || return 1
  "$out/kube-apiserver" --version >/dev/null 2>&1 && "$out/etcd" --version >/dev/null 2>&1
}

if cached_ok; then
  echo "testenv-build: cached binaries in $out" >&2
  echo "$out"
  exit 0
fi

mkdir -p "$cache_root"
tmp=$(mktemp -d "$cache_root/.build-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export CGO_ENABLED=0 GOFLAGS=-modcacherw
cd "$module"
timed() { # name, package, then extra go build arguments
  local name=$1 pkg=$2; shift 2
  local t0=$SECONDS
  if [ -x /usr/bin/time ]; then
    /usr/bin/time -f "testenv-build: $name peak RSS %M KiB" go build "$@" -o "$tmp/$name" "$pkg" >&2
  else
    go build "$@" -o "$tmp/$name" "$pkg" >&2
  fi
  echo "testenv-build: $name built in $((SECONDS - t0)) s, $(du -h "$tmp/$name" | cut -f1)" >&2
}
echo "testenv-build: building control plane v$K8S_VERSION (etcd v$ETCD_VERSION) into $out" >&2
timed kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "${common[@]}" -ldflags "-s -w$stamp"
timed etcd go.etcd.io/etcd/server/v3 "${common[@]}" -ldflags "-s -w"
timed kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager "${common[@]}" -ldflags "-s -w$stamp"
timed kube-scheduler k8s.io/kubernetes/cmd/kube-scheduler "${common[@]}" -ldflags "-s -w$stamp"
timed kubectl k8s.io/kubernetes/cmd/kubectl "${common[@]}" -ldflags "-s -w$stamp"
# kwok (a fake kubelet) has its own module graph, so it gets its own wrapper module.
cd "$kwok_module"
timed kwok sigs.k8s.io/kwok/cmd/kwok -trimpath -pgo=off -ldflags "-s -w"
# kwok's "fast" stages (node initialise + heartbeat, pod ready/complete/delete) ship as YAML inside
# its module; keep one concatenated copy next to the binary.
stages="$(go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)/kustomize/stage"
for f in "$stages/node/fast/node-initialize.yaml" "$stages/node/heartbeat/node-heartbeat.yaml" "$stages"/pod/fast/pod-*.yaml; do
  echo "---"; cat "$f"
done > "$tmp/kwok-stages.yaml"

# Publish atomically: a killed build leaves only the temporary directory behind.
rm -rf "$out.old"
[ -d "$out" ] && mv "$out" "$out.old"
mv "$tmp" "$out"
trap - EXIT
rm -rf "$out.old"
echo "$out"
