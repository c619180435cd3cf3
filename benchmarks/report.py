"""``python -m benchmarks.report RESULTS.json``: the figures as a Markdown table
(for docs/performance.md), with the command and machine they came from."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from benchmarks.stats import fmt


def markdown(result: dict[str, object]) -> str:
    m = result["machine"]
    assert isinstance(m, dict)
    lines = [
        f"Command: `{result['command']}` — {result['when']}, {m.get('cpu_count')} cores, "
        f"Python {m.get('python')}, {result.get('seconds')} s in all"
        + (
            f", load average {result['load_average_before']} before and "
            f"{result['load_average_after']} after"
            if result.get("load_average_before")
            else ""
        )
        + ".",
        "",
        "| figure | median | runs (all samples) | target | met |",
        "|---|---|---|---|---|",
    ]
    figures = result["figures"]
    assert isinstance(figures, list)
    for f in figures:
        samples = ", ".join(fmt(s, "").strip() for s in f["samples"][:5])
        if len(f["samples"]) > 5:
            samples = f"{len(f['samples'])} samples, min {fmt(min(f['samples']), '').strip()}, max {fmt(max(f['samples']), '').strip()}"
        met = {True: "yes", False: "**no**", None: ""}[f["met"]]
        value = (
            fmt(f["value"], f["unit"]) if f["value"] is not None else f"not measured: {f['note']}"
        )
        lines.append(
            f"| {f['name']} | {value} | {f['runs']} ({samples}) | {f['target'] or ''} | {met} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.exit("usage: python -m benchmarks.report RESULTS.json")
    print(markdown(json.loads(Path(args[0]).read_text(encoding="utf-8"))))


if __name__ == "__main__":
    main()
