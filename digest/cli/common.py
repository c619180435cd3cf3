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
from rich.text import Text

from digest.clock import Clock, parse_as_of, system_clock
from digest.config import Config, load_config
from digest.errors import DigestError
from digest.safetext import visible_controls

if TYPE_CHECKING:
    from digest.store.database import Store

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


def coming_as_of_option(f: F) -> F:
    """--as-of for the commands that default to the coming issue (digest.cli.target)."""
    return click.option(
        "--as-of",
        "as_of",
        default=None,
        metavar="T",
        help="ISO 8601 date-time of the issue (default: the coming issue, the one the "
        "scheduler sends next, built for its send time); without an offset it is read in "
        "the newsletter's time zone. An issue key such as 2026-W47 means that week's "
        "issue, at its scheduled time (schedule.cron).",
    )(f)


def clock_from_env() -> Clock:
    """`$DIGEST_NOW` (ISO 8601 with offset) fixes "now" for scripted runs and tests."""
    fixed = os.environ.get("DIGEST_NOW")
    if not fixed:
        return system_clock
    moment = datetime.fromisoformat(fixed)  # Python 3.11 reads a trailing Z too
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

    fire: datetime | None = CrontabTrigger(cfg.schedule.cron, cfg.newsletter.tz).get_next_fire_time(
        None, start
    )
    return fire if fire is not None and fire < end else None


def inert(text: object, style: str = "") -> Text:
    """Feed or subscriber text for the terminal: never read as rich markup, and every
    control character shown as a visible escape (``\\x1b``), so a title cannot retitle
    the window or clear the screen."""
    return Text(visible_controls(str(text)), style=style)


def load(config_path: Path | None, *, needs_feeds: bool = False) -> Config:
    """The config, checked as the file is loaded (digest.config_checks). ``needs_feeds``:
    the command reads the sources, so a local feed path must name an existing file."""
    cfg = load_config(config_path)
    if needs_feeds:
        from digest.config_checks import check_local_feeds

        check_local_feeds(cfg)
    return cfg


@contextmanager
def opened_store(cfg: Config) -> Iterator[Store]:
    """The configured database, migrated, closed afterwards."""
    from digest.store.database import open_store

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
            # messages quote feed text (titles, problems): shown inert, never as markup
            err_console.print(
                Text.assemble(("error:", "bold red"), " ", inert(exc)), soft_wrap=True
            )
            sys.exit(exc.exit_code)

    return wrapper  # type: ignore[return-value]
