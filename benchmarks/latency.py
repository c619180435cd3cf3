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
Not part of ``python -m benchmarks``.
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


def peer_main(db: Path, host: str, content: Path) -> int:
    from python_http_client.exceptions import HTTPError
    from sendgrid import SendGridAPIClient
    from sendgrid.helpers.mail import From, Mail, Personalization, Substitution, To

    doc = json.loads(content.read_text(encoding="utf-8"))
    parts = {c["type"]: c["value"] for c in doc["content"]}
    sender = From(doc["from"]["email"], doc["from"].get("name"))
    secret = os.environ["DIGEST_SECRET_KEY"].encode()
    client = SendGridAPIClient(api_key=os.environ["SENDGRID_API_KEY"], host=host)
    conn = sqlite3.connect(db)
    rows = conn.execute("SELECT email, name FROM subscribers WHERE status = 'active' ORDER BY id")
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


# --- measuring a whole process ------------------------------------------------------------


# --- the run ------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.latency",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--readers", type=int, default=100_000, help="active readers (default 100000)")
    p.add_argument("--concurrency", default="4,8", help="digest's delivery.concurrency values")
    p.add_argument("--seed", type=int, default=13, help="the latency model's seed")
    p.add_argument("--modes", default="latency,instant", help="sink modes to run")
    p.add_argument("--out", type=Path, default=None, help="also write the results as JSON")
    p.add_argument("--workdir", type=Path, default=None, help="keep the database and logs here")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds per contender")
    p.add_argument("--peer", nargs=3, metavar=("DB", "HOST", "CONTENT"), help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.peer:
        db, host, content = args.peer
        return peer_main(Path(db), host, Path(content))

    from benchmarks import datagen
    from benchmarks.publication import AS_OF, write_publication
    from benchmarks.runner import digest_env
    from benchmarks.servers import HelperProcess, wait_for_http
    from digest.store.database import open_store

    console = Console(highlight=False, width=None if sys.stdout.isatty() else 180)
    n = args.readers
    levels = [int(c) for c in args.concurrency.split(",") if c]
    modes = [m for m in args.modes.split(",") if m]
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="digest-latency-"))
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    try:
        db = workdir / "latency.db"
        for old in workdir.glob("latency.db*"):
            old.unlink()
        url = f"sqlite:///{db}"
        store = open_store(url)
        took = datagen.generate(store, n)
        console.print(f"{n} active readers in {took:.1f} s")
        content = workdir / "issue.json"
        with HelperProcess("benchmarks.latency_sink") as sink:
            wait_for_http(sink.url + "/stats")
            env = digest_env(sink.url)
            configs: dict[int, Path] = {}
            for c in levels:
                config = write_publication(workdir / f"digest-c{c}", db_url=url)
                text = config.read_text(encoding="utf-8")
                config.write_text(
                    text.replace("batch_size = 1000", f"batch_size = 1000\nconcurrency = {c}"),
                    encoding="utf-8",
                )
                configs[c] = config
            for mode in modes:
                latency = mode == "latency"
                contenders: list[tuple[str, list[str], Path]] = [
                    (
                        f"digest send (concurrency {c})",
                        [sys.executable, "-m", "digest", "send", "--yes", "--config", str(cfg)]
                        + ["--as-of", AS_OF.isoformat()],
                        cfg.parent,
                    )
                    for c, cfg in configs.items()
                ]
                contenders.append(
                    (
                        PEER,
                        [sys.executable, "-m", "benchmarks.latency", "--peer", str(db), sink.url]
                        + [str(content)],
                        workdir,
                    )
                )
                for name, cmd, cwd in contenders:
                    if name == PEER and not content.exists():
                        rows.append({"sink": mode, "contender": name, "problem": "no issue seen"})
                        continue
                    datagen.clear_sends(store)
                    reset = (
                        f"{sink.url}/reset?latency={'on' if latency else 'off'}&seed={args.seed}"
                    )
                    httpx.post(reset)
                    log = (
                        workdir / f"{mode}-{name.split(' (')[0].replace(' ', '-')}-{len(rows)}.log"
                    )
                    run = run_command(cmd, env=env, log=log, cwd=cwd, timeout=args.timeout)
                    code, wall, rss = run.returncode, run.wall, run.peak_rss_mb
                    got = httpx.get(f"{sink.url}/stats?expected={n}", timeout=60).json()
                    if not content.exists() and name != PEER:
                        issue = httpx.get(sink.url + "/content").json()
                        if issue:
                            content.write_text(json.dumps(issue), encoding="utf-8")
                    row = {
                        "sink": mode,
                        "contender": name,
                        "exit": code,
                        "wall_s": round(wall, 2),
                        "recipients_per_s": round(got["unique_recipients"] / wall, 1),
                        "peak_rss_mb": round(rss, 1),
                        "received": got["recipients"],
                        "duplicates": got["duplicates"],
                        "missing": got["missing"],
                        "strays": got["strays"],
                        "requests": got["requests"],
                        "throttled": got["throttled"],
                        "slow": got["slow"],
                        "rejected": got["rejected"],
                        "max_in_flight": got["max_in_flight"],
                        "problem": "" if code == 0 else f"exit {code}: {run.tail(4)[:400]}",
                    }
                    rows.append(row)
                    console.print(
                        f"  {mode:8} {name:28} {wall:6.1f} s  {rss:5.0f} MB  "
                        f"{got['unique_recipients']} unique, {got['duplicates']} dup, "
                        f"{got['missing']} missing, {got['throttled']} 429s"
                    )
        store.dispose()
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
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
    console.print(table(rows, n))
    info = machine()
    if args.out:
        result = {
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": " ".join(
                ["python -m benchmarks.latency", *(argv if argv is not None else sys.argv[1:])]
            ),
            "readers": n,
            "seed": args.seed,
            "machine": info,
            "seconds": round(time.perf_counter() - started, 1),
            "results": rows,
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        console.print(f"wrote {args.out}")
    bad = any(r.get("problem") or r.get("duplicates") or r.get("missing") for r in rows)
    return 1 if bad else 0


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
