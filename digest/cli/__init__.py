"""The ``digest`` command. Each command group lives in its own module here;
the scheduler and the CLI only drive the pipeline stages."""

from __future__ import annotations

import importlib

import click

from digest import __version__

# Each command's module, imported only when that command runs (or help lists them all):
# `digest status` or `digest issues list` must not pay for loading the pipeline's
# feed parser, renderer and HTTP client (click's documented lazy-loading pattern).
COMMANDS = {
    "init": "init",
    "issues": "issues",
    "collect": "preview",
    "preview": "preview",
    "pin": "editorial",
    "drop": "editorial",
    "note": "editorial",
    "send": "send",
    "serve": "serve",
    "schedule": "schedule",
    "status": "status",
    "subscribers": "subscribers",
    "db": "db",
    "keys": "keys",
    "check": "check",
}


class LazyGroup(click.Group):
    """A group whose commands are registered by their module on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(COMMANDS))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in COMMANDS and cmd_name not in self.commands:
            importlib.import_module(f"digest.cli.{COMMANDS[cmd_name]}").register(self)
        return super().get_command(ctx, cmd_name)


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="digest")
def cli() -> None:
    """digest: a weekly newsletter that writes and sends itself.

    \b
    Example:
        digest preview --config examples/digest.toml
    """


def main() -> None:
    cli(prog_name="digest")
