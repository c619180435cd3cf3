"""What every command shares: --config, --as-of, the console, error handling."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from rich.console import Console
from rich.markup import escape

from digest.clock import Clock, parse_as_of, system_clock
from digest.config import Config, load_config
from digest.errors import DigestError

if TYPE_CHECKING:
    from subscribers.db import Store

F = TypeVar("F", bound=Callable[..., Any])

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def config_option(f: F) -> F:
    return click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        envvar="DIGEST_CONFIG",
        help="The config file (default ./digest.toml or $DIGEST_CONFIG).",
    )(f)


def as_of_option(f: F) -> F:
    return click.option(
        "--as-of",
        "as_of",
        default=None,
        metavar="T",
        help="ISO 8601 date-time of the issue (default: now); without an offset it is "
        "read in the newsletter's time zone. An issue key such as 2026-W47 means that "
        "week's issue, at its scheduled time (schedule.cron).",
    )(f)


def clock_from_env() -> Clock:
    """`$DIGEST_NOW` (ISO 8601 with offset) fixes "now" for scripted runs and tests."""
    fixed = os.environ.get("DIGEST_NOW")
    if not fixed:
        return system_clock
    moment = datetime.fromisoformat(fixed.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise click.UsageError("DIGEST_NOW needs an offset, e.g. 2026-01-09T09:00:00+00:00")
    return lambda: moment


def resolve_as_of(cfg: Config, as_of: str | None, clock: Clock | None = None) -> datetime:
    """--as-of if given, else the config's fixed as_of (the sample), else now."""
    tz = cfg.newsletter.tz
    if as_of:
        return parse_as_of(as_of, tz, in_week=lambda start, end: _scheduled_in(cfg, start, end))
    fixed = cfg.fixed_as_of()
    if fixed is not None:
        return fixed
    return (clock or clock_from_env())().astimezone(tz)


def _scheduled_in(cfg: Config, start: datetime, end: datetime) -> datetime | None:
    """The first time ``schedule.cron`` runs in [start, end): a week's issue."""
    from digest.schedule.cron import CrontabTrigger

    fire: datetime | None = CrontabTrigger(cfg.schedule.cron, cfg.newsletter.tz
                                           ).get_next_fire_time(None, start)
    return fire if fire is not None and fire < end else None


def load(config_path: Path | None) -> Config:
    return load_config(config_path)


@contextmanager
def opened_store(cfg: Config) -> Iterator[Store]:
    """The configured database, migrated, closed afterwards."""
    from subscribers.db import open_store

    store = open_store(cfg.database_url, base_dir=cfg.base_dir)
    try:
        yield store
    finally:
        store.dispose()


def handle_errors(f: F) -> F:
    """Turn DigestError into a one-line message and its exit code."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return f(*args, **kwargs)
        except DigestError as exc:
            err_console.print(f"[bold red]error:[/] {escape(str(exc))}", markup=True, soft_wrap=True)
            sys.exit(exc.exit_code)

    return wrapper  # type: ignore[return-value]
