"""A SendGrid sink that answers like production: ``python -m benchmarks.latency_sink``.

``POST /v3/mail/send`` as in ``benchmarks.sink`` (202, ``X-Message-Id``, SendGrid's 400 for a
body of the wrong shape, checked by ``sink.check_common``), with a latency model drawn from a
seeded generator, one draw per request in arrival order, so every contender meets the same
sequence of answers:

* 0.5% of requests: 429 with ``Retry-After: 1`` at once (nobody counted);
* 2%: accepted after 2 s;
* the rest: accepted after a lognormal delay, median 150 ms (sigma 0.25: most in 100-250 ms).

``POST /reset?latency=on|off&seed=N`` zeroes the counters and restarts the generator;
``latency=off`` answers at once. Every ``to`` address of an accepted request is counted, so
``GET /stats?expected=N`` reports duplicates and which of ``datagen.address(1..N)`` are
missing (the first five; all with ``&list_missing=1``). ``GET /content`` returns the first accepted body's subject, sender and content (the
issue, for a peer to send the same thing). Threads (one per connection), so many requests
wait at once.
"""

from __future__ import annotations

import argparse
import math
import random
import threading
import time
import uuid
from collections import Counter
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from benchmarks.datagen import address
from benchmarks.servers import serve_until_terminated
from benchmarks.sink import ShapeError, SinkHandler, SinkServer, check_common

MEDIAN_SECONDS = 0.150
SIGMA = 0.25
SLOW_SHARE = 0.02
SLOW_SECONDS = 2.0
THROTTLED_SHARE = 0.005
DEFAULT_SEED = 13


class Model:
    """The sink's state: the seeded answer sequence and the per-recipient counts."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset(latency=True, seed=DEFAULT_SEED)

    def reset(self, *, latency: bool, seed: int) -> None:
        self.latency = latency
        self.seed = seed
        self.rng = random.Random(seed)
        self.received: Counter[str] = Counter()
        self.requests = 0
        self.accepted = 0
        self.throttled = 0
        self.slow = 0
        self.rejected = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.errors: list[str] = []
        self.content: dict[str, Any] | None = None

    def draw(self) -> tuple[int, float]:
        """The next answer: (status, seconds to wait before it)."""
        with self.lock:
            self.requests += 1
            u = self.rng.random()
            g = self.rng.gauss(0.0, SIGMA)
            if not self.latency:
                return 202, 0.0
            if u < THROTTLED_SHARE:
                self.throttled += 1
                return 429, 0.0
            if u < THROTTLED_SHARE + SLOW_SHARE:
                self.slow += 1
                return 202, SLOW_SECONDS
            return 202, MEDIAN_SECONDS * math.exp(g)

    def stats(self, expected: int | None, *, list_missing: bool = False) -> dict[str, Any]:
        with self.lock:
            received = self.received
            out: dict[str, Any] = {
                "latency": self.latency,
                "seed": self.seed,
                "requests": self.requests,
                "accepted": self.accepted,
                "throttled": self.throttled,
                "slow": self.slow,
                "rejected": self.rejected,
                "max_in_flight": self.max_in_flight,
                "in_flight": self.in_flight,  # requests still being answered
                "recipients": sum(received.values()),
                "unique_recipients": len(received),
                "duplicates": sum(n - 1 for n in received.values() if n > 1),
                "errors": list(self.errors),
            }
            if expected is not None:
                missing = [address(i) for i in range(1, expected + 1) if address(i) not in received]
                out["missing"] = len(missing)
                out["missing_sample"] = missing if list_missing else missing[:5]
                out["strays"] = len(received) - (expected - len(missing))
            return out


MODEL = Model()


class LatencyHandler(SinkHandler):
    server_version = "digest-bench-latency-sink"

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        if url.path == "/stats":
            expected = int(query["expected"][0]) if "expected" in query else None
            listed = query.get("list_missing") == ["1"]
            self._reply(200, orjson.dumps(MODEL.stats(expected, list_missing=listed)))
        elif url.path == "/content":
            self._reply(200, orjson.dumps(MODEL.content))
        else:
            self._reply(404, orjson.dumps({"errors": [{"message": "not found"}]}))

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        if url.path == "/reset":
            query = parse_qs(url.query)
            with MODEL.lock:
                MODEL.reset(
                    latency=query.get("latency", ["on"])[0] != "off",
                    seed=int(query.get("seed", [DEFAULT_SEED])[0]),
                )
            self._reply(204)
            return
        if url.path != "/v3/mail/send":
            self._reply(404, orjson.dumps({"errors": [{"message": f"no route {self.path}"}]}))
            return
        if not self.headers.get("Authorization", "").startswith("Bearer SG."):
            self._reply(401, orjson.dumps({"errors": [{"message": "authorization required"}]}))
            return
        status, wait = MODEL.draw()
        if status == 429:
            self._reply(
                429,
                orjson.dumps({"errors": [{"message": "too many requests", "field": None}]}),
                {"Retry-After": "1"},
            )
            return
        try:
            body = orjson.loads(raw)
            pers = check_common(body)
        except (orjson.JSONDecodeError, ShapeError) as exc:
            with MODEL.lock:
                MODEL.rejected += 1
                if len(MODEL.errors) < 20:
                    MODEL.errors.append(str(exc))
            self._reply(400, orjson.dumps({"errors": [{"message": str(exc), "field": None}]}))
            return
        emails = [t["email"] for p in pers for t in p["to"]]
        with MODEL.lock:
            MODEL.in_flight += 1
            MODEL.max_in_flight = max(MODEL.max_in_flight, MODEL.in_flight)
        try:
            if wait:
                time.sleep(wait)
        finally:
            with MODEL.lock:
                MODEL.in_flight -= 1
                MODEL.accepted += 1
                MODEL.received.update(emails)
                if MODEL.content is None:
                    MODEL.content = {
                        k: body.get(k) for k in ("subject", "from", "reply_to", "content")
                    }
        self._reply(202, headers={"X-Message-Id": uuid.uuid4().hex})


class LatencySinkServer(SinkServer):
    request_queue_size = 512


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.latency_sink", description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    serve_until_terminated(LatencySinkServer(("127.0.0.1", args.port), LatencyHandler))


if __name__ == "__main__":
    main()
