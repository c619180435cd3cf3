"""The takeover check (``digest.schedule.takeover``), with an injected clock: an issue left
sending whose lock is free is resumed inside the misfire grace, as `digest send` resumes it
(the batch in flight reported and not resent), and logged ``takeover``; nothing is done for
an issue whose sender holds its lock, one this process is sending, one outside the grace or
one already sent. Also: the key's check, and the interval job the scheduler adds."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from apscheduler.schedulers.background import BackgroundScheduler

from digest.config import Config, load_config
from digest.errors import ConfigError
from digest.schedule.apscheduler_runner import WeeklyScheduler
from digest.schedule.jobs import ScheduledWork
from digest.schedule.logs import configure_logging, remove_logging
from digest.schedule.plan import RunPlan
from digest.schedule.progress import LogProgress
from digest.schedule.takeover import TAKEOVER_JOB_ID, Takeover
from digest.store import ledger, records
from digest.store.database import Store, make_engine
from digest.store.locks import issue_lock
from tests.delivery_support import add_subscribers
from tests.schedule_support import FakeSend, write_config

NY = ZoneInfo("America/New_York")
FIRE = datetime(2026, 11, 20, 9, 0, tzinfo=NY)  # the run of issue 2026-W47
KEY = "2026-W47"


@pytest.fixture
def log() -> Iterator[io.StringIO]:
    buf = io.StringIO()
    handler = configure_logging("json", stream=buf)
    try:
        yield buf
    finally:
        remove_logging(handler)


def _events(buf: io.StringIO, name: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in buf.getvalue().splitlines() if line.strip()]
    return [e for e in lines if e["event"] == name]


def _config(tmp_path: Path, store: Store) -> Config:
    url = store.engine.url.render_as_string(hide_password=False)
    return load_config(write_config(tmp_path, database_url=url, extra="takeover_seconds = 2\n"))


def _half_sent(store: Store, *, as_of: datetime = FIRE) -> list[str]:
    """Issue 2026-W47 as a killed sender leaves it: five readers in batches of two, batch 1
    accepted, batch 2 in flight (in doubt), batch 3 queued. Returns batch 3's readers."""
    readers = add_subscribers(store, {"active": 5})["active"]
    ledger.claim_issue(
        store, key=KEY, as_of=as_of, subject="Subject", preheader="P",
        html="<p>The issue</p>", text="The issue", archive_html="<p>a</p>", picks=[],
        batch_size=2, now=as_of,
    )  # fmt: skip
    ledger.prepare_batch(store, KEY, 1)
    ledger.mark_in_flight(store, KEY, 1, now=as_of)
    ledger.finish_batch(store, KEY, 1, now=as_of)
    ledger.prepare_batch(store, KEY, 2)
    ledger.mark_in_flight(store, KEY, 2, now=as_of)
    return readers[4:]


class FakeWork:
    """A ``Work`` that records the sends asked of it; its interrupted issues come from the
    store, as ScheduledWork's do."""

    def __init__(self, store: Store):
        self.store = store
        self.sends: list[tuple[datetime, LogProgress | None]] = []

    def send(self, fire_time: datetime, *, progress: LogProgress | None = None) -> None:
        self.sends.append((fire_time, progress))

    def preview(self, send_time: datetime) -> None:
        raise AssertionError("not expected")

    def interrupted(self) -> list[tuple[str, datetime]]:
        return records.sending(self.store)

    def missed(self, job_id: str, fire_time: datetime, *, late_by: timedelta) -> None:
        raise AssertionError("not expected")


def _takeover(config: Config, store: Store, work: Any, now: datetime) -> Takeover:
    return Takeover(
        store,
        work,
        RunPlan.from_config(config),
        every_seconds=config.schedule.takeover_seconds,
        resend_in_flight=config.delivery.resend_in_flight,
        stop=threading.Event(),
        clock=lambda: now,
    )


def test_a_send_whose_sender_died_is_resumed_and_logged_as_a_takeover(
    tmp_path: Path, store: Store, log: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIGEST_SECRET_KEY", "takeover-test-secret-0123456789")
    left = _half_sent(store)
    config = _config(tmp_path, store)
    now = FIRE + timedelta(hours=1)
    work = ScheduledWork(config, store, stop=threading.Event(), clock=lambda: now)
    takeover = _takeover(config, store, work, now)

    decisions = takeover.check()

    assert [(d.key, d.verdict) for d in decisions] == [(KEY, "take")]
    rec = records.get_issue(store, KEY)
    assert rec is not None and rec.status == "sent"
    # batch 3 went out; batch 2, in flight when the sender died, was not sent again
    sent_to = sorted(p.name for p in (tmp_path / "outbox").glob("*.eml"))
    assert len(sent_to) == len(left) and all(
        e.replace("@", "_") in name for e, name in zip(left, sent_to, strict=True)
    )
    (took,) = _events(log, "takeover")
    assert took["issue"] == KEY and took["in_doubt_batches"] == [2] and took["in_doubt"] == 2
    assert "batch 2 (2 recipients)" in took["message"] and "not resent" in took["message"]
    (sent,) = _events(log, "sent")
    assert sent["issue"] == KEY and "not resent" in sent["message"]
    assert takeover.check() == []  # sent: nothing left to take over


def test_nothing_is_taken_over_when_no_issue_is_left_sending(
    tmp_path: Path, store: Store, log: io.StringIO
) -> None:
    config = _config(tmp_path, store)
    work = FakeWork(store)
    assert _takeover(config, store, work, FIRE).check() == []
    _half_sent(store)
    records.mark_issue(store, KEY, status="sent", now=FIRE)  # already sent
    assert _takeover(config, store, work, FIRE).check() == []
    assert work.sends == [] and _events(log, "takeover") == []


def test_a_sender_holding_the_lock_is_left_alone(tmp_path: Path, store: Store) -> None:
    _half_sent(store)
    config = _config(tmp_path, store)
    work = FakeWork(store)
    takeover = _takeover(config, store, work, FIRE + timedelta(minutes=5))
    with issue_lock(store, KEY):  # another process (or connection) is sending it
        assert [d.verdict for d in takeover.check()] == ["alive"]
    assert work.sends == []
    assert [d.verdict for d in takeover.check()] == ["take"]  # its lock went with it
    assert work.sends[0][0] == FIRE


def test_an_issue_this_process_is_sending_is_skipped_without_touching_the_lock(
    tmp_path: Path, store: Store
) -> None:
    _half_sent(store)
    config = _config(tmp_path, store)
    work = FakeWork(store)
    takeover = _takeover(config, store, work, FIRE + timedelta(minutes=5))
    seen: list[list[str]] = []

    def send_job(fire_time: datetime) -> None:  # this process's own send, mid-way
        seen.append([d.verdict for d in takeover.check()])

    work.send = lambda fire_time, progress=None: send_job(fire_time)  # type: ignore[method-assign]
    takeover.work.send(FIRE)  # as the scheduler's send job calls it
    assert seen == [["own"]]


def test_a_send_stopped_outside_the_grace_is_left_for_an_editor_and_logged_once(
    tmp_path: Path, store: Store, log: io.StringIO
) -> None:
    _half_sent(store)
    config = _config(tmp_path, store)  # misfire_grace_hours = 6, from the fire time
    work = FakeWork(store)
    inside = _takeover(config, store, work, FIRE + timedelta(hours=6))
    assert [d.verdict for d in inside.decide(FIRE + timedelta(hours=6))] == ["take"]
    late = _takeover(config, store, work, FIRE + timedelta(hours=6, minutes=1))
    assert [d.verdict for d in late.check()] == ["late"]
    assert [d.verdict for d in late.check()] == ["late"]
    assert work.sends == []
    (told,) = _events(log, "interrupted")  # once, not at every look
    assert told["issue"] == KEY and "outside misfire_grace_hours=6" in told["message"]
    assert f"digest send --yes --as-of {FIRE.astimezone(UTC).isoformat()}" in told["message"]


def test_a_stopping_scheduler_takes_nothing_over(tmp_path: Path, store: Store) -> None:
    _half_sent(store)
    config = _config(tmp_path, store)
    work = FakeWork(store)
    takeover = _takeover(config, store, work, FIRE)
    takeover.stop.set()
    assert takeover.check() == [] and work.sends == []


def test_the_scheduler_runs_the_check_as_an_interval_job_that_never_piles_up(
    tmp_path: Path, sqlite_store: Store, sqlite_url: str
) -> None:
    config = load_config(
        write_config(tmp_path, database_url=sqlite_url, extra="takeover_seconds = 2\n")
    )
    stop = threading.Event()
    work = ScheduledWork(config, sqlite_store, stop=stop, send_issue=FakeSend())
    plan = RunPlan.from_config(config)
    takeover = Takeover(
        sqlite_store, work, plan, every_seconds=2, resend_in_flight=False, stop=stop
    )
    engine = make_engine(sqlite_url)
    try:
        ws = WeeklyScheduler(
            plan,
            work,
            jobstore_engine=engine,
            stop=stop,
            takeover=takeover,
            scheduler_factory=BackgroundScheduler,
        )
        job = ws.prepare().get_job(TAKEOVER_JOB_ID)
    finally:
        engine.dispose()
    assert job is not None and job.trigger.interval == timedelta(seconds=2)
    assert job.max_instances == 1 and job.coalesce and job.misfire_grace_time is None
    assert ws.work is takeover.work  # every send of this process is seen by the check


def test_takeover_seconds_below_one_is_a_config_error_naming_the_key(tmp_path: Path) -> None:
    path = write_config(tmp_path, extra="takeover_seconds = 0\n")
    with pytest.raises(ConfigError, match=r"\[schedule.takeover_seconds\] must be 1 second"):
        load_config(path)
    assert load_config(write_config(tmp_path / "d")).schedule.takeover_seconds == 60
