"""`digest db upgrade`: migrate the database to this version of digest."""

from __future__ import annotations

from pathlib import Path

import click

from digest.cli.common import config_option, handle_errors, load, opened_store


@click.group("db")
def db_group() -> None:
    """The database: migrations (commands also upgrade it on first use).

    \b
    Example:
        digest db upgrade
    """


@db_group.command("upgrade")
@config_option
@handle_errors
def upgrade_command(config_path: Path | None) -> None:
    """Bring the database (storage.url or $DIGEST_DATABASE_URL) to the newest schema.
    Safe to run again: an up-to-date database is left as it is.

    \b
    Example:
        digest db upgrade --config digest.toml
    """
    from alembic.runtime.migration import MigrationContext

    cfg = load(config_path)
    with opened_store(cfg) as store, store.engine.connect() as conn:
        revision = MigrationContext.configure(conn).get_current_revision()
        where = store.engine.url.render_as_string(hide_password=True)
    click.echo(f"The database {where} is at revision {revision} (the newest).")


def register(cli: click.Group) -> None:
    """Add this module's commands to the ``digest`` group."""
    cli.add_command(db_group)
