"""`digest collect` and `digest preview`: what the coming issue holds, and the issue itself
(`init`: init.py; the editor's `pin`, `drop`, `note`: editorial.py)."""

from __future__ import annotations

import json
import webbrowser
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from digest.cli.common import (
    clock_from_env,
    coming_as_of_option,
    config_option,
    console,
    err_console,
    handle_errors,
    inert,
    load,
    opened_store,
)
from digest.cli.target import frozen_note, heading, resolve_target
from digest.clock import Window, window_for
from digest.config import Config
from digest.errors import DigestError, UsageError
from digest.models import Article
from digest.pipeline import BuiltIssue, build_issue, preview_json
from digest.wording import plural


def _wide() -> Console:
    """The console for tables: piped or captured output gets 160 columns, not 80,
    so a story's title and reason stay on one line for grep and for logs."""
    return console if console.is_terminal else Console(highlight=False, width=160)


def _moment(dt: datetime, cfg: Config) -> str:
    local = dt.astimezone(cfg.newsletter.tz)
    return f"{local:%a} {local.day} {local:%b %Y %H:%M %Z}"


def _print_warnings(warnings: list[str]) -> None:
    for w in warnings:
        console.print(Text.assemble(("warning: ", "yellow"), inert(w)), soft_wrap=True)


# --- collect ------------------------------------------------------------------------


def _article_json(art: Article, cfg: Config) -> dict[str, Any]:
    tz = cfg.newsletter.tz
    return {
        "title": art.title,
        "url": art.url,
        "section": art.section,
        "categories": list(art.categories),
        "authors": list(art.authors),
        "published": art.published.astimezone(tz).isoformat(),
        "updated": art.updated.astimezone(tz).isoformat() if art.updated else None,
        "image": art.image.url if art.image else None,
        "source": art.source,
        "word_count": art.word_count,
    }


@click.command("collect")
@config_option
@coming_as_of_option
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object instead of a table.")
@handle_errors
def collect_cmd(config_path: Path | None, as_of: str | None, as_json: bool) -> None:
    """Fetch every source and list the articles of the issue's window.

    Sources that fail are reported and skipped; the command exits 1 only
    when every source failed.

    \b
    Example:
        digest collect --config examples/digest.toml
        digest collect --as-of 2026-11-20T09:00 --json
    """
    from digest.collect import collect

    cfg = load(config_path, needs_feeds=True)
    clock = clock_from_env()
    tz = cfg.newsletter.tz
    with opened_store(cfg) as store:
        target = resolve_target(cfg, store, as_of, clock)
        collection = collect(cfg, store=store, clock=clock)
    moment = target.as_of
    window = window_for(moment, cfg.selection.window_days, tz)
    start, end = window.start.astimezone(UTC), window.end.astimezone(UTC)
    articles = sorted(
        (a for a in collection.articles if start < a.published.astimezone(UTC) <= end),
        key=lambda a: (-a.published.timestamp(), a.url),
    )
    outside = len(collection.articles) - len(articles)
    warnings = [f"source {p.source!r} skipped: {p.reason}" for p in collection.problems]
    warnings += collection.warnings
    if as_json:
        obj = {
            "issue": target.key,
            "as_of": moment.astimezone(tz).isoformat(),
            "window_start": window.start.isoformat(),
            "window_end": window.end.isoformat(),
            "articles": [_article_json(a, cfg) for a in articles],
            "outside_window": outside,
            "sources_ok": collection.sources_ok,
            "warnings": warnings,
        }
        click.echo(json.dumps(obj, ensure_ascii=False, indent=2))
        return
    line = heading(target, cfg, clock())
    if line:
        console.print(line, markup=False, soft_wrap=True)
    _print_collected(articles, window, outside, cfg)
    _print_warnings(warnings)


def _print_collected(articles: list[Article], window: Window, outside: int, cfg: Config) -> None:
    span = f"from {_moment(window.start, cfg)} to {_moment(window.end, cfg)}"
    table = Table(title=Text(f"{plural(len(articles), 'article')} {span}"), title_justify="left")
    for col in ("Published", "Section", "Title", "Source"):
        table.add_column(col)
    for art in articles:
        local = art.published.astimezone(cfg.newsletter.tz)
        table.add_row(
            f"{local:%a} {local.day} {local:%b %H:%M}",
            inert(art.section or "—"),
            Text.assemble(inert(art.title), "\n", inert(art.url)),
            inert(art.source),
        )
    _wide().print(table)
    if outside:
        verb = "falls" if outside == 1 else "fall"
        console.print(
            f"{plural(outside, 'more article')} in the feeds {verb} outside the window.",
            markup=False,
            soft_wrap=True,
        )


# --- preview ------------------------------------------------------------------------


def _recipients(value: str | None) -> list[str]:
    if not value:
        return []
    from email_validator import EmailNotValidError, validate_email

    out = []
    for raw in value.split(","):
        address = raw.strip()
        if not address:
            continue
        try:
            out.append(validate_email(address, check_deliverability=False).normalized)
        except EmailNotValidError as exc:
            raise UsageError(f"--to: {address!r} is not an email address ({exc})") from None
    if not out:
        raise UsageError("--to needs at least one email address")
    return out


def _print_preview(built: BuiltIssue, cfg: Config, written: list[Path]) -> None:
    issue = built.issue
    console.print(
        Text.assemble(
            inert(cfg.newsletter.name, "bold"),
            f" · issue {issue.key} · as of {_moment(issue.as_of, cfg)}",
        )
    )
    console.print(
        f"window: {_moment(issue.window_start, cfg)} → {_moment(issue.window_end, cfg)}",
        markup=False,
        soft_wrap=True,
    )
    if built.rendered is not None:
        console.print(Text.assemble(("subject: ", "bold"), inert(built.rendered.subject)))
    if issue.note:
        console.print(Text.assemble(("editor's note: ", "bold"), inert(issue.note)))
    if issue.skipped:
        console.print(Text.assemble(("skipped: ", "bold yellow"), inert(issue.skip_reason or "")))
    else:
        table = Table(title_justify="left")
        for col in ("Role", "Title", "Section", "Published", "Reason"):
            table.add_column(col)
        for pick in issue.picks:
            local = pick.article.published.astimezone(cfg.newsletter.tz)
            table.add_row(
                pick.role,
                inert(pick.article.title),
                inert(pick.article.section or "—"),
                f"{local:%a} {local.day} {local:%b %H:%M}",
                inert(pick.reason),
            )
        _wide().print(table)
    left = [
        (a, r)
        for a, r in issue.left_out
        if not r.startswith(("outside the window", "dated in the future"))
    ]
    if left:
        console.print(f"left out ({len(left)}):", markup=False, soft_wrap=True)
        for art, reason in left:
            console.print(Text.assemble("  ", inert(art.title), inert(f"  ({reason})", "dim")))
    _print_warnings(built.warnings)
    for path in written:
        console.print(f"wrote {path}", markup=False, soft_wrap=True)


@click.command("preview")
@config_option
@coming_as_of_option
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("preview"),
    show_default=True,
    help="Folder for issue.html and issue.txt.",
)
@click.option("--open", "open_browser", is_flag=True, help="Open issue.html in a web browser.")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON object of the issue only.")
@click.option("--to", "to", metavar="EMAIL,...", help="Send a [TEST] copy to these addresses.")
@handle_errors
def preview_cmd(
    config_path: Path | None,
    as_of: str | None,
    out_dir: Path,
    open_browser: bool,
    as_json: bool,
    to: str | None,
) -> None:
    """Build the coming issue exactly as a send would, and explain the picks.

    Writes OUT/issue.html and OUT/issue.txt, then prints the lead and the
    latest stories with the reason for each, the editor's note, what was
    left out, warnings and skipped sources. A skipped issue (too few new
    articles) is reported with its reason and exits 0. Nothing is recorded.

    \b
    Example:
        digest preview --config examples/digest.toml --out preview --open
        digest preview --as-of 2026-11-20T09:00 --json
        digest preview --to editor@statecraft.example
    """
    cfg = load(config_path, needs_feeds=True)
    recipients = _recipients(to)
    clock = clock_from_env()
    with opened_store(cfg) as store:
        target = resolve_target(cfg, store, as_of, clock)
        built = build_issue(cfg, store=store, as_of=target.as_of, clock=clock)
        notes = [n for n in (heading(target, cfg, clock()), frozen_note(target, cfg, store)) if n]
    out = err_console if as_json else console  # with --json, stdout carries the JSON only
    for line in notes:
        out.print(line, markup=False, soft_wrap=True)
    written = _write_files(built, out_dir, quiet=as_json)
    if as_json:
        data = preview_json(built)
        data["sends_at"] = target.sends_at.isoformat() if target.sends_at else None
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        for path in written:
            err_console.print(f"wrote {path}", markup=False, soft_wrap=True)
    else:
        _print_preview(built, cfg, written)
    if open_browser and written:
        uri = written[0].resolve().as_uri()
        if not webbrowser.open(uri):
            err_console.print(
                f"could not start a web browser; open {uri}", markup=False, soft_wrap=True
            )
    if recipients:
        _send_test(cfg, built, recipients, quiet=as_json)


def _write_files(built: BuiltIssue, out_dir: Path, *, quiet: bool) -> list[Path]:
    """OUT/issue.html and OUT/issue.txt; a skipped issue writes none, and says so."""
    written: list[Path] = []
    if built.rendered is None:
        stale = [p for p in (out_dir / "issue.html", out_dir / "issue.txt") if p.exists()]
        note = "no preview files written: the issue is skipped"
        if stale:
            note += f" ({', '.join(map(str, stale))} are from an earlier preview)"
        (err_console if quiet else console).print(note, markup=False, soft_wrap=True)
        return written
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for name, body in (("issue.html", built.rendered.html), ("issue.txt", built.rendered.text)):
            path = out_dir / name
            path.write_bytes(body.encode("utf-8"))
            written.append(path)
    except OSError as exc:
        raise DigestError(f"cannot write the preview into {out_dir}: {exc.strerror}") from None
    return written


def _send_test(cfg: Config, built: BuiltIssue, recipients: list[str], *, quiet: bool) -> None:
    out = err_console if quiet else console
    if built.rendered is None:
        out.print("no test copy sent: the issue is skipped", markup=False, soft_wrap=True)
        return
    try:
        from digest.send import send_test_copy
    except ImportError:
        raise DigestError("test sends are not available yet") from None
    count = send_test_copy(cfg, built.rendered, recipients)
    out.print(
        f"sent a [TEST] copy to {count} address(es): {', '.join(recipients)}",
        markup=False,
        soft_wrap=True,
    )


def register(cli: click.Group) -> None:
    """Add this module's commands to the ``digest`` group."""
    for command in (collect_cmd, preview_cmd):
        cli.add_command(command)
