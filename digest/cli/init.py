"""`digest init`: the commented starter digest.toml."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import click

from digest.cli.common import (
    config_option,
    console,
    handle_errors,
)
from digest.config import DEFAULT_CONFIG
from digest.errors import DigestError


def starter_config() -> str:
    """The commented starter ``digest.toml`` that ``digest init`` writes."""
    return resources.files("digest").joinpath("starter.toml").read_text(encoding="utf-8")


@click.command("init")
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@config_option
@handle_errors
def init_cmd(directory: Path | None, config_path: Path | None) -> None:
    """Write a commented starter digest.toml into DIR (default: here).

    It never overwrites: if the file exists, nothing is written and the
    command exits 1 naming it.

    \b
    Example:
        digest init my-newsletter
        cd my-newsletter && digest preview
    """
    if directory is not None:
        target = directory / DEFAULT_CONFIG
    else:
        target = config_path or Path(DEFAULT_CONFIG)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("x", encoding="utf-8") as fh:
            fh.write(starter_config())
    except FileExistsError:
        raise DigestError(f"{target} already exists; not overwriting it") from None
    except OSError as exc:
        raise DigestError(f"cannot write {target}: {exc.strerror}") from None
    console.print(f"wrote {target}", markup=False, soft_wrap=True)
    console.print(
        "Next: fill in the lines marked CHANGE ME, then run `digest preview"
        + ("" if target == Path(DEFAULT_CONFIG) else f" --config {target}")
        + "`.",
        markup=False,
        soft_wrap=True,
    )


def register(cli: click.Group) -> None:
    """Add this module's commands to the ``digest`` group."""
    cli.add_command(init_cmd)
