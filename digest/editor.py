"""The editor's controls for one issue, kept in the store per issue key.

``digest pin URL`` forces the lead, ``digest drop URL`` leaves an article
out, ``digest note TEXT`` adds a short note under the masthead; ``--clear``
undoes each. They are stored before the issue exists (table
``editor_controls``: one pin, one note, any number of drops per key), and
the select stage reads them through ``get_controls``.

URLs are canonicalised exactly as collect does, so a pasted link with
``utm_*`` parameters or a ``#fragment`` still matches the article.

``sent_articles`` gives the URLs earlier *sent* issues carried, which the
select stage leaves out of later issues. What is stored: ``digest.store.controls``.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from digest.clock import Clock, system_clock
from digest.collect import canonical_url as _collect_canonical_url
from digest.errors import UsageError
from digest.safetext import one_line
from digest.store import controls
from digest.store.controls import EditorControls, get_controls, sent_articles
from digest.store.database import Store

__all__ = ["EditorControls", "get_controls", "sent_articles"]

MAX_NOTE_CHARS = 1000


def canonical_url(url: str) -> str:
    """The canonical form of an article URL (no utm_* parameters, no fragment), as collect makes it."""
    return _collect_canonical_url(url.strip())


def check_article_url(url: str) -> str:
    """A URL given on the command line: must be http(s); returned canonical."""
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise UsageError(f"{url!r} is not an article URL (expected http:// or https://…)")
    return canonical_url(url)


def set_pin(store: Store, key: str, url: str, *, clock: Clock = system_clock) -> str | None:
    """Make ``url`` the lead of issue ``key``; returns the pin it replaced, if any."""
    return controls.replace_single(store, key, "pin", check_article_url(url), clock())


def clear_pin(store: Store, key: str) -> str | None:
    """Remove the pin; returns the URL that was pinned, if any."""
    return controls.replace_single(store, key, "pin", None, system_clock())


def add_drop(store: Store, key: str, url: str, *, clock: Clock = system_clock) -> bool:
    """Leave ``url`` out of issue ``key``; False if it was already dropped."""
    return controls.add_drop(store, key, check_article_url(url), clock())


def clear_drop(store: Store, key: str, url: str | None = None) -> list[str]:
    """Undo one drop (or, without ``url``, every drop); returns the URLs restored."""
    return controls.clear_drops(store, key, canonical_url(url) if url is not None else None)


def set_note(store: Store, key: str, text: str, *, clock: Clock = system_clock) -> str | None:
    """Set the editor's note of issue ``key``; returns the note it replaced, if any."""
    note = one_line(text)  # it goes into the email's MJML: nothing XML cannot carry
    if not note:
        raise UsageError("the note is empty (use --clear to remove a note)")
    if len(note) > MAX_NOTE_CHARS:
        raise UsageError(
            f"the note is {len(note):,} characters; keep it under {MAX_NOTE_CHARS:,} "
            "(it sits under the masthead)"
        )
    return controls.replace_single(store, key, "note", note, clock())


def clear_note(store: Store, key: str) -> str | None:
    """Remove the note; returns the note that was there, if any."""
    return controls.replace_single(store, key, "note", None, system_clock())
