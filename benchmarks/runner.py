"""Running a ``digest`` command as its own process: wall time and peak RSS."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.publication import AS_OF

SECRET = "bench-secret-not-for-production-0123456789abcdef"


def digest_env(sink_url: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIGEST_", "SENDGRID_"))}
    env["DIGEST_SECRET_KEY"] = SECRET
    env["DIGEST_NOW"] = AS_OF.isoformat()
    env["PYTHONUNBUFFERED"] = "1"
    if sink_url:
        env["SENDGRID_API_HOST"] = sink_url
        env["SENDGRID_API_KEY"] = "SG.bench"
    return env


@dataclass
class Finished:
    returncode: int
    started_at: float  # epoch seconds, to compare with the sink's timestamps
    wall: float  # seconds
    peak_rss_mb: float  # the process's own peak resident set (ru_maxrss via wait4)

    def rss_drift_mb(self) -> float | None:
        """Resident memory in the last quarter of the run minus the second quarter
        (medians): about 0 when memory does not grow with the recipients sent."""
        if len(self.rss_trace) < 8:
            return None
        end = self.rss_trace[-1][0]
        q2 = [mb for t, mb in self.rss_trace if end / 4 <= t < end / 2]
        q4 = [mb for t, mb in self.rss_trace if t >= end * 3 / 4]
        if not q2 or not q4:
            return None
        q2.sort()
        q4.sort()
        return q4[len(q4) // 2] - q2[len(q2) // 2]

    log: Path
    rss_trace: list[tuple[float, float]] = field(default_factory=list)  # (seconds, MB)

    def tail(self, lines: int = 8) -> str:
        text = self.log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
        return " | ".join(text[-lines:])


def run_measured(
    args: Sequence[str],
    *,
    env: dict[str, str],
    log: Path,
    cwd: Path | None = None,
    timeout: float = 900.0,
) -> Finished:
    """Run ``python -m digest ARGS``, measured as ``run_command`` measures."""
    return run_command(
        [sys.executable, "-m", "digest", *args], env=env, log=log, cwd=cwd, timeout=timeout
    )


def run_command(
    cmd: Sequence[str],
    *,
    env: dict[str, str],
    log: Path,
    cwd: Path | None = None,
    timeout: float = 900.0,
) -> Finished:
    """Run ``cmd``; wall time, and peak RSS from ``wait4``'s rusage (with an RSS trace).
    A run past ``timeout`` seconds is killed (exit code -9 and a line in the log)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        started_at = time.time()
        began = time.perf_counter()
        proc = subprocess.Popen(
            list(cmd),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
        )
        deadline = began + timeout
        trace: list[tuple[float, float]] = []
        next_sample = began
        while True:
            now = time.perf_counter()
            if now >= next_sample:
                rss = _rss_mb(proc.pid)
                if rss is not None:
                    trace.append((now - began, rss))
                next_sample = now + 0.2
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                _, status, usage = os.wait4(proc.pid, 0)
                out.write(f"\n[benchmarks] killed after {timeout:.0f} s\n".encode())
                break
            time.sleep(0.01)
        wall = time.perf_counter() - began
        proc.returncode = os.waitstatus_to_exitcode(status)
    return Finished(proc.returncode, started_at, wall, usage.ru_maxrss / 1024, log, trace)


def _rss_mb(pid: int) -> float | None:
    """VmRSS of a live process, from /proc (Linux); None elsewhere or once it is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None
