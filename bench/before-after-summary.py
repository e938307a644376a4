#!/usr/bin/env python3
"""Medians of bench/before-after.sh's repetitions: one row per scenario and controller.

Usage: before-after-summary.py OUT_DIR BASE_SHA   (reads OUT_DIR/run-*/latest.json)
"""
import json
import statistics
import sys
from pathlib import Path

FIELDS = [
    ("wall_seconds", "all ACTIVE (s)", "{:.1f}"),
    ("ready_wall_seconds", "all Ready (s)", "{:.1f}"),
    ("cpu_seconds", "CPU (s)", "{:.1f}"),
    ("peak_rss_mib", "peak RSS (MiB)", "{:.1f}"),
    ("requests_total", "API requests", "{:.0f}"),
]


def main() -> int:
    out_dir, base = Path(sys.argv[1]), sys.argv[2]
    reports = sorted(out_dir.glob("run-*/latest.json"))
    if not reports:
        print(f"no run-*/latest.json under {out_dir}", file=sys.stderr)
        return 1
    values: dict[tuple[str, str], dict[str, list[float]]] = {}
    order: list[tuple[str, str]] = []
    for report in reports:
        for comparison in json.loads(report.read_text())["comparisons"]:
            for run in comparison["runs"]:
                key = (comparison["scenario"], run["controller"])
                if key not in values:
                    values[key] = {field: [] for field, _, _ in FIELDS}
                    order.append(key)
                for field, _, _ in FIELDS:
                    values[key][field].append(float(run[field]))
    print(f"# kro-rs before ({base}) and after, median of {len(reports)} repetitions\n")
    print("The `before` rows are the baseline; ratios are after / before (lower is better).\n")
    header = " | ".join(title for _, title, _ in FIELDS)
    print(f"| scenario | build | {header} | wall times (s) |")
    print("|---|---|" + "---:|" * len(FIELDS) + "---|")
    for scenario, controller in order:
        build = "before" if controller == "upstream-kro" else "after"
        medians = {f: statistics.median(v) for f, v in values[(scenario, controller)].items()}
        baseline = values.get((scenario, "upstream-kro"))
        cells = []
        for field, _, fmt in FIELDS:
            cell = fmt.format(medians[field])
            if build == "after" and baseline:
                base_median = statistics.median(baseline[field])
                if base_median:
                    cell += f" (×{medians[field] / base_median:.2f})"
            cells.append(cell)
        walls = ", ".join(f"{w:.1f}" for w in values[(scenario, controller)]["wall_seconds"])
        print(f"| {scenario} | {build} | " + " | ".join(cells) + f" | {walls} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
