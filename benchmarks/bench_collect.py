"""Collect: 20 feeds × 100 entries from a server that waits 200 ms per answer.

Wall time of ``digest.collect.collect`` (target ≤ 1.5 s: the feeds must be
fetched concurrently), and the parse-and-clean time per entry, measured on the
same feeds read from local files (no network, so only the product's work).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from benchmarks.publication import AS_OF, config_text, rss
from benchmarks.servers import HelperProcess, wait_for_http
from benchmarks.stats import Figure, check, median, unmeasured


def _config(sources: list[tuple[str, str]]) -> Any:
    import tomllib

    from digest.config import parse_config

    return parse_config(tomllib.loads(config_text(sources=sources, db_url="sqlite:///unused.db")))


def run(
    *, quick: bool, workdir: Path, repeat: int | None = None, options: Any = None
) -> list[Figure]:
    feeds, entries, delay = (20, 10, 0.2) if quick else (20, 100, 0.2)
    runs = repeat or (2 if quick else 7)
    try:
        from digest.collect import collect
    except ImportError as exc:
        return [
            unmeasured(
                "collect",
                f"collect {feeds}×{entries} feeds: wall",
                "s",
                f"digest.collect not available: {exc}",
                "<= 1.5 s",
            )
        ]

    figures: list[Figure] = []
    clock = lambda: AS_OF
    with HelperProcess(
        "benchmarks.feedserver",
        ["--feeds", str(feeds), "--entries", str(entries), "--delay", str(delay)],
    ) as server:
        wait_for_http(server.url + "/healthz")
        cfg = _config([(f"Feed {i}", f"{server.url}/feed{i}.xml") for i in range(feeds)])
        walls: list[float] = []
        articles = 0
        problems: list[str] = []
        for i in range(runs + 1):  # the first run warms imports and is not counted
            began = time.perf_counter()
            result = collect(cfg, clock=clock)
            took = time.perf_counter() - began
            if i:
                walls.append(took)
            articles = len(result.articles)
            problems = [f"{p.source}: {p.reason}" for p in result.problems]
    wall = median(walls)
    note = f"{articles} articles from {feeds} feeds, server delay {delay * 1000:.0f} ms per request"
    if problems:
        note += f"; problems: {problems[:3]}"
    figures.append(
        Figure(
            "collect",
            f"collect {feeds}×{entries} feeds: wall",
            wall,
            "s",
            runs,
            walls,
            "<= 1.5 s" if not quick else None,
            (check(wall, at_most=1.5) if not quick else None) if not problems else False,
            note,
        )
    )

    # parse + clean per entry: the same feeds as local files
    folder = workdir / "collect-feeds"
    folder.mkdir(parents=True, exist_ok=True)
    sources = []
    for i in range(feeds):
        path = folder / f"feed{i}.xml"
        path.write_text(rss(entries, feed=i), encoding="utf-8")
        sources.append((f"Feed {i}", str(path)))
    cfg = _config(sources)
    per_entry: list[float] = []
    for i in range(runs + 1):
        began = time.perf_counter()
        collect(cfg, clock=clock)
        took = time.perf_counter() - began
        if i:
            per_entry.append(took / (feeds * entries) * 1e6)
    figures.append(
        Figure(
            "collect",
            "parse + clean per entry (local files)",
            median(per_entry),
            "µs",
            runs,
            per_entry,
            None,
            None,
            f"{feeds * entries} entries per run, read from files",
        )
    )
    return figures
