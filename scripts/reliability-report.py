#!/usr/bin/env python3
"""Writes the reliability table (docs/reliability-table.md) from the rows the tests recorded.

Usage: reliability-report.py <rows dir> <output.md>

The fault and hostile-input tests append one JSON object per line to
<rows dir>/<test file>.jsonl when KRO_RELIABILITY_DIR is set (see tests/src/reliability.rs):
{"category": ..., "case": ..., "tries": ..., "outcome": ...}. This script reads every *.jsonl
file of the directory and writes one Markdown table sorted by category, then case. The output
depends only on the rows: no timestamps, no host names.
"""

import json
import sys
from pathlib import Path

FIELDS = ("category", "case", "tries", "outcome")


def read_rows(directory: Path):
    files = sorted(directory.glob("*.jsonl"))
    if not files:
        sys.exit(f"{directory}: no *.jsonl files: run the tests with KRO_RELIABILITY_DIR={directory}")
    rows = []
    for path in files:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                sys.exit(f"{path}:{number}: not JSON: {error}")
            missing = [field for field in FIELDS if field not in row]
            if missing:
                sys.exit(f"{path}:{number}: missing {', '.join(missing)}")
            rows.append(row)
    return [path.stem for path in files], rows


def cell(value) -> str:
    # A cell is one line; a pipe would end it early.
    return " ".join(str(value).split()).replace("|", "\\|")


def render(test_files, rows) -> str:
    sources = ", ".join(f"`tests/tests/{name}.rs`" for name in test_files)
    lines = [
        "# Reliability: every fault and hostile input tried",
        "",
        "Every row below was written by a test while it ran, not by hand: the test tried the",
        "input or fault the row names, as many times as it says, asserted the outcome and recorded",
        f"it. The rows come from {sources}.",
        "",
        "Regenerate after changing those tests:",
        "",
        "<!-- ci: scripts/reliability-report.py -->",
        "```sh ci",
        "KRO_RELIABILITY_DIR=/tmp/rel cargo test -p kro-integration-tests "
        + " ".join(f"--test {name}" for name in test_files),
        "python3 scripts/reliability-report.py /tmp/rel docs/reliability-table.md",
        "```",
        "",
        "Tests that need the control plane (faults) read `KRO_TEST_KUBECONFIG`; see the README.",
        "What each fault leaves behind, and why, is described in [reliability.md](reliability.md).",
        "",
        "| category | case | tries | outcome |",
        "|---|---|---|---|",
    ]
    ordered = sorted(rows, key=lambda row: (row["category"], row["case"], row["tries"], row["outcome"]))
    for row in ordered:
        lines.append("| " + " | ".join(cell(row[field]) for field in FIELDS) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip().splitlines()[2])
    test_files, rows = read_rows(Path(sys.argv[1]))
    Path(sys.argv[2]).write_text(render(test_files, rows), encoding="utf-8")


if __name__ == "__main__":
    main()
