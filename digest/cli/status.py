"""``digest status``: the last issues, the next run, the subscriber counts."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
from sqlalchemy import column, inspect, select, table
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from digest.cli.common import clock_from_env, config_option, handle_errors, load, opened_store
from digest.clock import issue_key
from digest.config import Config
from digest.schedule.cron import format_run, hours_text
from digest.schedule.plan import JOBS_TABLE, SEND_JOB_ID, RunPlan
from digest.store.database import Store

LAST_ISSUES = 5
OVERDUE_AFTER = timedelta(minutes=2)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")


def _plain(value: object) -> str:
    """Text from feeds or the database, safe to print on a terminal (no control characters)."""
    return _CONTROL.sub(" ", str(value)).strip()


def stored_next_run(store: Store) -> tuple[bool, datetime | None]:
    """(the scheduler has stored its job here, that job's next run time)."""
    engine = store.engine
    if not inspect(engine).has_table(JOBS_TABLE):
        return False, None
    jobs = table(JOBS_TABLE, column("id"), column("next_run_time"))
    with engine.connect() as conn:
        row = conn.execute(select(jobs.c.next_run_time).where(jobs.c.id == SEND_JOB_ID)).first()
    if row is None:
        return False, None
    stamp = row[0]
    return True, (datetime.fromtimestamp(float(stamp), UTC) if stamp is not None else None)


def _subscriber_counts(store: Store) -> dict[str, int]:
    from subscribers.repository import counts_by_status

    return counts_by_status(store)


def status_data(cfg: Config, store: Store, now: datetime) -> dict[str, Any]:
    """Everything `digest status` shows, as the JSON object `--json` prints."""
    from digest.store import records

    plan = RunPlan.from_config(cfg)
    tz = plan.timezone
    upcoming = plan.next_sends(now, 1)
    nxt = upcoming[0] if upcoming else None
    has_job, stored = stored_next_run(store)
    overdue = None
    if stored is not None and now - stored > OVERDUE_AFTER:  # a running scheduler moves it on
        overdue = now - stored
    counts = _subscriber_counts(store)
    issues = records.list_issues(store, limit=LAST_ISSUES)
    return {
        "newsletter": cfg.newsletter.name,
        "timezone": tz.key,
        "now": now.astimezone(tz).isoformat(),
        "schedule": {
            "cron": cfg.schedule.cron,
            "misfire_grace_hours": cfg.schedule.misfire_grace_hours,
            "next_run": nxt.isoformat() if nxt else None,
            "next_run_utc": nxt.astimezone(UTC).isoformat() if nxt else None,
            "next_issue": issue_key(nxt, tz) if nxt else None,
            "scheduler_job_stored": has_job,
            "scheduler_next_run": stored.astimezone(tz).isoformat() if stored else None,
            "scheduler_overdue_seconds": int(overdue.total_seconds()) if overdue else None,
        },
        "issues": [i.to_json() for i in issues],
        "subscribers": {**counts, "total": sum(counts.values())},
    }


def _issue_line(issue: dict[str, Any], tz: Any) -> str:
    as_of = datetime.fromisoformat(str(issue["as_of"])).astimezone(tz)
    status = str(issue["status"])
    line = f"  {issue['issue']}  {status:<8} {as_of:%a %Y-%m-%d %H:%M %Z}"
    if status in ("sent", "sending", "failed") or issue["recipients"]:
        line += f"  {issue['sent']}/{issue['recipients']} sent"
        if issue["skipped"]:
            line += f", {issue['skipped']} skipped"
        if issue["failed"]:
            line += f", {issue['failed']} refused"
    if status == "skipped" and issue.get("skip_reason"):
        line += f"  {_plain(issue['skip_reason'])}"
    elif status == "failed" and issue.get("failure"):
        line += f"  {_plain(issue['failure'])}"
    elif issue.get("subject"):
        line += f"  {_plain(issue['subject'])}"
    return line


def _database(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return "(unreadable storage.url)"


@click.command("status")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@handle_errors
def status_cmd(config_path: Path | None, as_json: bool) -> None:
    """Show the last issues, the next scheduled send and the subscriber counts.

    The next send is computed from `schedule.cron`; when `digest schedule` has run on this
    database its stored next run is shown too, and a run that is overdue (the scheduler
    is not running) is pointed out.

    \b
    Example:
        digest status --config digest.toml
        digest status --json
    """
    cfg = load(config_path)
    now = clock_from_env()()
    with opened_store(cfg) as store:
        data = status_data(cfg, store, now)
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False))
        return
    tz = cfg.newsletter.tz
    sched = data["schedule"]
    click.echo(f"{_plain(cfg.newsletter.name)} ({tz.key}), database {_database(cfg.database_url)}")
    if sched["next_run"]:
        nxt = datetime.fromisoformat(sched["next_run"])
        click.echo(f"Next send:   {format_run(nxt, tz)}   issue {sched['next_issue']}")
    else:
        click.echo("Next send:   never (schedule.cron matches no date)")
    click.echo(
        f"             schedule.cron {cfg.schedule.cron!r}, misfire_grace_hours="
        f"{cfg.schedule.misfire_grace_hours:g}"
    )
    if not sched["scheduler_job_stored"]:
        click.echo("Scheduler:   `digest schedule` has not run on this database yet")
    elif sched["scheduler_overdue_seconds"]:
        late = hours_text(timedelta(seconds=sched["scheduler_overdue_seconds"]))
        stored = datetime.fromisoformat(sched["scheduler_next_run"])
        click.echo(
            f"Scheduler:   the run of {format_run(stored, tz)} is overdue by {late}: "
            "is `digest schedule` running? (started within misfire_grace_hours it still "
            "goes out; later it is skipped and recorded)"
        )
    elif sched["scheduler_next_run"]:
        stored = datetime.fromisoformat(sched["scheduler_next_run"])
        click.echo(f"Scheduler:   next run stored for {format_run(stored, tz)}")
    else:
        click.echo("Scheduler:   the send job is paused")
    if data["issues"]:
        click.echo(f"Last issues (newest first, up to {LAST_ISSUES}):")
        for issue in data["issues"]:
            click.echo(_issue_line(issue, tz))
    else:
        click.echo("Last issues: none yet")
    subs = data["subscribers"]
    parts = ", ".join(f"{subs[k]} {k}" for k in subs if k != "total")
    click.echo(f"Subscribers: {parts} ({subs['total']} in all)")


def register(cli: click.Group) -> None:
    """Add this module's commands to the ``digest`` group."""
    cli.add_command(status_cmd)
