"""Render: one issue of 1 lead + 12 stories (Jinja2 + MJML + CSS inlining),
median ms per render once warm. Target ≤ 5 ms."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from benchmarks.publication import config_text, sample_issue
from benchmarks.stats import Figure, check, median, unmeasured


def _config() -> Any:
    import tomllib

    from digest.config import parse_config

    return parse_config(
        tomllib.loads(
            config_text(
                sources=[("Statecraft", "https://statecraft.example/feed")],
                db_url="sqlite:///unused.db",
            )
        )
    )


def run(
    *, quick: bool, workdir: Path, repeat: int | None = None, options: Any = None
) -> list[Figure]:
    runs = repeat or (10 if quick else 200)
    try:
        from digest.render import Renderer
    except ImportError as exc:
        return [
            unmeasured(
                "render",
                "render 1 lead + 12 stories (warm)",
                "ms",
                f"digest.render not available: {exc}",
                "<= 5 ms",
            )
        ]
    issue = sample_issue(12)
    cfg = _config()
    began = time.perf_counter()
    renderer = Renderer(cfg)
    first = renderer.render(issue)
    cold_ms = (time.perf_counter() - began) * 1000
    for _ in range(3):
        renderer.render(issue)
    samples: list[float] = []
    for _ in range(runs):
        began = time.perf_counter()
        renderer.render(issue)
        samples.append((time.perf_counter() - began) * 1000)
    ms = median(samples)
    size = len(first.html.encode())
    note = f"HTML {size / 1024:.0f} KiB, text {len(first.text.encode()) / 1024:.0f} KiB"
    return [
        Figure(
            "render",
            "render 1 lead + 12 stories (warm)",
            ms,
            "ms",
            runs,
            samples,
            "<= 5 ms",
            check(ms, at_most=5.0),
            note,
        ),
        Figure(
            "render",
            "first render incl. Renderer() (cold)",
            cold_ms,
            "ms",
            1,
            [cold_ms],
            None,
            None,
            "template loading and compilation, once per process",
        ),
    ]
