"""Driving Debian's ``wrk`` with a Lua script, to the same result shape as ``loadgen``."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

_DONE = r"""
function done(summary, latency, requests)
  io.write(string.format('WRKJSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, ' ..
    '"non2xx3xx": %d, "connect": %d, "read": %d, "write": %d, "timeout": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    summary.errors.status, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.timeout))
end
"""

ONECLICK = (
    r"""
local tokens, n, i = {}, 0, 0
function init(args)
  for line in io.lines(args[1]) do n = n + 1; tokens[n] = line end
end
function request()
  i = i % n + 1
  return wrk.format("POST", "/unsubscribe/" .. tokens[i],
    {["Content-Type"] = "application/x-www-form-urlencoded"}, "List-Unsubscribe=One-Click")
end
"""
    + _DONE
)

FORM = (
    r"""
local path, body, field, cookie, prefix, counter = "/", "", "email", "", "bench", 0
function init(args)
  path, body, field, cookie, prefix = args[1], args[2], args[3], args[4], args[5]
end
function request()
  counter = counter + 1
  local headers = {["Content-Type"] = "application/x-www-form-urlencoded"}
  if cookie ~= "" then headers["Cookie"] = cookie end
  local sep = ""
  if body ~= "" then sep = "&" end
  return wrk.format("POST", path, headers, body .. sep .. field .. "=" .. prefix .. counter .. "%40example.com")
end
"""
    + _DONE
)


def available() -> bool:
    return shutil.which("wrk") is not None


def run_wrk(
    url: str, plan: dict[str, Any], *, duration: float, connections: int, folder: Path
) -> dict[str, Any]:
    folder.mkdir(parents=True, exist_ok=True)
    if plan["mode"] == "oneclick":
        tokens = folder / "tokens.txt"
        tokens.write_text("\n".join(plan["tokens"]) + "\n", encoding="utf-8")
        script, args = folder / "oneclick.lua", [str(tokens)]
        script.write_text(ONECLICK, encoding="utf-8")
    else:
        script = folder / "form.lua"
        script.write_text(FORM, encoding="utf-8")
        args = [
            plan["path"],
            plan["body"],
            plan["email_field"],
            plan.get("cookie", ""),
            plan["prefix"],
        ]
    cmd = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(duration))}s",
        "--timeout",
        "5s",
        "-s",
        str(script),
        url,
        "--",
        *args,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60, check=False)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(
            f"wrk gave no result (exit {proc.returncode}): {proc.stdout[-300:]} {proc.stderr[-300:]}"
        )
    raw = json.loads(line[len("WRKJSON ") :])
    seconds = raw["duration_us"] / 1e6
    errors = raw["connect"] + raw["read"] + raw["write"] + raw["timeout"]
    return {
        "requests": raw["requests"],
        "seconds": seconds,
        "rps": raw["requests"] / seconds if seconds else 0.0,
        "p50_ms": raw["p50_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "statuses": {"non-2xx/3xx": raw["non2xx3xx"]},
        "errors": errors,
        "tool": "wrk",
    }


def run_python(
    url: str, plan: dict[str, Any], *, duration: float, connections: int, folder: Path
) -> dict[str, Any]:
    folder.mkdir(parents=True, exist_ok=True)
    plan_file = folder / f"plan-{plan['mode']}.json"
    plan_file.write_text(json.dumps(plan), encoding="utf-8")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.loadgen",
            "--url",
            url,
            "--plan",
            str(plan_file),
            "--duration",
            str(duration),
            "--connections",
            str(connections),
        ],
        capture_output=True,
        text=True,
        timeout=duration + 60,
        check=False,
    )
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(f"loadgen gave no result (exit {proc.returncode}): {proc.stderr[-500:]}")
    result: dict[str, Any] = json.loads(line[len("RESULT ") :])
    return result


TOOLS = ("auto", "wrk", "python")
tool = "auto"  # set from `python -m benchmarks --load-tool`


def load(
    url: str,
    plan: dict[str, Any],
    *,
    duration: float,
    connections: int,
    folder: Path,
) -> dict[str, Any]:
    """Load ``url`` with ``plan``: wrk when installed (or asked for), else the Python generator."""
    if tool == "wrk" and not available():
        raise RuntimeError("--load-tool wrk: wrk is not installed (apt-get install wrk)")
    if tool == "wrk" or (tool == "auto" and available()):
        return run_wrk(url, plan, duration=duration, connections=connections, folder=folder)
    return run_python(url, plan, duration=duration, connections=connections, folder=folder)
