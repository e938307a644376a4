#!/usr/bin/env bash
# Fetches the source of upstream kro's Go module, at the release the wrapper module
# testenv/upstream-kro pins (v0.9.4; go.sum checks its hash), into the Go module cache, outside
# the work tree. The tests read their corpus from it: `examples/kubernetes/<name>/` and
# `test/upgrade/fixtures/` (see kro-test-support), so nothing of upstream is committed here.
# Idempotent; when the module is cached it only asks the cache (no network).
#
# Prints the module's source directory on the last line of stdout.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
module="$root/testenv/upstream-kro"
path=github.com/kubernetes-sigs/kro

command -v go >/dev/null || {
  echo "upstream-corpus: go is not installed (need Go >= 1.26 on PATH); the tests read upstream kro's examples from its Go module" >&2
  exit 1
}

# -modcacherw, as the other build scripts: a module cache the user can delete without chmod.
json=$(cd "$module" && GOFLAGS=-modcacherw go mod download -json "$path") || {
  echo "upstream-corpus: go mod download $path failed (in $module)" >&2
  exit 1
}
field() { printf '%s\n' "$json" | sed -n "s/^[[:space:]]*\"$1\": \"\\(.*\\)\",\\{0,1\\}\$/\\1/p"; }
error=$(field Error)
dir=$(field Dir)
if [ -n "$error" ] || [ -z "$dir" ]; then
  echo "upstream-corpus: $path: ${error:-no source directory in: $json}" >&2
  exit 1
fi
for sub in examples/kubernetes test/upgrade/fixtures; do
  [ -d "$dir/$sub" ] || { echo "upstream-corpus: $dir has no $sub" >&2; exit 1; }
done
echo "upstream-corpus: $path $(field Version) in $dir" >&2
echo "$dir"
