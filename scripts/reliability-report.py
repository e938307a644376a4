#!/usr/bin/env python3
"""Writes the reliability table (docs/reliability-table.md) from the rows the tests recorded.

Usage: reliability-report.py <rows dir> <output.md>
       reliability-report.py --check <rows dir> <committed.md>

The fault and hostile-input tests append one JSON object per line to
<rows dir>/<test file>.jsonl when KRO_RELIABILITY_DIR is set (see tests/src/reliability.rs):
{"category": ..., "case": ..., "tries": ..., "outcome": ...}. This script reads every *.jsonl
file of the directory and writes one Markdown table sorted by category, then case. The output
depends only on the rows: no timestamps, no host names.

--check compares the rendering with the committed table and exits 1 with a unified diff when they
differ. Numbers in the outcome column are measurements of the run (durations, counts of
instances caught mid-work, a random seed) and vary from run to run; they are compared as "#", so
the check fails on rows added, removed or renamed, on a changed number of tries and on a changed
outcome, not on timing.
"""

import difflib
import json
import re
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


def masked(table: str) -> list:
    """The table's lines with the numbers of the outcome column (the last cell) replaced by #."""
    lines = []
    for line in table.splitlines():
        if line.startswith("| ") and line.count(" | ") >= 3:
            head, _, outcome = line.rpartition(" | ")
            line = head + " | " + re.sub(r"\d+(\.\d+)?", "#", outcome)
        lines.append(line)
    return lines


def check(rendered: str, committed_path: Path) -> int:
    committed = committed_path.read_text(encoding="utf-8") if committed_path.exists() else ""
    if masked(rendered) == masked(committed):
        return 0
    sys.stdout.writelines(
        difflib.unified_diff(
            committed.splitlines(keepends=True),
            rendered.splitlines(keepends=True),
            fromfile=f"{committed_path} (committed)",
            tofile=f"{committed_path} (this run)",
        )
    )
    print(f"{committed_path} differs from this run's rendering beyond measured numbers", file=sys.stderr)
    return 1


def main() -> None:
    arguments = sys.argv[1:]
    checking = arguments[:1] == ["--check"]
    if checking:
        arguments = arguments[1:]
    if len(arguments) != 2:
        sys.exit("\n".join(__doc__.strip().splitlines()[2:4]))
    test_files, rows = read_rows(Path(arguments[0]))
    rendered = render(test_files, rows)
    if checking:
        sys.exit(check(rendered, Path(arguments[1])))
    Path(arguments[1]).write_text(rendered, encoding="utf-8")


if __name__ == "__main__":
    main()
