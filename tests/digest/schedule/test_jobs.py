"""The scheduler's send job: after a send, the old send-ledger rows are compacted (logged
``compacted``); a compaction that fails is logged and leaves the send as it was."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from digest.config import load_config
from digest.schedule.jobs import ScheduledWork
from digest.schedule.logs import LOGGER_NAME
from digest.send import SendReport
from digest.store import compaction, ledger, records
from digest.store.database import Store
from digest.store.tables import SendRecipient
from tests.delivery_support import add_subscribers
from tests.schedule_support import FakeSend, write_config

FIRE = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)


def _old_sent_issue(store: Store) -> None:
    add_subscribers(store, {"active": 3})
    as_of = FIRE - timedelta(weeks=20)
    ledger.claim_issue(
        store, key="2026-W27", as_of=as_of, subject="S", preheader="P", html="<p>h</p>",
        text="t", archive_html="<p>a</p>", picks=[], batch_size=2, now=as_of,
    )  # fmt: skip
    for batch in ledger.todo_batches(store, "2026-W27", ("queued",)):
        ledger.prepare_batch(store, "2026-W27", batch)
        ledger.mark_in_flight(store, "2026-W27", batch, now=as_of)
        ledger.finish_batch(store, "2026-W27", batch, now=as_of)
    records.mark_issue(store, "2026-W27", status="sent", now=as_of)


def _events(caplog: pytest.LogCaptureFixture) -> list[tuple[str, dict[str, Any]]]:
    return [
        (str(getattr(r, "event", "")), r.__dict__) for r in caplog.records if r.name == LOGGER_NAME
    ]


def _work(tmp_path: Path, store: Store, send: Any) -> ScheduledWork:
    url = store.engine.url.render_as_string(hide_password=False)
    config = load_config(write_config(tmp_path, database_url=url))
    return ScheduledWork(config, store, stop=threading.Event(), send_issue=send, clock=lambda: FIRE)


def _rows(store: Store) -> int:
    with store.session() as s:
        return int(s.scalar(select(func.count()).select_from(SendRecipient)) or 0)


def test_a_send_is_followed_by_compaction_logged_with_its_counts(
    sqlite_store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _old_sent_issue(sqlite_store)
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)
    _work(tmp_path, sqlite_store, FakeSend()).send(FIRE)
    names = [name for name, _ in _events(caplog)]
    assert names[-2:] == ["sent", "compacted"]
    fields = _events(caplog)[-1][1]
    assert (fields["issues"], fields["rows"]) == (1, 3)
    assert _rows(sqlite_store) == 0


def test_no_compaction_after_a_send_that_did_not_finish(
    sqlite_store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _old_sent_issue(sqlite_store)
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)

    def interrupted(*_: Any, **__: Any) -> SendReport:
        return SendReport(key="x", outcome="interrupted", message="stopped")

    _work(tmp_path, sqlite_store, interrupted).send(FIRE)
    assert "compacted" not in [name for name, _ in _events(caplog)]
    assert _rows(sqlite_store) == 3


def test_a_compaction_that_fails_is_logged_and_the_send_stays_sent(
    sqlite_store: Store,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _old_sent_issue(sqlite_store)
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)

    def broken(*_: Any, **__: Any) -> compaction.Compaction:
        raise RuntimeError("disk full")

    monkeypatch.setattr(compaction, "compact", broken)
    _work(tmp_path, sqlite_store, FakeSend()).send(FIRE)
    events = _events(caplog)
    assert [name for name, _ in events][-2:] == ["sent", "compact_failed"]
    assert "disk full" in events[-1][1]["msg"]
    assert events[-1][1]["levelno"] == logging.WARNING
    assert _rows(sqlite_store) == 3
