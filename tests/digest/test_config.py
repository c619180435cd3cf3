"""Config validation: every problem names the file and the key, and the CLI exits 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from digest.cli import cli
from digest.cli.init import starter_config
from digest.config import load_config
from digest.errors import ConfigError

GOOD = """\
[newsletter]
name = "Statecraft Weekly"
from_email = "newsletter@statecraft.example"
postal_address = "1 Example Street"
site_url = "https://statecraft.example"
timezone = "America/New_York"

[[sources]]
name = "Main"
url = "feeds/main.xml"

[selection]
window_days = 7
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "digest.toml"
    path.write_text(text, encoding="utf-8")
    return path


def error_for(tmp_path: Path, text: str) -> ConfigError:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path.resolve()) in str(info.value) or str(path) in str(info.value)
    return info.value


def test_good_config_resolves_relative_paths(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, GOOD))
    assert cfg.sources[0].url == str(tmp_path.resolve() / "feeds" / "main.xml")
    assert cfg.newsletter.tz.key == "America/New_York"
    assert cfg.selection.window_days == 7 and cfg.selection.latest_count == 6


@pytest.mark.parametrize(
    ("text", "key", "words"),
    [
        (GOOD + "windw_days = 3\n", "selection.windw_days", "unknown key"),
        (GOOD + "[selecton]\n", "selecton", "unknown section"),
        (
            GOOD.replace("window_days = 7", 'window_days = "7"'),
            "selection.window_days",
            "must be an integer",
        ),
        (GOOD.replace("window_days = 7", "window_days = 0"), "selection.window_days", "positive"),
        (
            GOOD.replace("America/New_York", "America/Nowhere"),
            "newsletter.timezone",
            "unknown time zone",
        ),
        (GOOD.replace('name = "Main"\n', ""), "sources[0].name", "required"),
        (
            GOOD.replace('url = "feeds/main.xml"', 'url = "ftp://x/feed"'),
            "sources[0].url",
            "scheme",
        ),
        (
            GOOD.replace('site_url = "https://statecraft.example"\n', ""),
            "newsletter.site_url",
            "required",
        ),
        (GOOD + 'as_of = "next friday"\n', "selection.as_of", "ISO 8601"),
        (
            GOOD.replace('timezone = "America/New_York"', 'subject = "{lead}"'),
            "newsletter.subject",
            "lead",
        ),
        (
            GOOD.replace("newsletter@statecraft.example", "newsletter at statecraft"),
            "newsletter.from_email",
            "email address",
        ),
        (
            GOOD.replace('"https://statecraft.example"', '"statecraft.example"'),
            "newsletter.site_url",
            "http",
        ),
        (GOOD + "max_per_section = -1\n", "selection.max_per_section", "0 (no cap)"),
        (
            GOOD.replace('postal_address = "1 Example Street"', "postal_address = 12"),
            "newsletter.postal_address",
            "string",
        ),
        # QA: mistakes that used to load silently
        (GOOD.replace("America/New_York", "EST"), "newsletter.timezone", "America/New_York"),
        (GOOD.replace("America/New_York", "MST"), "newsletter.timezone", "daylight saving"),
        (GOOD.replace('name = "Statecraft Weekly"', 'name = "  "'), "newsletter.name", "empty"),
        (
            GOOD.replace('postal_address = "1 Example Street"', 'postal_address = ""'),
            "newsletter.postal_address",
            "empty",
        ),
        (GOOD.replace('name = "Main"', 'name = ""'), "sources[0].name", "empty"),
        (
            GOOD.replace("window_days = 7", "window_days = 100000"),
            "selection.window_days",
            "at most 366",
        ),
        (GOOD + 'as_of = "9999-12-31T23:59"\n', "selection.as_of", "ISO 8601"),
        (
            GOOD.replace('url = "feeds/main.xml"', 'url = "statecraft.example/feed/"'),
            "sources[0].url",
            "write 'https://statecraft.example/feed/'",
        ),
    ],
)
def test_each_problem_names_key_and_file(tmp_path: Path, text: str, key: str, words: str) -> None:
    err = error_for(tmp_path, text)
    assert err.key == key
    assert f"[{key}]" in str(err)
    assert words in str(err)


def test_empty_sources(tmp_path: Path) -> None:
    no_sources = GOOD.split("[[sources]]")[0] + "[selection]\n"
    err = error_for(tmp_path, no_sources)
    assert err.key == "sources" and "at least one" in str(err)
    err = error_for(tmp_path, "sources = []\n" + no_sources)
    assert err.key == "sources"


def test_invalid_toml_names_file_and_line(tmp_path: Path) -> None:
    err = error_for(tmp_path, GOOD + "latest_count = = 3\n")
    assert "not valid TOML" in str(err) and "line 14" in str(err)


def test_missing_file_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="digest init"):
        load_config(tmp_path / "nope.toml")


def test_starter_config_is_valid(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, starter_config()))
    assert cfg.delivery.backend == "file"
    assert cfg.sources[0].url.startswith("https://")


@pytest.mark.parametrize(
    "command", [["preview"], ["collect"], ["pin", "https://x.example/a"], ["note", "hi"]]
)
def test_cli_exits_2_naming_key_and_file(tmp_path: Path, command: list[str]) -> None:
    path = write(tmp_path, GOOD.replace("America/New_York", "Europe/Atlantis"))
    result = CliRunner().invoke(cli, [*command, "--config", str(path)])
    assert result.exit_code == 2, result.output
    assert "newsletter.timezone" in result.output and "digest.toml" in result.output


def test_cli_missing_config_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["preview", "--config", str(tmp_path / "missing.toml")])
    assert result.exit_code == 2
    assert "missing.toml" in result.output and "digest init" in result.output


def test_as_of_may_be_a_toml_date_time_without_quotes(tmp_path: Path) -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    local = load_config(write(tmp_path, GOOD + "as_of = 2026-11-20T09:00:00\n"))
    ny = ZoneInfo("America/New_York")
    assert local.fixed_as_of() == datetime(2026, 11, 20, 9, 0, tzinfo=ny)
    utc = load_config(write(tmp_path, GOOD + "as_of = 2026-11-20T14:00:00Z\n"))
    assert utc.fixed_as_of() == datetime(2026, 11, 20, 9, 0, tzinfo=ny)
    day = load_config(write(tmp_path, GOOD + "as_of = 2026-11-20\n"))
    assert day.fixed_as_of() == datetime(2026, 11, 20, 23, 59, 59, tzinfo=ny)
