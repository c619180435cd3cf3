"""The ``digest`` command. Each command group lives in its own module here;
the scheduler and the CLI only drive the pipeline stages."""

from __future__ import annotations

import click

from digest import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="digest")
def cli() -> None:
    """digest: a weekly newsletter that writes and sends itself.

    \b
    Example:
        digest preview --config examples/digest.toml
    """


def _register() -> None:
    from digest.cli import (
        check,
        db,
        editorial,
        init,
        issues,
        keys,
        preview,
        schedule,
        send,
        serve,
        status,
        subscribers,
    )

    for module in (
        init,
        issues,
        preview,
        editorial,
        send,
        serve,
        schedule,
        status,
        subscribers,
        db,
        keys,
        check,
    ):
        module.register(cli)


_register()


def main() -> None:
    cli(prog_name="digest")
