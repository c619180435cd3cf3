"""`digest status`: the last issues, the next run (and an overdue scheduler), the
subscriber counts — on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import time_machine
from click.testing import CliRunner, Result

from digest.cli import cli
from digest.config import load_config
from digest.store.database import Store
from digest.store.tables import IssueRecord, Subscriber
from tests.schedule_support import FakeSend, Run, write_config

NY = ZoneInfo("America/New_York")
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=NY)  # a Monday


def _status(config: Path, *args: str, now: datetime = NOW) -> Result:
    env = {"DIGEST_NOW": now.isoformat(), "DIGEST_DATABASE_URL": ""}
    return CliRunner().invoke(cli, ["status", "--config", str(config), *args], env=env)


def _fill(store: Store) -> None:
    at = datetime(2026, 11, 1, tzinfo=UTC)
    with store.session() as s:
        for i, status in enumerate(["active"] * 3 + ["pending", "unsubscribed", "bounced"]):
            s.add(
                Subscriber(
                    email=f"p{i}@example.com",
                    email_key=f"p{i}@example.com",
                    status=status,
                    source="cli",
                    created_at=at,
                    soft_bounces=0,
                )
            )
        s.add(
            IssueRecord(
                key="2026-W46",
                status="sent",
                as_of=datetime(2026, 11, 13, 9, tzinfo=NY),
                subject="Talks resume\x1b[31m | Test Weekly",
                created_at=at,
                recipients=3,
                sent=3,
            )
        )
        s.add(
            IssueRecord(
                key="2026-W47",
                status="skipped",
                as_of=datetime(2026, 11, 20, 9, tzinfo=NY),
                created_at=at,
                skip_reason="missed the 09:00 Fri run (2026-11-20 EST) by 8 h; "
                "outside misfire_grace_hours=6",
            )
        )


def test_status_shows_next_send_issues_and_counts(
    tmp_path: Path, store: Store, db_url: str
) -> None:
    config = write_config(tmp_path, database_url=db_url)
    _fill(store)
    result = _status(config)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert (
        "Next send:   Fri 2026-11-27 09:00 EST (-05:00)  =  2026-11-27 14:00 UTC   issue 2026-W48"
        in lines
    )
    assert "Scheduler:   `digest schedule` has not run on this database yet" in lines
    w47 = next(line for line in lines if "2026-W47" in line)
    assert "skipped" in w47 and "missed the 09:00 Fri run" in w47
    w46 = next(line for line in lines if "2026-W46" in line)
    assert "3/3 sent" in w46 and "\x1b" not in w46  # feed text cannot drive the terminal
    assert lines.index(w47) < lines.index(w46)  # newest first
    assert lines[-1] == (
        "Subscribers: 1 pending, 3 active, 1 unsubscribed, 1 bounced, 0 complained (6 in all)"
    )

    data = json.loads(_status(config, "--json").output)
    assert data["schedule"]["next_run"] == "2026-11-27T09:00:00-05:00"
    assert data["schedule"]["next_run_utc"] == "2026-11-27T14:00:00+00:00"
    assert data["schedule"]["next_issue"] == "2026-W48"
    assert [i["issue"] for i in data["issues"]] == ["2026-W47", "2026-W46"]
    assert data["issues"][0]["skip_reason"].startswith("missed the 09:00 Fri run")
    assert data["subscribers"] == {
        "pending": 1,
        "active": 3,
        "unsubscribed": 1,
        "bounced": 1,
        "complained": 0,
        "total": 6,
    }


def test_status_points_out_a_scheduler_that_is_not_running(
    tmp_path: Path, sqlite_store: Store, sqlite_url: str
) -> None:
    config = write_config(tmp_path, database_url=sqlite_url)
    # `digest schedule` ran on Thursday, then stopped: its Friday run is stored
    with (
        time_machine.travel(datetime(2026, 11, 19, 12, tzinfo=NY), tick=True),
        Run(load_config(config), sqlite_store, FakeSend()),
    ):
        pass
    on_time = _status(config, now=datetime(2026, 11, 20, 8, 0, tzinfo=NY))
    assert (
        "Scheduler:   next run stored for Fri 2026-11-20 09:00 EST (-05:00)  =  "
        "2026-11-20 14:00 UTC"
    ) in on_time.output.splitlines()
    late = _status(config, now=datetime(2026, 11, 20, 9, 0, tzinfo=NY) + timedelta(hours=5))
    assert "is overdue by 5 h: is `digest schedule` running?" in late.output
    data = json.loads(_status(config, "--json", now=NOW).output)
    assert data["schedule"]["scheduler_job_stored"] is True
    assert data["schedule"]["scheduler_overdue_seconds"] == int(
        timedelta(days=3, hours=3).total_seconds()
    )


def test_status_names_a_bad_config(tmp_path: Path) -> None:
    result = _status(tmp_path / "missing.toml")
    assert result.exit_code == 2 and "missing.toml" in result.output
