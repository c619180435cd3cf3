"""schedule.cron is read the way cron reads it, and fires at the right local time
across daylight-saving changes (America/New_York, Europe/Berlin)."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from apscheduler.triggers.cron import CronTrigger
from click.testing import CliRunner

from digest.cli import cli
from digest.config import load_config
from digest.errors import ConfigError
from digest.schedule.cron import (
    CrontabError,
    CrontabTrigger,
    ShiftedTrigger,
    format_run,
    next_runs,
    parse_crontab,
    trigger_for,
)
from tests.schedule_support import write_config

NY = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")


def _runs(expr: str, start: datetime, count: int, tz: ZoneInfo = NY) -> list[datetime]:
    return next_runs(CrontabTrigger(expr, tz), start, count)


def _weekdays(expr: str) -> set[str]:
    """The weekdays a daily-at-09:00 crontab fires on during two weeks."""
    start = datetime(2026, 11, 22, 0, 0, tzinfo=NY)  # a Sunday
    runs = [r for r in _runs(expr, start, 20) if r < start + timedelta(days=14)]
    return {r.strftime("%a") for r in runs}


# cron(5): day-of-week 0-7 (0 and 7 are Sunday), names, ranges, lists, steps
@pytest.mark.parametrize(
    ("dow", "expected"),
    [
        ("0", {"Sun"}),
        ("7", {"Sun"}),
        ("sun", {"Sun"}),
        ("SUN", {"Sun"}),
        ("fri", {"Fri"}),
        ("5", {"Fri"}),
        ("mon-fri", {"Mon", "Tue", "Wed", "Thu", "Fri"}),
        ("1-5", {"Mon", "Tue", "Wed", "Thu", "Fri"}),
        ("*/2", {"Sun", "Tue", "Thu", "Sat"}),  # 0,2,4,6 in cron's numbering
        ("1-5/2", {"Mon", "Wed", "Fri"}),
        ("5-7", {"Fri", "Sat", "Sun"}),
        ("0,6", {"Sat", "Sun"}),
        ("sat,sun", {"Sat", "Sun"}),
        ("mon,wed-fri", {"Mon", "Wed", "Thu", "Fri"}),
        ("*", {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}),
    ],
)
def test_day_of_week_follows_cron(dow: str, expected: set[str]) -> None:
    assert _weekdays(f"0 9 * * {dow}") == expected


def test_apscheduler_from_crontab_would_have_sent_on_monday() -> None:
    """Why digest translates: APScheduler 3 reads day-of-week 0 as Monday."""
    start = datetime(2026, 11, 22, 0, 0, tzinfo=NY)
    theirs = CronTrigger.from_crontab("0 9 * * 0", timezone=NY).get_next_fire_time(None, start)
    ours = CrontabTrigger("0 9 * * 0", NY).get_next_fire_time(None, start)
    assert theirs is not None and theirs.strftime("%a") == "Mon"
    assert ours is not None and ours.strftime("%a %Y-%m-%d %H:%M") == "Sun 2026-11-22 09:00"


def test_day_of_month_or_day_of_week_when_both_are_given() -> None:
    # cron: "0 9 13 * fri" runs on every 13th AND on every Friday
    start = datetime(2026, 12, 1, tzinfo=NY)
    days = [r.strftime("%a %d") for r in _runs("0 9 13 * fri", start, 6)]
    assert days == ["Fri 04", "Fri 11", "Sun 13", "Fri 18", "Fri 25", "Fri 01"]
    # a day field starting with "*" restricts nothing: both must match (Vixie cron)
    only = [
        r.strftime("%Y-%m-%d %a")
        for r in _runs("0 9 */10 * fri", datetime(2026, 11, 1, tzinfo=NY), 2)
    ]
    assert only == ["2026-12-11 Fri", "2027-01-01 Fri"]


def test_minutes_hours_months_lists_ranges_steps() -> None:
    start = datetime(2026, 11, 23, 0, 0, tzinfo=NY)
    times = [r.strftime("%H:%M") for r in _runs("*/20 8-9 * * *", start, 7)]
    assert times == ["08:00", "08:20", "08:40", "09:00", "09:20", "09:40", "08:00"]
    months = [r.strftime("%b %d") for r in _runs("0 9 1 jan,jul *", start, 3)]
    assert months == ["Jan 01", "Jul 01", "Jan 01"]
    assert [r.strftime("%M") for r in _runs("5/25 9 * * *", start, 3)] == ["05", "30", "55"]


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("0 9 * * fri-sun", "runs backwards (Sunday is 0 or 7: write 5-7 or fri,sat,sun)"),
        ("61 9 * * *", "minute: 61 is outside 0-59"),
        ("0 24 * * *", "hour: 24 is outside 0-23"),
        ("0 9 0 * *", "day of month: 0 is outside 1-31"),
        ("0 9 * 13 *", "month: 13 is outside 1-12"),
        ("0 9 * * 8", "day of week: 8 is outside 0-7"),
        ("0 9 * * funday", "day of week: 'funday' is not a number or a name"),
        ("0 9 * * */0", "step in '*/0' must be 1 or more"),
        ("0 9 * *", "needs 5 fields"),
        ("0 9 * * fri,", "cannot read ''"),
        ("0 9 31 2 *", "day of month 31 never occurs in feb"),  # cron takes it, never runs it
        ("0 9 30,31 2 *", "never occurs in feb"),
    ],
)
def test_bad_crontab_names_the_field(expr: str, message: str) -> None:
    with pytest.raises(CrontabError, match=None) as err:
        parse_crontab(expr)
    assert message in str(err.value)


def test_bad_crontab_in_the_config_names_file_and_key(tmp_path: Path) -> None:
    path = write_config(tmp_path, cron="0 9 * * fri-sun")
    with pytest.raises(ConfigError) as err:
        trigger_for(load_config(path))
    assert str(path) in str(err.value) and "[schedule.cron]" in str(err.value)
    result = CliRunner().invoke(cli, ["schedule", "--next", "3", "--config", str(path)])
    assert result.exit_code == 2
    assert "[schedule.cron]" in result.output and "5-7" in result.output


def test_days_that_occur_only_some_years_or_on_either_day_field_are_accepted() -> None:
    assert (
        _runs("0 9 29 2 *", datetime(2026, 11, 1, tzinfo=UTC), 1)[0].date().isoformat()
        == "2028-02-29"
    )
    assert parse_crontab("0 9 31 2,3 *").days == {31}  # March has a 31st
    assert parse_crontab("0 9 31 2 fri").weekdays == {
        5
    }  # either day field: every Friday in February


@pytest.mark.parametrize("cron", ["0 25 * * fri", "0 9 31 2 *", "0 9 * * fri-sun"])
def test_config_loading_catches_a_bad_crontab_for_every_command(tmp_path: Path, cron: str) -> None:
    path = write_config(tmp_path, cron=cron)
    with pytest.raises(ConfigError) as err:
        load_config(path)  # not only when `digest schedule` builds the trigger
    assert str(path) in str(err.value) and "[schedule.cron]" in str(err.value)
    for command in (["send", "--dry-run", "--yes"], ["status"], ["preview"]):
        result = CliRunner().invoke(cli, [*command, "--config", str(path)])
        assert result.exit_code == 2, (command, result.output)
        assert "[schedule.cron]" in result.output and cron in result.output


def test_trigger_survives_the_job_store() -> None:
    trigger = CrontabTrigger("0 9 * * fri", NY)
    back = pickle.loads(pickle.dumps(trigger))
    assert back == trigger and back != CrontabTrigger("0 9 * * thu", NY)
    assert back != CrontabTrigger("0 9 * * fri", BERLIN)
    start = datetime(2026, 11, 23, tzinfo=UTC)
    assert back.get_next_fire_time(None, start) == trigger.get_next_fire_time(None, start)


# --- daylight saving -------------------------------------------------------------


def _next3(config: Path) -> list[str]:
    result = CliRunner().invoke(cli, ["schedule", "--next", "3", "--config", str(config)])
    assert result.exit_code == 0, result.output
    return [line.strip() for line in result.output.splitlines()[1:]]


@pytest.mark.parametrize(
    ("tz", "now", "expected"),
    [
        (  # New York, November: EDT → EST on Sun 2026-11-01
            "America/New_York",
            datetime(2026, 10, 28, 12, tzinfo=UTC),
            [
                "Fri 2026-10-30 09:00 EDT (-04:00)  =  2026-10-30 13:00 UTC   issue 2026-W44",
                "Fri 2026-11-06 09:00 EST (-05:00)  =  2026-11-06 14:00 UTC   issue 2026-W45",
                "Fri 2026-11-13 09:00 EST (-05:00)  =  2026-11-13 14:00 UTC   issue 2026-W46",
            ],
        ),
        (  # New York, March: EST → EDT on Sun 2026-03-08
            "America/New_York",
            datetime(2026, 3, 2, 12, tzinfo=UTC),
            [
                "Fri 2026-03-06 09:00 EST (-05:00)  =  2026-03-06 14:00 UTC   issue 2026-W10",
                "Fri 2026-03-13 09:00 EDT (-04:00)  =  2026-03-13 13:00 UTC   issue 2026-W11",
                "Fri 2026-03-20 09:00 EDT (-04:00)  =  2026-03-20 13:00 UTC   issue 2026-W12",
            ],
        ),
        (  # Berlin, October: CEST → CET on Sun 2026-10-25
            "Europe/Berlin",
            datetime(2026, 10, 20, 12, tzinfo=UTC),
            [
                "Fri 2026-10-23 09:00 CEST (+02:00)  =  2026-10-23 07:00 UTC   issue 2026-W43",
                "Fri 2026-10-30 09:00 CET (+01:00)  =  2026-10-30 08:00 UTC   issue 2026-W44",
                "Fri 2026-11-06 09:00 CET (+01:00)  =  2026-11-06 08:00 UTC   issue 2026-W45",
            ],
        ),
        (  # Berlin, March: CET → CEST on Sun 2026-03-29
            "Europe/Berlin",
            datetime(2026, 3, 24, 12, tzinfo=UTC),
            [
                "Fri 2026-03-27 09:00 CET (+01:00)  =  2026-03-27 08:00 UTC   issue 2026-W13",
                "Fri 2026-04-03 09:00 CEST (+02:00)  =  2026-04-03 07:00 UTC   issue 2026-W14",
                "Fri 2026-04-10 09:00 CEST (+02:00)  =  2026-04-10 07:00 UTC   issue 2026-W15",
            ],
        ),
    ],
)
def test_next_three_fridays_across_dst(
    tmp_path: Path, tz: str, now: datetime, expected: list[str]
) -> None:
    config = write_config(tmp_path, timezone_name=tz)
    with time_machine.travel(now, tick=False):
        assert _next3(config) == expected


@pytest.mark.parametrize(
    ("tz", "expr", "start", "expected_utc"),
    [
        # spring gap: 02:30 does not exist that night; it runs once, an hour later on the clock
        (
            "America/New_York",
            "30 2 * * *",
            datetime(2026, 3, 7, 12, tzinfo=UTC),
            ["2026-03-08 07:30", "2026-03-09 06:30"],
        ),
        (
            "Europe/Berlin",
            "30 2 * * *",
            datetime(2026, 3, 28, 12, tzinfo=UTC),
            ["2026-03-29 01:30", "2026-03-30 00:30"],
        ),
        # autumn: 01:30 (New York) and 02:30 (Berlin) happen twice that night; cron runs once
        (
            "America/New_York",
            "30 1 * * *",
            datetime(2026, 10, 31, 12, tzinfo=UTC),
            ["2026-11-01 05:30", "2026-11-02 06:30"],
        ),
        (
            "Europe/Berlin",
            "30 2 * * *",
            datetime(2026, 10, 24, 12, tzinfo=UTC),
            ["2026-10-25 00:30", "2026-10-26 01:30"],
        ),
    ],
)
def test_dst_gap_and_repeated_hour_run_once(
    tz: str, expr: str, start: datetime, expected_utc: list[str]
) -> None:
    runs = _runs(expr, start, 2, ZoneInfo(tz))
    assert [r.astimezone(UTC).strftime("%Y-%m-%d %H:%M") for r in runs] == expected_utc


def test_every_hour_through_the_autumn_change_does_not_repeat_wall_times() -> None:
    start = datetime(2026, 11, 1, 0, 30, tzinfo=NY)
    walls = [r.strftime("%H:%M %Z") for r in _runs("0 * * * *", start, 4)]
    assert walls == ["01:00 EDT", "02:00 EST", "03:00 EST", "04:00 EST"]


def test_preview_trigger_is_real_hours_before_the_send() -> None:
    send = CrontabTrigger("0 9 * * mon", NY)
    preview = ShiftedTrigger(send, timedelta(hours=36))
    start = datetime(2026, 10, 25, tzinfo=UTC)
    sends = next_runs(send, start, 2)
    previews = next_runs(preview, start, 2)
    assert [s - p for s, p in zip(sends, previews)] == [timedelta(hours=36)] * 2
    # Mon 2026-11-02 09:00 EST minus 36 h crosses the change: Sat 22:00 EDT
    assert format_run(previews[1], NY).startswith("Sat 2026-10-31 22:00 EDT (-04:00)")
    assert pickle.loads(pickle.dumps(preview)) == preview
