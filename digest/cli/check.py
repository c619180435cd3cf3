"""`digest check [--online]`: is this setup ready to send? One line per check.

The config and everything it names: the delivery backend and its settings (and the
secrets it takes from the environment), the secret that signs links, the database
(reachable, at the newest migration), every local feed file; with ``--online`` each
source is also fetched once, through ``digest.collect``. Nothing is created or changed:
a missing database is reported, not made.

Exit 0 when every check passes, 1 when something needs the user (a secret, the
database, a feed that cannot be fetched), 2 when the config itself is wrong.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.text import Text

from digest.cli.common import clock_from_env, config_option, console, handle_errors, inert
from digest.config import Config, Secrets, load_config
from digest.config_checks import delivery_problems, feed_problem, local_feed_path
from digest.errors import CollectError, ConfigError, DigestError
from digest.wording import plural

if TYPE_CHECKING:
    from digest.store.database import Store

OK, PROBLEM, CONFIG = "ok", "problem", "config"  # CONFIG: a problem of the file (exit 2)


@dataclass(frozen=True)
class Check:
    state: str
    text: str


def _print(check: Check) -> None:
    label = ("ok      ", "green") if check.state == OK else ("problem ", "bold red")
    console.print(Text.assemble(label, inert(check.text)), soft_wrap=True)


def _backend_lines(cfg: Config) -> list[Check]:
    """The backend's name and file settings (config), then its secrets (environment)."""
    problems = delivery_problems(cfg)
    if problems:
        return [Check(CONFIG, str(p)) for p in problems]
    from digest.backends import get_backend

    try:
        backend = get_backend(cfg)  # the constructors check the secrets they need
    except DigestError as exc:
        return [Check(PROBLEM, f"delivery.backend {cfg.delivery.backend!r}: {exc}")]
    try:
        return [Check(OK, f"delivery.backend {cfg.delivery.backend!r}: {backend.describe()}")]
    finally:
        backend.close()


def _secret_lines(cfg: Config, secrets: Secrets, store: Store | None) -> list[Check]:
    """The link-signing key, its fingerprint, and whether it still verifies the links signed
    last (the fingerprints the database recorded; ``store`` is None when the database
    cannot be read, and then only the key itself is checked)."""
    from digest.signing_secret import key_status

    status = key_status(cfg, store, secrets)
    return [Check(OK if status.ok else PROBLEM, f"secret: {line}") for line in status.lines]


def _database_lines(cfg: Config) -> tuple[list[Check], Store | None]:
    """Reachable and at the newest revision; never created or migrated here. The store is
    returned when it is usable (closed by the caller)."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from digest.store.database import MIGRATIONS_DIR, Store, make_engine

    try:
        engine = make_engine(cfg.database_url, base_dir=cfg.base_dir)
    except DigestError as exc:
        return [Check(PROBLEM, f"database: {exc}")], None
    where = engine.url.render_as_string(hide_password=True)
    upgrade = "run `digest db upgrade`"
    try:
        db_file = engine.url.database if engine.dialect.name == "sqlite" else None
        if db_file and db_file != ":memory:" and not Path(db_file).exists():
            engine.dispose()
            return [
                Check(PROBLEM, f"database {where}: does not exist yet; {upgrade} to create it")
            ], None
        from alembic.config import Config as AlembicConfig

        alembic_cfg = AlembicConfig()
        alembic_cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        head = ScriptDirectory.from_config(alembic_cfg).get_current_head()
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
    except Exception as exc:  # noqa: BLE001 -- any failure to connect is this check's answer
        engine.dispose()
        return [Check(PROBLEM, f"database {where}: cannot be reached: {exc}")], None
    if current != head:
        engine.dispose()
        now = f"at revision {current}" if current else "has no digest tables"
        return [
            Check(PROBLEM, f"database {where}: {now}, this digest needs {head}; {upgrade}")
        ], None
    return [Check(OK, f"database {where}: reachable, at the newest revision ({head})")], Store(
        engine
    )


def _fetch(cfg: Config, index: int) -> Check:
    """One source fetched and read through digest.collect (no feed cache: a real fetch)."""
    from digest.collect import collect

    src = cfg.sources[index]
    label = f"sources[{index}].url ({src.name}): {src.url}"
    try:
        got = collect(replace(cfg, sources=[src]), store=None, clock=clock_from_env())
    except CollectError as exc:
        reason = str(exc).splitlines()[-1].strip().removeprefix(f"- {src.name}: ")
        return Check(PROBLEM, f"{label}: {reason}")
    notes = f"; {plural(len(got.warnings), 'warning')}: {got.warnings[0]}" if got.warnings else ""
    return Check(OK, f"{label}: fetched, {plural(len(got.articles), 'article')}{notes}")


def _source_lines(cfg: Config, online: bool) -> list[Check]:
    out = []
    for i, src in enumerate(cfg.sources):
        problem = feed_problem(cfg, i, src)
        if problem is not None:
            out.append(Check(CONFIG, str(problem)))
        elif online:
            out.append(_fetch(cfg, i))
        elif local_feed_path(src.url) is None:
            out.append(
                Check(
                    OK,
                    f"sources[{i}].url ({src.name}): {src.url} "
                    "(not fetched: `digest check --online` does)",
                )
            )
        else:
            out.append(Check(OK, f"sources[{i}].url ({src.name}): the file is there"))
    return out


@click.command("check")
@config_option
@click.option("--online", is_flag=True, help="Also fetch each source once.")
@handle_errors
def check_cmd(config_path: Path | None, online: bool) -> None:
    """Check the setup: config, backend and its settings, the secret and its fingerprint,
    the database and its migrations, every local feed file.

    Prints one line per check, "ok" or "problem". Nothing is created or changed.
    Exits 0 when all is well, 1 when something needs you (a secret, the database, a
    source that cannot be fetched), 2 when the config itself is wrong.

    \b
    Example:
        digest check --config digest.toml
        digest check --online
    """
    try:
        cfg = load_config(config_path, strict=False)  # every problem reported, not the first
    except ConfigError as exc:
        _print(Check(CONFIG, f"config: {exc}"))
        sys.exit(2)
    checks = [Check(OK, f"config: {cfg.path} loads")]
    checks += _backend_lines(cfg)
    database, store = _database_lines(cfg)
    try:
        checks += _secret_lines(cfg, Secrets.from_env(), store)
    finally:
        if store is not None:
            store.dispose()
    checks += database
    checks += _source_lines(cfg, online)
    for check in checks:
        _print(check)
    states = {c.state for c in checks}
    sys.exit(2 if CONFIG in states else 1 if PROBLEM in states else 0)


def register(cli: click.Group) -> None:
    """Add this module's commands to the ``digest`` group."""
    cli.add_command(check_cmd)
