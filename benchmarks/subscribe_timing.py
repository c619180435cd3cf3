"""Does ``POST /subscribe`` take longer for some addresses than others?

``python -m benchmarks.subscribe_timing [--requests 200] [--database sqlite|postgresql]``

The subscribe form answers the same page whatever the address's state, so nobody can
find out who is on the list; this measures whether its *timing* gives the state away.
It starts a real ``digest serve`` on 127.0.0.1 (confirmation emails go to the local
``benchmarks.sink``), puts ``--requests`` addresses of each state on the list (pending,
active, unsubscribed; new ones are not on it), then posts the form once for every
address, states interleaved in a shuffled order over one keep-alive connection, and
times each answer at the client.

For each state: the median and p90 answer time. For each pair of states: the
accuracy of the best threshold telling them apart (classify "at most t" as one state,
the rest as the other; the best t and side). 50% is a coin toss; with 200 samples a
side even identical distributions reach about 55–58% by chance (the best of many
thresholds), so the table also gives that noise floor: the 95th percentile of the same
accuracy over random relabellings of the pair's samples (a permutation test).

Requests are paced (``--gap-ms``, 20 ms) so the work one request leaves behind (the
confirmation email, sent after the answer) never overlaps the next one's timing: that
makes the per-request figure as clean as an attacker's best case.

Work done after the answer could still show in what comes next, so right after each
post the script also times a ``GET /healthz`` (it waits for a database thread like the
pages do) and gives the same figures for that probe, grouped by the state of the
address posted just before it.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from benchmarks.bench_web import UNLIMITED, database, serve, subscribe_plan
from benchmarks.publication import AS_OF, write_publication
from benchmarks.runner import digest_env
from benchmarks.servers import HelperProcess, free_port

STATES = ("new", "pending", "active", "unsubscribed")
WARMUP = 20  # posts per state before the timed ones (imports, caches, the first connection)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.subscribe_timing",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    p.add_argument("--requests", type=int, default=200, help="timed posts per state (200)")
    p.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    p.add_argument(
        "--gap-ms",
        type=float,
        default=20.0,
        help="pause between posts, so background work never overlaps a timing",
    )
    p.add_argument("--seed", type=int, default=11, help="for the shuffled order")
    p.add_argument("--out", type=Path, default=None, help="also write every sample as JSON")
    p.add_argument(
        "--workdir", type=Path, default=None, help="keep the database and the server's log here"
    )
    return p.parse_args(argv)


def populate(db_url: str, per_state: int) -> dict[str, list[str]]:
    """Put the addresses of every state but "new" on the list; return every address."""
    from digest.store.database import open_store
    from subscribers import repository as repo

    count = per_state + WARMUP
    addresses = {s: [f"{s}-{i}@timing.example" for i in range(count)] for s in STATES}
    # long before the run: a pending address gets its confirmation again (not throttled)
    at = AS_OF - timedelta(days=1)
    store = open_store(db_url)
    try:
        with store.session() as s:
            for email in addresses["pending"]:
                repo.add(s, email, at=at, source="cli", status="pending")
            for email in addresses["active"]:
                repo.add(s, email, at=at, source="cli", status="active")
            for email in addresses["unsubscribed"]:
                sub = repo.add(s, email, at=at, source="cli", status="active")
                repo.set_status(s, sub, "unsubscribed", source="cli", at=at)
    finally:
        store.dispose()
    return addresses


def post_all(base: str, order: list[tuple[str, str]], gap: float) -> list[tuple[str, float, float]]:
    """Post the form for each (state, address); the client-side time of each answer, and
    of a ``GET /healthz`` sent as soon as it came."""
    plan = subscribe_plan(base, prefix="timing-")
    head = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": plan["cookie"]}
    prefix = plan["body"] + ("&" if plan["body"] else "") + f"{plan['email_field']}="
    timings: list[tuple[str, float, float]] = []
    first: tuple[int, bytes] | None = None
    with httpx.Client(base_url=base, timeout=10) as client:
        for state, email in order:
            body = (prefix + email.replace("@", "%40")).encode()
            began = time.perf_counter()
            r = client.post(plan["path"], content=body, headers=head)
            took = time.perf_counter() - began
            if r.status_code != 200:
                raise RuntimeError(f"{email}: HTTP {r.status_code}: {r.text[:200]}")
            if first is None:
                first = (r.status_code, r.content)
            elif (r.status_code, r.content) != first:
                raise RuntimeError(f"{email} ({state}) got a different answer")
            began = time.perf_counter()
            client.get("/healthz")
            timings.append((state, took, time.perf_counter() - began))
            time.sleep(gap)
    return timings


def verify(db_url: str, addresses: dict[str, list[str]], sink: str, timeout: float = 30) -> None:
    """What the posts did, once their work after the answer is done: new and unsubscribed
    addresses pending, active ones untouched, and one confirmation email for every new,
    pending and unsubscribed address (none for the active ones)."""
    from sqlalchemy import text

    from digest.store.database import open_store

    expected = sum(len(addresses[s]) for s in ("new", "pending", "unsubscribed"))
    deadline = time.monotonic() + timeout
    while (sent := httpx.get(sink + "/stats").json()["other_recipients"]) < expected:
        if time.monotonic() > deadline:
            break
        time.sleep(0.2)
    if sent != expected:
        raise RuntimeError(f"{sent} confirmation emails reached the sink, {expected} expected")
    store = open_store(db_url)
    try:
        with store.engine.connect() as conn:
            rows = conn.execute(text("SELECT email, status FROM subscribers")).all()
    finally:
        store.dispose()
    status = {str(email): str(st) for email, st in rows}
    for state, emails in addresses.items():
        want = "active" if state == "active" else "pending"
        wrong = [e for e in emails if status.get(e) != want]
        if wrong:
            raise RuntimeError(f"{len(wrong)} {state} addresses are not {want}, e.g. {wrong[0]}")


def best_threshold_accuracy(a: list[float], b: list[float]) -> float:
    """The best accuracy of "x <= t means a" (or "means b") over every threshold t."""
    marked = sorted([(x, 0) for x in a] + [(x, 1) for x in b])
    total = len(marked)
    a_below = b_below = 0
    best = max(len(a), len(b)) / total  # t below everything: all one side
    i = 0
    while i < total:
        x = marked[i][0]
        while i < total and marked[i][0] == x:  # ties go to the same side of t
            if marked[i][1] == 0:
                a_below += 1
            else:
                b_below += 1
            i += 1
        as_a = (a_below + (len(b) - b_below)) / total
        best = max(best, as_a, 1 - as_a)
    return best


def noise_floor(a: list[float], b: list[float], rng: random.Random, rounds: int = 200) -> float:
    """95th percentile of the best-threshold accuracy when the labels mean nothing."""
    pooled = a + b
    got = []
    for _ in range(rounds):
        rng.shuffle(pooled)
        got.append(best_threshold_accuracy(pooled[: len(a)], pooled[len(a) :]))
    got.sort()
    return got[int(0.95 * (len(got) - 1))]


def summarize(timings: list[tuple[str, float]], seed: int) -> dict[str, Any]:
    """Medians per state, and the best-threshold accuracy for every pair of states."""
    by_state = {s: [t * 1000 for st, t in timings if st == s] for s in STATES}
    rng = random.Random(seed)
    pairs = []
    for i, one in enumerate(STATES):
        for other in STATES[i + 1 :]:
            a, b = by_state[one], by_state[other]
            pairs.append(
                {
                    "pair": f"{one} vs {other}",
                    "accuracy": best_threshold_accuracy(a, b),
                    "noise_floor_95": noise_floor(a, b, rng),
                }
            )
    states = {
        s: {
            "median_ms": statistics.median(v),
            "p90_ms": statistics.quantiles(v, n=10)[-1],
            "n": len(v),
        }
        for s, v in by_state.items()
    }
    return {"states": states, "pairs": pairs, "samples_ms": by_state}


def report(result: dict[str, Any], title: str) -> None:
    print(f"\n{title}\n{'state':<14}{'n':>5}{'median ms':>12}{'p90 ms':>10}")
    for state, f in result["states"].items():
        print(f"{state:<14}{f['n']:>5}{f['median_ms']:>12.2f}{f['p90_ms']:>10.2f}")
    print(f"\n{'pair':<26}{'best-threshold accuracy':>25}{'noise floor (95%)':>19}")
    for p in result["pairs"]:
        print(f"{p['pair']:<26}{p['accuracy']:>24.1%}{p['noise_floor_95']:>19.1%}")


def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    with HelperProcess("benchmarks.sink") as sink, database(args.database, workdir) as url:
        addresses = populate(url, args.requests)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        config = write_publication(
            workdir / "site",
            db_url=url,
            public_url=base,
            web={"rate_limit_per_ip": UNLIMITED, "rate_limit_per_address": UNLIMITED},
        )
        rng = random.Random(args.seed)
        warm = [(s, addresses[s][i]) for s in STATES for i in range(WARMUP)]
        timed = [(s, a) for s in STATES for a in addresses[s][WARMUP:]]
        rng.shuffle(warm)
        rng.shuffle(timed)
        with serve(config, port, digest_env(sink.url), workdir / "serve.log"):
            post_all(base, warm, args.gap_ms / 1000)
            timings = post_all(base, timed, args.gap_ms / 1000)
            verify(url, addresses, sink.url)
    return {
        "database": args.database,
        "post": summarize([(s, post) for s, post, _ in timings], args.seed),
        "probe_after": summarize([(s, probe) for s, _, probe in timings], args.seed),
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
        result = run(args, args.workdir)
    else:
        with tempfile.TemporaryDirectory(prefix="digest-timing-") as tmp:
            result = run(args, Path(tmp))
    report(result["post"], "POST /subscribe, by the state of the address")
    report(
        result["probe_after"],
        "GET /healthz right after, by the state of the address posted before it",
    )
    if args.out is not None:
        args.out.write_text(json.dumps(result, indent=1), encoding="utf-8")
        print(f"\nsamples written to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
