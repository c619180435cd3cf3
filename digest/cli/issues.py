"""`digest issues list` and `digest issues show`: the issues sent and skipped, with their counts."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from digest.cli.common import (
    config_option,
    console,
    handle_errors,
    inert,
    load,
    opened_store,
)
from digest.config import Config
from digest.errors import DigestError
from digest.store import records


def _when(dt: datetime | None, cfg: Config) -> str:
    return dt.astimezone(cfg.newsletter.tz).strftime("%Y-%m-%d %H:%M") if dt else "–"


@click.group("issues")
def issues_group() -> None:
    """Sent and skipped issues, with their counts.

    \b
    Example:
        digest issues list
        digest issues show 2026-W47
    """


@issues_group.command("list")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@handle_errors
def issues_list_cmd(config_path: Path | None, as_json: bool) -> None:
    """List the issues, newest first, with their send and event counts.

    \b
    Example:
        digest issues list --config examples/digest.toml
        digest issues list --json
    """
    cfg = load(config_path)
    with opened_store(cfg) as store:
        summaries = records.list_issues(store)
    if as_json:
        click.echo(json.dumps([s.to_json() for s in summaries], ensure_ascii=False))
        return
    if not summaries:
        console.print("no issues yet (send one with `digest send`)")
        return
    wide = console.width >= 130  # narrow terminals get the main counts only
    cols = (
        ["issue", "status"]
        + (["date"] if wide else [])
        + ["recip.", "sent", "skip.", "fail.", "deliv.", "bounce"]
    )
    cols += ["compl.", "unsub", "open", "click"] if wide else ["unsub"]
    table = Table(box=None, header_style="bold", pad_edge=False)
    for col in cols:
        table.add_column(
            col, justify="left" if col in ("issue", "status", "date") else "right", no_wrap=True
        )
    room = max(10, console.width - (8 * len(cols) + 2))
    table.add_column("subject / reason", no_wrap=True, overflow="ellipsis", max_width=room)
    for s in summaries:
        e = s.events
        when = (s.finished_at or s.started_at or s.created_at).astimezone(cfg.newsletter.tz)
        values = {
            "issue": s.key, "status": s.status, "date": when.strftime("%Y-%m-%d"),
            "recip.": s.recipients, "sent": s.sent, "skip.": s.skipped, "fail.": s.failed,
            "deliv.": e["delivered"], "bounce": e["bounced"], "compl.": e["complained"],
            "unsub": e["unsubscribed"], "open": e["opened"], "click": e["clicked"],
        }  # fmt: skip
        text = (
            s.skip_reason
            if s.status == "skipped"
            else s.failure
            if s.status == "failed"
            else s.subject
        ) or ""
        cells = [f"{v:,}" if isinstance(v, int) else str(v) for v in (values[c] for c in cols)]
        table.add_row(*cells, inert(text))  # a subject is feed text: never markup
    console.print(table)


@issues_group.command("show")
@click.argument("key")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@handle_errors
def issues_show_cmd(key: str, config_path: Path | None, as_json: bool) -> None:
    """Show one issue: status, times, counts, batches, and the archive link.

    \b
    Example:
        digest issues show 2026-W47 --config examples/digest.toml
        digest issues show 2026-W47 --json
    """
    cfg = load(config_path)
    with opened_store(cfg) as store:
        summary = records.issue_summary(store, key.strip().upper())
    if summary is None:
        # not found, like `subscribers unsubscribe` for an address not on the list: exit 1
        raise DigestError(f"no issue {key!r} (keys look like 2026-W02; see `digest issues list`)")
    data: dict[str, Any] = summary.to_json()
    data["archive_url"] = f"{cfg.newsletter.public_url.rstrip('/')}/issues/{summary.key}"
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False))
        return
    console.print(f"[bold]Issue {summary.key}[/] — {summary.status}")
    rows = [
        ("subject", summary.subject or "–"),
        ("as of", _when(summary.as_of, cfg)),
        ("started", _when(summary.started_at, cfg)),
        ("finished", _when(summary.finished_at, cfg)),
        ("recipients", f"{summary.recipients:,}"),
        ("sent", f"{summary.sent:,}"),
        ("skipped", f"{summary.skipped:,} (left the list during the send)"),
        ("failed", f"{summary.failed:,}"),
    ]
    if summary.skip_reason:
        rows.append(("skip reason", summary.skip_reason))
    if summary.failure:
        rows.append(("failure", summary.failure))
    rows += [(k, f"{v:,}") for k, v in summary.events.items()]
    if summary.batches:
        rows.append(
            ("batches", ", ".join(f"{n} {state}" for state, n in sorted(summary.batches.items())))
        )
    for b in summary.in_flight:
        rows.append(
            (f"batch {b.batch}", f"{b.state}: {b.size:,} recipients ({b.error or 'in flight'})")
        )
    rows.append(("archive", data["archive_url"]))
    table = Table(box=None, show_header=False)
    table.add_column(style="bold")
    table.add_column()
    for k, v in rows:
        table.add_row(k, inert(v))  # subjects and reasons quote feed text: never markup
    console.print(table)


def register(cli: click.Group) -> None:
    """Add this module's commands to the ``digest`` group."""
    cli.add_command(issues_group)
