"""`digest db upgrade`: migrate the database to this version of digest; `digest db compact`:
remove the send-ledger rows of old sent issues, keeping every per-issue count."""

from __future__ import annotations

from pathlib import Path

import click

from digest.cli.common import clock_from_env, config_option, handle_errors, load, opened_store


@click.group("db")
def db_group() -> None:
    """The database: migrations (commands also upgrade it on first use) and compaction.

    \b
    Example:
        digest db upgrade
        digest db compact --dry-run
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


@db_group.command("compact")
@config_option
@click.option("--dry-run", is_flag=True, help="Say what would be removed; change nothing.")
@handle_errors
def compact_command(config_path: Path | None, dry_run: bool) -> None:
    """Remove the per-reader send-ledger rows (send_recipients) of sent issues whose as-of
    is more than storage.keep_recipients_weeks (default 13) weeks ago. Every per-issue
    count (recipients, sent, skipped, failed, delivered, bounced, opened, clicked, …), the
    batches and the articles stay, so `digest issues list/show` read the same and an
    article already sent is never picked again. Issues sending or failed keep their
    ledger (a resume needs it). The scheduler does this after each send.

    \b
    Example:
        digest db compact --dry-run
        digest db compact
    """
    from digest.store.compaction import compact

    cfg = load(config_path)
    weeks = cfg.storage.keep_recipients_weeks
    with opened_store(cfg) as store:
        done = compact(store, now=clock_from_env()(), keep_weeks=weeks, dry_run=dry_run)
    before = done.cutoff.astimezone(cfg.newsletter.tz).strftime("%Y-%m-%d %H:%M %Z")
    if not done.issues:
        click.echo(
            f"Nothing to compact: no sent issue before {before} "
            f"(keep_recipients_weeks = {weeks}) has send-ledger rows left."
        )
        return
    verb = "Would remove" if dry_run else "Removed"
    click.echo(
        f"{verb} {done.rows:,} send-ledger row(s) of {len(done.issues)} sent issue(s) "
        f"before {before} (keep_recipients_weeks = {weeks}); every count stays on the issue."
    )
    for key, n in done.issues.items():
        click.echo(f"  {key}: {n:,} row(s)")
    if dry_run:
        click.echo("Nothing was changed (--dry-run).")


def register(cli: click.Group) -> None:
    """Add this module's commands to the ``digest`` group."""
    cli.add_command(db_group)
