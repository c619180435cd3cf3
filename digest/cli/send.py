"""`digest send`: the issue for T's week to every active subscriber, exactly once (`digest issues`: issues.py)."""

from __future__ import annotations

import json
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from digest.cli.common import (
    as_of_option,
    clock_from_env,
    config_option,
    console,
    err_console,
    handle_errors,
    inert,
    load,
    opened_store,
    resolve_as_of,
)
from digest.errors import SendError
from digest.send import SendPlan, SendReport, run_send


class RichProgress:
    """The progress bar of `digest send`: recipients, batches, rate, ETA."""

    def __init__(self, out: Console):
        self.out = out
        self.bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("recipients · batch {task.fields[batch]}/{task.fields[batches]}"),
            TextColumn("· {task.fields[rate]}/s"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=out,
            transient=False,
        )
        self.task: TaskID | None = None
        self.batches_done = 0
        self.started: float | None = None
        self.sent = 0

    def start(
        self, *, key: str, recipients: int, batches: int, done_recipients: int, done_batches: int
    ) -> None:
        self.batches_done = done_batches
        self.bar.start()
        self.started = self.bar.get_time()
        self.task = self.bar.add_task(
            f"sending {key}", total=recipients, completed=done_recipients,
            batch=done_batches, batches=batches, rate="–",
        )  # fmt: skip

    def batch_done(self, *, batch: int, recipients: int, skipped: int) -> None:
        if self.task is None:
            return
        self.batches_done += 1
        self.sent += recipients
        elapsed = self.bar.get_time() - (self.started or 0)
        rate = f"{self.sent / elapsed:,.0f}" if elapsed > 0 else "–"
        self.bar.update(self.task, advance=recipients + skipped, batch=self.batches_done, rate=rate)

    def note(self, text: str) -> None:
        self.out.print(
            Text.assemble(("note:", "yellow"), " ", inert(text)), soft_wrap=True, highlight=False
        )

    def built(self, built: Any) -> None:
        """Problems an editor should see before confirming (a source that failed, …)."""
        for warning in built.warnings:
            self.out.print(
                Text.assemble(("warning:", "yellow"), " ", inert(warning)), soft_wrap=True
            )

    def stop(self) -> None:
        if self.task is not None:
            self.bar.stop()


def _confirm_prompt(plan: SendPlan) -> bool:
    verb = "Resume sending" if plan.resuming else "Send"
    console.print(f"[bold]Issue {plan.key}[/]")
    console.print(Text.assemble("  subject:    ", inert(plan.subject)))  # feed text: inert
    if plan.lead:
        console.print(Text.assemble("  lead:       ", inert(plan.lead)))
    console.print(
        f"  recipients: {plan.recipients:,}{' still to send' if plan.resuming else ' active subscribers'}"
    )
    console.print(f"  through:    {plan.backend}", markup=False)
    return click.confirm(
        f"{verb} issue {plan.key} to {plan.recipients:,} recipients?", default=False
    )


def _summary(report: SendReport, out: Console) -> None:
    colour = {
        "failed": "red",
        "locked": "yellow",
        "interrupted": "yellow",
        "cancelled": "yellow",
    }.get(report.outcome, "green")
    label = report.outcome.replace("_", " ")
    message = report.message
    if message.startswith(label + ": "):
        message = message[len(label) + 2 :]
    out.print(
        Text.assemble((f"{label}:", f"bold {colour}"), " ", inert(message)),
        soft_wrap=True,
        highlight=False,
    )
    if report.outcome in ("sent", "resumed", "failed", "interrupted"):
        secs = report.sending_seconds
        rate = f" ({report.sent_now / secs:,.0f}/s)" if secs > 0 and report.sent_now else ""
        out.print(
            f"  sent {report.sent:,} · skipped {report.skipped:,} · failed {report.failed:,}"
            f" · of {report.recipients:,} recipients · this run {report.sent_now:,} in "
            f"{secs:.1f} s{rate}"
        )
    if report.in_flight_batches:
        nums = ", ".join(str(b) for b in report.in_flight_batches)
        out.print(
            f"  [yellow]in flight when the previous send stopped:[/] batch {nums} "
            f"({report.in_flight_at_crash:,} recipients)"
        )
    if report.in_doubt_batches:  # sent, answer lost: not sent again (docs/sending.md)
        nums = ", ".join(str(b) for b in report.in_doubt_batches)
        out.print(
            f"  [red]in doubt, not sent again:[/] batch {nums} ({report.in_doubt:,} recipients)"
        )


@contextmanager
def _graceful_sigint(stop: threading.Event, out: Console) -> Iterator[None]:
    """First Ctrl-C: finish the batch in progress, then stop. Second: abort at once."""

    def handler(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        out.print("[yellow]stopping after the batch in progress (Ctrl-C again to abort now)[/]")

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


@click.command("send")
@config_option
@as_of_option
@click.option(
    "--dry-run", is_flag=True, help="Do everything but the provider calls; record nothing."
)
@click.option(
    "--yes", "-y", is_flag=True, help="Send without asking (needed when there is no terminal)."
)
@click.option(
    "--force",
    is_flag=True,
    help="Send an issue that was already sent, again (never in scheduled runs).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as one JSON object.")
@handle_errors
def send_cmd(
    config_path: Path | None,
    as_of: str | None,
    dry_run: bool,
    yes: bool,
    force: bool,
    as_json: bool,
) -> None:
    """Send the issue for T's week to every active subscriber, exactly once.

    Builds the issue exactly like `digest preview`, shows its subject, lead and
    recipient count and asks before sending. Without a terminal, --yes is
    required (a cron job must say so). An interrupted send is resumed from the
    stored issue: batches already accepted are not sent again, and a batch
    that was in flight at the crash is reported and, unless
    delivery.resend_in_flight = true, not resent. A sent issue is not sent
    again without --force. Ctrl-C (or SIGTERM) stops after the batch in
    progress and exits 1; run it again to resume.

    \b
    Example:
        digest send --config examples/digest.toml --yes
        digest send --as-of 2026-11-20T09:00 --dry-run
    """
    cfg = load(config_path, needs_feeds=True)
    clock = clock_from_env()
    moment = resolve_as_of(cfg, as_of, clock)
    if not (yes or dry_run) and not sys.stdin.isatty():
        raise SendError("no terminal to ask for confirmation: add --yes to send without a prompt")
    out = err_console if as_json else console
    progress = RichProgress(out)
    stop = threading.Event()
    confirm = None if (yes or dry_run) else _confirm_prompt
    with opened_store(cfg) as store, _graceful_sigint(stop, out):
        try:
            report = run_send(
                cfg, store, as_of=moment, dry_run=dry_run, force=force, clock=clock,
                progress=progress, stop=stop, confirm=confirm,
            )  # fmt: skip
        finally:
            progress.stop()
    if as_json:
        click.echo(json.dumps(report.to_json(), ensure_ascii=False))
    else:
        _summary(report, out)
    sys.exit(report.exit_code)


def register(cli: click.Group) -> None:
    """Add this module's commands to the ``digest`` group."""
    cli.add_command(send_cmd)
