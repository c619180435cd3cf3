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
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

import httpx
from sqlalchemy.exc import SQLAlchemyError

from digest import USER_AGENT
from digest.clock import Clock, system_clock
from digest.config import Config, SourceConfig
from digest.errors import CollectError
from digest.feeds import FeedProblem, ParsedFeed, parse_feed
from digest.feedtext import canonical_url
from digest.models import Article, Collection, SourceProblem
from digest.store.database import Store
from digest.store.feedcache import CachedFeed
from digest.store.feedcache import load as load_cache
from digest.store.feedcache import save as save_cache

__all__ = ["canonical_url", "collect", "make_client", "merge_duplicates"]

FETCH_TIMEOUT = 10.0  # seconds, for connect, read and write (when digest makes the client)
MAX_FEED_BYTES = 20 * 1024 * 1024
MAX_WORKERS = 32
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)


@dataclass
class _Fetched:
    """One source's bytes, or why there are none."""

    body: bytes | None = None
    final_url: str | None = None
    content_type: str | None = None
    problem: str | None = None
    to_cache: CachedFeed | None = None  # what to remember once the body proved to be a feed
    feed: ParsedFeed | None = None
    notes: tuple[str, ...] = ()


def is_remote(url: str) -> bool:
    return url.lower().startswith(("http://", "https://"))


def make_client(timeout: float = FETCH_TIMEOUT) -> httpx.Client:
    """The client collect uses when none is given."""
    return httpx.Client(
        timeout=httpx.Timeout(timeout),
        follow_redirects=True,
        headers={"User-Agent": USER_AGENT},
        limits=httpx.Limits(max_connections=MAX_WORKERS, max_keepalive_connections=MAX_WORKERS),
    )


def collect(
    config: Config,
    *,
    store: Store | None = None,
    client: httpx.Client | None = None,
    clock: Clock = system_clock,
) -> Collection:
    """Fetch and read every source of ``config``; see the module docstring."""
    sources = list(config.sources)
    remote = [s.url for s in sources if is_remote(s.url)]
    warnings: list[str] = []
    cache: dict[str, CachedFeed] = {}
    if store is not None and remote:
        try:
            cache = load_cache(store, remote)
        except SQLAlchemyError as exc:
            warnings.append(f"feed cache unavailable, fetching everything in full: {_short(exc)}")

    own_client = client is None
    http = client if client is not None else make_client()
    not_sections = tuple(config.selection.lead_categories)
    try:
        results = _fetch_and_parse_all(
            sources, http, cache, clock, not_sections, config.newsletter.tz,
            fallback_age=timedelta(days=config.selection.window_days),
            budget=config.selection.parse_budget_seconds,
        )
    finally:
        if own_client:
            http.close()

    problems: list[SourceProblem] = []
    articles: list[Article] = []
    to_cache: list[CachedFeed] = []
    ok = 0
    for src, got in zip(sources, results):
        warnings.extend(f"{src.name}: {_masked(note)}" for note in got.notes)
        if got.feed is None:
            problems.append(SourceProblem(src.name, _masked(got.problem or "no content")))
            continue
        ok += 1
        articles.extend(got.feed.articles)
        warnings.extend(got.feed.warnings)
        if got.to_cache is not None:
            to_cache.append(got.to_cache)

    if store is not None and to_cache:
        try:
            save_cache(store, to_cache)
        except SQLAlchemyError as exc:
            warnings.append(f"feed cache not updated: {_short(exc)}")

    if ok == 0:
        lines = "\n".join(f"  - {p.source}: {p.reason}" for p in problems)
        raise CollectError(
            f"every source failed, so there is nothing to build an issue from:\n{lines}"
        )
    return Collection(
        articles=merge_duplicates(articles), problems=problems, warnings=warnings, sources_ok=ok
    )


# --- fetching ---------------------------------------------------------------------


def _fetch_and_parse_all(
    sources: list[SourceConfig],
    http: httpx.Client,
    cache: dict[str, CachedFeed],
    clock: Clock,
    not_sections: tuple[str, ...],
    local_tz: tzinfo = UTC,
    fallback_age: timedelta = timedelta(days=7),
    budget: float | None = None,
) -> list[_Fetched]:
    """Each source fetched and parsed in a worker thread (parsing overlaps the waiting).

    A remote source that fails (no answer, an error status, a body that is not a
    feed) is read from its last good copy in the feed cache when that copy is
    younger than ``fallback_age`` (the selection window: an older copy holds none
    of the window's stories), with a warning naming the failure and the copy's age."""
    parse_lock = threading.Lock()

    def parse(src: SourceConfig, got: _Fetched) -> None:
        """Sets ``got.feed``, or ``got.problem`` saying why the body is not a feed."""
        assert got.body is not None
        try:
            with parse_lock:  # one parse at a time: CPU-bound, and the GIL thrashes otherwise
                got.feed = parse_feed(
                    got.body,
                    source=src.name,
                    url=got.final_url or src.url,
                    default_section=src.section,
                    content_type=got.content_type,
                    not_sections=not_sections,
                    local_tz=local_tz,
                    budget=budget,  # counted from here: waiting for the lock is not parsing
                )
        except FeedProblem as exc:
            got.problem = f"{exc} ({_where(src.url)})"
        except Exception as exc:  # noqa: BLE001 -- a parser crash on hostile bytes sinks one source only
            got.problem = f"cannot be read: {_short(exc)} ({_where(src.url)})"

    def one(src: SourceConfig) -> _Fetched:
        try:
            if is_remote(src.url):
                got = _fetch_http(src.url, http, cache.get(src.url), clock)
            else:
                got = _read_local(src.url)
        except Exception as exc:  # noqa: BLE001 -- anything unforeseen is this source's problem only
            got = _Fetched(problem=f"cannot be fetched: {_short(exc)} ({_where(src.url)})")
        if got.problem is None and got.body is not None:
            parse(src, got)
        if got.feed is None and is_remote(src.url):
            copy = _last_good_copy(cache.get(src.url), got, clock(), fallback_age, local_tz)
            if copy is not None:
                parse(src, copy)
                if copy.feed is not None:
                    return copy
        return got

    if len(sources) <= 1:
        return [one(s) for s in sources]
    with ThreadPoolExecutor(max_workers=min(MAX_WORKERS, len(sources))) as pool:
        return list(pool.map(one, sources))


def _last_good_copy(
    cached: CachedFeed | None, failed: _Fetched, now: datetime, max_age: timedelta, tz: tzinfo
) -> _Fetched | None:
    """The cached body to read instead of a failed fetch, with a note saying so; None when
    there is no copy, or it is older than ``max_age``. The copy is not saved again, so it
    keeps its own date."""
    if cached is None or not cached.body or now - cached.fetched_at > max_age:
        return None
    if failed.body is cached.body:  # a 304: that copy is what just failed to read
        return None
    when = cached.fetched_at.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z").strip()
    note = (f"{failed.problem or 'no content'}; read its last good copy instead, fetched "
            f"{when}: stories published since then are missing")
    return _Fetched(body=cached.body, final_url=cached.url, notes=(*failed.notes, note))


def _timeout_seconds(http: httpx.Client) -> float | None:
    t = http.timeout
    values = [v for v in (t.read, t.connect, t.write, t.pool) if v is not None]
    return max(values) if values else None


def _fetch_http(url: str, http: httpx.Client, cached: CachedFeed | None, clock: Clock) -> _Fetched:
    headers = {"Accept": ACCEPT}
    if http.headers.get("User-Agent", "").startswith("python-httpx"):
        headers["User-Agent"] = USER_AGENT
    if cached is not None:
        headers.update(cached.validators())
    limit = _timeout_seconds(http)
    deadline = time.monotonic() + (limit * 3 if limit else 120.0)
    try:
        with http.stream("GET", url, headers=headers, follow_redirects=True) as resp:
            notes = _redirect_notes(resp)
            if resp.status_code == 304 and cached is not None and cached.body:
                fresh = replace(cached, fetched_at=clock())
                return _Fetched(
                    body=cached.body,
                    final_url=str(resp.url),
                    problem=None,
                    to_cache=fresh,
                    notes=notes,
                )
            if resp.status_code >= 300:
                reason = f"HTTP {resp.status_code} {resp.reason_phrase}".rstrip()
                return _Fetched(problem=f"{reason} ({url})", notes=notes)
            chunks: list[bytes] = []
            size = 0
            for chunk in resp.iter_bytes():
                size += len(chunk)
                if size > MAX_FEED_BYTES:
                    return _Fetched(
                        problem=f"larger than {MAX_FEED_BYTES // (1024 * 1024)} MB, not read ({url})"
                    )
                if time.monotonic() > deadline:
                    raise httpx.ReadTimeout("the whole response took too long")
                chunks.append(chunk)
            body = b"".join(chunks)
            ctype = resp.headers.get("Content-Type")
            return _Fetched(
                body=body,
                final_url=str(resp.url),
                content_type=ctype,
                to_cache=CachedFeed(
                    url=url,
                    etag=resp.headers.get("ETag"),
                    last_modified=resp.headers.get("Last-Modified"),
                    body=body,
                    fetched_at=clock(),
                )
                if len(url) <= 2000
                else None,
                notes=notes,
            )
    except httpx.TimeoutException as exc:
        after = f" after {limit:g} s" if limit else ""
        return _Fetched(problem=f"timed out{after} ({_tried(url, exc)})")
    except httpx.TooManyRedirects:
        return _Fetched(problem=f"too many redirects ({url})")
    except httpx.ConnectError as exc:
        return _Fetched(problem=f"cannot connect: {_short(exc)} ({_tried(url, exc)})")
    except httpx.HTTPError as exc:
        return _Fetched(
            problem=f"fetch failed: {_short(exc) or type(exc).__name__} ({_tried(url, exc)})"
        )


def _tried(url: str, exc: httpx.HTTPError) -> str:
    """The source's URL, and where a redirect led when that is what failed."""
    try:
        failed = str(exc.request.url)
    except RuntimeError:  # no request attached
        return url
    return url if failed == url else f"{url}, redirected to {failed}"


def _redirect_notes(resp: httpx.Response) -> tuple[str, ...]:
    permanent = [r for r in resp.history if r.status_code in (301, 308)]
    if permanent and permanent[0].request.url != resp.url and resp.status_code < 300:
        first = permanent[0]
        note = (
            f"{first.request.url} moved permanently to {resp.url} "
            f"(HTTP {first.status_code}); update the source's url in the config"
        )
        return (note,)
    return ()


def _read_local(url: str) -> _Fetched:
    path = _local_path(url)
    try:
        size = path.stat().st_size
        if size > MAX_FEED_BYTES:
            return _Fetched(
                problem=f"larger than {MAX_FEED_BYTES // (1024 * 1024)} MB, not read ({path})"
            )
        body = path.read_bytes()
    except FileNotFoundError:
        return _Fetched(problem=f"file not found: {path}")
    except IsADirectoryError:
        return _Fetched(problem=f"is a folder, not a feed file: {path}")
    except OSError as exc:
        return _Fetched(problem=f"cannot read {path}: {exc.strerror or exc}")
    return _Fetched(body=body, final_url=path.as_uri() if path.is_absolute() else None)


def _local_path(url: str) -> Path:
    if url.lower().startswith("file:"):
        parts = urlsplit(url)
        path = url2pathname(unquote(parts.path)) if parts.path else ""
        return Path(path)
    return Path(url).expanduser()


def _where(url: str) -> str:
    return str(_local_path(url)) if not is_remote(url) else url


_PASSWORD_IN_URL = re.compile(r"(://[^/\s:@]+):[^/\s@]+@")


def _masked(text: str) -> str:
    """``text`` with the password of any ``https://user:password@host`` hidden."""
    return _PASSWORD_IN_URL.sub(r"\1:***@", text)


def _short(exc: BaseException, limit: int = 200) -> str:
    text = " ".join(str(exc).split())
    return text[:limit] + ("…" if len(text) > limit else "")


# --- duplicates ---------------------------------------------------------------------


def _richness(a: Article) -> tuple[int, int, int, int, int]:
    return (
        1 if a.image else 0,
        a.word_count,
        len(a.excerpt) + len(a.dek),
        len(a.categories),
        len(a.authors),
    )


def _guid_key(a: Article) -> str:
    # a guid like "123" is only unique within its own feed; URLs, tag: and urn: ids are global
    g = a.guid.strip()
    if "://" in g or g.lower().startswith(("tag:", "urn:")):
        return g
    return f"{a.source}\x00{g}"


def _merge(keep: Article, other: Article) -> Article:
    """The richer article, with gaps filled from the other copy."""
    if _richness(other) > _richness(keep):
        keep, other = other, keep
    changes: dict[str, object] = {}
    if keep.image is None and other.image is not None:
        changes["image"] = other.image
    if not keep.section and other.section:
        changes["section"] = other.section
    if not keep.categories and other.categories:
        changes["categories"] = other.categories
    if not keep.authors and other.authors:
        changes["authors"] = other.authors
    if not keep.dek and other.dek:
        changes["dek"] = other.dek
    return replace(keep, **changes) if changes else keep  # type: ignore[arg-type]


def merge_duplicates(articles: Iterable[Article]) -> list[Article]:
    """One Article per story (same canonical URL or same guid), newest first.

    The richer copy is kept (an image, more words, longer text); on a tie the
    one from the earlier source (and earlier in its feed) wins, so the result
    depends only on the config and the feeds.
    """
    groups: list[Article | None] = []
    by_key: dict[str, int] = {}
    for art in articles:
        keys = (f"url:{art.url}", f"guid:{_guid_key(art)}")
        hits = sorted({by_key[k] for k in keys if k in by_key})
        if not hits:
            groups.append(art)
            idx = len(groups) - 1
        else:
            idx = hits[0]
            merged = groups[idx]
            assert merged is not None
            merged = _merge(merged, art)
            for other in hits[1:]:  # this article joins two earlier groups: fold them
                extra = groups[other]
                if extra is not None:
                    merged = _merge(merged, extra)
                    groups[other] = None
                    for k, v in list(by_key.items()):
                        if v == other:
                            by_key[k] = idx
            groups[idx] = merged
        for k in keys:
            by_key[k] = idx
        final = groups[idx]
        assert final is not None
        by_key[f"url:{final.url}"] = idx
        by_key[f"guid:{_guid_key(final)}"] = idx
    result = [a for a in groups if a is not None]
    result.sort(key=lambda a: (-a.published.timestamp(), a.url))
    return result
