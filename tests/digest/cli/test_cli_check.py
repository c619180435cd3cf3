"""Config errors at load, for every command, and `digest check` (issue 11, item 7)."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from pytest_httpserver import HTTPServer

from digest.cli import cli
from tests.conftest import REPO
from tests.pipeline_support import rss, standard_items, write_config

KEY = "correct-horse-battery-staple-0123"


def _run(*args: str, env: Mapping[str, str | None] | None = None) -> Result:
    base: dict[str, str | None] = {
        "DIGEST_DATABASE_URL": None,
        "DIGEST_CONFIG": None,
        "DIGEST_NOW": None,
        "DIGEST_SECRET_KEY": None,
        "SENDGRID_API_KEY": None,
        "DIGEST_SMTP_PASSWORD": None,
        "SENDGRID_API_HOST": None,
    }
    return CliRunner().invoke(cli, list(args), env={**base, **(env or {})})


def _with_delivery(tmp_path: Path, delivery: str) -> Path:
    config = write_config(tmp_path)
    text = config.read_text().replace('[delivery]\nbackend = "file"\noutbox = "outbox"\n', delivery)
    config.write_text(text)
    return config


# --- config errors when the file is loaded ----------------------------------------------


@pytest.mark.parametrize(
    "command", [["preview"], ["status"], ["collect"], ["note", "hi"], ["subscribers", "list"]]
)
def test_an_unknown_backend_is_a_config_error_for_every_command(
    tmp_path: Path, command: list[str]
) -> None:
    config = _with_delivery(tmp_path, '[delivery]\nbackend = "mailgun"\n')
    result = _run(*command, "--config", str(config))
    assert result.exit_code == 2, result.output
    assert "[delivery.backend]" in result.output and "mailgun" in result.output
    assert str(config) in result.output and "smtp" in result.output  # the choices


@pytest.mark.parametrize(
    ("delivery", "key", "words"),
    [
        ('[delivery]\nbackend = "smtp"\n', "delivery.host", "smtp.example.com"),
        (
            '[delivery]\nbackend = "smtp"\nhost = "smtp.example.com"\nport = 70000\n',
            "delivery.port",
            "65535",
        ),
        (
            '[delivery]\nbackend = "sendgrid"\napi_host = "api.sendgrid.com"\n',
            "delivery.api_host",
            "http",
        ),
    ],
)
def test_a_backend_missing_a_setting_is_a_config_error_at_load(
    tmp_path: Path, delivery: str, key: str, words: str
) -> None:
    config = _with_delivery(tmp_path, delivery)
    for command in (["preview"], ["status"]):
        result = _run(*command, "--config", str(config))
        assert result.exit_code == 2, (command, result.output)
        assert f"[{key}]" in result.output and words in result.output
        assert str(config) in result.output


def test_secrets_are_not_needed_to_preview(tmp_path: Path) -> None:
    config = _with_delivery(tmp_path, '[delivery]\nbackend = "sendgrid"\n')
    result = _run("preview", "--config", str(config), "--out", str(tmp_path / "pv"))
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("form", ["path", "file-url"])
def test_a_missing_local_feed_is_a_config_error_naming_the_key(tmp_path: Path, form: str) -> None:
    gone = tmp_path / "feeds" / "gone.xml"
    url = str(gone) if form == "path" else gone.as_uri()
    config = write_config(tmp_path, extra_sources=f'[[sources]]\nname = "Gone"\nurl = "{url}"\n')
    for command in (
        ["preview"],
        ["collect"],
        ["send", "--dry-run", "--yes"],
        ["pin", "https://x.example/a"],
    ):
        result = _run(*command, "--config", str(config))
        assert result.exit_code == 2, (command, result.output)
        assert "[sources[1].url]" in result.output and str(config) in result.output
        assert "gone.xml" in result.output


def test_the_starter_config_still_loads(tmp_path: Path) -> None:
    assert _run("init", str(tmp_path)).exit_code == 0
    result = _run("note", "hello", "--config", str(tmp_path / "digest.toml"))
    assert result.exit_code == 0, result.output


# --- digest check -------------------------------------------------------------------


def _sample(tmp_path: Path) -> Path:
    for name in ("digest.toml", "feed.xml"):
        shutil.copy(REPO / "examples" / name, tmp_path / name)
    return tmp_path / "digest.toml"


def test_check_passes_on_the_sample(tmp_path: Path) -> None:
    config = _sample(tmp_path)
    env = {"DIGEST_DATABASE_URL": f"sqlite:///{tmp_path / 'check.db'}"}
    assert _run("db", "upgrade", "--config", str(config), env=env).exit_code == 0
    result = _run("check", "--config", str(config), env=env)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    for what in ("config", "backend", "secret", "database", "sources[0].url"):
        assert any(line.startswith("ok") and what in line for line in lines), (what, result.output)
    assert not any(line.startswith("problem") for line in lines)

    with_key = _run("check", "--config", str(config), env={**env, "DIGEST_SECRET_KEY": KEY})
    assert with_key.exit_code == 0, with_key.output
    assert "fingerprint" in with_key.output and KEY not in with_key.output


def test_check_reports_a_missing_database_and_secret(tmp_path: Path) -> None:
    config = _sample(tmp_path)
    config.write_text(
        config.read_text().replace(
            'public_url = "http://127.0.0.1:8000"', 'public_url = "https://news.statecraft.example"'
        )
    )
    result = _run(
        "check",
        "--config",
        str(config),
        env={"DIGEST_DATABASE_URL": f"sqlite:///{tmp_path / 'none.db'}"},
    )
    assert result.exit_code == 1, result.output
    assert "DIGEST_SECRET_KEY" in result.output and "digest db upgrade" in result.output
    assert not (tmp_path / "none.db").exists()  # checking creates nothing


@pytest.mark.parametrize(
    ("delivery", "env", "words"),
    [
        ('[delivery]\nbackend = "sendgrid"\n', {}, "SENDGRID_API_KEY"),
        (
            '[delivery]\nbackend = "smtp"\nhost = "smtp.example.com"\nusername = "digest"\n',
            {},
            "DIGEST_SMTP_PASSWORD",
        ),
    ],
)
def test_check_reports_a_missing_backend_secret(
    tmp_path: Path, delivery: str, env: dict[str, str], words: str
) -> None:
    config = _with_delivery(tmp_path, delivery)
    result = _run("check", "--config", str(config), env={"DIGEST_SECRET_KEY": KEY, **env})
    assert result.exit_code == 1, result.output
    assert any(line.startswith("problem") and words in line for line in result.output.splitlines())


def test_check_reports_every_config_problem_with_exit_2(tmp_path: Path) -> None:
    config = write_config(tmp_path, extra_sources='[[sources]]\nname = "Gone"\nurl = "gone.xml"\n')
    config.write_text(config.read_text().replace('backend = "file"', 'backend = "mailgun"'))
    result = _run("check", "--config", str(config), env={"DIGEST_SECRET_KEY": KEY})
    assert result.exit_code == 2, result.output
    problems = [line for line in result.output.splitlines() if line.startswith("problem")]
    assert any("[delivery.backend]" in p and "mailgun" in p for p in problems)
    assert any("[sources[1].url]" in p and "gone.xml" in p for p in problems)
    assert any(
        line.startswith("ok") and "sources[0].url" in line for line in result.output.splitlines()
    )


def test_check_online_fetches_each_source(tmp_path: Path, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/good.xml").respond_with_data(
        rss(standard_items()), content_type="application/rss+xml"
    )
    httpserver.expect_request("/down.xml").respond_with_data("no", status=503)
    extra = (
        f'[[sources]]\nname = "Good"\nurl = "{httpserver.url_for("/good.xml")}"\n'
        f'[[sources]]\nname = "Down"\nurl = "{httpserver.url_for("/down.xml")}"\n'
    )
    config = write_config(tmp_path, extra_sources=extra)
    env = {"DIGEST_SECRET_KEY": KEY}
    assert _run("db", "upgrade", "--config", str(config), env=env).exit_code == 0
    offline = _run("check", "--config", str(config), env=env)
    assert offline.exit_code == 0, offline.output  # remote sources are not fetched offline
    online = _run("check", "--online", "--config", str(config), env=env)
    assert online.exit_code == 1, online.output
    lines = online.output.splitlines()
    assert any(
        line.startswith("ok") and "Good" in line and "6 articles" in line for line in lines
    ), online.output
    assert any(line.startswith("problem") and "Down" in line and "503" in line for line in lines)


def test_check_on_a_config_that_does_not_parse_exits_2(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    config.write_text(config.read_text().replace("America/New_York", "Europe/Atlantis"))
    result = _run("check", "--config", str(config))
    assert result.exit_code == 2, result.output
    assert result.output.startswith("problem") and "[newsletter.timezone]" in result.output


def test_every_backend_says_what_it_needs_from_the_file() -> None:
    from digest.backends import REGISTRY
    from digest.backends.settings import REQUIRED_SETTINGS

    assert set(REQUIRED_SETTINGS) == set(REGISTRY)
