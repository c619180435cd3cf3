"""Profile a command with py-spy and summarize where the time goes.

``py-spy record --format raw`` writes collapsed stacks (``a (f.py:1);b (g.py:2) 17``);
``summarize`` turns them into the top functions by own time and by total time,
which is what goes into the report. Falls back to nothing (and says so) when
py-spy is missing or not allowed to trace.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

_LINE = re.compile(r"\s\d+$")
_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^:()]*)(?::\d+)?\)$")


def py_spy() -> str | None:
    return shutil.which("py-spy") or next(
        (str(p) for p in [Path(__import__("sys").executable).parent / "py-spy"] if p.exists()), None
    )


def record_command(rate: int = 200, *, output: Path, native: bool = False) -> list[str] | None:
    """The py-spy prefix to put before a command, or None if py-spy is unavailable."""
    exe = py_spy()
    if exe is None:
        return None
    cmd = [exe, "record", "--format", "raw", "-r", str(rate), "-o", str(output), "--nonblocking"]
    if native:
        cmd.append("--native")
    return [*cmd, "--"]


def _short(frame: str) -> str:
    m = _FRAME.match(frame.strip())
    if not m:
        return frame.strip()
    file = m.group("file")
    for marker in ("site-packages/", "/work/main/", "lib/python3.11/"):
        if marker in file:
            file = file.split(marker, 1)[1]
    return f"{m.group('func')} ({file})"


def _is_ours(frame: str) -> bool:
    return any(f"({p}" in frame for p in ("digest/", "subscribers/")) and not any(
        f"({p}" in frame for p in ("digest/cli/", "digest/__main__")
    )


def summarize(raw: Path, top: int = 15) -> str:
    """Top functions by own (self) samples and by total (inclusive) samples."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in raw.read_text(encoding="utf-8", errors="replace").splitlines():
        m = _LINE.search(line)
        if not m:
            continue
        count = int(line[m.start() :])
        frames = [_short(f) for f in line[: m.start()].split(";") if f]
        if not frames:
            continue
        samples += count
        own[frames[-1]] += count
        for f in set(frames):
            total[f] += count
    if not samples:
        return "(no samples)"
    out = [f"{samples} samples"]
    out.append("own time (where the CPU is):")
    out += [f"  {100 * n / samples:5.1f}%  {f}" for f, n in own.most_common(top)]
    out.append("total time of digest's own functions (including callees):")
    ours = [(f, n) for f, n in total.most_common() if _is_ours(f)]
    out += [f"  {100 * n / samples:5.1f}%  {f}" for f, n in ours[:top]]
    return "\n".join(out)


def run_profiled(
    cmd: Sequence[str], *, raw: Path, env: dict[str, str], cwd: Path | None = None
) -> str:
    prefix = record_command(output=raw)
    if prefix is None:
        return "py-spy is not installed; pip install py-spy"
    proc = subprocess.run(
        [*prefix, *cmd], env=env, cwd=cwd, capture_output=True, text=True, check=False
    )
    if not raw.exists():
        return f"py-spy failed (exit {proc.returncode}): {proc.stderr.strip()[-500:]}"
    return summarize(raw)
