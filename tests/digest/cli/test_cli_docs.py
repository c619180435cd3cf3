"""Every command's help has an example, and the README mentions every command."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from digest.cli import cli
from tests.conftest import REPO

README = (REPO / "README.md").read_text()


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = []
    ctx = click.Context(group)  # the top group loads its commands on demand
    for name in sorted(group.list_commands(ctx)):
        cmd = group.get_command(ctx, name)
        assert cmd is not None
        path = prefix + (name,)
        out.append(path)
        if isinstance(cmd, click.Group):
            out.extend(_commands(cmd, path))
    return out


COMMANDS = _commands(cli)


def test_core_commands_exist() -> None:
    names = {" ".join(c) for c in COMMANDS}
    for required in (
        "init",
        "collect",
        "preview",
        "pin",
        "drop",
        "note",
        "send",
        "schedule",
        "serve",
        "subscribers add",
        "subscribers import",
        "subscribers export",
        "subscribers list",
        "subscribers unsubscribe",
        "subscribers erase",
        "issues list",
        "issues show",
        "status",
    ):
        assert required in names, f"`digest {required}` is missing"


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p))
def test_help_has_example(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.output, f"`digest {' '.join(path)} --help` has no example"
    assert f"digest {' '.join(path)}" in result.output


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p))
def test_readme_mentions_command(path: tuple[str, ...]) -> None:
    assert f"digest {' '.join(path)}" in README, (
        f"README does not mention `digest {' '.join(path)}`"
    )
