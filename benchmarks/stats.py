"""Figures, medians and the table: what every benchmark returns."""

from __future__ import annotations

import os
import platform
import statistics
import sys
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Figure:
    """One measured figure (already the median over ``runs``)."""

    bench: str  # render | send | collect | web
    name: str  # what was measured, e.g. "send 100k sqlite: wall"
    value: float | None  # None = could not be measured (see note)
    unit: str
    runs: int = 0
    samples: list[float] = field(default_factory=list)
    target: str | None = None  # e.g. "<= 5 ms"
    met: bool | None = None  # None = no target, or not measured
    note: str = ""

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def check(
    value: float | None, *, at_most: float | None = None, at_least: float | None = None
) -> bool | None:
    if value is None:
        return None
    too_high = at_most is not None and value > at_most
    too_low = at_least is not None and value < at_least
    return not (too_high or too_low)


def unmeasured(bench: str, name: str, unit: str, reason: str, target: str | None = None) -> Figure:
    return Figure(bench=bench, name=name, value=None, unit=unit, target=target, note=reason)


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
    }
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    info["cpu_model"] = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("MemTotal"):
                    info["memory_mb"] = int(line.split()[1]) // 1024
                    break
    except OSError:
        pass
    return info


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if abs(value) >= 1000:
        return f"{value:,.0f} {unit}"
    if abs(value) >= 10:
        return f"{value:.1f} {unit}"
    return f"{value:.3g} {unit}"
