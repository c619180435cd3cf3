"""``digest schedule``: the weekly send, unattended."""

from __future__ import annotations

import threading
from pathlib import Path

import click

from digest.cli.common import clock_from_env, config_option, handle_errors, load
from digest.clock import issue_key
from digest.schedule.cron import format_run
from digest.schedule.plan import RunPlan


@click.command("schedule")
@config_option
@click.option(
    "--next",
    "next_count",
    type=click.IntRange(1, 1000),
    default=None,
    metavar="N",
    help="Print the next N send times (the newsletter's zone and UTC) and exit; starts nothing.",
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="One line per event on stderr: text, or one JSON object per line.",
)
@handle_errors
def schedule_cmd(config_path: Path | None, next_count: int | None, log_format: str) -> None:
    """Run the weekly send unattended (blocks until SIGTERM or Ctrl-C).

    Sends the issue at every time of `schedule.cron` (a standard crontab: 0 and 7
    are Sunday) in `newsletter.timezone`, exactly once per issue, through the
    same code as `digest send --yes`. The schedule is kept in the database: a run
    missed while this process was down goes out late only within
    `schedule.misfire_grace_hours`; after that it is skipped and the skip is
    recorded on the issue. SIGTERM or SIGINT lets the batch in progress finish,
    then exits 0; the next start resumes an interrupted send. Several schedulers may
    share one database: one sends, and every `schedule.takeover_seconds` the others look
    for a send whose sender died and resume it (logged `takeover`).

    \b
    Example:
        digest schedule --next 3 --config digest.toml
        digest schedule --config digest.toml --log-format json
    """
    cfg = load(config_path, needs_feeds=next_count is None)  # --next only prints times
    plan = RunPlan.from_config(cfg)
    clock = clock_from_env()
    if next_count is not None:
        tz = plan.timezone
        click.echo(
            f"{cfg.schedule.cron!r} in {tz.key} (misfire_grace_hours={plan.grace_hours_text}):"
        )
        for moment in plan.next_sends(clock(), next_count):
            click.echo(f"  {format_run(moment, tz)}   issue {issue_key(moment, tz)}")
        return
    _run(cfg, plan, log_format)


def _run(cfg: object, plan: RunPlan, log_format: str) -> None:
    from digest.config import Config
    from digest.schedule.apscheduler_runner import WeeklyScheduler
    from digest.schedule.jobs import ScheduledWork
    from digest.schedule.logs import configure_logging, remove_logging
    from digest.schedule.takeover import Takeover
    from digest.store.database import make_engine, open_store

    assert isinstance(cfg, Config)
    handler = configure_logging("json" if log_format == "json" else "text")
    store = open_store(cfg.database_url, base_dir=cfg.base_dir)
    jobstore_engine = make_engine(cfg.database_url, base_dir=cfg.base_dir)
    stop = threading.Event()
    try:
        if cfg.selection.as_of:
            from digest.schedule.logs import event

            event(
                "note",
                f"selection.as_of = {cfg.selection.as_of!r} is ignored here: each scheduled "
                "issue is built for its own run time",
            )
        work = ScheduledWork(cfg, store, stop=stop)
        takeover = Takeover(
            store,
            work,
            plan,
            every_seconds=cfg.schedule.takeover_seconds,
            resend_in_flight=cfg.delivery.resend_in_flight,
            stop=stop,
        )
        WeeklyScheduler(
            plan, work, jobstore_engine=jobstore_engine, stop=stop, takeover=takeover
        ).run()
    finally:
        jobstore_engine.dispose()
        store.dispose()
        remove_logging(handler)


def register(cli: click.Group) -> None:
    """Add this module's commands to the ``digest`` group."""
    cli.add_command(schedule_cmd)
