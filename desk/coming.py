"""The coming issue on the desk: ``GET /desk``, its preview, and the editor's changes.

The issue is the one the scheduler sends next (``digest.coming.coming_issue``; the
config's fixed ``selection.as_of`` when it has one, as ``digest preview`` does), built by
``digest.pipeline.build_issue``, the function ``digest preview`` and ``digest send``
call. Pin, drop, note go through ``digest.editor`` (``digest pin/drop/note``), test
copies through ``digest.testcopy`` (``digest preview --to``); each change is written to
the audit log and answered with a redirect back to ``/desk`` (post/redirect/get).

Building collects every feed (slow), so a built issue is kept for ``CACHE_SECONDS`` per
(issue key, as-of, the editor's controls as stored): a change makes a new key, so the
page never shows the picks from before it.

The rendered email is shown in two ``<iframe sandbox="">`` (no scripts, no same
origin) of ``/desk/coming/preview.html``, itself served with a sandbox CSP: whatever a
feed smuggled into the email cannot run on the desk.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from desk.audit import record, rows
from desk.context import Desk
from digest import editor
from digest.archive import subscribe_url
from digest.clock import Clock, issue_key
from digest.coming import coming_issue, frozen_status
from digest.config import Config
from digest.errors import DigestError
from digest.models import PLACEHOLDERS
from digest.pipeline import BuiltIssue, build_issue
from digest.rendering.sanitize import safe_url
from digest.store.database import Store
from digest.store.records import get_issue
from subscribers.web.database import in_database

CACHE_SECONDS = 120.0
RECENT_CHANGES = 8

PREVIEW_CSP = (
    "sandbox; default-src 'none'; img-src https: data:; style-src 'unsafe-inline'; "
    "frame-ancestors 'self'"
)
PREVIEW_HEADERS = {
    "Content-Security-Policy": PREVIEW_CSP,
    "X-Frame-Options": "SAMEORIGIN",  # the desk (same origin) frames it; nobody else
    "Cache-Control": "no-store",
}

# what ``?done=`` after a change says (a fixed vocabulary: nothing from the URL is shown)
DONE = {
    "pin": "Pinned as the lead.",
    "unpin": "The pin is cleared: the selection picks the lead again.",
    "drop": "Dropped from the issue.",
    "restore": "Restored to the issue.",
    "note": "The editor's note is saved.",
    "clear_note": "The editor's note is cleared.",
    "test_me": "A test copy is on its way to you.",
    "test_editors": "A test copy is on its way to every editor.",
}


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


def relative(moment: datetime, now: datetime) -> str:
    """``in 2 days``, ``in 5 hours``, ``in 20 minutes``, ``3 hours ago``."""
    delta = moment - now
    future = delta >= timedelta(0)
    seconds = abs(delta.total_seconds())
    if seconds < 90:
        return "in a minute" if future else "a minute ago"
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size * (1.5 if unit != "minute" else 1):
            count = round(seconds / size)
            text = f"{count} {unit}{'' if count == 1 else 's'}"
            return f"in {text}" if future else f"{text} ago"
    return "now"  # pragma: no cover - covered by the first branch


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


def _cache(request: Request) -> PreviewCache:
    state = request.app.state
    cache = getattr(state, "desk_previews", None)
    if cache is None:
        cache = state.desk_previews = PreviewCache()
    assert isinstance(cache, PreviewCache)
    return cache


# --- what the page shows -------------------------------------------------------------


@dataclass(frozen=True)
class Story:
    role: str  # lead, latest
    title: str
    url: str
    link: str | None  # the URL when it is a safe http(s) link
    section: str
    published: str
    reason: str
    pinned: bool


@dataclass(frozen=True)
class LeftOut:
    title: str
    url: str
    link: str | None
    reason: str
    dropped: bool


def _stories(built: BuiltIssue, config: Config) -> list[Story]:
    tz = config.newsletter.tz
    out = []
    for pick in built.issue.picks:
        art = pick.article
        local = art.published.astimezone(tz)
        out.append(
            Story(
                role=pick.role,
                title=art.title,
                url=art.url,
                link=safe_url(art.url),
                section=art.section or "",
                published=f"{local:%a} {local.day} {local:%b %H:%M}",
                reason=pick.reason,
                pinned=built.controls.pin == art.url,
            )
        )
    return out


def _left_out(built: BuiltIssue) -> list[LeftOut]:
    return [
        LeftOut(
            title=a.title,
            url=a.url,
            link=safe_url(a.url),
            reason=r,
            dropped=a.url in built.controls.drops,
        )
        for a, r in built.issue.left_out
        if not r.startswith(("outside the window", "dated in the future"))
    ]


def _moment(moment: datetime, config: Config) -> str:
    local = moment.astimezone(config.newsletter.tz)
    return f"{local:%A} {local.day} {local:%B %Y, %H:%M %Z}"


def _frozen_text(store: Store, key: str, status: str, config: Config) -> str:
    rec = get_issue(store, key)
    when = (rec.finished_at or rec.started_at) if rec is not None else None
    at = f" on {_moment(when, config)}" if when is not None else ""
    return {
        "sent": f"Issue {key} was sent{at}.",
        "sending": f"Issue {key} is being sent{at}.",
        "failed": f"Issue {key} failed mid-send{at}; it resumes from its stored rendering.",
    }.get(status, f"Issue {key} is {status}.")


def _situation(desk: Desk) -> tuple[Target, str | None]:
    target = coming_target(desk.config, desk.store, desk.clock())
    status = frozen_status(desk.store, target.key)
    frozen = _frozen_text(desk.store, target.key, status, desk.config) if status else None
    return target, frozen


async def coming_page(request: Request, desk: Desk) -> Response:
    """``GET /desk``: the coming issue, its picks and reasons, the preview, the buttons."""
    config = desk.config
    try:
        target, frozen = await in_database(request, _situation, desk)
    except DigestError as exc:
        return message(request, desk, 500, "No coming issue", str(exc))
    built: BuiltIssue | None = None
    problem = None
    try:
        built = await run_in_threadpool(_cache(request).get, config, desk.store, desk.clock, target)
    except DigestError as exc:
        problem = str(exc)
    recent = await in_database(request, rows, desk, limit=RECENT_CHANGES)
    now = desk.clock()
    done = DONE.get(request.query_params.get("done", ""))
    response: Response = desk.templates.TemplateResponse(
        request,
        "desk/coming.html",
        {
            "desk": desk,
            "key": target.key,
            "as_of": _moment(target.as_of, config),
            "sends_at": _moment(target.sends_at, config) if target.sends_at else None,
            "sends_in": relative(target.sends_at, now) if target.sends_at else None,
            "frozen": frozen,
            "problem": problem,
            "built": built,
            "subject": built.rendered.subject if built and built.rendered else None,
            "skipped": built.issue.skip_reason if built and built.issue.skipped else None,
            "note": built.controls.note if built else None,
            "pin": built.controls.pin if built else None,
            "stories": _stories(built, config) if built else [],
            "left_out": _left_out(built) if built else [],
            "warnings": built.warnings if built else [],
            "editors": config.newsletter.editors,
            "recent": recent,
            "done": done,
        },
    )
    return response


async def preview(request: Request, desk: Desk) -> Response:
    """``GET /desk/coming/preview.html``: the email as readers get it, sandboxed."""
    target, _frozen = await in_database(request, _situation, desk)
    try:
        built = await run_in_threadpool(
            _cache(request).get, desk.config, desk.store, desk.clock, target
        )
    except DigestError:
        built = None
    if built is None or built.rendered is None:
        body = "<!doctype html><title>No preview</title><p>There is no email to show.</p>"
        return Response(body, media_type="text/html", headers=PREVIEW_HEADERS)
    html = built.rendered.html
    for placeholder in PLACEHOLDERS:  # per-reader values: the subscribe page stands in
        html = html.replace(placeholder, subscribe_url(desk.config))
    return Response(html, media_type="text/html", headers=PREVIEW_HEADERS)


# --- the changes ------------------------------------------------------------------------


def message(request: Request, desk: Desk, status: int, title: str, text: str) -> Response:
    response: Response = desk.templates.TemplateResponse(
        request,
        "desk/message.html",
        {"desk": desk, "title": title, "message": text, "back": "/desk"},
        status_code=status,
    )
    return response


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()  # read (and limited) by ``protect`` already
    return {k: v for k, v in form.items() if isinstance(v, str)}


async def _open(request: Request, desk: Desk, form: dict[str, str]) -> Target | Response:
    """The coming issue when the form was made for it and it can still change; else the
    page that says why not."""
    target, frozen = await in_database(request, _situation, desk)
    if form.get("key") != target.key:
        return message(
            request,
            desk,
            409,
            "The coming issue has changed",
            f"That form was for issue {form.get('key', '')[:10]!s}; the coming issue is now "
            f"{target.key}. Nothing was changed: look at it again and repeat the change.",
        )
    if frozen:
        return message(
            request, desk, 409, "This issue can no longer change", f"{frozen} Nothing was changed."
        )
    return target


def _back(done: str) -> Response:
    return RedirectResponse(f"/desk?done={done}", status_code=303)


async def _known_url(request: Request, desk: Desk, target: Target, url: str) -> str | Response:
    """``url`` (canonical) when it is one of the issue's articles, as ``digest pin``
    checks (the built issue is usually cached: the page was just shown)."""
    try:
        canon = editor.check_article_url(url)
    except DigestError as exc:
        return message(request, desk, 400, "That is not an article", str(exc))
    built = await run_in_threadpool(
        _cache(request).get, desk.config, desk.store, desk.clock, target
    )
    known = {p.article.url for p in built.issue.picks} | {a.url for a, _ in built.issue.left_out}
    if canon not in known:
        return message(
            request,
            desk,
            400,
            "That is not an article of this issue",
            f"{canon} is not among the articles collected for issue {target.key}.",
        )
    return canon


async def pin(request: Request, desk: Desk) -> Response:
    form = await _form(request)
    target = await _open(request, desk, form)
    if isinstance(target, Response):
        return target
    url = await _known_url(request, desk, target, form.get("url", ""))
    if isinstance(url, Response):
        return url

    def change() -> None:
        old = editor.set_pin(desk.store, target.key, url, clock=desk.clock)
        record(desk, "pin", target.key, url + (f" (was {old})" if old and old != url else ""))

    await in_database(request, change)
    return _back("pin")


async def unpin(request: Request, desk: Desk) -> Response:
    form = await _form(request)
    target = await _open(request, desk, form)
    if isinstance(target, Response):
        return target

    def change() -> None:
        old = editor.clear_pin(desk.store, target.key)
        record(desk, "unpin", target.key, f"was {old}" if old else "there was no pin")

    await in_database(request, change)
    return _back("unpin")


async def drop(request: Request, desk: Desk) -> Response:
    form = await _form(request)
    target = await _open(request, desk, form)
    if isinstance(target, Response):
        return target
    url = await _known_url(request, desk, target, form.get("url", ""))
    if isinstance(url, Response):
        return url

    def change() -> None:
        editor.add_drop(desk.store, target.key, url, clock=desk.clock)
        record(desk, "drop", target.key, url)

    await in_database(request, change)
    return _back("drop")


async def restore(request: Request, desk: Desk) -> Response:
    form = await _form(request)
    target = await _open(request, desk, form)
    if isinstance(target, Response):
        return target
    url = form.get("url", "").strip()
    if not url:
        return message(request, desk, 400, "Nothing to restore", "The form named no article.")

    def change() -> list[str]:
        restored = editor.clear_drop(desk.store, target.key, url)
        if restored:
            record(desk, "restore", target.key, ", ".join(restored))
        return restored

    await in_database(request, change)
    return _back("restore")


async def note(request: Request, desk: Desk) -> Response:
    form = await _form(request)
    target = await _open(request, desk, form)
    if isinstance(target, Response):
        return target
    text = form.get("note", "")

    def change() -> str:
        if not text.strip():
            old = editor.clear_note(desk.store, target.key)
            record(desk, "clear_note", target.key, f"was: {old}" if old else "")
            return "clear_note"
        editor.set_note(desk.store, target.key, text, clock=desk.clock)
        record(desk, "note", target.key, text.strip())
        return "note"

    try:
        done = await in_database(request, change)
    except DigestError as exc:
        return message(request, desk, 400, "The note was not saved", str(exc))
    return _back(done)


async def send_test(request: Request, desk: Desk) -> Response:
    form = await _form(request)
    target = await _open(request, desk, form)
    if isinstance(target, Response):
        return target
    to_all = form.get("to") == "editors"
    recipients = list(desk.config.newsletter.editors) if to_all else [desk.editor]
    built = await run_in_threadpool(
        _cache(request).get, desk.config, desk.store, desk.clock, target
    )
    if built.rendered is None:
        return message(
            request,
            desk,
            409,
            "No test copy sent",
            f"Issue {target.key} is skipped: {built.issue.skip_reason or 'it has no articles'}.",
        )
    from digest.testcopy import send_test_copy

    rendered = built.rendered
    try:
        count = await run_in_threadpool(
            send_test_copy, desk.config, rendered, recipients, backend=desk.backend
        )
    except DigestError as exc:
        return message(request, desk, 502, "The test copy was not sent", str(exc))
    await in_database(
        request,
        record,
        desk,
        "test",
        target.key,
        f"{count} of {len(recipients)} accepted: {', '.join(recipients)}",
    )
    return _back("test_editors" if to_all else "test_me")


__all__ = [
    "PREVIEW_CSP",
    "PreviewCache",
    "Target",
    "coming_page",
    "coming_target",
    "drop",
    "note",
    "pin",
    "preview",
    "relative",
    "restore",
    "send_test",
    "unpin",
]
