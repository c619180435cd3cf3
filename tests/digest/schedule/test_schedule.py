"""The scheduler machinery (APScheduler 3 + the job store on the database), driven with
time-machine: a run missed while the process was down goes out late inside the grace
window (for the fire time's week), and outside it is skipped, recorded on the issue and
logged. Also: the event log's formats."""

from __future__ import annotations

import io
import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import text

from digest.config import Config, load_config
from digest.schedule.apscheduler_runner import WeeklyScheduler
from digest.schedule.jobs import ScheduledWork
from digest.schedule.logs import configure_logging, remove_logging
from digest.schedule.plan import JOBS_TABLE, SEND_JOB_ID, RunPlan
from digest.send import SendReport
from digest.store.database import Store, make_engine
from digest.store.tables import IssueRecord
from tests.schedule_support import FakeSend, Run, write_config
from tests.schedule_support import wait as _wait

NY = ZoneInfo("America/New_York")
FRI_0900 = datetime(2026, 11, 20, 9, 0, tzinfo=NY)  # issue 2026-W47


@pytest.fixture
def log() -> Iterator[io.StringIO]:
    buf = io.StringIO()
    handler = configure_logging("json", stream=buf)
    try:
        yield buf
    finally:
        remove_logging(handler)


def _lines(buf: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buf.getvalue().splitlines() if line.strip()]


def _config(tmp_path: Path, url: str, cron: str = "0 9 * * fri") -> Config:
    return load_config(write_config(tmp_path, database_url=url, cron=cron, grace_hours=6))


def _store_job(config: Config, store: Store, at: datetime) -> None:
    """A scheduler ran at ``at`` and stopped: the job is in the database."""
    with time_machine.travel(at, tick=True), Run(config, store, FakeSend()):
        pass


def _issue(store: Store, key: str) -> IssueRecord | None:
    with store.session() as s:
        return s.get(IssueRecord, key)


def test_job_is_stored_in_the_database(
    tmp_path: Path, sqlite_store: Store, sqlite_url: str
) -> None:
    config = _config(tmp_path, sqlite_url)
    _store_job(config, sqlite_store, datetime(2026, 11, 19, 12, tzinfo=NY))
    with sqlite_store.engine.connect() as conn:
        rows = conn.execute(text(f"SELECT id, next_run_time FROM {JOBS_TABLE}")).all()
    assert [(r[0], datetime.fromtimestamp(r[1], NY)) for r in rows] == [(SEND_JOB_ID, FRI_0900)]


def test_missed_run_inside_grace_goes_out_late_for_its_week(
    tmp_path: Path, sqlite_store: Store, sqlite_url: str, log: io.StringIO
) -> None:
    config = _config(tmp_path, sqlite_url)
    _store_job(config, sqlite_store, datetime(2026, 11, 19, 12, tzinfo=NY))
    send = FakeSend()
    # the process was down at 09:00 and comes back at 11:00: 2 h late, grace 6 h
    with (
        time_machine.travel(datetime(2026, 11, 20, 11, 0, tzinfo=NY), tick=True),
        Run(config, sqlite_store, send),
    ):
        assert _wait(lambda: len(send.calls) == 1)
    assert send.calls[0]["as_of"] == FRI_0900  # the fire time, not the late start
    assert send.calls[0]["scheduled"] is True and send.calls[0]["stop"] is not None
    assert _issue(sqlite_store, "2026-W47") is None  # nothing recorded as missed
    events = [(e["event"], e["issue"]) for e in _lines(log)]
    assert ("overdue", "2026-W47") in events and ("run", "2026-W47") in events
    assert ("sent", "2026-W47") in events and ("skipped", "2026-W47") not in events
    # started again the same day: it does not run a second time
    with (
        time_machine.travel(datetime(2026, 11, 20, 12, 0, tzinfo=NY), tick=True),
        Run(config, sqlite_store, send),
    ):
        time.sleep(0.5)
    assert len(send.calls) == 1


def test_missed_run_outside_grace_is_skipped_recorded_and_logged(
    tmp_path: Path, sqlite_store: Store, sqlite_url: str, log: io.StringIO
) -> None:
    config = _config(tmp_path, sqlite_url)
    _store_job(config, sqlite_store, datetime(2026, 11, 19, 12, tzinfo=NY))
    send = FakeSend()
    with (
        time_machine.travel(datetime(2026, 11, 20, 17, 30, tzinfo=NY), tick=True),
        Run(config, sqlite_store, send),
    ):
        assert _wait(lambda: _issue(sqlite_store, "2026-W47") is not None)
    assert send.calls == []  # nothing went out 8.5 h late
    rec = _issue(sqlite_store, "2026-W47")
    assert rec is not None and rec.status == "skipped"
    assert rec.skip_reason == (
        "missed the 09:00 Fri run (2026-11-20 EST) by 8 h; outside misfire_grace_hours=6"
    )
    assert rec.as_of == FRI_0900
    skipped = [e for e in _lines(log) if e["event"] == "skipped"]
    assert len(skipped) == 1 and skipped[0]["issue"] == "2026-W47"
    assert skipped[0]["level"] == "warning" and "recorded on the issue" in skipped[0]["message"]
    nxt = [e for e in _lines(log) if e["event"] == "next"]
    assert nxt and nxt[-1]["issue"] == "2026-W48"


def test_a_grace_of_zero_starts_and_never_sends_late(
    tmp_path: Path, sqlite_store: Store, sqlite_url: str, log: io.StringIO
) -> None:
    # APScheduler takes only a positive misfire_grace_time: 0 used to crash `digest schedule`
    config = load_config(write_config(tmp_path, database_url=sqlite_url, grace_hours=0))
    _store_job(config, sqlite_store, datetime(2026, 11, 19, 12, tzinfo=NY))
    send = FakeSend()
    with (
        time_machine.travel(datetime(2026, 11, 20, 9, 5, tzinfo=NY), tick=True),
        Run(config, sqlite_store, send),
    ):
        assert _wait(lambda: _issue(sqlite_store, "2026-W47") is not None)
    assert send.calls == []  # five minutes late is too late
    rec = _issue(sqlite_store, "2026-W47")
    assert rec is not None and rec.status == "skipped"
    assert "outside misfire_grace_hours=0" in (rec.skip_reason or "")


def test_a_negative_grace_is_a_config_error_naming_the_key(tmp_path: Path) -> None:
    from digest.errors import ConfigError

    path = write_config(tmp_path, grace_hours=-1)
    with pytest.raises(ConfigError, match=r"\[schedule.misfire_grace_hours\] must be 0"):
        load_config(path)


def test_a_negative_retry_is_a_config_error_naming_the_key(tmp_path: Path) -> None:
    from digest.errors import ConfigError

    path = write_config(tmp_path, extra="retry_minutes = -5\n")
    with pytest.raises(ConfigError, match=r"\[schedule.retry_minutes\] must be 0"):
        load_config(path)


def test_long_downtime_records_every_missed_week(
    tmp_path: Path, sqlite_store: Store, sqlite_url: str, log: io.StringIO
) -> None:
    config = _config(tmp_path, sqlite_url)
    _store_job(config, sqlite_store, datetime(2026, 11, 19, 12, tzinfo=NY))
    # a week already sent by hand during the downtime is left alone
    with sqlite_store.session() as s:
        s.add(
            IssueRecord(
                key="2026-W48",
                status="sent",
                as_of=FRI_0900 + timedelta(days=7),
                created_at=FRI_0900 + timedelta(days=7),
            )
        )
    send = FakeSend()
    # down for three Fridays; back on Fri 2026-12-04 at 10:00, inside the grace of that run
    with (
        time_machine.travel(datetime(2026, 12, 4, 10, 0, tzinfo=NY), tick=True),
        Run(config, sqlite_store, send),
    ):
        assert _wait(lambda: len(send.calls) == 1)
    assert send.calls[0]["as_of"] == datetime(2026, 12, 4, 9, 0, tzinfo=NY)
    w47 = _issue(sqlite_store, "2026-W47")
    assert (
        w47 is not None
        and w47.status == "skipped"
        and "missed the 09:00 Fri run" in (w47.skip_reason or "")
    )
    w48 = _issue(sqlite_store, "2026-W48")
    assert w48 is not None and w48.status == "sent" and w48.skip_reason is None


def test_changed_cron_replaces_the_job(
    tmp_path: Path, sqlite_store: Store, sqlite_url: str, log: io.StringIO
) -> None:
    config = _config(tmp_path, sqlite_url)
    _store_job(config, sqlite_store, datetime(2026, 11, 19, 12, tzinfo=NY))
    changed = _config(tmp_path, sqlite_url, cron="30 10 * * thu")
    with (
        time_machine.travel(datetime(2026, 11, 19, 13, 0, tzinfo=NY), tick=True),
        Run(changed, sqlite_store, FakeSend()),
    ):
        pass
    with sqlite_store.engine.connect() as conn:
        (when,) = conn.execute(text(f"SELECT next_run_time FROM {JOBS_TABLE}")).one()
    assert datetime.fromtimestamp(when, NY) == datetime(2026, 11, 26, 10, 30, tzinfo=NY)
    changes = [e for e in _lines(log) if e["event"] == "changed"]
    assert (
        changes
        and "0 9 * * fri" in changes[0]["message"]
        and "30 10 * * thu" in changes[0]["message"]
    )


@pytest.mark.parametrize("back_at, sent", [(11, True), (17, False)])  # grace 6 h
def test_a_run_overdue_when_the_cron_changed_is_not_forgotten(
    tmp_path: Path, sqlite_store: Store, sqlite_url: str, log: io.StringIO, back_at: int, sent: bool
) -> None:
    config = _config(tmp_path, sqlite_url)
    _store_job(config, sqlite_store, datetime(2026, 11, 19, 12, tzinfo=NY))
    # down over the Friday 09:00 run; the editor moved the send to Saturdays meanwhile
    changed = _config(tmp_path, sqlite_url, cron="0 8 * * sat")
    send = FakeSend()
    with (
        time_machine.travel(datetime(2026, 11, 20, back_at, 0, tzinfo=NY), tick=True),
        Run(changed, sqlite_store, send),
    ):
        assert _wait(lambda: bool(send.calls) or _issue(sqlite_store, "2026-W47") is not None)
    if sent:  # inside the grace: it goes out now, for its own week
        assert [c["as_of"] for c in send.calls] == [FRI_0900]
        assert _issue(sqlite_store, "2026-W47") is None
    else:  # outside: recorded as missed, with the reason, and nothing sent
        assert send.calls == []
        rec = _issue(sqlite_store, "2026-W47")
        assert rec is not None and rec.status == "skipped"
        assert "missed the 09:00 Fri run" in (rec.skip_reason or "")
    events = [e["event"] for e in _lines(log)]
    assert "changed" in events and "overdue" in events


def test_editors_preview_fires_hours_before_the_send(
    tmp_path: Path, sqlite_store: Store, sqlite_url: str, log: io.StringIO
) -> None:
    path = write_config(tmp_path, database_url=sqlite_url, extra="preview_hours_before = 3")
    config = load_config(path)
    built: list[datetime] = []
    copies: list[list[str]] = []

    class Built:
        rendered = object()

    def build(config: Config, *, store: Store, as_of: datetime, **_: Any) -> Built:
        built.append(as_of)
        return Built()

    def send_copy(config: Config, rendered: object, recipients: list[str], **_: Any) -> int:
        copies.append(recipients)
        return len(recipients)

    stop = threading.Event()
    engine = make_engine(sqlite_url)
    work = ScheduledWork(
        config,
        sqlite_store,
        stop=stop,
        send_issue=FakeSend(),
        build=build,
        send_test_copy=send_copy,
    )
    ws = WeeklyScheduler(RunPlan.from_config(config), work, jobstore_engine=engine, stop=stop)
    # 05:59:58 on the Friday: the preview is due at 06:00, three hours before the 09:00 send
    with time_machine.travel(datetime(2026, 11, 20, 5, 59, 58, tzinfo=NY), tick=True):
        thread = threading.Thread(target=ws.run, kwargs={"handle_signals": False})
        thread.start()
        try:
            assert _wait(lambda: copies != [], seconds=15)
        finally:
            ws.stop()
            thread.join(10)
            engine.dispose()
    assert built == [FRI_0900] and copies == [["editor@example.com"]]
    previews = [e for e in _lines(log) if e["event"] == "preview"]
    assert previews[0]["issue"] == "2026-W47" and "1 editor" in previews[0]["message"]


def test_text_log_is_one_line_per_event_with_the_issue_key() -> None:
    buf = io.StringIO()
    handler = configure_logging("text", stream=buf)
    try:
        from digest.schedule.logs import event, issue_context

        event("sent", "sent 2 of 2 recipients\nsecond line", issue="2026-W47")
        with issue_context("2026-W48"):
            event("note", "inside a run")
    finally:
        remove_logging(handler)
    lines = buf.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].endswith("info    [2026-W47] sent: sent 2 of 2 recipients | second line")
    assert "[2026-W48] note: inside a run" in lines[1]


def _sending(store: Store, as_of: datetime) -> None:
    """An issue whose send stopped mid-way (SIGTERM or a crash) at ``as_of``'s run."""
    with store.session() as s:
        s.add(
            IssueRecord(
                key="2026-W47",
                status="sending",
                as_of=as_of,
                created_at=as_of,
                recipients=4,
                sent=2,
            )
        )


def test_start_resumes_an_interrupted_send_inside_the_grace(
    tmp_path: Path, sqlite_store: Store, sqlite_url: str, log: io.StringIO
) -> None:
    config = _config(tmp_path, sqlite_url)
    _sending(sqlite_store, FRI_0900)
    send = FakeSend()
    with (
        time_machine.travel(datetime(2026, 11, 20, 9, 20, tzinfo=NY), tick=True),
        Run(config, sqlite_store, send),
    ):
        assert _wait(lambda: len(send.calls) == 1)
    assert send.calls[0]["as_of"] == FRI_0900
    assert [e["issue"] for e in _lines(log) if e["event"] == "resume"] == ["2026-W47"]


def test_start_leaves_an_old_interrupted_send_to_the_editor(
    tmp_path: Path, sqlite_store: Store, sqlite_url: str, log: io.StringIO
) -> None:
    config = _config(tmp_path, sqlite_url)
    _sending(sqlite_store, FRI_0900)
    send = FakeSend()
    with (
        time_machine.travel(datetime(2026, 11, 21, 9, 0, tzinfo=NY), tick=True),
        Run(config, sqlite_store, send),
    ):
        time.sleep(0.5)
    assert send.calls == []
    (warning,) = [e for e in _lines(log) if e["event"] == "interrupted"]
    assert warning["issue"] == "2026-W47"
    assert "digest send --yes --as-of 2026-11-20T14:00:00+00:00" in warning["message"]


def test_sigterm_lets_the_send_in_progress_finish_then_stops(
    tmp_path: Path, sqlite_store: Store, sqlite_url: str, log: io.StringIO
) -> None:
    """SIGTERM sets the stop event the send honours (finish the batch, keep the ledger
    consistent) and the scheduler waits for it before returning."""
    config = _config(tmp_path, sqlite_url)
    in_send = threading.Event()
    seen: list[bool] = []

    def slow_send(config: Config, store: Store, **kwargs: Any) -> SendReport:
        in_send.set()
        stop: threading.Event = kwargs["stop"]
        seen.append(stop.wait(10))  # the batch in progress, until told to stop
        time.sleep(0.3)  # finishing that batch
        return SendReport(
            key="2026-W47",
            outcome="interrupted",
            recipients=4,
            sent=2,
            message="issue 2026-W47 paused after the batch in progress",
        )

    stop = threading.Event()
    engine = make_engine(sqlite_url)
    work = ScheduledWork(config, sqlite_store, stop=stop, send_issue=slow_send)
    ws = WeeklyScheduler(RunPlan.from_config(config), work, jobstore_engine=engine, stop=stop)

    def terminate() -> None:
        if in_send.wait(15):
            os.kill(os.getpid(), signal.SIGTERM)

    killer = threading.Thread(target=terminate)
    before = signal.getsignal(signal.SIGTERM)
    with time_machine.travel(datetime(2026, 11, 20, 8, 59, 59, tzinfo=NY), tick=True):
        killer.start()
        started = time.monotonic()
        ws.run(handle_signals=True)  # in the main thread, as in `digest schedule`
    killer.join()
    engine.dispose()
    assert seen == [True]
    assert time.monotonic() - started < 10
    assert signal.getsignal(signal.SIGTERM) == before  # handlers restored
    events = [e["event"] for e in _lines(log)]
    assert events.index("stopping") < events.index("stopped")
    assert "stopped" in events and events[-1] == "stopped"
    (paused,) = [e for e in _lines(log) if e.get("outcome") == "interrupted"]
    assert paused["issue"] == "2026-W47" and "paused" in paused["message"]


def test_one_preview_copy_when_two_schedulers_fire_together(
    tmp_path: Path, sqlite_store: Store, sqlite_url: str, log: io.StringIO
) -> None:
    from digest.store.locks import issue_lock

    config = load_config(
        write_config(tmp_path, database_url=sqlite_url, extra="preview_hours_before = 3")
    )
    copies: list[list[str]] = []

    class Built:
        rendered = object()

    work = ScheduledWork(
        config,
        sqlite_store,
        stop=threading.Event(),
        build=lambda *a, **k: Built(),
        send_test_copy=lambda config, rendered, to, **k: copies.append(to) or len(to),
    )
    with issue_lock(sqlite_store, "2026-W47-preview"):  # the other scheduler is at it
        work.preview(FRI_0900)
    assert copies == []
    work.preview(FRI_0900)
    assert copies == [["editor@example.com"]]
    messages = [e["message"] for e in _lines(log) if e["event"] == "preview"]
    assert messages[0] == "another scheduler is sending the preview"


class FlakySend(FakeSend):
    """Fails with ``errors`` in turn, then sends."""

    def __init__(self, *errors: Exception) -> None:
        super().__init__()
        self.errors = list(errors)

    def __call__(self, config: Config, store: Store, **kwargs: Any) -> SendReport:
        if self.errors:
            self.calls.append(kwargs)
            raise self.errors.pop(0)
        return super().__call__(config, store, **kwargs)


def _retrying_config(tmp_path: Path, url: str, minutes: float, grace: float = 6) -> Config:
    path = write_config(
        tmp_path, database_url=url, grace_hours=grace, extra=f"retry_minutes = {minutes}\n"
    )  # inside [schedule]
    return load_config(path)


def test_a_run_that_fails_for_a_passing_reason_is_tried_again(
    tmp_path: Path, sqlite_store: Store, sqlite_url: str, log: io.StringIO
) -> None:
    from digest.errors import CollectError, TransientDeliveryError

    config = _retrying_config(tmp_path, sqlite_url, minutes=0.001)  # 60 ms between attempts
    send = FlakySend(
        CollectError("every source failed: Main: HTTP 503"),
        TransientDeliveryError("SendGrid answered 503 five times"),
    )
    work = ScheduledWork(
        config,
        sqlite_store,
        stop=threading.Event(),
        send_issue=send,
        clock=lambda: FRI_0900 + timedelta(minutes=1),
    )
    work.send(FRI_0900)
    assert [c["as_of"] for c in send.calls] == [FRI_0900] * 3  # the same issue each time
    events = [(e["event"], e["message"]) for e in _lines(log)]
    retries = [m for e, m in events if e == "retry"]
    assert len(retries) == 2
    assert "attempt 1 failed because every source failed: Main: HTTP 503" in retries[0]
    assert "trying again at 09:01 EST" in retries[0]
    assert events[-1][0] == "sent"


def test_no_retry_for_a_failure_an_editor_must_fix_or_outside_the_grace(
    tmp_path: Path, sqlite_store: Store, sqlite_url: str, log: io.StringIO
) -> None:
    from digest.errors import CollectError, PermanentDeliveryError

    config = _retrying_config(tmp_path, sqlite_url, minutes=30, grace=1)
    refused = FlakySend(
        PermanentDeliveryError(
            "SendGrid refused: The from address does not match a verified Sender Identity"
        )
    )
    ScheduledWork(
        config, sqlite_store, stop=threading.Event(), send_issue=refused, clock=lambda: FRI_0900
    ).send(FRI_0900)
    assert len(refused.calls) == 1
    # 09:40 + 30 min is after the 1-hour grace: no retry, and the log says how to finish
    late = FlakySend(CollectError("every source failed"))
    ScheduledWork(
        config,
        sqlite_store,
        stop=threading.Event(),
        send_issue=late,
        clock=lambda: FRI_0900 + timedelta(minutes=40),
    ).send(FRI_0900)
    assert len(late.calls) == 1
    failed = [e["message"] for e in _lines(log) if e["event"] == "failed"]
    assert len(failed) == 2 and "Sender Identity" in failed[0]
    assert "not retried: a retry would start after misfire_grace_hours=1" in failed[1]
    assert "digest send --yes --as-of 2026-11-20T09:00:00-05:00" in failed[1]
    assert not [e for e in _lines(log) if e["event"] == "retry"]


def test_stopping_during_the_wait_ends_the_run_without_another_attempt(
    tmp_path: Path, sqlite_store: Store, sqlite_url: str, log: io.StringIO
) -> None:
    from digest.errors import CollectError

    config = _retrying_config(tmp_path, sqlite_url, minutes=30)
    stop = threading.Event()
    send = FlakySend(CollectError("every source failed"))
    threading.Timer(0.2, stop.set).start()
    started = time.monotonic()
    ScheduledWork(config, sqlite_store, stop=stop, send_issue=send, clock=lambda: FRI_0900).send(
        FRI_0900
    )
    assert time.monotonic() - started < 10  # not the 30 minutes
    assert len(send.calls) == 1
    assert [e["event"] for e in _lines(log)][-2:] == ["retry", "failed"]


def test_a_send_report_with_a_transient_batch_failure_is_retried_and_logged_once(
    tmp_path: Path, sqlite_store: Store, sqlite_url: str, log: io.StringIO
) -> None:
    config = _retrying_config(tmp_path, sqlite_url, minutes=0.001)
    reports = [
        SendReport(
            key="2026-W47",
            outcome="failed",
            recipients=4,
            sent=2,
            transient=True,
            message="issue 2026-W47 stopped: batch 2 (2 recipients): HTTP 503",
        ),
        SendReport(key="2026-W47", outcome="resumed", recipients=4, sent=4, message="sent"),
    ]
    calls: list[datetime] = []

    def send(config: Config, store: Store, **kwargs: Any) -> SendReport:
        calls.append(kwargs["as_of"])
        return reports.pop(0)

    ScheduledWork(
        config, sqlite_store, stop=threading.Event(), send_issue=send, clock=lambda: FRI_0900
    ).send(FRI_0900)
    assert calls == [FRI_0900, FRI_0900]
    events = [e["event"] for e in _lines(log)]
    assert events.count("retry") == 1 and "failed" not in events
    (retry,) = [e["message"] for e in _lines(log) if e["event"] == "retry"]
    assert "batch 2 (2 recipients): HTTP 503" in retry
