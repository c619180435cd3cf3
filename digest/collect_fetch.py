"""One source's bytes: fetched over HTTP, read from disk, or its last good copy.

A remote feed is fetched with a conditional GET when the feed cache remembers its
ETag/Last-Modified (a 304 reads the cached body); the body is capped at
``MAX_FEED_BYTES`` and the whole response at three times the client's timeout. Every
failure comes back as a ``Fetched`` with a ``problem`` naming it, never raised.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, tzinfo
from pathlib import Path

import httpx

from digest import USER_AGENT
from digest.clock import Clock
from digest.config_checks import local_feed_path
from digest.feeds import ParsedFeed
from digest.store.feedcache import CachedFeed

FETCH_TIMEOUT = 10.0  # seconds, for connect, read and write (when digest makes the client)
MAX_FEED_BYTES = 20 * 1024 * 1024
MAX_WORKERS = 32
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)
# the whole response of a client without a timeout
_NO_TIMEOUT_LIMIT = 120.0
# longer URLs are not remembered in the feed cache
_MAX_CACHED_URL = 2000


@dataclass
class Fetched:
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


# --- over HTTP ------------------------------------------------------------------


def fetch_http(url: str, http: httpx.Client, cached: CachedFeed | None, clock: Clock) -> Fetched:
    """``url``'s body, or the cached one when the server says it has not changed."""
    limit = _timeout_seconds(http)
    deadline = time.monotonic() + (limit * 3 if limit else _NO_TIMEOUT_LIMIT)
    headers = _request_headers(http, cached)
    try:
        with http.stream("GET", url, headers=headers, follow_redirects=True) as resp:
            return _response(resp, url, cached, clock, deadline)
    except httpx.HTTPError as exc:
        return Fetched(problem=_failure(exc, url, limit))


def _request_headers(http: httpx.Client, cached: CachedFeed | None) -> dict[str, str]:
    headers = {"Accept": ACCEPT}
    if http.headers.get("User-Agent", "").startswith("python-httpx"):
        headers["User-Agent"] = USER_AGENT  # a client given to collect still names digest
    if cached is not None:
        headers.update(cached.validators())
    return headers


def _response(
    resp: httpx.Response, url: str, cached: CachedFeed | None, clock: Clock, deadline: float
) -> Fetched:
    notes = _redirect_notes(resp)
    if resp.status_code == 304 and cached is not None and cached.body:
        fresh = replace(cached, fetched_at=clock())
        return Fetched(body=cached.body, final_url=str(resp.url), to_cache=fresh, notes=notes)
    if resp.status_code >= 300:
        reason = f"HTTP {resp.status_code} {resp.reason_phrase}".rstrip()
        return Fetched(problem=f"{reason} ({url})", notes=notes)
    body = _body(resp, deadline)
    if body is None:
        return Fetched(problem=f"{_too_large()} ({url})")
    return Fetched(
        body=body,
        final_url=str(resp.url),
        content_type=resp.headers.get("Content-Type"),
        to_cache=_to_cache(url, resp, body, clock),
        notes=notes,
    )


def _body(resp: httpx.Response, deadline: float) -> bytes | None:
    """The whole body; None past ``MAX_FEED_BYTES``; a timeout past ``deadline``."""
    chunks: list[bytes] = []
    size = 0
    for chunk in resp.iter_bytes():
        size += len(chunk)
        if size > MAX_FEED_BYTES:
            return None
        if time.monotonic() > deadline:
            raise httpx.ReadTimeout("the whole response took too long")
        chunks.append(chunk)
    return b"".join(chunks)


def _to_cache(url: str, resp: httpx.Response, body: bytes, clock: Clock) -> CachedFeed | None:
    if len(url) > _MAX_CACHED_URL:
        return None
    return CachedFeed(
        url=url,
        etag=resp.headers.get("ETag"),
        last_modified=resp.headers.get("Last-Modified"),
        body=body,
        fetched_at=clock(),
    )


def _failure(exc: httpx.HTTPError, url: str, limit: float | None) -> str:
    if isinstance(exc, httpx.TimeoutException):
        after = f" after {limit:g} s" if limit else ""
        return f"timed out{after} ({_tried(url, exc)})"
    if isinstance(exc, httpx.TooManyRedirects):
        return f"too many redirects ({url})"
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect: {short(exc)} ({_tried(url, exc)})"
    return f"fetch failed: {short(exc) or type(exc).__name__} ({_tried(url, exc)})"


def _timeout_seconds(http: httpx.Client) -> float | None:
    t = http.timeout
    values = [v for v in (t.read, t.connect, t.write, t.pool) if v is not None]
    return max(values) if values else None


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


# --- from disk ------------------------------------------------------------------


def read_local(path: Path) -> Fetched:
    """The feed file at ``path`` (a local source's: ``config_checks.local_feed_path``)."""
    try:
        size = path.stat().st_size
        if size > MAX_FEED_BYTES:
            return Fetched(problem=f"{_too_large()} ({path})")
        body = path.read_bytes()
    except FileNotFoundError:
        return Fetched(problem=f"file not found: {path}")
    except IsADirectoryError:
        return Fetched(problem=f"is a folder, not a feed file: {path}")
    except OSError as exc:
        return Fetched(problem=f"cannot read {path}: {exc.strerror or exc}")
    return Fetched(body=body, final_url=path.as_uri() if path.is_absolute() else None)


def where(url: str) -> str:
    """How a problem names the source: its URL, or its file."""
    path = local_feed_path(url)
    return url if path is None else str(path)


# --- the last good copy -----------------------------------------------------------


def last_good_copy(
    cached: CachedFeed | None, failed: Fetched, now: datetime, max_age: timedelta, tz: tzinfo
) -> Fetched | None:
    """The cached body to read instead of a failed fetch, with a note saying so; None when
    there is no copy, or it is older than ``max_age``. The copy is not saved again, so it
    keeps its own date."""
    if cached is None or not cached.body or now - cached.fetched_at > max_age:
        return None
    if failed.body is cached.body:  # a 304: that copy is what just failed to read
        return None
    when = cached.fetched_at.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z").strip()
    note = (
        f"{failed.problem or 'no content'}; read its last good copy instead, fetched "
        f"{when}: stories published since then are missing"
    )
    return Fetched(body=cached.body, final_url=cached.url, notes=(*failed.notes, note))


def _too_large() -> str:
    return f"larger than {MAX_FEED_BYTES // (1024 * 1024)} MB, not read"


def short(exc: BaseException, limit: int = 200) -> str:
    """The exception's message on one line, at most ``limit`` characters."""
    text = " ".join(str(exc).split())
    return text[:limit] + ("…" if len(text) > limit else "")
