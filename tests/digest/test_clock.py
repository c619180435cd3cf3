"""As-of parsing, issue keys and windows: the forms an editor types after --as-of."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from digest.cli import cli
from digest.clock import issue_key, parse_as_of, window_for
from digest.errors import UsageError

NY = ZoneInfo("America/New_York")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-20", datetime(2026, 11, 20, 23, 59, 59, tzinfo=NY)),
        ("2026-11-20T09:00", datetime(2026, 11, 20, 9, 0, tzinfo=NY)),
        ("2026-11-20 09:00", datetime(2026, 11, 20, 9, 0, tzinfo=NY)),
        ("2026-11-20T09:00Z", datetime(2026, 11, 20, 9, 0, tzinfo=UTC)),
        ("2026-11-20T09:00:00+05:30", datetime(2026, 11, 20, 3, 30, tzinfo=UTC)),
        ("  2026-11-20T09:00  ", datetime(2026, 11, 20, 9, 0, tzinfo=NY)),
    ],
)
def test_as_of_forms(text: str, expected: datetime) -> None:
    got = parse_as_of(text, NY)
    assert got == expected and got.tzinfo is not None


@pytest.mark.parametrize(
    "text", ["garbage", "2026-13-01", "2026-11-20T24:00", "9999-12-31T23:59", "0001-01-01"]
)
def test_bad_as_of_is_a_usage_error_naming_it(text: str) -> None:
    with pytest.raises(UsageError, match="--as-of"):
        parse_as_of(text, NY)


def test_window_across_the_fall_dst_change_is_seven_wall_days() -> None:
    as_of = parse_as_of("2026-11-06T09:00", NY)  # DST ended on Sunday 1 November
    window = window_for(as_of, 7, NY)
    assert window.start == datetime(2026, 10, 30, 9, 0, tzinfo=NY)
    assert window.end.astimezone(UTC) - window.start.astimezone(UTC) == timedelta(days=7, hours=1)
    assert issue_key(as_of, NY) == "2026-W45"


def test_far_future_as_of_is_exit_2_not_a_traceback(tmp_path: Path) -> None:
    feed = tmp_path / "feed.xml"
    feed.write_text(
        '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'
    )
    config = tmp_path / "digest.toml"
    config.write_text(
        '[newsletter]\nname = "T"\nfrom_email = "t@t.example"\npostal_address = "1 St"\n'
        'site_url = "https://t.example"\ntimezone = "America/New_York"\n'
        '[[sources]]\nname = "F"\nurl = "feed.xml"\n'
    )
    for command in ("collect", "preview"):
        result = CliRunner().invoke(
            cli,
            [
                command,
                "--config",
                str(config),
                "--as-of",
                "9999-12-31T23:59",
                "--out",
                str(tmp_path / "out"),
            ]
            if command == "preview"
            else [command, "--config", str(config), "--as-of", "9999-12-31T23:59"],
        )
        assert result.exit_code == 2, result.output
        assert "9999-12-31T23:59" in result.output and "out of range" in result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)


def test_an_issue_key_means_that_weeks_scheduled_issue() -> None:
    def friday_nine(start: datetime, end: datetime) -> datetime:
        return start + timedelta(days=4, hours=9)

    got = parse_as_of("2026-W47", NY, in_week=friday_nine)
    assert got == datetime(2026, 11, 20, 9, 0, tzinfo=NY)
    assert issue_key(got, NY) == "2026-W47"
    assert parse_as_of("2026w47", NY, in_week=friday_nine) == got


def test_an_issue_key_without_a_scheduled_run_is_the_weeks_last_second() -> None:
    got = parse_as_of("2026-W45", NY)  # the week DST ends (Sunday 1 November is in W44)
    assert got == datetime(2026, 11, 8, 23, 59, 59, tzinfo=NY)
    assert issue_key(got, NY) == "2026-W45"
    # a moment outside the week is not taken
    assert parse_as_of("2026-W45", NY, in_week=lambda s, e: e) == got


@pytest.mark.parametrize("text", ["2026-W54", "2025-W53", "2026-W00", "0001-W01"])
def test_a_week_that_does_not_exist_is_a_usage_error_naming_it(text: str) -> None:
    with pytest.raises(UsageError, match=f"--as-of '{text}'"):
        parse_as_of(text, NY)


@given(year=st.integers(1971, 2999), week=st.integers(1, 53))
def test_every_issue_key_reads_back_to_itself(year: int, week: int) -> None:
    try:
        date.fromisocalendar(year, week, 1)
    except ValueError:
        return  # a year without week 53
    key = f"{year}-W{week:02d}"
    assert issue_key(parse_as_of(key, NY), NY) == key
