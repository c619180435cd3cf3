"""The collect stage: every source of the config, fetched and read into Articles.

http(s) sources are fetched concurrently over one shared ``httpx.Client``
(a thread pool), with a User-Agent naming digest, redirects followed, and a
conditional GET when the store remembers the feed's ETag/Last-Modified; local
paths and file:// URLs are read from disk. A remote source that fails is read
from its last good copy in the store when that copy is younger than the
selection window (with a warning saying so); otherwise it is a
``SourceProblem`` and the rest are still collected; only when every source
fails is ``CollectError`` raised. All entries of all sources come back,
duplicates (same canonical URL, or same guid) merged: the window is the
select stage's business.

``collect`` reads as its steps: the feed cache loaded, every source read
(``_read_sources``: each one fetched, parsed, and on failure its last good copy,
``_SourceReader``), the results tallied, the cache saved. Fetching is
``digest.collect_fetch``; merging duplicates ``digest.collect_merge``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta, tzinfo

import httpx
from sqlalchemy.exc import SQLAlchemyError

from digest.clock import Clock, system_clock
from digest.collect_fetch import (
    MAX_WORKERS,
    Fetched,
    fetch_http,
    is_remote,
    last_good_copy,
    make_client,
    read_local,
    short,
    where,
)
from digest.collect_merge import merge_duplicates
from digest.config import Config, SourceConfig
from digest.config_checks import local_feed_path
from digest.errors import CollectError, FeedProblem
from digest.feeds import parse_feed
from digest.feedtext import canonical_url
from digest.models import Article, Collection, SourceProblem
from digest.store.database import Store
from digest.store.feedcache import CachedFeed
from digest.store.feedcache import load as load_cache
from digest.store.feedcache import save as save_cache

__all__ = ["canonical_url", "collect", "make_client", "merge_duplicates"]


def collect(
    config: Config,
    *,
    store: Store | None = None,
    client: httpx.Client | None = None,
    clock: Clock = system_clock,
) -> Collection:
    """Fetch and read every source of ``config``; see the module docstring."""
    sources = list(config.sources)
    warnings: list[str] = []
    cache = _load_cache(store, sources, warnings)
    http = client if client is not None else make_client()
    try:
        reader = _SourceReader(
            http,
            cache,
            clock,
            not_sections=tuple(config.selection.lead_categories),
            local_tz=config.newsletter.tz,
            fallback_age=timedelta(days=config.selection.window_days),
            budget=config.selection.parse_budget_seconds,
        )
        results = _read_sources(sources, reader)
    finally:
        if client is None:
            http.close()
    tally = _tally(sources, results, warnings)
    _save_cache(store, tally.to_cache, warnings)
    if tally.ok == 0:
        lines = "\n".join(f"  - {p.source}: {p.reason}" for p in tally.problems)
        raise CollectError(
            f"every source failed, so there is nothing to build an issue from:\n{lines}"
        )
    return Collection(
        articles=merge_duplicates(tally.articles),
        problems=tally.problems,
        warnings=warnings,
        sources_ok=tally.ok,
    )


# --- the feed cache ----------------------------------------------------------------


def _load_cache(
    store: Store | None, sources: Sequence[SourceConfig], warnings: list[str]
) -> dict[str, CachedFeed]:
    """The remote sources' cached copies; none (and a warning) when the store fails."""
    remote = [s.url for s in sources if is_remote(s.url)]
    if store is None or not remote:
        return {}
    try:
        return load_cache(store, remote)
    except SQLAlchemyError as exc:
        warnings.append(f"feed cache unavailable, fetching everything in full: {short(exc)}")
        return {}


def _save_cache(store: Store | None, to_cache: list[CachedFeed], warnings: list[str]) -> None:
    if store is None or not to_cache:
        return
    try:
        save_cache(store, to_cache)
    except SQLAlchemyError as exc:
        warnings.append(f"feed cache not updated: {short(exc)}")


# --- reading every source ------------------------------------------------------------


def _read_sources(sources: list[SourceConfig], reader: _SourceReader) -> list[Fetched]:
    """Each source read in a worker thread (parsing overlaps the waiting), in order."""
    if len(sources) <= 1:
        return [reader.read(s) for s in sources]
    with ThreadPoolExecutor(max_workers=min(MAX_WORKERS, len(sources))) as pool:
        return list(pool.map(reader.read, sources))


@dataclass
class _SourceReader:
    """Reads one source at a time, from any thread: fetched, parsed, and when that fails
    for a remote source, its last good copy parsed instead."""

    http: httpx.Client
    cache: dict[str, CachedFeed]
    clock: Clock
    not_sections: tuple[str, ...]
    local_tz: tzinfo
    # an older copy holds none of the selection window's stories
    fallback_age: timedelta
    budget: float | None
    # one parse at a time: parsing is CPU-bound, and the GIL thrashes otherwise
    parse_lock: threading.Lock = field(default_factory=threading.Lock)

    def read(self, src: SourceConfig) -> Fetched:
        """The source's feed, or why there is none; the last good copy, with a note naming
        the failure and the copy's age, when the fetch or the parse failed."""
        got = self._fetch(src)
        if got.problem is None and got.body is not None:
            self._parse(src, got)
        if got.feed is None and is_remote(src.url):
            copy = last_good_copy(
                self.cache.get(src.url), got, self.clock(), self.fallback_age, self.local_tz
            )
            if copy is not None:
                self._parse(src, copy)
                if copy.feed is not None:
                    return copy
        return got

    def _fetch(self, src: SourceConfig) -> Fetched:
        try:
            path = local_feed_path(src.url)
            if path is None:
                return fetch_http(src.url, self.http, self.cache.get(src.url), self.clock)
            return read_local(path)
        except Exception as exc:  # noqa: BLE001 -- anything unforeseen is this source's problem only
            return Fetched(problem=f"cannot be fetched: {short(exc)} ({where(src.url)})")

    def _parse(self, src: SourceConfig, got: Fetched) -> None:
        """Sets ``got.feed``, or ``got.problem`` saying why the body is not a feed."""
        assert got.body is not None
        try:
            with self.parse_lock:
                got.feed = parse_feed(
                    got.body,
                    source=src.name,
                    url=got.final_url or src.url,
                    default_section=src.section,
                    content_type=got.content_type,
                    not_sections=self.not_sections,
                    local_tz=self.local_tz,
                    budget=self.budget,  # counted from here: waiting for the lock is not parsing
                )
        except FeedProblem as exc:
            got.problem = f"{exc} ({where(src.url)})"
        except Exception as exc:  # noqa: BLE001 -- a parser crash on hostile bytes sinks one source only
            got.problem = f"cannot be read: {short(exc)} ({where(src.url)})"


# --- the results ------------------------------------------------------------------


@dataclass
class _Tally:
    articles: list[Article] = field(default_factory=list)
    problems: list[SourceProblem] = field(default_factory=list)
    to_cache: list[CachedFeed] = field(default_factory=list)
    ok: int = 0  # sources read


def _tally(sources: list[SourceConfig], results: list[Fetched], warnings: list[str]) -> _Tally:
    """Every source's articles, or its problem, in the config's order; their warnings
    added to ``warnings``."""
    tally = _Tally()
    for src, got in zip(sources, results):
        warnings.extend(f"{src.name}: {_masked(note)}" for note in got.notes)
        if got.feed is None:
            tally.problems.append(SourceProblem(src.name, _masked(got.problem or "no content")))
            continue
        tally.ok += 1
        tally.articles.extend(got.feed.articles)
        warnings.extend(got.feed.warnings)
        if got.to_cache is not None:
            tally.to_cache.append(got.to_cache)
    return tally


_PASSWORD_IN_URL = re.compile(r"(://[^/\s:@]+):[^/\s@]+@")


def _masked(text: str) -> str:
    """``text`` with the password of any ``https://user:password@host`` hidden."""
    return _PASSWORD_IN_URL.sub(r"\1:***@", text)
