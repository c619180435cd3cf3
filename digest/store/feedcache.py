"""Conditional GET state per feed URL, kept in the store's ``feed_cache`` table.

An unchanged feed then costs a 304, and its last body is parsed again from here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from digest.store.database import Store
from digest.store.tables import FeedCacheEntry


@dataclass(frozen=True)
class CachedFeed:
    url: str
    etag: str | None
    last_modified: str | None
    body: bytes | None
    fetched_at: datetime

    def validators(self) -> dict[str, str]:
        """The request headers of a conditional GET (none if there is no body to fall back on)."""
        if not self.body:
            return {}
        headers = {}
        if self.etag:
            headers["If-None-Match"] = self.etag
        if self.last_modified:
            headers["If-Modified-Since"] = self.last_modified
        return headers


def load(store: Store, urls: Iterable[str]) -> dict[str, CachedFeed]:
    wanted = sorted(set(urls))
    if not wanted:
        return {}
    with store.session() as s:
        rows = s.scalars(select(FeedCacheEntry).where(FeedCacheEntry.url.in_(wanted))).all()
        return {
            r.url: CachedFeed(r.url, r.etag, r.last_modified, r.body, r.fetched_at) for r in rows
        }


def save(store: Store, entries: Iterable[CachedFeed]) -> None:
    with store.session() as s:
        for e in entries:
            row = s.get(FeedCacheEntry, e.url)
            if row is None:
                row = FeedCacheEntry(url=e.url)
                s.add(row)
            row.etag = e.etag[:500] if e.etag else None
            row.last_modified = e.last_modified[:100] if e.last_modified else None
            row.body = e.body
            row.fetched_at = e.fetched_at
