"""The editor's controls: `digest pin`, `drop`, `note`.

Each works on the coming issue (the one the scheduler sends next; see
``digest.cli.target``) unless ``--as-of T`` names another, prints which issue and when it
sends, and refuses to change an issue that was already sent. ``pin`` also checks the URL
against the articles collected for the issue: a typo is refused, not kept until a preview
warns about it.
"""

from __future__ import annotations

from pathlib import Path

import click

from digest import editor
from digest.cli.common import (
    clock_from_env,
    coming_as_of_option,
    config_option,
    console,
    handle_errors,
    inert,
    load,
    opened_store,
)
from digest.cli.target import Target, heading, moment_text, refuse_frozen, resolve_target
from digest.clock import Clock, window_for
from digest.config import Config
from digest.errors import DigestError
from digest.store.database import Store
from digest.wording import plural


def _say(text: str) -> None:
    console.print(inert(text), soft_wrap=True)


def _open(cfg: Config, store: Store, as_of: str | None, clock: Clock, *, changes: bool) -> Target:
    """The issue to work on, announced when it is the coming one; a change to an issue
    already sent is refused before anything is read or written."""
    target = resolve_target(cfg, store, as_of, clock)
    line = heading(target, cfg, clock())
    if line:
        _say(line)
    if changes:
        refuse_frozen(target, cfg, store, clock)
    return target


def _check_known(cfg: Config, store: Store, target: Target, url: str, clock: Clock) -> None:
    """Refuse a URL that is not among the articles of the issue's window (exit 1)."""
    from digest.collect import collect

    canon = editor.check_article_url(url)
    collection = collect(cfg, store=store, clock=clock)
    tz = cfg.newsletter.tz
    window = window_for(target.as_of, cfg.selection.window_days, tz)
    span = f"{moment_text(window.start, tz)} to {moment_text(window.end, tz)}"
    found = next((a for a in collection.articles if a.url == canon), None)
    if found is not None and found.published in window:
        return
    if found is not None:
        raise DigestError(
            f"{canon} is in the feeds but outside the window of issue {target.key} (published "
            f"{moment_text(found.published, tz)}; the window is {span}), so it cannot lead it; "
            "pin it anyway with --force"
        )
    in_window = sum(1 for a in collection.articles if a.published in window)
    unread = ""
    if collection.problems:
        names = ", ".join(repr(p.source) for p in collection.problems)
        unread = f"; {plural(len(collection.problems), 'source')} could not be read ({names})"
    raise DigestError(
        f"{canon} is not among the {plural(in_window, 'article')} collected for issue "
        f"{target.key} ({span}){unread}: check the URL, or pin it anyway with --force"
    )


@click.command("pin")
@click.argument("url", required=False)
@config_option
@coming_as_of_option
@click.option("--clear", is_flag=True, help="Remove the pin.")
@click.option(
    "--force",
    is_flag=True,
    help="Pin URL even when it is not among the issue's collected articles.",
)
@handle_errors
def pin_cmd(
    url: str | None, config_path: Path | None, as_of: str | None, clear: bool, force: bool
) -> None:
    """Make URL the lead of the coming issue (or --as-of T's issue).

    The coming issue is the one the scheduler sends next; its key and send time are
    printed. URL must be one of the articles collected for the issue's window (the
    feeds are fetched to check), unless --force. Without URL, shows the current pin.
    An issue already sent cannot be changed (exit 1).

    \b
    Example:
        digest pin https://statecraft.example/europe/2026/11/19/eu-china-ev-truce
        digest pin --clear
    """
    cfg = load(config_path, needs_feeds=bool(url) and not (clear or force))
    clock = clock_from_env()
    if url and not clear:
        editor.check_article_url(url)  # a malformed URL is a usage error before any fetch
    with opened_store(cfg) as store:
        target = _open(cfg, store, as_of, clock, changes=clear or bool(url))
        key = target.key
        if clear:
            old = editor.clear_pin(store, key)
            msg = f"{key}: pin removed (was {old})" if old else f"{key}: there was no pin"
        elif url:
            if not force:
                _check_known(cfg, store, target, url, clock)
            old = editor.set_pin(store, key, url, clock=clock)
            new = editor.canonical_url(url)
            msg = f"{key}: pinned {new} as the lead" + (
                f" (replacing {old})" if old and old != new else ""
            )
        else:
            pin = editor.get_controls(store, key).pin
            msg = (
                f"{key}: pinned {pin}" if pin else f"{key}: no pin; the lead is chosen by the rules"
            )
    _say(msg)


@click.command("drop")
@click.argument("url", required=False)
@config_option
@coming_as_of_option
@click.option("--clear", is_flag=True, help="Put URL back (without URL: every drop).")
@handle_errors
def drop_cmd(url: str | None, config_path: Path | None, as_of: str | None, clear: bool) -> None:
    """Leave URL out of the coming issue (or --as-of T's issue).

    The coming issue is the one the scheduler sends next. Without URL, lists the
    drops. `--clear URL` puts one article back; `--clear` alone puts back every
    dropped article. An issue already sent cannot be changed (exit 1).

    \b
    Example:
        digest drop https://statecraft.example/opinion/2026/11/18/a-column
        digest drop --clear
    """
    cfg = load(config_path)
    clock = clock_from_env()
    with opened_store(cfg) as store:
        key = _open(cfg, store, as_of, clock, changes=clear or bool(url)).key
        if clear:
            restored = editor.clear_drop(store, key, url)
            if restored:
                msg = f"{key}: put back {', '.join(restored)}"
            else:
                msg = f"{key}: {'that article was not dropped' if url else 'there were no drops'}"
        elif url:
            added = editor.add_drop(store, key, url, clock=clock)
            canon = editor.canonical_url(url)
            msg = f"{key}: dropped {canon}" if added else f"{key}: {canon} was already dropped"
        else:
            drops = sorted(editor.get_controls(store, key).drops)
            msg = f"{key}: dropped " + ", ".join(drops) if drops else f"{key}: no drops"
    _say(msg)


@click.command("note")
@click.argument("text", required=False)
@config_option
@coming_as_of_option
@click.option("--clear", is_flag=True, help="Remove the note.")
@handle_errors
def note_cmd(text: str | None, config_path: Path | None, as_of: str | None, clear: bool) -> None:
    """Add a short editor's note under the masthead of the coming issue.

    The coming issue is the one the scheduler sends next (or --as-of T's issue).
    Without TEXT, shows the current note. Setting a note replaces the old one. An
    issue already sent cannot be changed (exit 1).

    \b
    Example:
        digest note "No issue next week: we're off for Thanksgiving."
        digest note --clear
    """
    cfg = load(config_path)
    clock = clock_from_env()
    with opened_store(cfg) as store:
        key = _open(cfg, store, as_of, clock, changes=clear or text is not None).key
        if clear:
            old = editor.clear_note(store, key)
            msg = f"{key}: note removed (was {old!r})" if old else f"{key}: there was no note"
        elif text is not None:
            old = editor.set_note(store, key, text, clock=clock)
            new = editor.get_controls(store, key).note
            msg = f"{key}: note set to {new!r}" + (f" (replacing {old!r})" if old else "")
        else:
            note = editor.get_controls(store, key).note
            msg = f"{key}: note {note!r}" if note else f"{key}: no note"
    _say(msg)


def register(cli: click.Group) -> None:
    """Add this module's commands to the ``digest`` group."""
    for command in (pin_cmd, drop_cmd, note_cmd):
        cli.add_command(command)
