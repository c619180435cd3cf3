"""`digest db compact`: what `digest issues list/show` print is the same before and after,
on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select, update

from digest.cli import cli
from digest.store import ledger, records
from digest.store.database import Store
from digest.store.tables import IssueRecord, SendRecipient
from tests.delivery_support import add_subscribers
from tests.schedule_support import write_config

pytestmark = pytest.mark.postgres

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
WEEK = timedelta(weeks=1)


def _run(config: Path, *args: str) -> Result:
    env = {"DIGEST_NOW": NOW.isoformat(), "DIGEST_DATABASE_URL": ""}
    return CliRunner().invoke(cli, [*args, "--config", str(config)], env=env)


def sent_issue(store: Store, key: str, as_of: datetime, *, status: str = "sent") -> None:
    """An issue sent to today's active readers (every batch accepted), then ``status``."""
    ledger.claim_issue(
        store, key=key, as_of=as_of, subject=f"S {key}", preheader="P", html="<p>h</p>",
        text="t", archive_html="<p>a</p>", batch_size=2, now=as_of,
        picks=[ledger.PickedArticle(f"https://example.com/{key}", "lead", "T", "R")],
    )  # fmt: skip
    for batch in ledger.todo_batches(store, key, ("queued",)):
        ledger.prepare_batch(store, key, batch)
        ledger.mark_in_flight(store, key, batch, now=as_of)
        ledger.finish_batch(store, key, batch, now=as_of)
    records.mark_issue(store, key, status=status, now=as_of)
    with store.session() as s:  # the Event Webhook's counts
        s.execute(update(IssueRecord).where(IssueRecord.key == key).values(delivered=3, opened=2))


def _rows(store: Store) -> int:
    with store.session() as s:
        return int(s.scalar(select(func.count()).select_from(SendRecipient)) or 0)


def _views(config: Path, keys: list[str]) -> list[str]:
    out = [_run(config, "issues", "list", "--json").output, _run(config, "issues", "list").output]
    for key in keys:
        out += [_run(config, "issues", "show", key, "--json").output]
        out += [_run(config, "issues", "show", key).output]
    return out


def test_compact_removes_old_rows_and_every_count_reads_the_same(
    store: Store, tmp_path: Path, db_url: str
) -> None:
    add_subscribers(store, {"active": 5})
    sent_issue(store, "2026-W20", NOW - 20 * WEEK)
    sent_issue(store, "2026-W21", NOW - 19 * WEEK, status="failed")
    sent_issue(store, "2026-W46", NOW - WEEK)
    config = write_config(tmp_path, database_url=db_url)
    keys = ["2026-W20", "2026-W21", "2026-W46"]
    before = _views(config, keys)
    assert json.loads(before[2])["sent"] == 5 and json.loads(before[2])["delivered"] == 3

    dry = _run(config, "db", "compact", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "Would remove 5 send-ledger row(s) of 1 sent issue(s)" in dry.output
    assert "2026-W20: 5 row(s)" in dry.output and "Nothing was changed" in dry.output
    assert _rows(store) == 15

    done = _run(config, "db", "compact")
    assert done.exit_code == 0, done.output
    assert "Removed 5 send-ledger row(s) of 1 sent issue(s)" in done.output
    assert _rows(store) == 10
    assert _views(config, keys) == before

    again = _run(config, "db", "compact")
    assert again.exit_code == 0 and again.output.startswith("Nothing to compact")


def test_keep_recipients_weeks_below_one_is_a_config_error(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    config.write_text(
        config.read_text().replace("[storage]", "[storage]\nkeep_recipients_weeks = 0")
    )
    result = _run(config, "db", "compact")
    assert result.exit_code != 0
    assert "storage.keep_recipients_weeks" in result.output
