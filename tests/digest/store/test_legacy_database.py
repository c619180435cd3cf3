"""A SQLite database made by an earlier main (tests/data/legacy/) is upgraded and read by
today's code: its issues, its readers, and the issue it sent is not sent again."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner, Result

from digest.cli import cli
from tests.conftest import DATA, REPO

LEGACY = DATA / "legacy"
EXAMPLES = REPO / "examples"


def _setup(tmp_path: Path) -> Path:
    shutil.copy(LEGACY / "main-5522602.db", tmp_path / "digest.db")
    shutil.copy(EXAMPLES / "feed.xml", tmp_path / "feed.xml")
    text = (EXAMPLES / "digest.toml").read_text()
    config = tmp_path / "digest.toml"
    config.write_text(text)
    return config


def _run(config: Path, *args: str) -> Result:
    env = {
        "DIGEST_DATABASE_URL": "",
        "DIGEST_SECRET_KEY": "legacy-test-secret-0123456789abcdef",
        "DIGEST_NOW": "2026-11-20T15:00:00+00:00",
    }
    return CliRunner().invoke(cli, [*args, "--config", str(config)], env=env)


def test_the_old_database_lists_its_sent_issue(tmp_path: Path) -> None:
    config = _setup(tmp_path)
    listed = _run(config, "issues", "list")
    assert listed.exit_code == 0, listed.output
    assert "2026-W47" in listed.output and "sent" in listed.output


def test_the_old_database_lists_its_readers_with_their_states(tmp_path: Path) -> None:
    config = _setup(tmp_path)
    listed = _run(config, "subscribers", "list", "--json")
    assert listed.exit_code == 0, listed.output
    states = {row["email"]: row["status"] for row in json.loads(listed.output)}
    assert states["ada.lovelace@example.com"] == "active"
    assert states["alan.turing@example.com"] == "unsubscribed"
    assert states["pending.reader@example.com"] == "pending"
    assert len(states) == 6


def test_the_issue_the_old_database_sent_is_not_sent_again(tmp_path: Path) -> None:
    config = _setup(tmp_path)
    again = _run(config, "send", "--yes", "--as-of", "2026-11-20T09:00:00")
    assert again.exit_code == 0, again.output
    assert "already sent" in again.output
    assert not (tmp_path / "outbox").exists() or not any((tmp_path / "outbox").iterdir())
