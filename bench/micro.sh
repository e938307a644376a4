#!/usr/bin/env bash
# Runs the Criterion micro-benchmarks (schema conversion, graph compilation, CEL evaluation) with
# short warm-up and measurement times, and collects every figure of this run into
# bench/results/micro.md and bench/results/micro.json.
# Usage: bench/micro.sh [extra criterion arguments]   (e.g. a benchmark name filter)
# Env: KRO_MICRO_WARMUP (s, default 1), KRO_MICRO_MEASURE (s, default 3).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
target=${CARGO_TARGET_DIR:-$root/target}
out="$root/bench/results"
mkdir -p "$out"
stamp=$(mktemp)
trap 'rm -f "$stamp"' EXIT
# Only the Criterion targets ([[bench]] with harness = false): the libtest harness of the unit
# tests would reject Criterion's options.
bench_targets() { # crate -> its bench target names
  cargo metadata --no-deps --format-version 1 | python3 -c '
import json, sys
for package in json.load(sys.stdin)["packages"]:
    if package["name"] == sys.argv[1]:
        for target in package["targets"]:
            if "bench" in target["kind"]:
                print(target["name"])
' "$1"
}
for crate in kro-schema kro-graph kro-cel; do
  for bench in $(bench_targets "$crate"); do
    echo "micro: cargo bench -p $crate --bench $bench" >&2
    cargo bench -p "$crate" --bench "$bench" -- --warm-up-time "${KRO_MICRO_WARMUP:-1}" \
      --measurement-time "${KRO_MICRO_MEASURE:-3}" --noplot "$@" >&2
  done
done
# Criterion leaves <target>/criterion/<group>/<bench>/new/{benchmark,estimates}.json; only the files
# written by this run (newer than the stamp) are collected.
python3 - "$target/criterion" "$stamp" "$out" <<'PY'
import json, os, sys
base, stamp, out = sys.argv[1], sys.argv[2], sys.argv[3]
since = os.path.getmtime(stamp)
rows = []
for dirpath, _, files in os.walk(base):
    if os.path.basename(dirpath) != "new" or "estimates.json" not in files or "benchmark.json" not in files:
        continue
    est_path = os.path.join(dirpath, "estimates.json")
    if os.path.getmtime(est_path) < since:
        continue
    bench = json.load(open(os.path.join(dirpath, "benchmark.json")))
    est = json.load(open(est_path))
    rows.append({
        "benchmark": bench["full_id"],
        "mean_ns": round(est["mean"]["point_estimate"], 1),
        "median_ns": round(est["median"]["point_estimate"], 1),
        "std_dev_ns": round(est["std_dev"]["point_estimate"], 1),
    })
rows.sort(key=lambda r: r["benchmark"])
if not rows:
    sys.exit("micro: no Criterion results were written by this run")
with open(os.path.join(out, "micro.json"), "w") as f:
    json.dump(rows, f, indent=2, sort_keys=True)
    f.write("\n")
def human(ns):
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.2f} {unit}"
    return f"{ns:.0f} ns"
with open(os.path.join(out, "micro.md"), "w") as f:
    f.write("| benchmark | mean | median | std dev |\n|---|---:|---:|---:|\n")
    for r in rows:
        f.write(f"| {r['benchmark']} | {human(r['mean_ns'])} | {human(r['median_ns'])} | {human(r['std_dev_ns'])} |\n")
print(open(os.path.join(out, "micro.md")).read(), end="")
PY
