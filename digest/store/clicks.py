"""Clicks per link of an issue (``issue_clicks``), from the Event Webhook's click events.

``add_clicks`` adds one POST's clicks in the caller's transaction with one upsert per
chunk of links, never a read before the write:

    INSERT INTO issue_clicks (issue_key, url, clicks) VALUES (…)
    ON CONFLICT (issue_key, url) DO UPDATE SET clicks = issue_clicks.clicks + excluded.clicks

so two replicas adding clicks to the same link at once take turns on the row (PostgreSQL
locks it for the update; SQLite has one writer) and neither count is lost. The webhook
calls it only for the events it has just claimed (``webhook_events``), so a batch applied
twice adds its clicks once.

Only counts per link are kept, nothing per person. A link that names one reader (the
unsubscribe link ``…/unsubscribe/<token>``, a ``…/confirm/<token>`` link) is stored
without its token (``link_for_storage``): every reader's unsubscribe click then adds to
one row, and no row identifies anyone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from digest.store.database import Store
from digest.store.tables import IssueClick

MAX_URL_BYTES = 2000  # IssueClick.url is String(2000); bytes keep PostgreSQL's index happy
CHUNK = 300  # rows per INSERT: 3 parameters each, far below every database's limit
PERSONAL_PATHS = ("unsubscribe", "confirm")  # /<one of these>/<token>: the token goes

_TABLE = cast(Table, IssueClick.__table__)


def link_for_storage(url: str) -> str:
    """The form of a clicked ``url`` that is stored: no control characters, no per-reader
    token, at most ``MAX_URL_BYTES`` bytes of UTF-8."""
    text = "".join(c for c in url.strip() if c.isprintable())
    parts = urlsplit(text)
    segments = parts.path.split("/")
    for i, segment in enumerate(segments[:-1]):
        if segment in PERSONAL_PATHS:
            # …/unsubscribe/<token>?… → …/unsubscribe/ (nothing after it: no token, no query)
            path = "/".join(segments[: i + 1]) + "/"
            text = urlunsplit((parts.scheme, parts.netloc, path, "", ""))
            break
    raw = text.encode("utf-8")
    if len(raw) > MAX_URL_BYTES:
        text = raw[:MAX_URL_BYTES].decode("utf-8", errors="ignore")
    return text


def _upsert(dialect: str) -> Any:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(_TABLE)
    return stmt.on_conflict_do_update(
        index_elements=[_TABLE.c.issue_key, _TABLE.c.url],
        set_={"clicks": _TABLE.c.clicks + stmt.excluded.clicks},
    )


def add_clicks(session: Session, per_issue: Mapping[str, Mapping[str, int]]) -> int:
    """Add ``{issue key: {url: clicks}}`` in the caller's transaction (URLs pass through
    ``link_for_storage``); how many rows were written. Rows go in (key, url) order, so
    concurrent calls lock rows in the same order."""
    merged: dict[tuple[str, str], int] = {}
    for key, links in per_issue.items():
        for url, n in links.items():
            if n > 0 and url.strip():
                link = link_for_storage(url)
                merged[(key, link)] = merged.get((key, link), 0) + n
    if not merged:
        return 0
    stmt = _upsert(session.get_bind().dialect.name)
    rows = [{"issue_key": k, "url": u, "clicks": n} for (k, u), n in sorted(merged.items())]
    for start in range(0, len(rows), CHUNK):
        session.execute(stmt.values(rows[start : start + CHUNK]))
    return len(rows)


def clicks_of(store: Store, key: str) -> dict[str, int]:
    """``{url: clicks}`` of one issue, as stored."""
    with store.session() as s:
        rows = s.execute(
            select(IssueClick.url, IssueClick.clicks).where(IssueClick.issue_key == key)
        )
        return {str(url): int(n or 0) for url, n in rows}


__all__ = ["CHUNK", "MAX_URL_BYTES", "add_clicks", "clicks_of", "link_for_storage"]
