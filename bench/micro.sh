#!/usr/bin/env bash
# Runs the Criterion micro-benchmarks (schema conversion, graph compilation, CEL evaluation) with
# short warm-up and measurement times, then the side-by-side CEL comparison and the planning
# pass, and collects every figure of this run into bench/results/micro.md and micro.json.
#
# Side by side: every case of bench/cel-cases.json runs in cel-go as upstream kro v0.9.4 uses it
# (bench/celgo) and in kro-cel (kro-cel/benches/cases.rs), each KRO_MICRO_RUNS times; a figure is
# the median of the runs' medians, and micro.md ends with the geometric mean of the ratios. The
# planning pass (kro-runtime/benches/plan.rs, steady state of the 20-resource graph) runs as many
# times. With KRO_MICRO_BASELINE=<git revision>, that revision is built aside (git archive into a
# temporary directory, its own target directory) with this tree's cases bench, and its kro-cel
# cases and planning pass are measured in the same run, for a before/after comparison.
#
# Usage: bench/micro.sh [extra criterion arguments]   (e.g. a benchmark name filter)
# Env: KRO_MICRO_WARMUP (s, default 1), KRO_MICRO_MEASURE (s, default 3), KRO_MICRO_RUNS
#      (default 3), KRO_MICRO_GO_BENCHTIME (default 1s), KRO_MICRO_BASELINE (git revision).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
target=${CARGO_TARGET_DIR:-$root/target}
out="$root/bench/results"
runs=${KRO_MICRO_RUNS:-3}
warmup=${KRO_MICRO_WARMUP:-1}
measure=${KRO_MICRO_MEASURE:-3}
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
stamp="$work/stamp"
touch "$stamp"
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
criterion() { # crate bench [args...]: one Criterion run
  local crate=$1 bench=$2
  shift 2
  echo "micro: cargo bench -p $crate --bench $bench" >&2
  cargo bench -p "$crate" --bench "$bench" -- --warm-up-time "$warmup" \
    --measurement-time "$measure" --noplot "$@" >&2
}
# Criterion's median of every benchmark of one group, as "name median_ns" lines.
medians() { # criterion-dir group
  python3 - "$1" "$2" <<'PY'
import json, os, sys
base = os.path.join(sys.argv[1], sys.argv[2])
for name in sorted(os.listdir(base)) if os.path.isdir(base) else []:
    est = os.path.join(base, name, "new", "estimates.json")
    if os.path.exists(est):
        print(name, json.load(open(est))["median"]["point_estimate"])
PY
}

for crate in kro-schema kro-graph kro-cel; do
  for bench in $(bench_targets "$crate"); do
    # The shared CEL cases run below, several times.
    [ "$bench" = cases ] && continue
    criterion "$crate" "$bench" "$@"
  done
done

# --- side by side: cel-go and kro-cel over bench/cel-cases.json, and the planning pass ---
echo "micro: cel-go (bench/celgo), $runs runs" >&2
(cd bench/celgo && go test -run '^$' -bench BenchmarkCEL -benchtime "${KRO_MICRO_GO_BENCHTIME:-1s}" \
  -count "$runs") | tee "$work/celgo.txt" >&2
for run in $(seq "$runs"); do
  criterion kro-cel cases
  medians "$target/criterion" cel >"$work/kro-cel.$run"
  criterion kro-runtime plan plan_20_resources_steady_state
  python3 -c 'import json,sys; print("plan", json.load(open(sys.argv[1]))["median"]["point_estimate"])' \
    "$target/criterion/plan_20_resources_steady_state/new/estimates.json" >"$work/plan.$run"
done
if [ -n "${KRO_MICRO_BASELINE:-}" ]; then
  base="$work/baseline"
  mkdir -p "$base"
  git archive "$KRO_MICRO_BASELINE" | tar -x -C "$base"
  # The baseline gets this tree's case set and cases bench.
  cp bench/cel-cases.json "$base/bench/"
  cp kro-cel/benches/cases.rs "$base/kro-cel/benches/"
  grep -q 'name = "cases"' "$base/kro-cel/Cargo.toml" ||
    printf '\n[[bench]]\nname = "cases"\nharness = false\n' >>"$base/kro-cel/Cargo.toml"
  base_target="${target}-baseline"
  for run in $(seq "$runs"); do
    (cd "$base" && CARGO_TARGET_DIR="$base_target" cargo bench -p kro-cel --bench cases -- \
      --warm-up-time "$warmup" --measurement-time "$measure" --noplot >&2)
    medians "$base_target/criterion" cel >"$work/baseline.$run"
    (cd "$base" && CARGO_TARGET_DIR="$base_target" cargo bench -p kro-runtime --bench plan -- \
      --warm-up-time "$warmup" --measurement-time "$measure" --noplot \
      plan_20_resources_steady_state >&2)
    python3 -c 'import json,sys; print("plan", json.load(open(sys.argv[1]))["median"]["point_estimate"])' \
      "$base_target/criterion/plan_20_resources_steady_state/new/estimates.json" \
      >"$work/baseline-plan.$run"
  done
fi

# Criterion leaves <target>/criterion/<group>/<bench>/new/{benchmark,estimates}.json; only the files
# written by this run (newer than the stamp) are collected.
python3 - "$target/criterion" "$stamp" "$out" "$work" "$runs" "${KRO_MICRO_BASELINE:-}" <<'PY'
import json, math, os, re, statistics, sys
base, stamp, out, work, runs, baseline = sys.argv[1:7]
runs = int(runs)
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

def runs_of(prefix):
    """name -> list of the per-run medians in work/<prefix>.<n>"""
    found = {}
    for n in range(1, runs + 1):
        path = os.path.join(work, f"{prefix}.{n}")
        if not os.path.exists(path):
            continue
        for line in open(path):
            name, value = line.split()
            found.setdefault(name, []).append(float(value))
    return found

go = {}
for line in open(os.path.join(work, "celgo.txt")):
    m = re.match(r"BenchmarkCEL/(\S+?)(-\d+)?\s+\d+\s+([\d.]+) ns/op", line)
    if m:
        go.setdefault(m.group(1), []).append(float(m.group(3)))
med = lambda values: statistics.median(values) if values else None
kro, before = runs_of("kro-cel"), runs_of("baseline")
plan, plan_before = runs_of("plan").get("plan", []), runs_of("baseline-plan").get("plan", [])
cases = [c["name"] for c in json.load(open(os.path.join(os.path.dirname(out), "cel-cases.json")))["cases"]]

side = []
for name in cases:
    g, k, b = med(go.get(name, [])), med(kro.get(name, [])), med(before.get(name, []))
    side.append({"case": name, "cel_go_ns": g, "kro_cel_ns": k, "kro_cel_baseline_ns": b,
                 "ratio": (k / g) if g and k else None})
ratios = [s["ratio"] for s in side if s["ratio"]]
geomean = math.exp(sum(math.log(r) for r in ratios) / len(ratios)) if ratios else float("nan")
summary = {"runs": runs, "baseline": baseline or None, "cel": side, "geometric_mean": geomean,
           "plan_ns": med(plan), "plan_baseline_ns": med(plan_before)}
with open(os.path.join(out, "micro.json"), "w") as f:
    json.dump({"criterion": rows, "side_by_side": summary}, f, indent=2, sort_keys=True)
    f.write("\n")

def human(ns):
    if ns is None:
        return "-"
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.2f} {unit}"
    return f"{ns:.0f} ns"
with open(os.path.join(out, "micro.md"), "w") as f:
    f.write("| benchmark | mean | median | std dev |\n|---|---:|---:|---:|\n")
    for r in rows:
        f.write(f"| {r['benchmark']} | {human(r['mean_ns'])} | {human(r['median_ns'])} | {human(r['std_dev_ns'])} |\n")
    f.write(f"\n## kro-cel and cel-go side by side (bench/cel-cases.json, median of {runs} runs)\n\n")
    load = os.getloadavg()
    f.write(f"Load average at the end of the run: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}.\n\n")
    head = "| case | cel-go | kro-cel |" + (f" kro-cel at {baseline} |" if baseline else "") + " kro-cel / cel-go |\n"
    f.write(head + "|---|---:|---:|" + ("---:|" if baseline else "") + "---:|\n")
    for s in side:
        ratio = f"x{s['ratio']:.2f}" if s["ratio"] else "-"
        f.write(f"| {s['case']} | {human(s['cel_go_ns'])} | {human(s['kro_cel_ns'])} |"
                + (f" {human(s['kro_cel_baseline_ns'])} |" if baseline else "") + f" {ratio} |\n")
    f.write("\n| planning pass (20 resources, steady state) | median |\n|---|---:|\n")
    f.write(f"| kro-rs | {human(med(plan))} |\n")
    if plan_before:
        f.write(f"| kro-rs at {baseline} | {human(med(plan_before))} |\n")
        if plan:
            f.write(f"| speed-up | x{med(plan_before) / med(plan):.2f} |\n")
    f.write(f"\ngeometric mean kro-cel / cel-go: x{geomean:.2f}\n")
print(open(os.path.join(out, "micro.md")).read(), end="")
PY
