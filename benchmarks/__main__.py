"""``python -m benchmarks [--quick] [--only render,send,collect,web] [--out FILE.json]``

Runs the benchmarks, prints a table (median of repeated runs, target, met)
and writes every figure with its samples and the machine to a JSON file.

Example:
    python -m benchmarks --quick
    python -m benchmarks --only send --send-sizes 100000,1000000 --out send.json
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks import wrk
from benchmarks.stats import Figure, fmt, machine, unmeasured

BENCHES = ("render", "collect", "send", "latency", "import", "ledger", "web")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Benchmarks for digest: render, collect, send and the web app.",
        epilog="Example:\n  python -m benchmarks --quick\n  python -m benchmarks --only send,web --out results.json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--quick", action="store_true", help="tiny sizes and few runs (what CI runs)")
    p.add_argument(
        "--only", default=",".join(BENCHES), help=f"comma-separated subset of {','.join(BENCHES)}"
    )
    p.add_argument(
        "--out", type=Path, default=Path("benchmark-results.json"), help="the JSON file to write"
    )
    p.add_argument(
        "--repeat",
        type=int,
        default=None,
        help="runs per figure (default depends on the benchmark)",
    )
    p.add_argument(
        "--send-sizes", default=None, help="subscriber counts for send, e.g. 100000,1000000"
    )
    p.add_argument(
        "--databases", default=None, help="sqlite,postgresql (default: both; --quick: sqlite)"
    )
    p.add_argument("--latency-sizes", default=None, help="readers for latency, e.g. 100000,1000000")
    p.add_argument("--import-rows", default=None, help="rows for import, e.g. 100000,1000000")
    p.add_argument(
        "--web-workers", type=int, default=None, help="digest serve --workers N for web (default 1)"
    )
    p.add_argument("--web-seconds", type=float, default=None, help="seconds of load per web run")
    p.add_argument(
        "--load-tool",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="web load generator: wrk if installed (auto), or benchmarks.loadgen (python)",
    )
    p.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="also profile send and web (py-spy) into this folder",
    )
    p.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="keep databases and logs here (default: a temp dir, removed)",
    )
    args = p.parse_args(argv)
    unknown = [b for b in args.only.split(",") if b and b not in BENCHES]
    if unknown:
        p.error(f"--only: unknown benchmark(s) {unknown}; choose from {', '.join(BENCHES)}")
    return args


def table(figures: list[Figure], info: dict[str, object]) -> Table:
    t = Table(
        title=f"digest benchmarks — {info.get('cpu_count')} cores, Python {info.get('python')}"
    )
    for col in ("bench", "figure", "median", "target", "met", "runs", "note"):
        t.add_column(col, overflow="fold")
    for f in figures:
        met = {True: "[green]yes[/]", False: "[red]NO[/]", None: "—"}[f.met]
        t.add_row(f.bench, f.name, fmt(f.value, f.unit), f.target or "", met, str(f.runs), f.note)
    return t


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
    info = machine()
    load_before = [round(x, 2) for x in os.getloadavg()]  # other work on the machine skews figures
    chosen = [b for b in BENCHES if b in args.only.split(",")]
    wrk.tool = args.load_tool
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="digest-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    figures: list[Figure] = []
    crashed: list[str] = []
    started = time.perf_counter()
    try:
        for name in chosen:
            console.print(f"[bold]{name}[/] …")
            module = importlib.import_module(f"benchmarks.bench_{name}")
            began = time.perf_counter()
            try:
                got: list[Figure] = module.run(
                    quick=args.quick, workdir=workdir / name, repeat=args.repeat, options=args
                )
            except Exception as exc:  # noqa: BLE001 - a broken harness or product: report, go on
                crashed.append(name)
                console.print(f"[red]{name} failed:[/] {exc}")
                traceback.print_exc()
                got = [
                    unmeasured(
                        name, f"{name} benchmark", "", f"failed: {type(exc).__name__}: {exc}"
                    )
                ]
            console.print(f"  {name} done in {time.perf_counter() - began:.1f} s")
            figures += got
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    console.print(table(figures, info))
    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(
            ["python -m benchmarks", *(argv if argv is not None else sys.argv[1:])]
        ),
        "quick": args.quick,
        "machine": info,
        "seconds": round(time.perf_counter() - started, 1),
        "load_average_before": load_before,
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "figures": [f.as_json() for f in figures],
        "failed": crashed,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    console.print(f"wrote {args.out}")
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
