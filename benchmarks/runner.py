"""Running a ``digest`` command as its own process: wall time and peak RSS."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
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
    log: Path

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
    """Run ``python -m digest ARGS``; wall time, and peak RSS from ``wait4``'s rusage.
    A run past ``timeout`` seconds is killed (exit code -9 and a line in the log)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        started_at = time.time()
        began = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "digest", *args],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
        )
        deadline = began + timeout
        while True:
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
    return Finished(proc.returncode, started_at, wall, usage.ru_maxrss / 1024, log)
