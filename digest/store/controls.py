"""The editors' controls for one issue (table ``editor_controls``: one pin, one note, any
number of drops per issue key), and the articles earlier sent issues carried.

Values arrive checked and canonical (``digest.editor`` does that); this module only keeps
them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select

from digest.store.database import Store
from digest.store.tables import EditorControl, IssueArticle, IssueRecord


@dataclass(frozen=True)
class EditorControls:
    """What the editors set for one issue."""

    pin: str | None = None
    drops: frozenset[str] = frozenset()
    note: str | None = None

    @property
    def empty(self) -> bool:
        return self.pin is None and not self.drops and self.note is None


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


def replace_single(
    store: Store, key: str, kind: str, value: str | None, now: datetime
) -> str | None:
    """Set (or with None clear) the one pin or note of an issue; returns the previous value."""
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
            s.add(EditorControl(issue_key=key, kind=kind, value=value, created_at=now))
    return old


def add_drop(store: Store, key: str, url: str, now: datetime) -> bool:
    """Leave ``url`` out of issue ``key``; False if it was already dropped."""
    with store.session() as s:
        exists = s.scalars(
            select(EditorControl.id).where(
                EditorControl.issue_key == key,
                EditorControl.kind == "drop",
                EditorControl.value == url,
            )
        ).first()
        if exists is not None:
            return False
        s.add(EditorControl(issue_key=key, kind="drop", value=url, created_at=now))
    return True


def clear_drops(store: Store, key: str, url: str | None = None) -> list[str]:
    """Undo one drop (or, without ``url``, every drop); returns the URLs restored."""
    where = [EditorControl.issue_key == key, EditorControl.kind == "drop"]
    if url is not None:
        where.append(EditorControl.value == url)
    with store.session() as s:
        urls = list(s.scalars(select(EditorControl.value).where(*where).order_by(EditorControl.id)))
        s.execute(delete(EditorControl).where(*where))
    return urls


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
