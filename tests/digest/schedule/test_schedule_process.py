"""Real `digest schedule` processes with a crontab that fires within the next minute
(APScheduler runs on the real clock), the file backend, a local feed with fresh dates and
active subscribers inserted directly.

Two processes share one database (SQLite; and PostgreSQL): the due issue goes out once
— each subscriber gets one email, in one of the two outboxes — it is recorded as sent,
and both processes exit 0 on SIGTERM. All four processes start together so the suite
waits for one minute boundary, not two."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, text

from digest.store.database import open_store
from digest.store.tables import IssueRecord
from tests.conftest import PG_URL, pg_available
from tests.needs import missing
from tests.schedule_support import add_active, start_schedule, write_config, write_feed

pytestmark = pytest.mark.slow  # waits for a real minute boundary

TZ = ZoneInfo("America/New_York")
EMAILS = ["ada@example.com", "grace@example.com", "linus@example.com"]
LEAD_SECONDS = 15  # a process needs a few seconds to start before the fire time (loaded CI)


def near_future_cron(now: datetime) -> tuple[str, datetime]:
    """A daily crontab for the next minute boundary at least LEAD_SECONDS away."""
    fire = (now + timedelta(seconds=LEAD_SECONDS + 60)).replace(second=0, microsecond=0)
    local = fire.astimezone(TZ)
    return f"{local.minute} {local.hour} * * *", fire


@dataclass
class Pair:
    """Two `digest schedule` processes on one database, each with its own outbox."""

    url: str
    folders: list[Path]
    fire: datetime
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    codes: list[int | None] = field(default_factory=list)

    def outbox_files(self) -> list[Path]:
        return sorted(p for f in self.folders for p in (f / "outbox").glob("*.eml"))

    def logs(self) -> list[list[dict[str, object]]]:
        out = []
        for folder in self.folders:
            lines = (folder / "schedule.log").read_text().splitlines()
            out.append([json.loads(line) for line in lines if line.startswith("{")])
        return out

    def events(self) -> list[str]:
        return [str(e["event"]) for log in self.logs() for e in log]


def _pair(root: Path, url: str, cron: str, now: datetime, fire: datetime) -> Pair:
    feed = write_feed(root, now)
    add_active(url, EMAILS)
    pair = Pair(url=url, folders=[root / "a", root / "b"], fire=fire)
    for folder in pair.folders:
        config = write_config(folder, cron=cron, database_url=url, feed=str(feed))
        pair.procs.append(start_schedule(config, folder / "schedule.log", "--log-format", "json"))
    return pair


DONE = {"sent", "locked", "already_sent", "failed", "skipped", "retry"}


def _finished(pair: Pair) -> bool:
    """The issue was sent (or failed) and every process that started a run logged how it ended.

    The two processes share APScheduler's job table: the one that takes the due job first
    moves its next run to tomorrow, so the other either runs it too (and finds it locked or
    already sent) or, waking a moment later, finds nothing due and logs nothing."""
    logs = pair.logs()
    ran = [log for log in logs if any(e["event"] == "run" for e in log)]
    ended = all(any(e["event"] in DONE for e in log) for log in ran)
    return ended and any(
        e["event"] in DONE - {"locked", "already_sent"} for log in ran for e in log
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Pair | None]]:
    now = datetime.now(UTC)
    cron, fire = near_future_cron(now)
    pairs: dict[str, Pair | None] = {}
    root = tmp_path_factory.mktemp("sqlite")
    pairs["sqlite"] = _pair(root, f"sqlite:///{root / 'digest.db'}", cron, now, fire)
    schema = None
    if pg_available():
        schema = f"t_{uuid.uuid4().hex[:12]}"
        admin = create_engine(PG_URL)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = f"{PG_URL}?options=-csearch_path%3D{schema}"
        open_store(url).dispose()  # migrate once, before the two processes start
        pairs["postgresql"] = _pair(tmp_path_factory.mktemp("pg"), url, cron, now, fire)
    else:
        pairs["postgresql"] = None
    try:
        deadline = fire + timedelta(seconds=40)
        live = [p for p in pairs.values() if p is not None]
        settled = 0  # two looks 2 s apart: a process waking late has time to log its run
        while datetime.now(UTC) < deadline and settled < 2:
            settled = settled + 1 if all(_finished(p) for p in live) else 0
            time.sleep(2 if settled else 0.5)
        for pair in live:
            for proc in pair.procs:
                proc.send_signal(signal.SIGTERM)
            for proc in pair.procs:
                try:
                    pair.codes.append(proc.wait(timeout=20))
                except subprocess.TimeoutExpired:
                    proc.kill()
                    pair.codes.append(None)
        yield pairs
    finally:
        for pair in (p for p in pairs.values() if p is not None):
            for proc in pair.procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        if schema is not None:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()


def _story(logs: list[list[dict[str, object]]]) -> str:
    """Each process's events and messages, one per line, for a failure message."""
    return "\n".join(
        f"process {i}: {e['event']}: {e.get('message', '')}"
        for i, log in enumerate(logs)
        for e in log
    )


def _check(pair: Pair) -> None:
    logs = pair.logs()
    for log in logs:  # each process was up before the fire time
        started = datetime.fromisoformat(str(log[0]["next_run"]))
        assert started == pair.fire, f"a process started too late: {log[0]}"
    assert pair.codes == [0, 0], f"exit codes {pair.codes}; logs: {logs}"
    # every subscriber got the issue exactly once, across both processes' outboxes
    files = pair.outbox_files()
    recipients = sorted(p.name.split("-", 2)[2].rsplit("-", 1)[0] for p in files)
    assert recipients == sorted(e.replace("@", "_") for e in EMAILS), files
    sent = [e for log in logs for e in log if e["event"] == "sent"]
    assert len(sent) == 1, _story(logs)
    key = str(sent[0]["issue"])
    sender = next(log for log in logs if any(e["event"] == "sent" for e in log))
    stages = [e["event"] for e in sender if e["event"] in ("collected", "selected", "sending")]
    assert stages == ["collected", "selected", "sending"], _story(logs)  # one line per stage
    # the other process found it taken or done, or found no job due (the sender had moved the
    # shared job to tomorrow): either way it never sent
    others = [e["event"] for log in logs for e in log if e["event"] in ("locked", "already_sent")]
    runs = [e for log in logs for e in log if e["event"] == "run"]
    assert len(runs) == 1 + len(others) and len(others) <= 1, _story(logs)
    store = open_store(pair.url)
    try:
        with store.session() as s:
            rec = s.get(IssueRecord, key)
            assert rec is not None and rec.status == "sent" and rec.sent == len(EMAILS)
    finally:
        store.dispose()
    for log in logs:
        events = [e["event"] for e in log]
        assert events[0] == "started" and events[-1] == "stopped", events
        assert all(
            e.get("issue") == key
            for e in log
            if e["event"] in ("run", "collected", "selected", "sending")
        )


def test_two_schedulers_on_sqlite_send_the_issue_once(runs: dict[str, Pair | None]) -> None:
    pair = runs["sqlite"]
    assert pair is not None
    _check(pair)


@pytest.mark.postgres
def test_two_schedulers_on_postgresql_send_the_issue_once(runs: dict[str, Pair | None]) -> None:
    pair = runs["postgresql"]
    if pair is None:
        missing(
            "PostgreSQL at 127.0.0.1:5432",
            "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
        )
    _check(pair)
