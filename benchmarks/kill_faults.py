"""The kill fault mode: ``digest send`` killed with SIGKILL at random moments, then resumed.

    python -m benchmarks.kill_faults [--trials 20] [--readers 20000] [--concurrency 4]
                                     [--database URL] [--seed 1]

One list of ``--readers`` (a new SQLite file, or ``--database``) and one
``benchmarks.latency_sink`` with its latency model (the seed changes per trial, so the 429s
and slow answers fall elsewhere each time). Each trial: a first send of the issue
(``digest send --yes --json``, ``delivery.concurrency`` as given, batches of 1,000) is
killed with SIGKILL at a random moment between its first request and its expected end —
in the middle of a request, of a commit, of building a batch — then ``digest send --yes
--json`` resumes it. Checked against the sink, per trial, what issue 13 promises:

* nobody received the issue twice;
* everyone missing belongs to a batch the resumed send reported in doubt (``in_flight_batches``),
  and each such batch is named with its size;
* at most ``concurrency`` batches are in doubt.

Prints one line per trial and a summary; exits 1 if any trial broke a promise.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import bindparam, text

from benchmarks import datagen
from benchmarks.latency import Contest
from benchmarks.publication import AS_OF
from benchmarks.servers import HelperProcess, wait_for_http


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.kill_faults", description=__doc__)
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--readers", type=int, default=20_000)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--database", default=None, help="a database URL (default: a new SQLite file)")
    p.add_argument("--seed", type=int, default=1, help="seeds the kill moments")
    p.add_argument("--workdir", type=Path, default=None)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="digest-kill-"))
    workdir.mkdir(parents=True, exist_ok=True)
    url = args.database or f"sqlite:///{workdir / 'kill.db'}"
    rng = random.Random(args.seed)
    broken = 0
    totals = {"in_doubt_batches": 0, "missing": 0, "duplicates": 0}
    try:
        with HelperProcess("benchmarks.latency_sink") as sink:
            wait_for_http(sink.url + "/stats")
            contest = Contest(workdir, url, sink.url, args.readers, seed=0)
            try:
                datagen.generate(contest.store, args.readers)
                for trial in range(1, args.trials + 1):
                    got = _trial(contest, args, rng, trial)
                    broken += bool(got["broken"])
                    for key in totals:
                        totals[key] += got[key]
                    print(_line(trial, got), flush=True)
            finally:
                contest.close()
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    print(
        f"{args.trials} trials, {args.readers} readers, concurrency {args.concurrency}: "
        f"{broken} broke a promise; {totals['duplicates']} sent twice; "
        f"{totals['in_doubt_batches']} batches in doubt holding {totals['missing']} readers "
        "not sent (as reported)"
    )
    return 1 if broken else 0


def _settled(sink_url: str) -> None:
    """Wait until the sink has answered every request it holds: a killed sender's request
    may still be waiting on its latency, and is counted when it ends (in this trial, not
    the next)."""
    deadline = time.monotonic() + 30
    while httpx.get(f"{sink_url}/stats").json()["in_flight"]:
        if time.monotonic() > deadline:
            raise RuntimeError("the sink still holds requests after 30 s")
        time.sleep(0.02)


def _trial(
    contest: Contest, args: argparse.Namespace, rng: random.Random, trial: int
) -> dict[str, Any]:
    _settled(contest.sink_url)
    datagen.clear_sends(contest.store)
    httpx.post(f"{contest.sink_url}/reset?latency=on&seed={trial}")
    config = contest.config(args.concurrency)
    cmd = [sys.executable, "-m", "digest", "send", "--yes", "--json", "--config", str(config)]
    cmd += ["--as-of", AS_OF.isoformat()]
    expected_s = args.readers / 1000 / args.concurrency * 0.2
    first = subprocess.Popen(
        cmd, env=contest.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        _wait_for_first_request(contest.sink_url, first)
        time.sleep(rng.uniform(0, expected_s))  # the random moment of the kill
        first.send_signal(signal.SIGKILL)
        first.wait(30)
    finally:
        if first.poll() is None:
            first.kill()
    killed_after = httpx.get(f"{contest.sink_url}/stats").json()["requests"]
    resumed = subprocess.run(
        cmd, check=False, env=contest.env, capture_output=True, text=True, timeout=600
    )
    report = json.loads(resumed.stdout) if resumed.stdout.strip().startswith("{") else {}
    _settled(contest.sink_url)
    stats = httpx.get(
        f"{contest.sink_url}/stats?expected={contest.readers}&list_missing=1", timeout=120
    ).json()
    in_doubt = [int(b) for b in report.get("in_flight_batches", [])]
    batch_of = _batches(contest, stats["missing_sample"])
    outside = [a for a, b in batch_of.items() if b not in in_doubt]
    named = all(
        re.search(rf"batch {b} \(\d+ recipients\)", report.get("message", "")) for b in in_doubt
    )
    problems = []
    if resumed.returncode != 0:
        problems.append(f"resume exit {resumed.returncode}: {resumed.stderr[-200:]}")
    if stats["duplicates"]:
        problems.append(f"{stats['duplicates']} sent twice")
    if outside:
        problems.append(f"{len(outside)} missing outside the batches in doubt")
    if len(in_doubt) > args.concurrency:
        problems.append(f"{len(in_doubt)} batches in doubt > concurrency")
    if not named:
        problems.append("a batch in doubt not named with its size")
    return {
        "killed_after_requests": killed_after,
        "in_doubt_batches": len(in_doubt),
        "missing": stats["missing"],
        "duplicates": stats["duplicates"],
        "outcome": report.get("outcome"),
        "broken": "; ".join(problems),
    }


def _wait_for_first_request(sink_url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while httpx.get(f"{sink_url}/stats").json()["requests"] == 0:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("digest send ended or stalled before its first request")
        time.sleep(0.01)


def _batches(contest: Contest, emails: list[str]) -> dict[str, int]:
    """address -> its batch in the ledger, for the readers the sink never saw."""
    if not emails:
        return {}
    query = text(
        "SELECT s.email, r.batch FROM send_recipients r JOIN subscribers s "
        "ON s.id = r.subscriber_id WHERE s.email IN :emails"
    ).bindparams(bindparam("emails", expanding=True))
    with contest.store.engine.connect() as conn:
        return {str(e): int(b) for e, b in conn.execute(query, {"emails": emails})}


def _line(trial: int, got: dict[str, Any]) -> str:
    verdict = f"BROKEN: {got['broken']}" if got["broken"] else "ok"
    return (
        f"trial {trial:3}: killed after {got['killed_after_requests']:3} requests; resumed "
        f"({got['outcome']}); {got['in_doubt_batches']} in doubt, {got['missing']} not sent, "
        f"{got['duplicates']} twice — {verdict}"
    )


if __name__ == "__main__":
    sys.exit(main())
