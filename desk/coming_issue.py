"""Which issue the desk works on, in what state, and the issue built for it.

The issue is the one the scheduler sends next (``digest.coming.coming_issue``; the
config's fixed ``selection.as_of`` when it has one, as ``digest preview`` does), built by
``digest.pipeline.build_issue``, the function ``digest preview`` and ``digest send``
call.

Building collects every feed (slow), so a built issue is kept for ``CACHE_SECONDS`` per
(issue key, as-of, the editor's controls as stored): a change makes a new key, so the
page never shows the picks from before it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime

from babel.dates import format_skeleton, format_time
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from desk.context import Desk
from digest import editor
from digest.clock import Clock, issue_key
from digest.coming import coming_issue, frozen_status
from digest.config import Config
from digest.i18n import format_issue_date, gettext_for, parse_locale
from digest.pipeline import BuiltIssue, build_issue
from digest.store.database import Store
from digest.store.records import get_issue

CACHE_SECONDS = 120.0


@dataclass(frozen=True)
class Target:
    """The issue the desk works on."""

    key: str
    as_of: datetime
    sends_at: datetime | None  # None when the config fixes ``selection.as_of``


def coming_target(config: Config, store: Store, now: datetime) -> Target:
    """As ``digest preview`` without ``--as-of``: the fixed as-of, else the coming issue."""
    fixed = config.fixed_as_of()
    if fixed is not None:
        return Target(issue_key(fixed, config.newsletter.tz), fixed, None)
    coming = coming_issue(config, store, now)
    return Target(coming.key, coming.as_of, coming.sends_at)


class PreviewCache:
    """Built issues, a short while, per (key, as-of, controls); one build at a time."""

    def __init__(self, seconds: float = CACHE_SECONDS):
        self.seconds = seconds
        self._entries: dict[tuple[object, ...], tuple[float, BuiltIssue]] = {}
        self._lock = threading.Lock()

    def get(self, config: Config, store: Store, clock: Clock, target: Target) -> BuiltIssue:
        controls = editor.get_controls(store, target.key)
        key = (target.key, target.as_of, controls)
        with self._lock:  # one build at a time: a second page waits for the first's
            hit = self._entries.get(key)
            if hit is not None and time.monotonic() - hit[0] < self.seconds:
                return hit[1]
            built = build_issue(config, store=store, as_of=target.as_of, clock=clock)
            now = time.monotonic()
            self._entries = {k: v for k, v in self._entries.items() if now - v[0] < self.seconds}
            self._entries[(target.key, target.as_of, built.controls)] = (now, built)
            return built

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def preview_cache(request: Request) -> PreviewCache:
    state = request.app.state
    cache = getattr(state, "desk_previews", None)
    if cache is None:
        cache = state.desk_previews = PreviewCache()
    assert isinstance(cache, PreviewCache)
    return cache


async def built_issue(request: Request, desk: Desk, target: Target) -> BuiltIssue:
    """The issue built for ``target``, from the app's cache (a build waits on the network:
    Starlette's pool, not the database's)."""
    return await run_in_threadpool(
        preview_cache(request).get, desk.config, desk.store, desk.clock, target
    )


def moment_text(moment: datetime, config: Config, skeleton: str | None = None) -> str:
    """A moment in the newsletter's zone and locale (Babel's CLDR data, never
    ``strftime``): the full date ("Friday, November 20, 2026", "vendredi 20 novembre
    2026"), or the date as ``skeleton`` has it (``"MMMEd"``: "Fri, Nov 20"), then the time
    and the zone ("9:00 AM EST", "09:00 EST")."""
    local = moment.astimezone(config.newsletter.tz)
    locale = config.newsletter.locale
    day = (
        format_issue_date(local, locale)
        if skeleton is None
        else format_skeleton(skeleton, local, locale=parse_locale(locale))
    )
    time = format_time(local, "short", locale=parse_locale(locale))
    _ = gettext_for(config)
    zone = local.tzname() or ""
    return _("%(date)s, %(time)s", date=day, time=" ".join(part for part in (time, zone) if part))


def frozen_text(store: Store, key: str, status: str, config: Config) -> str:
    rec = get_issue(store, key)
    when = (rec.finished_at or rec.started_at) if rec is not None else None
    _ = gettext_for(config)
    if when is None:
        texts = {
            "sent": _("Issue %(key)s was sent.", key=key),
            "sending": _("Issue %(key)s is being sent.", key=key),
            "failed": _(
                "Issue %(key)s failed mid-send; it resumes from its stored rendering.", key=key
            ),
        }
    else:
        at = moment_text(when, config)
        texts = {
            "sent": _("Issue %(key)s was sent on %(when)s.", key=key, when=at),
            "sending": _("Issue %(key)s is being sent on %(when)s.", key=key, when=at),
            "failed": _(
                "Issue %(key)s failed mid-send on %(when)s; it resumes from its stored rendering.",
                key=key,
                when=at,
            ),
        }
    return texts.get(status, _("Issue %(key)s is %(status)s.", key=key, status=status))


def situation(desk: Desk) -> tuple[Target, str | None]:
    target = coming_target(desk.config, desk.store, desk.clock())
    status = frozen_status(desk.store, target.key)
    frozen = frozen_text(desk.store, target.key, status, desk.config) if status else None
    return target, frozen


__all__ = [
    "PreviewCache",
    "Target",
    "built_issue",
    "coming_target",
    "frozen_text",
    "moment_text",
    "preview_cache",
    "situation",
]
