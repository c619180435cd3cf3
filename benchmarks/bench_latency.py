"""Sending at the speed of a real API (issue 13): ``digest send`` through the latency sink.

On each database, one list of N readers (100k; ``--quick``: 2,000) and one
``benchmarks.latency_sink``; ``repeat`` rounds (default 3), each running, for each sink mode
(the latency model: median 150 ms, 2% at 2 s, 0.5% 429 with Retry-After: 1; then answering
at once), ``digest send`` at the default ``delivery.concurrency`` (4) and then the peer, the
plain loop over the official ``sendgrid`` library (``benchmarks.latency.peer_main``), so the
two always meet the same machine and the same seeded answers. Figures are medians; the
speed-up is the median peer wall over the median digest wall.

Then, without ``--quick``, a list of 1M readers through the latency sink, ``digest send``
alone: wall time and peak RSS, with the growth of peak RSS from 100k.

Targets (2 cores): >= 3x the loop with latency, >= 1.5x at once; 1M in <= 60 s; peak RSS
<= 200 MB and flat. Every run must reach the sink with each reader exactly once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks import datagen, pgdb
from benchmarks.bench_send import database, label
from benchmarks.latency import PEER, TARGETS, Contest
from benchmarks.servers import HelperProcess, wait_for_http
from benchmarks.stats import Figure, check, median, unmeasured

CONCURRENCY = 4
SEED = 13
MODES = ("latency", "instant")


def run(
    *, quick: bool, workdir: Path, repeat: int | None = None, options: Any = None
) -> list[Figure]:
    try:
        import sendgrid  # noqa: F401 -- the peer
    except ImportError as exc:
        return [unmeasured("latency", "latency", "s", f"the peer needs the test extras: {exc}")]
    dbs_opt = getattr(options, "databases", None)
    dbs = dbs_opt.split(",") if dbs_opt else (["sqlite"] if quick else ["sqlite", "postgresql"])
    sizes_opt = getattr(options, "latency_sizes", None)
    sizes = (
        sorted(int(s) for s in sizes_opt.split(","))
        if sizes_opt
        else ([2000] if quick else [100_000, 1_000_000])
    )
    runs = repeat or (1 if quick else 3)
    workdir.mkdir(parents=True, exist_ok=True)
    figures: list[Figure] = []
    with HelperProcess("benchmarks.latency_sink") as sink:
        wait_for_http(sink.url + "/stats")
        for kind in dbs:
            if kind == "postgresql" and not pgdb.available():
                figures.append(unmeasured("latency", "on postgresql", "s", "not reachable"))
                continue
            peak: dict[int, float] = {}
            for n in sizes:
                with database(kind, workdir) as url:
                    contest = Contest(workdir, url, sink.url, n, SEED)
                    try:
                        datagen.generate(contest.store, n)
                        side_by_side = n == sizes[0]
                        got, peak[n] = _measure(contest, kind, n, runs, side_by_side)
                        figures += got
                    finally:
                        contest.close()
            if len(peak) > 1:
                lo, hi = min(peak), max(peak)
                growth = peak[hi] - peak[lo]
                figures.append(
                    Figure(
                        "latency",
                        f"peak RSS growth {label(lo)}→{label(hi)} {kind}",
                        growth,
                        "MB",
                        runs=runs,
                        samples=[growth],
                        target="flat (<= 20 MB)",
                        met=check(growth, at_most=20),
                    )
                )
    return figures


def _measure(
    contest: Contest, kind: str, n: int, runs: int, side_by_side: bool
) -> tuple[list[Figure], float]:
    """``runs`` rounds on one list; returns the figures and digest's median peak RSS
    through the latency sink."""
    rows: dict[tuple[str, str], list[dict[str, Any]]] = {}
    modes = MODES if side_by_side else MODES[:1]
    for _ in range(runs):
        for mode in modes:
            rows.setdefault((mode, "digest"), []).append(contest.digest(CONCURRENCY, mode))
            if side_by_side:
                rows.setdefault((mode, "peer"), []).append(contest.peer(mode))
    figures: list[Figure] = []
    for mode in modes:
        digest_rows = rows[(mode, "digest")]
        figures += _walls(kind, n, mode, "digest send (concurrency 4)", digest_rows)
        if side_by_side:
            peer_rows = rows[(mode, "peer")]
            figures += _walls(kind, n, mode, PEER, peer_rows)
            figures.append(_speedup(kind, n, mode, digest_rows, peer_rows))
    through = rows[("latency", "digest")]
    rss = median([r.get("peak_rss_mb", 0.0) for r in through])
    figures.append(_figure(kind, n, "latency", "digest send: peak RSS", through, "peak_rss_mb"))
    figures[-1].target, figures[-1].met = "<= 200 MB", check(rss, at_most=200)
    if n >= 1_000_000:
        wall = figures[0]
        wall.target, wall.met = "<= 60 s", check(wall.value, at_most=60)
    return figures, rss


def _walls(kind: str, n: int, mode: str, who: str, rows: list[dict[str, Any]]) -> list[Figure]:
    wall = _figure(kind, n, mode, f"{who}: wall", rows, "wall_s")
    rate = _figure(kind, n, mode, f"{who}: recipients/s", rows, "recipients_per_s")
    return [wall, rate]


def _figure(
    kind: str, n: int, mode: str, what: str, rows: list[dict[str, Any]], key: str
) -> Figure:
    unit = {"wall_s": "s", "recipients_per_s": "rcpt/s", "peak_rss_mb": "MB"}[key]
    name = f"{mode} sink {label(n)} {kind}, {what}"
    problems = [_problem(r) for r in rows if _problem(r)]
    if problems:
        return unmeasured("latency", name, unit, problems[0])
    samples = [float(r[key]) for r in rows]
    note = f"429s {sorted(r['throttled'] for r in rows)}" if key == "wall_s" else ""
    return Figure("latency", name, median(samples), unit, len(samples), samples, note=note)


def _speedup(
    kind: str, n: int, mode: str, ours: list[dict[str, Any]], peer: list[dict[str, Any]]
) -> Figure:
    name = f"{mode} sink {label(n)} {kind}, speed-up over the loop"
    target = TARGETS[mode == "latency"]
    if any(_problem(r) for r in [*ours, *peer]):
        return unmeasured("latency", name, "x", "a run failed", f">= {target:g}x")
    value = median([r["wall_s"] for r in peer]) / median([r["wall_s"] for r in ours])
    pairs = [p["wall_s"] / o["wall_s"] for o, p in zip(ours, peer, strict=True)]
    return Figure(
        "latency",
        name,
        round(value, 2),
        "x",
        len(pairs),
        [round(x, 2) for x in pairs],
        target=f">= {target:g}x",
        met=check(value, at_least=target),
        note="samples: each round's own ratio",
    )


def _problem(row: dict[str, Any]) -> str:
    if row.get("problem"):
        return str(row["problem"])
    if row.get("duplicates") or row.get("missing") or row.get("strays"):
        return f"{row['duplicates']} twice, {row['missing']} missing, {row['strays']} strays"
    return ""
