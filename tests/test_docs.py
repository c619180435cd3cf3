"""The docs are made from the code and kept current: the CLI reference is `--help` itself,
and every config key the code reads is described in the starter `digest init` writes."""

from __future__ import annotations

import re
import typing
from dataclasses import fields, is_dataclass
from importlib import resources

import pytest

from digest.cli.reference import cli_reference
from digest.config import Config
from tests.conftest import REPO

DOCS = REPO / "docs"
STARTER = resources.files("digest").joinpath("starter.toml").read_text(encoding="utf-8")


def test_the_cli_reference_is_current() -> None:
    written = (DOCS / "cli-reference.md").read_text(encoding="utf-8")
    assert written == cli_reference(), (
        "docs/cli-reference.md is out of date: python -m digest.cli.reference > docs/cli-reference.md"
    )


def _config_keys() -> list[tuple[str, str]]:
    """(section, key) for every key of every section the config reads."""
    keys = []
    hints = typing.get_type_hints(Config)
    for section in fields(Config):
        kind = hints[section.name]
        if typing.get_origin(kind) is list:  # [[sources]]
            (kind,) = typing.get_args(kind)
        if not is_dataclass(kind):
            continue
        keys += [(section.name, f.name) for f in fields(kind) if not f.name.startswith("_")]
    return keys


def _section(name: str) -> str:
    """The starter's text of one section, from its header to the next one."""
    match = re.search(
        rf"^#?\s*\[\[?{name}\]\]?\s*$(.*?)(?=^#?\s*\[\[?\w+\]\]?\s*$|\Z)",
        STARTER,
        re.MULTILINE | re.DOTALL,
    )
    assert match, f"starter.toml has no [{name}] section"
    return match.group(1)


@pytest.mark.parametrize(("section", "key"), _config_keys(), ids=lambda v: str(v))
def test_every_config_key_is_in_the_starter_with_a_comment(section: str, key: str) -> None:
    lines = _section(section).splitlines()
    for i, line in enumerate(lines):
        if re.match(rf"^#?\s*{key}\s*=", line):
            described = "#" in line.lstrip("#").split("=", 1)[1] or (
                i > 0 and lines[i - 1].lstrip().startswith("#")
            )
            assert described, f"[{section}] {key} has no comment in starter.toml"
            return
    pytest.fail(f"[{section}] {key} is not in starter.toml (digest init describes every key)")
