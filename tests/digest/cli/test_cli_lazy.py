"""Commands load their modules on first use: `digest status` and `digest issues list` answer
without loading the pipeline (feed parser, renderer, HTTP client) or Alembic."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import click
from pipeline_support import write_config

from digest.cli import COMMANDS, cli
from digest.store.database import open_store


def test_every_module_registers_exactly_the_commands_named_for_it() -> None:
    for module in set(COMMANDS.values()):
        group = click.Group()
        importlib.import_module(f"digest.cli.{module}").register(group)
        named = {name for name, owner in COMMANDS.items() if owner == module}
        assert set(group.commands) == named, module


def test_help_lists_every_command() -> None:
    ctx = click.Context(cli)
    listed = cli.list_commands(ctx)
    assert set(listed) == set(COMMANDS)
    assert all(cli.get_command(ctx, name) is not None for name in listed)


HEAVY = ("digest.collect", "feedparser", "jinja2", "mjml", "httpx", "alembic", "digest.render")

PROBE = """
import json, sys
from digest.cli import cli
heavy = sys.argv.pop(1).split(",")
try:
    cli(sys.argv[1:], prog_name="digest")
except SystemExit as exit:
    code = exit.code
print(json.dumps({"code": code, "loaded": [m for m in heavy if m in sys.modules]}))
"""


def _probe(args: list[str], tmp_path: Path) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, ",".join(HEAVY), *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "DIGEST_SECRET_KEY": "s" * 40},
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def test_status_and_issues_list_load_no_pipeline(tmp_path: Path) -> None:
    config = ["--config", str(write_config(tmp_path))]
    open_store(f"sqlite:///{tmp_path / 'digest.db'}").dispose()  # migrated: no Alembic needed
    for command in (["issues", "list"], ["status"]):
        got = _probe([*command, *config], tmp_path)
        assert got == {"code": 0, "loaded": []}, command
