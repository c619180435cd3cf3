"""`digest init`, `collect`, `preview`, and the editor's `pin`, `drop`, `note`."""

from __future__ import annotations

import json
import webbrowser
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from digest import editor
from digest.cli.common import (
    as_of_option,
    clock_from_env,
    config_option,
    console,
    err_console,
    handle_errors,
    load,
    opened_store,
    resolve_as_of,
)
from digest.clock import issue_key, window_for
from digest.config import DEFAULT_CONFIG, Config
from digest.errors import DigestError, UsageError
from digest.models import Article
from digest.pipeline import BuiltIssue, build_issue, preview_json


def starter_config() -> str:
    """The commented starter ``digest.toml`` that ``digest init`` writes."""
    return resources.files("digest").joinpath("starter.toml").read_text(encoding="utf-8")


def _wide() -> Console:
    """The console for tables: piped or captured output gets 160 columns, not 80,
    so a story's title and reason stay on one line for grep and for logs."""
    return console if console.is_terminal else Console(highlight=False, width=160)


def _moment(dt: datetime, cfg: Config) -> str:
    local = dt.astimezone(cfg.newsletter.tz)
    return f"{local:%a} {local.day} {local:%b %Y %H:%M %Z}"


def _print_warnings(warnings: list[str]) -> None:
    for w in warnings:
        console.print(Text.assemble(("warning: ", "yellow"), w), soft_wrap=True)


# --- init -----------------------------------------------------------------------------


@click.command("init")
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@config_option
@handle_errors
def init_cmd(directory: Path | None, config_path: Path | None) -> None:
    """Write a commented starter digest.toml into DIR (default: here).

    It never overwrites: if the file exists, nothing is written and the
    command exits 1 naming it.

    \b
    Example:
        digest init my-newsletter
        cd my-newsletter && digest preview
    """
    if directory is not None:
        target = directory / DEFAULT_CONFIG
    else:
        target = config_path or Path(DEFAULT_CONFIG)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("x", encoding="utf-8") as fh:
            fh.write(starter_config())
    except FileExistsError:
        raise DigestError(f"{target} already exists; not overwriting it") from None
    except OSError as exc:
        raise DigestError(f"cannot write {target}: {exc.strerror}") from None
    console.print(f"wrote {target}", markup=False, soft_wrap=True)
    console.print(
        "Next: fill in the lines marked CHANGE ME, then run `digest preview"
        + ("" if target == Path(DEFAULT_CONFIG) else f" --config {target}")
        + "`.",
        markup=False,
        soft_wrap=True,
    )


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
@as_of_option
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

    cfg = load(config_path)
    moment = resolve_as_of(cfg, as_of)
    tz = cfg.newsletter.tz
    window = window_for(moment, cfg.selection.window_days, tz)
    start, end = window.start.astimezone(UTC), window.end.astimezone(UTC)
    with opened_store(cfg) as store:
        collection = collect(cfg, store=store, clock=clock_from_env())
    articles = sorted(
        (a for a in collection.articles if start < a.published.astimezone(UTC) <= end),
        key=lambda a: (-a.published.timestamp(), a.url),
    )
    outside = len(collection.articles) - len(articles)
    warnings = [f"source {p.source!r} skipped: {p.reason}" for p in collection.problems]
    warnings += collection.warnings
    if as_json:
        obj = {
            "issue": issue_key(moment, tz),
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
    table = Table(
        title=f"{len(articles)} articles from {_moment(window.start, cfg)} to {_moment(window.end, cfg)}",
        title_justify="left",
    )
    for col in ("Published", "Section", "Title", "Source"):
        table.add_column(col)
    for art in articles:
        local = art.published.astimezone(tz)
        table.add_row(
            f"{local:%a} {local.day} {local:%b %H:%M}",
            Text(art.section or "—"),
            Text(f"{art.title}\n{art.url}"),
            Text(art.source),
        )
    _wide().print(table)
    if outside:
        console.print(
            f"{outside} more article(s) in the feeds fall outside the window.",
            markup=False,
            soft_wrap=True,
        )
    _print_warnings(warnings)


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
            (cfg.newsletter.name, "bold"),
            f" · issue {issue.key} · as of {_moment(issue.as_of, cfg)}",
        )
    )
    console.print(
        f"window: {_moment(issue.window_start, cfg)} → {_moment(issue.window_end, cfg)}",
        markup=False,
        soft_wrap=True,
    )
    if built.rendered is not None:
        console.print(Text.assemble(("subject: ", "bold"), built.rendered.subject))
    if issue.note:
        console.print(Text.assemble(("editor's note: ", "bold"), issue.note))
    if issue.skipped:
        console.print(Text.assemble(("skipped: ", "bold yellow"), issue.skip_reason or ""))
    else:
        table = Table(title_justify="left")
        for col in ("Role", "Title", "Section", "Published", "Reason"):
            table.add_column(col)
        for pick in issue.picks:
            local = pick.article.published.astimezone(cfg.newsletter.tz)
            table.add_row(
                pick.role,
                Text(pick.article.title),
                Text(pick.article.section or "—"),
                f"{local:%a} {local.day} {local:%b %H:%M}",
                Text(pick.reason),
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
            console.print(Text.assemble("  ", art.title, (f"  ({reason})", "dim")))
    _print_warnings(built.warnings)
    for path in written:
        console.print(f"wrote {path}", markup=False, soft_wrap=True)


@click.command("preview")
@config_option
@as_of_option
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
    cfg = load(config_path)
    recipients = _recipients(to)
    moment = resolve_as_of(cfg, as_of)
    with opened_store(cfg) as store:
        built = build_issue(cfg, store=store, as_of=moment, clock=clock_from_env())
    written: list[Path] = []
    if built.rendered is not None:
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            for name, body in (
                ("issue.html", built.rendered.html),
                ("issue.txt", built.rendered.text),
            ):
                path = out_dir / name
                path.write_bytes(body.encode("utf-8"))
                written.append(path)
        except OSError as exc:
            raise DigestError(f"cannot write the preview into {out_dir}: {exc.strerror}") from None
    if built.rendered is None:
        stale = [p for p in (out_dir / "issue.html", out_dir / "issue.txt") if p.exists()]
        note = "no preview files written: the issue is skipped"
        if stale:
            note += f" ({', '.join(map(str, stale))} are from an earlier preview)"
        (err_console if as_json else console).print(note, markup=False, soft_wrap=True)
    if as_json:
        click.echo(json.dumps(preview_json(built), ensure_ascii=False, indent=2))
        for path in written:  # stdout carries the JSON only
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


# --- the editor's controls -----------------------------------------------------------


def _key(cfg: Config, as_of: str | None) -> str:
    return issue_key(resolve_as_of(cfg, as_of), cfg.newsletter.tz)


@click.command("pin")
@click.argument("url", required=False)
@config_option
@as_of_option
@click.option("--clear", is_flag=True, help="Remove the pin.")
@handle_errors
def pin_cmd(url: str | None, config_path: Path | None, as_of: str | None, clear: bool) -> None:
    """Make URL the lead of the coming issue (or --as-of T's issue).

    Without URL, shows the current pin. If the pinned article is not in the
    issue's window, preview warns and the lead is chosen as usual.

    \b
    Example:
        digest pin https://statecraft.example/europe/2026/11/19/eu-china-ev-truce
        digest pin --clear
    """
    cfg = load(config_path)
    key = _key(cfg, as_of)
    with opened_store(cfg) as store:
        if clear:
            old = editor.clear_pin(store, key)
            msg = f"{key}: pin removed (was {old})" if old else f"{key}: there was no pin"
        elif url:
            old = editor.set_pin(store, key, url, clock=clock_from_env())
            new = editor.canonical_url(url)
            msg = f"{key}: pinned {new} as the lead" + (
                f" (replacing {old})" if old and old != new else ""
            )
        else:
            pin = editor.get_controls(store, key).pin
            msg = (
                f"{key}: pinned {pin}" if pin else f"{key}: no pin; the lead is chosen by the rules"
            )
    console.print(msg, markup=False, soft_wrap=True)


@click.command("drop")
@click.argument("url", required=False)
@config_option
@as_of_option
@click.option("--clear", is_flag=True, help="Put URL back (without URL: every drop).")
@handle_errors
def drop_cmd(url: str | None, config_path: Path | None, as_of: str | None, clear: bool) -> None:
    """Leave URL out of the coming issue (or --as-of T's issue).

    Without URL, lists the drops. `--clear URL` puts one article back;
    `--clear` alone puts back every dropped article.

    \b
    Example:
        digest drop https://statecraft.example/opinion/2026/11/18/a-column
        digest drop --clear
    """
    cfg = load(config_path)
    key = _key(cfg, as_of)
    with opened_store(cfg) as store:
        if clear:
            restored = editor.clear_drop(store, key, url)
            if restored:
                msg = f"{key}: put back {', '.join(restored)}"
            else:
                msg = f"{key}: {'that article was not dropped' if url else 'there were no drops'}"
        elif url:
            added = editor.add_drop(store, key, url, clock=clock_from_env())
            canon = editor.canonical_url(url)
            msg = f"{key}: dropped {canon}" if added else f"{key}: {canon} was already dropped"
        else:
            drops = sorted(editor.get_controls(store, key).drops)
            msg = f"{key}: dropped " + ", ".join(drops) if drops else f"{key}: no drops"
    console.print(msg, markup=False, soft_wrap=True)


@click.command("note")
@click.argument("text", required=False)
@config_option
@as_of_option
@click.option("--clear", is_flag=True, help="Remove the note.")
@handle_errors
def note_cmd(text: str | None, config_path: Path | None, as_of: str | None, clear: bool) -> None:
    """Add a short editor's note under the masthead of the coming issue.

    Without TEXT, shows the current note. Setting a note replaces the old one.

    \b
    Example:
        digest note "No issue next week: we're off for Thanksgiving."
        digest note --clear
    """
    cfg = load(config_path)
    key = _key(cfg, as_of)
    with opened_store(cfg) as store:
        if clear:
            old = editor.clear_note(store, key)
            msg = f"{key}: note removed (was {old!r})" if old else f"{key}: there was no note"
        elif text is not None:
            old = editor.set_note(store, key, text, clock=clock_from_env())
            new = editor.get_controls(store, key).note
            msg = f"{key}: note set to {new!r}" + (f" (replacing {old!r})" if old else "")
        else:
            note = editor.get_controls(store, key).note
            msg = f"{key}: note {note!r}" if note else f"{key}: no note"
    console.print(msg, markup=False, soft_wrap=True)


def register(cli: click.Group) -> None:
    """Add this module's commands to the ``digest`` group."""
    for command in (init_cmd, collect_cmd, preview_cmd, pin_cmd, drop_cmd, note_cmd):
        cli.add_command(command)
