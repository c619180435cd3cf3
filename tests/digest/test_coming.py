"""The coming issue is the one the scheduler will send (issue 11, item 6).

`coming_issue` (library, SQLite and PostgreSQL) and the editor's commands that default
to it: `preview`, `pin`, `drop`, `note` print its key and send time, refuse to change an
issue already sent, and `pin` refuses a URL that is not among the issue's articles."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from digest.cli import cli
from digest.coming import coming_issue
from digest.config import load_config
from digest.schedule.cron import trigger_for
from digest.store.database import Store, open_store
from digest.store.tables import IssueRecord
from tests.pipeline_support import AS_OF, NY, SITE, Item, write_config

SATURDAY = datetime(2026, 11, 28, 12, 0, tzinfo=NY)  # the day after the W48 send (Fri 27 Nov)
FRIDAY_W48 = datetime(2026, 11, 27, 9, 0, tzinfo=NY)
FRIDAY_W49 = datetime(2026, 12, 4, 9, 0, tzinfo=NY)


def _record(store: Store, key: str, status: str, as_of: datetime) -> None:
    with store.session() as s:
        s.add(
            IssueRecord(
                key=key,
                status=status,
                as_of=as_of,
                subject=f"{key} subject",
                created_at=as_of,
                recipients=3,
                sent=3 if status == "sent" else 0,
            )
        )


# --- the library ------------------------------------------------------------------------


def _config(tmp_path: Path):  # type: ignore[no-untyped-def]
    return load_config(write_config(tmp_path, fixed_as_of=False))


def test_on_a_saturday_the_coming_issue_is_next_fridays(tmp_path: Path, store: Store) -> None:
    cfg = _config(tmp_path)
    coming = coming_issue(cfg, store, SATURDAY)
    assert coming.key == "2026-W49"
    assert coming.sends_at == FRIDAY_W49 and coming.as_of == FRIDAY_W49
    # the as-of is the scheduler's fire time, so the article window is the send's own
    fire = trigger_for(cfg).get_next_fire_time(None, SATURDAY)
    assert coming.as_of == fire
    _record(store, "2026-W48", "sent", FRIDAY_W48)
    assert coming_issue(cfg, store, SATURDAY).key == "2026-W49"


def test_friday_before_and_after_the_run(tmp_path: Path, store: Store) -> None:
    cfg = _config(tmp_path)
    before = coming_issue(cfg, store, datetime(2026, 11, 27, 8, 0, tzinfo=NY))
    assert before.key == "2026-W48" and before.sends_at == FRIDAY_W48
    # an hour late, nothing recorded: inside misfire_grace_hours the scheduler still sends it
    late = datetime(2026, 11, 27, 10, 0, tzinfo=NY)
    assert coming_issue(cfg, store, late).key == "2026-W48"
    _record(store, "2026-W48", "skipped", FRIDAY_W48)  # that run happened: nothing new
    assert coming_issue(cfg, store, late).key == "2026-W49"


def test_an_issue_sent_by_hand_ahead_of_its_run_is_passed_over(
    tmp_path: Path, store: Store
) -> None:
    cfg = _config(tmp_path)
    wednesday = datetime(2026, 12, 2, 12, 0, tzinfo=NY)
    _record(store, "2026-W49", "skipped", wednesday)  # a skipped hand-run: Friday rebuilds it
    assert coming_issue(cfg, store, wednesday).key == "2026-W49"
    with store.session() as s:
        rec = s.get(IssueRecord, "2026-W49")
        assert rec is not None
        rec.status = "sent"
    coming = coming_issue(cfg, store, wednesday)
    assert coming.key == "2026-W50" and coming.sends_at == datetime(2026, 12, 11, 9, tzinfo=NY)


# --- the commands --------------------------------------------------------------------


def _run(config: Path, *args: str, now: datetime = SATURDAY) -> Result:
    env = {
        "DIGEST_NOW": now.astimezone(UTC).isoformat(),
        "DIGEST_DATABASE_URL": None,
        "DIGEST_CONFIG": None,
    }
    return CliRunner().invoke(cli, [*args, "--config", str(config)], env=env)


def _hours_before_saturday(hours: float) -> float:
    """``Item.hours_ago`` (counted back from AS_OF) for a story ``hours`` before SATURDAY."""
    return (AS_OF - SATURDAY).total_seconds() / 3600 + hours


def _week48_sent(tmp_path: Path) -> Path:
    items = [
        Item("w49-featured", _hours_before_saturday(3), section="Europe", featured=True),
        Item("w49-second", _hours_before_saturday(5), section="Asia"),
        Item("w49-third", _hours_before_saturday(20), section="Africa"),
        Item("w48-story", _hours_before_saturday(40), section="Asia"),  # Thu 26 Nov: W48's
    ]
    config = write_config(tmp_path, items, fixed_as_of=False)
    store = open_store(f"sqlite:///{tmp_path / 'digest.db'}")
    try:
        _record(store, "2026-W48", "sent", FRIDAY_W48)
    finally:
        store.dispose()
    return config


def test_preview_on_saturday_targets_the_next_send_and_prints_its_time(tmp_path: Path) -> None:
    config = _week48_sent(tmp_path)
    table = _run(config, "preview", "--out", str(tmp_path / "pv"))
    assert table.exit_code == 0, table.output
    assert "issue 2026-W49, sends Fri 4 Dec 2026 09:00 EST" in table.output
    assert "W48 Story" not in table.output  # the sent week's story is not this issue's
    result = _run(config, "preview", "--json", "--out", str(tmp_path / "pv"))
    data = json.loads(result.stdout)
    assert data["issue"] == "2026-W49" and data["as_of"] == "2026-12-04T09:00:00-05:00"
    assert data["sends_at"] == "2026-12-04T09:00:00-05:00"
    assert data["lead"]["url"] == f"{SITE}/w49-featured"


def test_pin_drop_note_default_to_the_coming_issue(tmp_path: Path) -> None:
    config = _week48_sent(tmp_path)
    noted = _run(config, "note", "Back next week.")
    assert noted.exit_code == 0, noted.output
    assert "issue 2026-W49, sends Fri 4 Dec 2026 09:00 EST" in noted.output
    assert "2026-W49: note set to 'Back next week.'" in noted.output
    dropped = _run(config, "drop", f"{SITE}/w49-second")
    assert dropped.exit_code == 0 and "2026-W49: dropped" in dropped.output


@pytest.mark.parametrize(
    "args",
    [
        ("pin", f"{SITE}/w48-story"),
        ("note", "Too late"),
        ("drop", f"{SITE}/w48-story"),
        ("pin", "--clear"),
        ("note", "--clear"),
    ],
)
def test_changing_a_sent_issue_exits_1_naming_it(tmp_path: Path, args: tuple[str, ...]) -> None:
    config = _week48_sent(tmp_path)
    result = _run(config, *args, "--as-of", "2026-W48")
    assert result.exit_code == 1, result.output
    assert "2026-W48" in result.output and "already sent" in result.output
    assert "2026-W49" in result.output  # and which issue can still be changed
    shown = _run(config, "note", "--as-of", "2026-W48")  # looking is fine
    assert shown.exit_code == 0, shown.output


def test_pin_refuses_a_url_that_is_not_in_the_issue_unless_forced(tmp_path: Path) -> None:
    config = _week48_sent(tmp_path)
    typo = f"{SITE}/w49-featurd"
    refused = _run(config, "pin", typo)
    assert refused.exit_code == 1, refused.output
    assert typo in refused.output and "--force" in refused.output
    old = _run(config, "pin", f"{SITE}/w48-story")  # in the feed, but last week's window
    assert old.exit_code == 1 and "outside the window" in old.output
    assert (
        _run(config, "pin")
        .output.strip()
        .endswith("2026-W49: no pin; the lead is chosen by the rules")
    )
    forced = _run(config, "pin", typo, "--force")
    assert forced.exit_code == 0, forced.output
    assert f"2026-W49: pinned {typo} as the lead" in forced.output
    ok = _run(config, "pin", f"{SITE}/w49-second?utm_source=x")
    assert ok.exit_code == 0 and f"2026-W49: pinned {SITE}/w49-second as the lead" in ok.output
