"""A small HTTP load generator, run in its own process (used when ``wrk`` is absent).

``python -m benchmarks.loadgen --url URL --plan PLAN.json --duration S --connections C``

Closed loop: C keep-alive connections each send the next request as soon as
the previous answer is read. PLAN.json describes the requests:

* ``{"mode": "oneclick", "tokens": [...]}``: ``POST /unsubscribe/{token}`` with
  ``List-Unsubscribe=One-Click`` (RFC 8058), cycling through the tokens;
* ``{"mode": "form", "path": "/subscribe", "body": "a=1&b=2", "email_field": "email",
  "cookie": "…", "prefix": "bench"}``: a form post with a fresh address each time.

Prints one line ``RESULT {json}``: requests, seconds, requests/s, p50/p99 ms,
statuses and connection errors.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit


def requests_for(plan: dict[str, Any], host: str) -> Iterator[bytes]:
    def raw(path: str, body: str, cookie: str = "") -> bytes:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(body.encode())}\r\n"
            + (f"Cookie: {cookie}\r\n" if cookie else "")
            + "User-Agent: digest-bench-loadgen\r\n\r\n"
        )
        return head.encode() + body.encode()

    if plan["mode"] == "oneclick":
        for token in itertools.cycle(plan["tokens"]):
            yield raw(f"/unsubscribe/{token}", "List-Unsubscribe=One-Click")
    else:
        sep = "&" if plan["body"] else ""
        for n in itertools.count(1):
            email = f"{plan['prefix']}{n}%40example.com"
            yield raw(
                plan["path"],
                f"{plan['body']}{sep}{plan['email_field']}={email}",
                plan.get("cookie", ""),
            )


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length, chunked, close = 0, False, False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
        elif name == "connection" and value.strip().lower() == "close":
            close = True
    if chunked:
        while True:
            size = int((await reader.readline()).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length:
        await reader.readexactly(length)
    return status, close


async def run(url: str, plan: dict[str, Any], duration: float, connections: int) -> dict[str, Any]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    source = requests_for(plan, f"{host}:{port}")
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    errors = 0
    deadline = time.perf_counter() + duration

    async def worker() -> None:
        nonlocal errors
        reader = writer = None
        while time.perf_counter() < deadline:
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(host, port)
                assert reader is not None
                request = next(source)
                began = time.perf_counter()
                writer.write(request)
                await writer.drain()
                status, close = await _read_response(reader)
                latencies.append(time.perf_counter() - began)
                statuses[str(status)] = statuses.get(str(status), 0) + 1
                if close:
                    writer.close()
                    reader = writer = None
            except (OSError, asyncio.IncompleteReadError, ValueError):
                errors += 1
                if writer is not None:
                    writer.close()
                reader = writer = None
                await asyncio.sleep(0.01)
        if writer is not None:
            writer.close()

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    took = time.perf_counter() - began
    latencies.sort()

    def pct(p: float) -> float | None:
        if not latencies:
            return None
        return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1000

    return {
        "requests": len(latencies),
        "seconds": took,
        "rps": len(latencies) / took if took else 0.0,
        "p50_ms": pct(50),
        "p99_ms": pct(99),
        "statuses": statuses,
        "errors": errors,
        "tool": "python loadgen",
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.loadgen", description=__doc__)
    p.add_argument("--url", required=True)
    p.add_argument("--plan", required=True)
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--connections", type=int, default=16)
    args = p.parse_args(argv)
    with open(args.plan, encoding="utf-8") as fh:
        plan = json.load(fh)
    result = asyncio.run(run(args.url, plan, args.duration, args.connections))
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
