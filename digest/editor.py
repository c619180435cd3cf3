"""The editor's controls for one issue, kept in the store per issue key.

``digest pin URL`` forces the lead, ``digest drop URL`` leaves an article
out, ``digest note TEXT`` adds a short note under the masthead; ``--clear``
undoes each. They are stored before the issue exists (table
``editor_controls``: one pin, one note, any number of drops per key), and
the select stage reads them through ``get_controls``.

URLs are canonicalised exactly as collect does, so a pasted link with
``utm_*`` parameters or a ``#fragment`` still matches the article.

``sent_urls`` / ``sent_articles`` give the URLs earlier *sent* issues
carried, which the select stage leaves out of later issues.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import delete, select

from digest.clock import Clock, system_clock
from digest.collect import canonical_url as _collect_canonical_url
from digest.errors import UsageError
from subscribers.db import Store
from subscribers.models import EditorControl, IssueArticle, IssueRecord

MAX_NOTE_CHARS = 1000


def canonical_url(url: str) -> str:
    """The canonical form of an article URL (no utm_* parameters, no fragment), as collect makes it."""
    return _collect_canonical_url(url.strip())


@dataclass(frozen=True)
class EditorControls:
    """What the editor set for one issue."""

    pin: str | None = None
    drops: frozenset[str] = frozenset()
    note: str | None = None

    @property
    def empty(self) -> bool:
        return self.pin is None and not self.drops and self.note is None


def check_article_url(url: str) -> str:
    """A URL given on the command line: must be http(s); returned canonical."""
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise UsageError(f"{url!r} is not an article URL (expected http:// or https://…)")
    return canonical_url(url)


def get_controls(store: Store, key: str) -> EditorControls:
    with store.session() as s:
        rows = s.scalars(
            select(EditorControl).where(EditorControl.issue_key == key).order_by(EditorControl.id)
        ).all()
        pin = note = None
        drops: set[str] = set()
        for row in rows:
            if row.kind == "pin":
                pin = row.value
            elif row.kind == "note":
                note = row.value
            elif row.kind == "drop":
                drops.add(row.value)
    return EditorControls(pin=pin, drops=frozenset(drops), note=note)


def _replace_single(
    store: Store, key: str, kind: str, value: str | None, clock: Clock
) -> str | None:
    """Set (or with None clear) the one pin/note of an issue; returns the previous value."""
    with store.session() as s:
        old = s.scalars(
            select(EditorControl.value)
            .where(EditorControl.issue_key == key, EditorControl.kind == kind)
            .order_by(EditorControl.id.desc())
        ).first()
        s.execute(
            delete(EditorControl).where(EditorControl.issue_key == key, EditorControl.kind == kind)
        )
        if value is not None:
            s.add(EditorControl(issue_key=key, kind=kind, value=value, created_at=clock()))
    return old


def set_pin(store: Store, key: str, url: str, *, clock: Clock = system_clock) -> str | None:
    """Make ``url`` the lead of issue ``key``; returns the pin it replaced, if any."""
    return _replace_single(store, key, "pin", check_article_url(url), clock)


def clear_pin(store: Store, key: str) -> str | None:
    """Remove the pin; returns the URL that was pinned, if any."""
    return _replace_single(store, key, "pin", None, system_clock)


def add_drop(store: Store, key: str, url: str, *, clock: Clock = system_clock) -> bool:
    """Leave ``url`` out of issue ``key``; False if it was already dropped."""
    canon = check_article_url(url)
    with store.session() as s:
        exists = s.scalars(
            select(EditorControl.id).where(
                EditorControl.issue_key == key,
                EditorControl.kind == "drop",
                EditorControl.value == canon,
            )
        ).first()
        if exists is not None:
            return False
        s.add(EditorControl(issue_key=key, kind="drop", value=canon, created_at=clock()))
    return True


def clear_drop(store: Store, key: str, url: str | None = None) -> list[str]:
    """Undo one drop (or, without ``url``, every drop); returns the URLs restored."""
    where = [EditorControl.issue_key == key, EditorControl.kind == "drop"]
    if url is not None:
        where.append(EditorControl.value == canonical_url(url))
    with store.session() as s:
        urls = list(s.scalars(select(EditorControl.value).where(*where).order_by(EditorControl.id)))
        s.execute(delete(EditorControl).where(*where))
    return urls


def set_note(store: Store, key: str, text: str, *, clock: Clock = system_clock) -> str | None:
    """Set the editor's note of issue ``key``; returns the note it replaced, if any."""
    note = " ".join(text.split())
    if not note:
        raise UsageError("the note is empty (use --clear to remove a note)")
    if len(note) > MAX_NOTE_CHARS:
        raise UsageError(
            f"the note is {len(note):,} characters; keep it under {MAX_NOTE_CHARS:,} "
            "(it sits under the masthead)"
        )
    return _replace_single(store, key, "note", note, clock)


def clear_note(store: Store, key: str) -> str | None:
    """Remove the note; returns the note that was there, if any."""
    return _replace_single(store, key, "note", None, system_clock)


def sent_articles(store: Store, *, except_key: str | None = None) -> dict[str, str]:
    """URL → key of the latest *sent* issue that carried it (``except_key`` ignored)."""
    query = (
        select(IssueArticle.url, IssueArticle.issue_key)
        .join(IssueRecord, IssueRecord.key == IssueArticle.issue_key)
        .where(IssueRecord.status == "sent")
        .order_by(IssueArticle.issue_key)
    )
    if except_key is not None:
        query = query.where(IssueArticle.issue_key != except_key)
    with store.session() as s:
        return {url: key for url, key in s.execute(query)}


def sent_urls(store: Store, *, except_key: str | None = None) -> set[str]:
    """The URLs carried by issues with status 'sent', except issue ``except_key``."""
    return set(sent_articles(store, except_key=except_key))
