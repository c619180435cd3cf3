"""`digest keys rotate`: how to change DIGEST_SECRET_KEY without breaking sent links."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from digest.cli.common import config_option, console, handle_errors, load, opened_store
from digest.signing_secret import NEW_KEY_COMMAND, KeyStatus, key_status

STEPS = (
    "1. Generate a new key:",
    f"       {NEW_KEY_COMMAND}",
    "2. Where digest runs (the service of `digest serve`, of `digest schedule` or cron's",
    "   `digest send`, your shell), keep the current key for verification and set the new one:",
    '       export DIGEST_SECRET_KEY_PREVIOUS="$DIGEST_SECRET_KEY"    # older ones after a comma',
    "       export DIGEST_SECRET_KEY=<the new key>",
    "3. Restart `digest serve` with both before the next send, so it can check the links the",
    "   new key signs as well as the old ones.",
    "4. Run `digest keys rotate` again there: it should say the setup is consistent.",
    "5. Keep the old key in DIGEST_SECRET_KEY_PREVIOUS as long as the links in the issues",
    "   already sent should work: unsubscribe links never expire, and Gmail and Yahoo require",
    "   one-click unsubscribe to keep working, so in practice keep it for good.",
)


@click.group("keys")
def keys_group() -> None:
    """The key that signs the links in emails (DIGEST_SECRET_KEY) and its rotation.

    \b
    Example:
        digest keys rotate
    """


@keys_group.command("rotate")
@config_option
@handle_errors
def rotate_command(config_path: Path | None) -> None:
    """Explain how to rotate DIGEST_SECRET_KEY and check this environment.

    Shows the fingerprint of DIGEST_SECRET_KEY, of each key in DIGEST_SECRET_KEY_PREVIOUS,
    and of the key that signed links last (recorded by `digest send` and confirmation
    emails), and whether every link signed last still works with them; then the steps of a
    rotation. Fingerprints name keys without revealing them. Changes nothing. Exits 0 when
    the setup is consistent, 1 when the key changed and links already sent would break, 2
    when no usable key is set.

    \b
    Example:
        digest keys rotate --config digest.toml
        DIGEST_SECRET_KEY_PREVIOUS="$OLD_KEY" DIGEST_SECRET_KEY="$NEW_KEY" digest keys rotate
    """
    cfg = load(config_path)
    with opened_store(cfg) as store:
        status = key_status(cfg, store)
    _show(status)
    sys.exit(status.exit_code)


def _show(status: KeyStatus) -> None:
    colour = "green" if status.ok else "red"
    console.print(f"[bold {colour}]{'consistent' if status.ok else 'not consistent'}[/]")
    for line in status.lines:
        console.print(f"  {line}", markup=False, highlight=False, soft_wrap=True)
    console.print("\n[bold]Rotating DIGEST_SECRET_KEY without breaking the links already sent[/]")
    for line in STEPS:
        console.print(line, markup=False, highlight=False, soft_wrap=True)


def register(cli: click.Group) -> None:
    """Add this module's commands to the ``digest`` group."""
    cli.add_command(keys_group)
