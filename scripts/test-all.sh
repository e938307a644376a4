#!/usr/bin/env bash
# Runs every check and test of the workspace, the integration tests against a real
# kube-apiserver + etcd included. This is what CI runs (.ci/run) and what the README documents.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# kube-rs honours HTTPS_PROXY even for loopback; the control plane is on 127.0.0.1.
unset HTTPS_PROXY https_proxy HTTP_PROXY http_proxy ALL_PROXY all_proxy
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
# Builds survive between runs on the same machine; a machine with no cache just builds.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kro-rs/target}
t0=$SECONDS
current_step="start"
step() { current_step=$*; echo; echo "=== [$((SECONDS - t0))s] $*"; }
# What failed, repeated at the very end of the output (after the control plane's logs), so a
# CI log cut to its tail still says which step and which tests failed.
failure_summary=$(mktemp)
summarise_failure() {
  local code=$1
  if [ "$code" -ne 0 ]; then
    echo
    echo "=== test-all FAILED (exit $code) in step: $current_step"
    cat "$failure_summary"
  fi
  rm -f "$failure_summary"
}
trap 'summarise_failure $?' EXIT

step "toolchain"
cargo --version
rustup component add rustfmt clippy >/dev/null 2>&1 || true

step "upstream kro's Go module (the tests' corpus of examples and fixtures): fetch or take from the module cache"
# The tests would run the script themselves; exported once, no test process runs Go.
KRO_UPSTREAM_KRO_DIR=$(bash scripts/upstream-corpus.sh)
export KRO_UPSTREAM_KRO_DIR
# Snapshot tests (insta) fail on a missing or different snapshot instead of writing a new one.
export INSTA_UPDATE=no

step "cargo fmt --check"
cargo fmt --all -- --check

step "pure crates stay free of async and HTTP dependencies"
bash scripts/check-pure-crates.sh

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo doc (no warnings) and the public API listings"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked --quiet
KRO_PUBLIC_API_TARGET_DIR="$CARGO_TARGET_DIR/public-api" bash scripts/check-public-api.sh

step "every library crate builds from its package alone"
bash scripts/check-package.sh

step "build the test binaries (and the kro and kro-operator binaries the tests run)"
cargo build --workspace --locked --bins
cargo test --workspace --locked --no-run

step "control plane: build or take from cache"
bin=$(bash scripts/testenv-build.sh)

step "helm v4: build from Go modules or take from cache"
helm_build_t0=$SECONDS
helm_bin=$(bash scripts/helm-build.sh)
echo "helm-build: $helm_bin after $((SECONDS - helm_build_t0)) s"

step "control plane: start"
run=$(bash scripts/testenv-up.sh "$bin")
# shellcheck disable=SC1091
. "$run/env"
cleanup() {
  local code=$?
  if [ $code -ne 0 ]; then
    for log in "$run"/*.log; do
      [ -f "$log" ] || continue
      echo "--- last 40 lines of $log"
      tail -n 40 "$log"
    done
  fi
  bash scripts/testenv-down.sh "$run" || true
  summarise_failure "$code"
  exit $code
}
trap cleanup EXIT

step "Helm chart: lint, render, install in both RBAC modes with an instance ACTIVE, upgrade from upstream's chart"
helm_check_t0=$SECONDS
KRO_HELM=$helm_bin bash scripts/helm-check.sh
echo "helm-check: passed in $((SECONDS - helm_check_t0)) s"

step "cargo test (workspace, unit + doc + integration, real control plane)"
# The fault and hostile-input tests record what they tried; the table is rendered from that.
rows=$(mktemp -d)
test_log=$(mktemp)
if ! KRO_RELIABILITY_DIR="$rows" cargo test --workspace --locked --no-fail-fast 2>&1 | tee "$test_log"; then
  { echo "failing tests (see their output above):"
    grep -E '^test .* FAILED$|^---- .* stdout ----$|panicked at|^error: test failed' "$test_log" | head -n 80
  } >>"$failure_summary"
  exit 1
fi
rm -f "$test_log"
# The committed table must be what this run's tests recorded (measured numbers aside, see the
# script). When it is not, the diff is shown and this run's table is written for committing.
if ! python3 scripts/reliability-report.py --check "$rows" docs/reliability-table.md; then
  python3 scripts/reliability-report.py "$rows" docs/reliability-table.md
  echo "test-all: docs/reliability-table.md is out of date; this run's table was written there: commit it" >&2
  git --no-pager diff -- docs/reliability-table.md | head -n 60 >>"$failure_summary"
  exit 1
fi
rm -rf "$rows"

step "out-of-tree consumer: the kro crates from a crate of its own (kube's default TLS, k8s-openapi latest)"
# examples/consumer is its own workspace with its own lock file, depending on the crates as a
# user's crate does; its controller program is a test on this control plane (exits 1 on a wrong
# state or a timeout).
consumer_t0=$SECONDS
consumer_dir="$root/examples/consumer"
consumer_target="$CARGO_TARGET_DIR/consumer"
cargo fmt --manifest-path "$consumer_dir/Cargo.toml" -- --check
CARGO_TARGET_DIR="$consumer_target" cargo build --manifest-path "$consumer_dir/Cargo.toml" --locked --bins
expect() { # expect NAME OUTPUT NEEDLE...: every needle is a line of the output
  local name=$1 output=$2
  shift 2
  for needle in "$@"; do
    grep -qxF -- "$needle" <<<"$output" || { echo "consumer $name: no line \"$needle\" in:"; echo "$output"; exit 1; }
  done
}
# Assigned first: set -e stops on a program's failure only outside an argument.
output=$("$consumer_target/debug/render")
expect render "$output" \
  "# order: config -> deployment -> service" "# state: ACTIVE" \
  "kind: ConfigMap" "kind: Deployment" "kind: Service" "  replicas: 2"
output=$("$consumer_target/debug/cel")
expect cel "$output" \
  "check schema.spec.replicas * 2: Int" "eval schema.spec.replicas * 2: 6" \
  'eval ${schema.spec.greeting}, world: "hello, world"' "eval schema.status.ready: pending"
output=$("$consumer_target/debug/controller")
expect controller "$output" \
  "instance ACTIVE: done" "instance finalized and gone: done" \
  "embedded controller: instance went ACTIVE and was deleted"
echo "consumer: passed in $((SECONDS - consumer_t0)) s"

step "benchmark harness smoke: N = 20 with upstream kro and kro-rs, both must converge (no timings)"
# Builds upstream kro from the Go module proxy on a cold machine (cached outside the clone).
bash bench/smoke.sh

step "migration: upstream kro's instances taken over by kro-rs without rewriting a child"
bash bench/migration.sh

step "differential: upstream kro v0.9.4 and kro-rs side by side, differences against bench/differential-allow.yaml"
differential_t0=$SECONDS
bash bench/differential.sh
echo "differential: passed in $((SECONDS - differential_t0)) s"

step "differential self-test: a deliberate change in kro-rs is reported"
bash bench/differential.sh --self-test

step "pprof build: CPU and heap profiles on --pprof-bind-address (cargo feature pprof)"
cargo clippy -p kro-operator --features pprof --all-targets --locked -- -D warnings
cargo test -p kro-operator --features pprof --locked --test pprof
# Anything run after this uses the default build of the operator again.
cargo build -p kro-operator --locked --bin kro-operator

step "fuzz targets: bounded runs on the seed corpora"
bash scripts/fuzz-smoke.sh "${KRO_FUZZ_SECONDS:-20}"

step "all checks passed in $((SECONDS - t0)) s"
