"""Web: one-click unsubscribe POSTs (RFC 8058) and subscribe form posts against
``digest serve``, on SQLite and PostgreSQL, loaded from a separate process
(Debian's ``wrk`` when installed, else ``benchmarks.loadgen``).

Closed loop, 16 keep-alive connections. Figures: requests/s and p99 latency,
median over runs. Target for the one-click POST on 2 cores: ≥ 500 req/s and
p99 < 50 ms. Every one-click request carries a real token of its own
subscriber (cycling when the run outlasts the list); after each run the
benchmark checks that subscribers really were unsubscribed, then makes them
active again for the next run. Confirmation emails go to the local sink.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from sqlalchemy import text

from benchmarks import datagen, pgdb
from benchmarks.profiling import py_spy, summarize
from benchmarks.publication import write_publication
from benchmarks.runner import SECRET, digest_env
from benchmarks.servers import HelperProcess, free_port, wait_for_http
from benchmarks.stats import Figure, check, median, unmeasured
from benchmarks.wrk import load

CONNECTIONS = 16
UNLIMITED = 1_000_000_000


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(
                {
                    "action": a.get("action", ""),
                    "method": a.get("method", "get").lower(),
                    "inputs": [],
                }
            )
        elif tag in ("input", "button", "textarea", "select") and self.forms and a.get("name"):
            self.forms[-1]["inputs"].append(a)


def subscribe_plan(base: str, prefix: str) -> dict[str, Any]:
    """Find the subscribe form on the home page (or /subscribe): its action,
    hidden fields (CSRF), the e-mail field and the cookies the page set."""
    last = ""
    for path in ("/", "/subscribe"):
        page = httpx.get(base + path, follow_redirects=True, timeout=10)
        parser = _Forms()
        parser.feed(page.text)
        for form in parser.forms:
            inputs = form["inputs"]
            email = next(
                (i["name"] for i in inputs if i.get("type") == "email" or i["name"] == "email"),
                None,
            )
            if form["method"] != "post" or email is None:
                continue
            fields = []
            for i in inputs:
                kind = i.get("type", "text")
                if i["name"] == email or kind in ("submit", "button"):
                    continue
                if kind == "hidden":
                    fields.append((i["name"], i.get("value", "")))
                elif kind == "checkbox" and "required" in i:
                    fields.append((i["name"], i.get("value") or "on"))
                # other visible fields (name, the honeypot) stay empty
            cookie = "; ".join(f"{k}={v}" for k, v in page.cookies.items())
            action = form["action"] or path
            action = action.removeprefix(base)
            return {
                "mode": "form",
                "path": action,
                "body": urlencode(fields),
                "email_field": email,
                "cookie": cookie,
                "prefix": prefix,
            }
        last = f"{path}: HTTP {page.status_code}, {len(parser.forms)} form(s), none with an e-mail field"
    raise RuntimeError(f"no subscribe form found ({last})")


@contextmanager
def database(kind: str, workdir: Path) -> Iterator[str]:
    if kind == "sqlite":
        for p in workdir.glob("web.db*"):
            p.unlink()
        yield f"sqlite:///{workdir / 'web.db'}"
    else:
        with pgdb.bench_database("digest_bench") as url:
            yield url


@contextmanager
def serve(
    config: Path, port: int, env: dict[str, str], log: Path, workers: int = 1
) -> Iterator[subprocess.Popen[bytes]]:
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "digest",
                "serve",
                "--config",
                str(config),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                str(workers),
            ],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=config.parent,
        )
        try:
            try:
                wait_for_http(f"http://127.0.0.1:{port}/healthz", timeout=30, proc=proc)
            except RuntimeError as exc:
                said = log.read_text(encoding="utf-8", errors="replace").strip()[-600:]
                raise RuntimeError(f"digest serve did not start: {exc}; it said: {said}") from None
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# one process (issue 5's targets) and `digest serve --workers 2` on PostgreSQL (issue 14's)
TARGETS_BY_WORKERS: dict[int, dict[str, float]] = {
    1: {"oneclick_rps": 500, "oneclick_p99": 50},
    2: {"oneclick_rps": 800, "oneclick_p99": 50, "subscribe_rps": 200, "subscribe_p99": 100},
}


def _bad(result: dict[str, Any]) -> int:
    return int(
        sum(n for code, n in result["statuses"].items() if code[:1] not in ("2", "3"))
        + result["errors"]
    )


def run(
    *, quick: bool, workdir: Path, repeat: int | None = None, options: Any = None
) -> list[Figure]:
    dbs_opt = getattr(options, "databases", None)
    dbs = dbs_opt.split(",") if dbs_opt else (["sqlite"] if quick else ["sqlite", "postgresql"])
    runs = repeat or (1 if quick else 3)
    seconds = getattr(options, "web_seconds", None) or (2.0 if quick else 10.0)
    list_size = 2_000 if quick else 50_000
    workers = int(getattr(options, "web_workers", None) or 1)
    targets = TARGETS_BY_WORKERS[min(workers, 2)]
    try:
        import subscribers.web.app  # noqa: F401
        from digest.tokens import Tokens
    except ImportError as exc:
        return [
            unmeasured(
                "web", "web", "req/s", f"the web app is not available: {exc}", ">= 500 req/s"
            )
        ]
    from digest.store.database import open_store

    workdir.mkdir(parents=True, exist_ok=True)
    figures: list[Figure] = []
    tokens_for = Tokens(SECRET)
    with HelperProcess("benchmarks.sink") as sink:
        env = digest_env(sink.url)
        for kind in dbs:
            if kind == "postgresql" and not pgdb.available():
                figures.append(
                    unmeasured(
                        "web",
                        "web on postgresql",
                        "req/s",
                        f"PostgreSQL not reachable at {pgdb.ADMIN_URL}",
                    )
                )
                continue
            with database(kind, workdir) as url:
                store = open_store(url)
                try:
                    datagen.generate(store, list_size)
                    with store.engine.connect() as conn:
                        rows = conn.execute(
                            text("SELECT id, email FROM subscribers ORDER BY id")
                        ).all()
                    tokens = [tokens_for.unsubscribe(int(i), str(e)) for i, e in rows]
                    port = free_port()
                    base = f"http://127.0.0.1:{port}"
                    config = write_publication(
                        workdir / kind,
                        db_url=url,
                        public_url=base,
                        web={"rate_limit_per_ip": UNLIMITED, "rate_limit_per_address": UNLIMITED},
                    )
                    log = workdir / kind / "serve.log"
                    label = kind if workers == 1 else f"{kind}, {workers} workers"
                    with serve(config, port, env, log, workers) as server:
                        profile = getattr(options, "profile", None)
                        if profile is not None:
                            _profile_oneclick(
                                profile, kind, server.pid, base, tokens, seconds, workdir / kind
                            )
                        figures += _oneclick(
                            label, base, tokens, store, runs, seconds, workdir / kind, targets
                        )
                        if not quick:
                            figures += _service_time(
                                kind, base, tokens, store, seconds, workdir / kind
                            )
                        figures += _subscribe(
                            label,
                            base,
                            runs,
                            seconds,
                            workdir / kind,
                            store=store,
                            sink=sink.url,
                            targets=targets,
                        )
                finally:
                    store.dispose()
    return figures


def _service_time(
    kind: str, base: str, tokens: list[str], store: Any, seconds: float, folder: Path
) -> list[Figure]:
    """One connection, one request at a time: the cost of a request without queueing."""
    with store.engine.begin() as conn:
        conn.execute(
            text("UPDATE subscribers SET status = 'active', unsubscribed_at = NULL "
                 "WHERE status = 'unsubscribed'")
        )  # fmt: skip
    got = load(
        base, {"mode": "oneclick", "tokens": tokens}, duration=seconds, connections=1, folder=folder
    )
    note = f"1 connection, {seconds:.0f} s, {got['tool']}"
    if _bad(got):
        note += f"; {_bad(got)} failed requests"
    print(
        f"    one-click {kind}, 1 connection: {got['rps']:.0f} req/s, p50 {got['p50_ms']:.1f} ms",
        file=sys.stderr,
    )
    name = f"one-click unsubscribe POST {kind}, 1 connection"
    return [
        Figure("web", f"{name}: requests/s", got["rps"], "req/s", 1, [got["rps"]], note=note),
        Figure("web", f"{name}: p50", got["p50_ms"], "ms", 1, [got["p50_ms"]]),
    ]


def _oneclick(
    kind: str,
    base: str,
    tokens: list[str],
    store: Any,
    runs: int,
    seconds: float,
    folder: Path,
    targets: dict[str, float] | None = None,
) -> list[Figure]:
    target = targets or TARGETS_BY_WORKERS[1]
    # a first request checks the route works at all before loading it
    first = httpx.post(
        f"{base}/unsubscribe/{tokens[0]}",
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=10,
    )
    name = f"one-click unsubscribe POST {kind}"
    if first.status_code >= 300:
        return [
            unmeasured(
                "web",
                f"{name}: requests/s",
                "req/s",
                f"the first one-click POST answered {first.status_code}",
                ">= 500 req/s",
            )
        ]
    rps, p99s, notes = [], [], []
    for r in range(runs):
        with store.engine.begin() as conn:
            conn.execute(
                text(
                    "UPDATE subscribers SET status = 'active', unsubscribed_at = NULL WHERE status = 'unsubscribed'"
                )
            )
        got = load(
            base,
            {"mode": "oneclick", "tokens": tokens},
            duration=seconds,
            connections=CONNECTIONS,
            folder=folder,
        )
        with store.engine.connect() as conn:
            gone = int(
                conn.execute(
                    text("SELECT count(*) FROM subscribers WHERE status = 'unsubscribed'")
                ).scalar_one()
            )
        bad = _bad(got)
        expected = min(got["requests"], len(tokens))
        if bad or gone < expected:
            notes.append(
                f"run {r + 1}: {bad} failed requests, {gone} of {expected} subscribers unsubscribed"
            )
        rps.append(got["rps"])
        p99s.append(got["p99_ms"])
        print(
            f"    one-click {kind} run {r + 1}: {got['rps']:.0f} req/s, p99 {got['p99_ms']:.1f} ms, "
            f"{got['requests']} requests, {gone} unsubscribed ({got['tool']})",
            file=sys.stderr,
        )
    ok = not notes
    note = "; ".join(notes) or f"{CONNECTIONS} connections, {seconds:.0f} s per run, {got['tool']}"
    r_med, p_med = median(rps), median(p99s)
    return [
        Figure(
            "web",
            f"{name}: requests/s",
            r_med,
            "req/s",
            runs,
            rps,
            f">= {target['oneclick_rps']:g} req/s",
            bool(check(r_med, at_least=target["oneclick_rps"])) and ok,
            note,
        ),
        Figure(
            "web",
            f"{name}: p99",
            p_med,
            "ms",
            runs,
            p99s,
            f"< {target['oneclick_p99']:g} ms",
            bool(check(p_med, at_most=target["oneclick_p99"] - 0.001)) and ok,
        ),
    ]


def _profile_oneclick(
    folder: Path, kind: str, pid: int, base: str, tokens: list[str], seconds: float, work: Path
) -> None:
    """py-spy on the server under load: one-click (CPU, then all threads incl. waiting
    ones: where requests wait), then subscribe posts (CPU)."""
    if py_spy() is None:
        print("py-spy is not installed; no web profile", file=sys.stderr)
        return
    folder.mkdir(parents=True, exist_ok=True)
    oneclick = {"mode": "oneclick", "tokens": tokens}
    _profile_load(folder / f"web-oneclick-{kind}", pid, base, oneclick, seconds, work, idle=False)
    _profile_load(
        folder / f"web-oneclick-{kind}-idle", pid, base, oneclick, seconds, work, idle=True
    )
    try:
        plan = subscribe_plan(base, prefix=f"profile-{kind}-{time.time_ns()}-")
    except (RuntimeError, httpx.HTTPError) as exc:
        print(f"no subscribe profile: {exc}", file=sys.stderr)
        return
    _profile_load(folder / f"web-subscribe-{kind}", pid, base, plan, seconds, work, idle=False)


def _profile_load(
    stem: Path, pid: int, base: str, plan: dict[str, Any], seconds: float, work: Path, *, idle: bool
) -> None:
    exe = py_spy()
    assert exe is not None
    raw = stem.with_name(stem.name + ".pyspy.txt")
    spy = subprocess.Popen(
        [exe, "record", "--pid", str(pid), "--format", "raw", "-r", "200", "-o", str(raw),
         "--duration", str(max(1, int(seconds))), "--nonblocking", *(["--idle"] if idle else [])],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    load(base, plan, duration=seconds, connections=CONNECTIONS, folder=work)
    spy.wait(timeout=seconds + 30)
    summary = summarize(raw) if raw.exists() else "(py-spy wrote nothing)"
    stem.with_name(stem.name + ".summary.txt").write_text(summary + "\n", encoding="utf-8")
    print(
        f"--- profile {stem.name}{' (with idle)' if idle else ''} ---\n{summary}", file=sys.stderr
    )


def _subscribed(
    store: Any, prefix: str, sink: str, mails_before: int, expected: int, timeout: float = 30.0
) -> tuple[int, int]:
    """Pending subscribers and confirmation e-mails of a run, once they reach ``expected``
    (or after ``timeout`` s): the server does each post's work after its answer, after a
    random wait (``subscribers.web.pages.SUBSCRIBE_DELAY``), so some is still under way."""
    deadline = time.monotonic() + timeout
    while True:
        with store.engine.connect() as conn:
            pending = int(
                conn.execute(
                    text(
                        "SELECT count(*) FROM subscribers WHERE status = 'pending' AND email LIKE :p"
                    ),
                    {"p": prefix + "%"},
                ).scalar_one()
            )
        mails = httpx.get(sink + "/stats").json()["other_recipients"] - mails_before
        if (pending >= expected and mails >= expected) or time.monotonic() > deadline:
            return pending, mails
        time.sleep(0.2)


def _subscribe(
    kind: str,
    base: str,
    runs: int,
    seconds: float,
    folder: Path,
    *,
    store: Any,
    sink: str,
    targets: dict[str, float] | None = None,
) -> list[Figure]:
    target = targets or TARGETS_BY_WORKERS[1]
    name = f"subscribe form POST {kind}"
    kind = re.sub(r"[^a-z0-9]+", "-", kind)  # in addresses from here on
    try:
        probe = subscribe_plan(base, prefix=f"probe-{kind}-{time.time_ns()}-")
        body = (
            probe["body"]
            + ("&" if probe["body"] else "")
            + f"{probe['email_field']}=probe-{kind}%40example.com"
        )
        first = httpx.post(
            base + probe["path"],
            content=body.encode(),
            timeout=10,
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Cookie": probe["cookie"],
            },
        )
        if first.status_code >= 400:
            raise RuntimeError(f"the first subscribe POST answered {first.status_code}")
    except (RuntimeError, httpx.HTTPError) as exc:
        return [unmeasured("web", f"{name}: requests/s", "req/s", str(exc))]
    rps, p99s, notes = [], [], []
    for r in range(runs):
        prefix = f"bench-{kind}-{r}-{time.time_ns()}-"
        plan = subscribe_plan(base, prefix=prefix)
        mails_before = httpx.get(sink + "/stats").json()["other_recipients"]
        got = load(base, plan, duration=seconds, connections=CONNECTIONS, folder=folder)
        bad = _bad(got)
        if bad:
            notes.append(f"run {r + 1}: {bad} failed requests {got['statuses']}")
        pending, mails = _subscribed(store, prefix, sink, mails_before, got["requests"])
        if pending < got["requests"] or mails < got["requests"]:
            notes.append(
                f"run {r + 1}: {got['requests']} posts answered but {pending} pending subscribers "
                f"and {mails} confirmation e-mails"
            )
        rps.append(got["rps"])
        p99s.append(got["p99_ms"])
        print(
            f"    subscribe {kind} run {r + 1}: {got['rps']:.0f} req/s, p99 {got['p99_ms']:.1f} ms ({got['tool']})",
            file=sys.stderr,
        )
    note = "; ".join(notes) or "each post a new address; confirmation e-mails to the local sink"
    return [
        Figure(
            "web",
            f"{name}: requests/s",
            median(rps),
            "req/s",
            runs,
            rps,
            f">= {target['subscribe_rps']:g} req/s" if "subscribe_rps" in target else None,
            False
            if notes
            else (
                check(median(rps), at_least=target["subscribe_rps"])
                if "subscribe_rps" in target
                else None
            ),
            note,
        ),
        Figure(
            "web",
            f"{name}: p99",
            median(p99s),
            "ms",
            runs,
            p99s,
            f"< {target['subscribe_p99']:g} ms" if "subscribe_p99" in target else None,
            check(median(p99s), at_most=target["subscribe_p99"] - 0.001)
            if "subscribe_p99" in target
            else None,
        ),
    ]
