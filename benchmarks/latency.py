"""Sending at the speed of a real API: ``digest send`` beside the plain ``sendgrid`` loop.

    python -m benchmarks.latency [--readers 100000] [--concurrency 4,8] [--out FILE.json]

One SQLite list of N active readers (``benchmarks.datagen``) and one local sink
(``benchmarks.latency_sink``) on 127.0.0.1. For each sink mode, first with the latency model
(median 150 ms, 2% of requests 2 s, 0.5% answered 429 with Retry-After: 1, seeded: every
contender meets the same sequence of answers), then answering at once, it runs, each as a
whole process:

* ``digest send --yes`` (backend sendgrid, ``delivery.concurrency`` 4, then 8);
* the peer: the loop a user would write with the official ``sendgrid`` library
  (``SendGridAPIClient`` + ``Mail`` helpers, 1000 personalizations a request, each a ``To``
  and a substitution for the unsubscribe link, one request at a time, a 429 retried after its
  Retry-After), reading the same readers from the same database and sending the same issue
  (the subject and content the sink received from ``digest send``).

Reports wall time, recipients/s, peak RSS, duplicates and missing readers per contender, and
the speed-up over the peer (peer wall / contender wall; issue 13's targets at the default
concurrency: >= 3x with latency, >= 1.5x at once). Needs the test extras (``sendgrid``).
``python -m benchmarks --only latency`` runs the same contest (``Contest``) with medians.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from benchmarks.runner import run_command
from benchmarks.stats import machine

PEER = "sendgrid library loop"
BATCH = 1000
TARGETS = {True: 3.0, False: 1.5}  # speed-up over the peer at the default concurrency


# --- the peer: what a user writes by hand -------------------------------------------------


def _readers(db_url: str) -> Any:
    """A cursor over the active readers, in id order, by the database's own driver (the
    peer uses no part of digest)."""
    conn: Any
    if db_url.startswith("sqlite:///"):
        conn = sqlite3.connect(db_url.removeprefix("sqlite:///"))
    else:
        import psycopg

        conn = psycopg.connect(db_url.replace("postgresql+psycopg://", "postgresql://", 1))
    return conn.execute("SELECT email, name FROM subscribers WHERE status = 'active' ORDER BY id")


def peer_main(db_url: str, host: str, content: Path) -> int:
    from python_http_client.exceptions import HTTPError
    from sendgrid import SendGridAPIClient
    from sendgrid.helpers.mail import From, Mail, Personalization, Substitution, To

    doc = json.loads(content.read_text(encoding="utf-8"))
    parts = {c["type"]: c["value"] for c in doc["content"]}
    sender = From(doc["from"]["email"], doc["from"].get("name"))
    secret = os.environ["DIGEST_SECRET_KEY"].encode()
    client = SendGridAPIClient(api_key=os.environ["SENDGRID_API_KEY"], host=host)
    rows = _readers(db_url)
    sent = throttled = 0
    while batch := rows.fetchmany(BATCH):
        mail = Mail(
            from_email=sender,
            subject=doc["subject"],
            plain_text_content=parts["text/plain"],
            html_content=parts["text/html"],
        )
        for email, name in batch:
            token = hmac.new(secret, email.encode(), hashlib.sha256).hexdigest()[:32]
            p = Personalization()
            p.add_to(To(email, name))
            p.add_substitution(
                Substitution(
                    "%%unsubscribe_url%%",
                    f"https://statecraft.example/unsubscribe?e={email}&t={token}",
                )
            )
            mail.add_personalization(p)
        while True:
            try:
                client.send(mail)
                break
            except HTTPError as exc:
                if exc.status_code != 429:
                    raise
                throttled += 1
                time.sleep(float(exc.headers.get("Retry-After") or 1))
        sent += len(batch)
    print(f"sent {sent}, {throttled} throttled", flush=True)
    return 0


# --- one contest: digest and the peer on one list and one sink -------------------------


class Contest:
    """The readers of ``db_url`` and a running latency sink: ``digest(concurrency, mode)`` and
    ``peer(mode)`` each run one whole process from a first send of the issue and return its
    row (wall, rcpt/s, peak RSS, what the sink counted). The peer sends the issue the sink
    first received from digest, so digest runs first."""

    def __init__(self, workdir: Path, db_url: str, sink_url: str, readers: int, seed: int):
        from benchmarks.publication import write_publication
        from benchmarks.runner import digest_env
        from digest.store.database import open_store

        self.workdir, self.db_url, self.sink_url = workdir, db_url, sink_url
        self.readers, self.seed = readers, seed
        self.store = open_store(db_url)
        self.env = digest_env(sink_url)
        self.content = workdir / "issue.json"
        self.content.unlink(missing_ok=True)
        self._configs: dict[int, Path] = {}
        self._write_publication = write_publication
        self.runs = 0

    def close(self) -> None:
        self.store.dispose()

    def config(self, concurrency: int) -> Path:
        if concurrency not in self._configs:
            config = self._write_publication(
                self.workdir / f"digest-c{concurrency}", db_url=self.db_url
            )
            text = config.read_text(encoding="utf-8").replace(
                "batch_size = 1000", f"batch_size = 1000\nconcurrency = {concurrency}"
            )
            config.write_text(text, encoding="utf-8")
            self._configs[concurrency] = config
        return self._configs[concurrency]

    def digest(self, concurrency: int, mode: str) -> dict[str, Any]:
        from benchmarks.publication import AS_OF

        cfg = self.config(concurrency)
        cmd = [sys.executable, "-m", "digest", "send", "--yes", "--config", str(cfg)]
        cmd += ["--as-of", AS_OF.isoformat()]
        row = self._run(f"digest send (concurrency {concurrency})", mode, cmd, cfg.parent)
        if not self.content.exists():
            issue = httpx.get(self.sink_url + "/content").json()
            if issue:
                self.content.write_text(json.dumps(issue), encoding="utf-8")
        return row

    def peer(self, mode: str) -> dict[str, Any]:
        if not self.content.exists():
            return {"sink": mode, "contender": PEER, "problem": "no issue seen"}
        cmd = [sys.executable, "-m", "benchmarks.latency", "--peer", self.db_url, self.sink_url]
        return self._run(PEER, mode, [*cmd, str(self.content)], self.workdir)

    def _run(self, name: str, mode: str, cmd: list[str], cwd: Path) -> dict[str, Any]:
        from benchmarks import datagen

        datagen.clear_sends(self.store)
        latency = "on" if mode == "latency" else "off"
        httpx.post(f"{self.sink_url}/reset?latency={latency}&seed={self.seed}")
        self.runs += 1
        log = self.workdir / f"{mode}-{name.split(' (')[0].replace(' ', '-')}-{self.runs}.log"
        run = run_command(cmd, env=self.env, log=log, cwd=cwd, timeout=1800)
        got = httpx.get(f"{self.sink_url}/stats?expected={self.readers}", timeout=120).json()
        return {
            "sink": mode,
            "contender": name,
            "exit": run.returncode,
            "wall_s": round(run.wall, 2),
            "recipients_per_s": round(got["unique_recipients"] / run.wall, 1),
            "peak_rss_mb": round(run.peak_rss_mb, 1),
            "rss_drift_mb": run.rss_drift_mb(),
            **{k: got[k] for k in ("duplicates", "missing", "strays", "requests")},
            **{k: got[k] for k in ("throttled", "slow", "rejected", "max_in_flight")},
            "received": got["recipients"],
            "problem": "" if run.returncode == 0 else f"exit {run.returncode}: {run.tail(4)[:400]}",
        }


# --- the run ------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.latency", description=__doc__)
    p.add_argument("--readers", type=int, default=100_000, help="active readers (default 100000)")
    p.add_argument("--concurrency", default="4,8", help="digest's delivery.concurrency values")
    p.add_argument("--seed", type=int, default=13, help="the latency model's seed")
    p.add_argument("--modes", default="latency,instant", help="sink modes to run")
    p.add_argument("--database", default=None, help="a database URL (default: a new SQLite file)")
    p.add_argument("--out", type=Path, default=None, help="also write the results as JSON")
    p.add_argument("--workdir", type=Path, default=None, help="keep the database and logs here")
    p.add_argument("--peer", nargs=3, metavar=("DB", "HOST", "CONTENT"), help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.peer:
        db, host, content = args.peer
        return peer_main(db, host, Path(content))

    from benchmarks import datagen
    from benchmarks.servers import HelperProcess, wait_for_http

    console = Console(highlight=False, width=None if sys.stdout.isatty() else 180)
    levels = [int(c) for c in args.concurrency.split(",") if c]
    modes = [m for m in args.modes.split(",") if m]
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="digest-latency-"))
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    try:
        url = args.database
        if url is None:
            for old in workdir.glob("latency.db*"):
                old.unlink()
            url = f"sqlite:///{workdir / 'latency.db'}"
        with HelperProcess("benchmarks.latency_sink") as sink:
            wait_for_http(sink.url + "/stats")
            contest = Contest(workdir, url, sink.url, args.readers, args.seed)
            try:
                took = datagen.generate(contest.store, args.readers)
                console.print(f"{args.readers} active readers in {took:.1f} s")
                for mode in modes:
                    for row in [*(contest.digest(c, mode) for c in levels), contest.peer(mode)]:
                        rows.append(row)
                        console.print(line(row))
            finally:
                contest.close()
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    add_speedups(rows)
    console.print(table(rows, args.readers))
    if args.out:
        write_json(args.out, argv, args, rows, time.perf_counter() - started)
        console.print(f"wrote {args.out}")
    bad = any(r.get("problem") or r.get("duplicates") or r.get("missing") for r in rows)
    return 1 if bad else 0


def line(row: dict[str, Any]) -> str:
    if "wall_s" not in row:
        return f"  {row['sink']:8} {row['contender']:28} {row.get('problem', '')}"
    return (
        f"  {row['sink']:8} {row['contender']:28} {row['wall_s']:6.1f} s  "
        f"{row['peak_rss_mb']:5.0f} MB  {row['received'] - row['duplicates']} unique, "
        f"{row['duplicates']} dup, {row['missing']} missing, {row['throttled']} 429s"
    )


def add_speedups(rows: list[dict[str, Any]]) -> None:
    """Each row's speed-up over the peer on the same sink; at the default concurrency, the
    issue's target and whether it is met."""
    for row in rows:
        peer = next((r for r in rows if r["sink"] == row["sink"] and r["contender"] == PEER), None)
        if peer and "wall_s" in peer and "wall_s" in row:
            row["speedup_vs_peer"] = round(peer["wall_s"] / row["wall_s"], 2)
            if row["contender"] == "digest send (concurrency 4)":
                target = TARGETS[row["sink"] == "latency"]
                row["target"] = f">= {target:g}x"
                row["met"] = row["speedup_vs_peer"] >= target and not (
                    row["duplicates"] or row["missing"] or row["exit"]
                )


def write_json(
    out: Path, argv: list[str] | None, args: argparse.Namespace, rows: list[Any], took: float
) -> None:
    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(
            ["python -m benchmarks.latency", *(argv if argv is not None else sys.argv[1:])]
        ),
        "readers": args.readers,
        "seed": args.seed,
        "machine": machine(),
        "seconds": round(took, 1),
        "results": rows,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


def table(rows: list[dict[str, Any]], n: int) -> Table:
    t = Table(
        title=f"send {n} readers: digest send vs the sendgrid library loop ({os.cpu_count()} cores)"
    )
    cols = ("sink", "contender", "wall", "rcpt/s", "peak RSS", "dup", "missing", "429s")
    for col in (*cols, "speed-up vs peer", "target", "met", "note"):
        t.add_column(col, overflow="fold")
    for r in rows:
        if "wall_s" not in r:
            t.add_row(r["sink"], r["contender"], *[""] * 9, r.get("problem", ""))
            continue
        met = {True: "[green]yes[/]", False: "[red]NO[/]", None: "—"}[r.get("met")]
        t.add_row(
            r["sink"],
            r["contender"],
            f"{r['wall_s']:.1f} s",
            f"{r['recipients_per_s']:,.0f}",
            f"{r['peak_rss_mb']:.0f} MB",
            str(r["duplicates"]),
            str(r["missing"]),
            str(r["throttled"]),
            f"{r['speedup_vs_peer']:.2f}x" if "speedup_vs_peer" in r else "",
            r.get("target", ""),
            met,
            r["problem"],
        )
    return t


if __name__ == "__main__":
    sys.exit(main())
