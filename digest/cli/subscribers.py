"""`digest subscribers add/import/export/list/unsubscribe/erase`: the list from the shell."""

from __future__ import annotations

import csv
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import click
import orjson
from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from digest.cli.common import (
    clock_from_env,
    config_option,
    err_console,
    handle_errors,
    inert,
    load,
    opened_store,
)
from digest.config import Config, Secrets
from digest.errors import DeliveryConfigError, DigestError
from digest.safetext import visible_controls
from digest.signing_secret import SigningKeys, check_key, missing_key_message, signing_keys
from digest.store.tables import SUBSCRIBER_STATUSES, Subscriber
from subscribers import repository as repo
from subscribers.importer import Problem, import_csv
from subscribers.importer import Progress as ImportProgress
from subscribers.spreadsheet import to_cell
from subscribers.workflow import Workflow

STATUS = click.Choice(SUBSCRIBER_STATUSES)


@contextmanager
def _workflow(cfg: Config, *, signs_links: bool = False) -> Iterator[Workflow]:
    """The workflow on the configured store. ``signs_links``: confirmation emails will be
    sent, so a signing secret is needed before the list is touched: DIGEST_SECRET_KEY, or
    for the bundled sample the same development secret `digest send` uses; and it must be
    the key the links were signed with last (or have that one among the previous keys)."""
    secrets = Secrets.from_env()
    keys = _link_keys(cfg, secrets) if signs_links else None
    if keys is not None:
        secrets = replace(secrets, secret_key=keys.current)
    with opened_store(cfg) as store:
        if keys is not None:
            check_key(cfg, store, keys)
        yield Workflow(cfg, store, secrets=secrets, clock=clock_from_env())


def _link_keys(cfg: Config, secrets: Secrets) -> SigningKeys:
    """A missing key is a configuration matter (exit 2), as for `digest send` and `serve`."""
    try:
        return signing_keys(cfg, secrets)
    except DeliveryConfigError as exc:
        if secrets.secret_key:  # set but too short: that message says so
            raise
        raise DeliveryConfigError(
            f"{missing_key_message(cfg)}\nGive `digest serve` the same value; or pass "
            "--confirmed if the person has already agreed"
        ) from exc


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _local(moment: datetime | None, cfg: Config) -> str:
    return f"{moment.astimezone(cfg.newsletter.tz):%Y-%m-%d %H:%M %Z}" if moment else ""


def _say(message: str) -> None:
    click.echo(message)


@click.group("subscribers")
def subscribers_group() -> None:
    """Manage the list: add, import, export, list, unsubscribe, erase.

    \b
    Example:
        digest subscribers add reader@example.com --name "Ada Lovelace"
        digest subscribers list --status active --json
    """


@subscribers_group.command("add")
@click.argument("email")
@click.option("--name", default=None, help="The person's name (optional).")
@click.option(
    "--confirmed",
    is_flag=True,
    help="They have already agreed to receive the newsletter: add them as active, "
    "send no confirmation. Recorded in the consent ledger.",
)
@config_option
@handle_errors
def add_command(email: str, name: str | None, confirmed: bool, config_path: Path | None) -> None:
    """Add one subscriber: pending and sent a confirmation email, or active with --confirmed.

    \b
    Example:
        digest subscribers add reader@example.com
        digest subscribers add reader@example.com --name "Ada Lovelace" --confirmed
    """
    cfg = load(config_path)
    address = repo.check_address(email)
    with _workflow(cfg, signs_links=not confirmed) as wf:
        with wf.store.session() as s:
            if repo.is_tombstoned(s, address.email) and repo.get_by_email(s, address.email) is None:
                raise DigestError(
                    f"{address.email} was erased at the person's request; it is not added back. "
                    "They can subscribe again themselves on the subscribe page."
                )
            existing = repo.get_by_email(s, address.email)
            if confirmed:
                if existing is None:
                    repo.add(
                        s,
                        address.email,
                        at=wf.now(),
                        source="cli",
                        name=name,
                        status="active",
                        detail="added as confirmed by the editors",
                    )
                    _say(f"Added {address.email} (active).")
                    return
                if existing.status == "pending":
                    repo.set_status(
                        s,
                        existing,
                        "active",
                        source="cli",
                        at=wf.now(),
                        detail="confirmed by the editors",
                    )
                    _say(f"{existing.email} was pending; now active.")
                    return
                _refuse_existing(existing, cfg)
                return
        result = wf.subscribe(address.email, name=name, source="cli")
        where = wf.backend.describe()
        messages = {
            "new": f"Added {address.email} (pending); a confirmation email was sent ({where}).",
            "resend": f"{address.email} is pending; the confirmation email was sent again ({where}).",
            "throttled": f"{address.email} is pending; a confirmation email went out less than "
            f"{cfg.web.resend_confirmation_minutes} minutes ago, so none was sent now.",
            "resubscribed": f"{address.email} had unsubscribed; pending again, and a new "
            f"confirmation email was sent ({where}).",
            "active": f"{address.email} is already subscribed (active); nothing changed.",
        }
        if result.outcome == "suppressed":
            with wf.store.session() as s:
                sub = repo.get(s, result.subscriber_id)
                assert sub is not None
                _refuse_existing(sub, cfg)
        _say(messages[result.outcome])


def _refuse_existing(sub: Subscriber, cfg: Config) -> None:
    reasons = {
        "active": "is already subscribed (active)",
        "unsubscribed": f"unsubscribed on {_local(sub.unsubscribed_at, cfg)}; only they can "
        "subscribe again (on the subscribe page), or add them without --confirmed "
        "to send a confirmation email",
        "bounced": "bounced (the address does not accept mail); it is not mailed again",
        "complained": "marked the newsletter as spam; it is not mailed again",
        "pending": "is pending",
    }
    if sub.status == "active":
        _say(f"{sub.email} {reasons['active']}; nothing changed.")
        return
    raise DigestError(f"{sub.email} {reasons[sub.status]}.")


@subscribers_group.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--confirmed",
    is_flag=True,
    help="The file's consent is vouched for: import as active and send no "
    "confirmation (recorded in the consent ledger).",
)
@config_option
@handle_errors
def import_command(file: Path, confirmed: bool, config_path: Path | None) -> None:
    """Import a CSV file with an `email` column (and an optional `name` column).

    Commas, semicolons or tabs separate the columns (as the header row shows); UTF-8, or
    UTF-16 with a byte order mark (Excel's "Unicode Text"). "Email Address" and "E-mail"
    headers work too. Every valid row is imported; every invalid row is reported with its line number and
    the reason. Addresses already on the list are left as they are, so importing the same
    file again changes nothing. Without --confirmed the new addresses are pending and each
    gets a confirmation email. Erased addresses are refused.

    \b
    Example:
        digest subscribers import readers.csv
        digest subscribers import consented.csv --confirmed
    """
    cfg = load(config_path)
    with _workflow(cfg, signs_links=not confirmed) as wf, _import_progress(file) as progress:

        def show(p: Problem) -> None:
            err_console.print(
                inert(f"{file}, line {p.line}: {p.reason}"), highlight=False, soft_wrap=True
            )  # the reason may quote the row

        report = import_csv(file, wf, confirmed=confirmed, on_problem=show, on_progress=progress)
    status = "active" if confirmed else "pending"
    parts = [
        f"imported {report.added} ({status})",
        f"{report.already} already on the list (unchanged)",
    ]
    if report.duplicates:
        parts.append(f"{report.duplicates} repeated in the file")
    if report.problems:
        parts.append(f"{len(report.problems)} not imported (see above)")
    if not confirmed:
        parts.append(f"{report.confirmations_sent} confirmation emails sent")
    _say(f"{file}: " + ", ".join(parts) + ".")
    if report.confirmations_failed:
        err_console.print(
            f"error: {report.confirmations_failed} confirmation emails were not sent: "
            f"{report.send_error}. Those addresses stay pending; send again with "
            "`digest subscribers add EMAIL`.",
            markup=False,
            soft_wrap=True,
        )
    if not report.ok:
        sys.exit(1)


@contextmanager
def _import_progress(file: Path) -> Iterator[Callable[[ImportProgress], None] | None]:
    """A progress bar on standard error (rows read, rows/s, ETA from the bytes read) when
    it is a terminal; nothing when it is piped or redirected."""
    if not err_console.is_terminal:
        yield None
        return
    bar = Progress(
        TextColumn("[bold]importing {task.description}"),
        BarColumn(),
        TextColumn("{task.fields[rows]:,} rows · {task.fields[rate]}/s"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=err_console,
        transient=False,
    )
    task = bar.add_task(escape(visible_controls(file.name)), total=None, rows=0, rate="–")

    def update(p: ImportProgress) -> None:
        elapsed = bar.get_time() - started
        rate = f"{p.rows / elapsed:,.0f}" if elapsed > 0 else "–"
        bar.update(task, total=p.total_bytes, completed=p.bytes_read, rows=p.rows, rate=rate)

    with bar:
        started = bar.get_time()
        yield update


EXPORT_COLUMNS = (
    "email",
    "name",
    "status",
    "source",
    "created_at",
    "confirmed_at",
    "unsubscribed_at",
)


@subscribers_group.command("export")
@click.option("--status", type=STATUS, default=None, help="Only subscribers with this status.")
@config_option
@handle_errors
def export_command(status: str | None, config_path: Path | None) -> None:
    """Write the list as CSV to standard output (it imports back as it is). A cell (name
    or address) that starts like a spreadsheet formula (= + - @, or their full-width forms)
    gets an apostrophe in front, so a spreadsheet shows it as text; importing takes it off
    again.

    \b
    Example:
        digest subscribers export --status active > active.csv
    """
    cfg = load(config_path)
    out = sys.stdout
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    with _workflow(cfg) as wf, wf.store.session() as s:
        for sub in repo.iter_subscribers(s, status=status):
            # every cell, addresses included: =cmd@example.com is a valid address
            writer.writerow(
                [
                    to_cell(cell)
                    for cell in (
                        sub.email,
                        sub.name or "",
                        sub.status,
                        sub.source,
                        _iso(sub.created_at) or "",
                        _iso(sub.confirmed_at) or "",
                        _iso(sub.unsubscribed_at) or "",
                    )
                ]
            )


def _as_json(sub: Subscriber) -> dict[str, Any]:
    return {
        "email": sub.email,
        "name": sub.name,
        "status": sub.status,
        "created_at": _iso(sub.created_at),
        "confirmed_at": _iso(sub.confirmed_at),
    }


@subscribers_group.command("list")
@click.option("--status", type=STATUS, default=None, help="Only subscribers with this status.")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help='A JSON array of {"email", "name", "status", "created_at", "confirmed_at"}.',
)
@config_option
@handle_errors
def list_command(status: str | None, as_json: bool, config_path: Path | None) -> None:
    """List subscribers (all, or one status), oldest first.

    \b
    Example:
        digest subscribers list --status pending
        digest subscribers list --json
    """
    cfg = load(config_path)
    out = sys.stdout
    with _workflow(cfg) as wf, wf.store.session() as s:
        subs = repo.iter_subscribers(s, status=status)
        if as_json:
            out.write("[")
            for i, sub in enumerate(subs):
                out.write(("," if i else "") + "\n  " + orjson.dumps(_as_json(sub)).decode())
            out.write("\n]\n")
            return
        n = 0
        for sub in subs:
            n += 1
            # names come from forms and CSV files: no control character reaches the terminal
            name = f"  {visible_controls(sub.name)}" if sub.name else ""
            out.write(f"{sub.email:<40} {sub.status:<12} {_local(sub.created_at, cfg)}{name}\n")
        what = f"{status} subscribers" if status else "subscribers"
        out.write(f"{n} {what}\n" if n != 1 else f"1 {what[:-1]}\n")


@subscribers_group.command("unsubscribe")
@click.argument("email")
@config_option
@handle_errors
def unsubscribe_command(email: str, config_path: Path | None) -> None:
    """Unsubscribe one address (recorded in the consent ledger as done by the editors).

    \b
    Example:
        digest subscribers unsubscribe reader@example.com
    """
    cfg = load(config_path)
    address = repo.check_address(email)
    with _workflow(cfg) as wf:
        with wf.store.session() as s:
            before = repo.get_by_email(s, address.email)
            if before is None:
                raise DigestError(f"{address.email} is not on the list")
            previous = before.status
        target = wf.unsubscribe_address(address.email)
    assert target is not None
    if previous in ("pending", "active"):
        _say(f"Unsubscribed {target.email} (was {previous}).")
    elif previous == "unsubscribed":
        _say(f"{target.email} was already unsubscribed; nothing changed.")
    else:
        _say(f"{target.email} is {previous} and gets no mail; nothing changed.")


@subscribers_group.command("erase")
@click.argument("email")
@config_option
@handle_errors
def erase_command(email: str, config_path: Path | None) -> None:
    """Erase a person's data on request: the address and name go, the consent ledger keeps
    only a hash, and a hashed tombstone stops a later import from bringing them back.

    \b
    Example:
        digest subscribers erase reader@example.com
    """
    cfg = load(config_path)
    address = repo.check_address(email)
    with _workflow(cfg) as wf, wf.store.session() as s:
        sub = repo.get_by_email(s, address.email)
        if sub is None:
            if repo.is_tombstoned(s, address.email):
                _say(f"{address.email} was already erased; nothing is left to remove.")
                return
            raise DigestError(f"{address.email} is not on the list")
        repo.erase(s, sub, at=wf.now(), source="cli")
    _say(
        f"Erased {address.email}: address and name removed; the consent ledger keeps only "
        "a hash, and imports will refuse the address."
    )


def register(cli: click.Group) -> None:
    """Add this module's commands to the ``digest`` group."""
    cli.add_command(subscribers_group)


__all__ = ["register", "subscribers_group"]
