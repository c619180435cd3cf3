"""The coming issue on the desk: ``GET /desk`` and its preview.

Which issue, and building it (cached), is ``desk.coming_issue``; the editor's changes
(pin, drop, note, test copies) are ``desk.coming_actions``, which answer with a redirect
back here: ``?done=`` says what was done.

The rendered email is shown in two ``<iframe sandbox="">`` (no scripts, no same
origin) of ``/desk/coming/preview.html``, itself served with a sandbox CSP: whatever a
feed smuggled into the email cannot run on the desk.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from markupsafe import escape
from starlette.requests import Request
from starlette.responses import Response

from desk.audit import rows
from desk.coming_issue import built_issue, moment_text, situation
from desk.context import Desk
from digest.archive import subscribe_url
from digest.config import Config
from digest.errors import DigestError
from digest.i18n import DEFAULT_LOCALE, N_, Gettext, gettext_for, translations
from digest.models import PLACEHOLDERS
from digest.pipeline import BuiltIssue
from digest.rendering.sanitize import safe_url
from subscribers.web.database import in_database

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
# (marked here, translated where it is shown)
DONE = {
    "pin": N_("Pinned as the lead."),
    "unpin": N_("The pin is cleared: the selection picks the lead again."),
    "drop": N_("Dropped from the issue."),
    "restore": N_("Restored to the issue."),
    "note": N_("The editor's note is saved."),
    "clear_note": N_("The editor's note is cleared."),
    "test_me": N_("A test copy is on its way to you."),
    "test_editors": N_("A test copy is on its way to every editor."),
}


def relative(moment: datetime, now: datetime, gettext: Gettext | None = None) -> str:
    """``in 2 days``, ``in 5 hours``, ``in 20 minutes``, ``3 hours ago`` (English unless
    a ``gettext`` says otherwise)."""
    _ = gettext or Gettext(translations(DEFAULT_LOCALE))
    delta = moment - now
    future = delta >= timedelta(0)
    seconds = abs(delta.total_seconds())
    if seconds < 90:
        return _("in a minute") if future else _("a minute ago")
    if seconds >= 86400 * 1.5:
        n = round(seconds / 86400)
        if future:
            return _.ngettext("in %(num)d day", "in %(num)d days", n)
        return _.ngettext("%(num)d day ago", "%(num)d days ago", n)
    if seconds >= 3600 * 1.5:
        n = round(seconds / 3600)
        if future:
            return _.ngettext("in %(num)d hour", "in %(num)d hours", n)
        return _.ngettext("%(num)d hour ago", "%(num)d hours ago", n)
    n = round(seconds / 60)
    if future:
        return _.ngettext("in %(num)d minute", "in %(num)d minutes", n)
    return _.ngettext("%(num)d minute ago", "%(num)d minutes ago", n)


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
    out = []
    for pick in built.issue.picks:
        art = pick.article
        out.append(
            Story(
                role=pick.role,
                title=art.title,
                url=art.url,
                link=safe_url(art.url),
                section=art.section or "",
                published=moment_text(art.published, config, "MMMEd"),
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


async def coming_page(request: Request, desk: Desk) -> Response:
    """``GET /desk``: the coming issue, its picks and reasons, the preview, the buttons."""
    config = desk.config
    _ = gettext_for(config)
    try:
        target, frozen = await in_database(request, situation, desk)
    except DigestError as exc:
        return message(request, desk, 500, _("No coming issue"), str(exc))
    built: BuiltIssue | None = None
    problem = None
    try:
        built = await built_issue(request, desk, target)
    except DigestError as exc:
        problem = str(exc)
    recent = await in_database(request, rows, desk, limit=RECENT_CHANGES)
    now = desk.clock()
    done = DONE.get(request.query_params.get("done", ""))
    done = _(done) if done else None
    response: Response = desk.templates.TemplateResponse(
        request,
        "desk/coming.html",
        {
            "desk": desk,
            "key": target.key,
            "as_of": moment_text(target.as_of, config),
            "sends_at": moment_text(target.sends_at, config) if target.sends_at else None,
            "sends_in": relative(target.sends_at, now, _) if target.sends_at else None,
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
    target, _frozen = await in_database(request, situation, desk)
    try:
        built = await built_issue(request, desk, target)
    except DigestError:
        built = None
    if built is None or built.rendered is None:
        _ = gettext_for(desk.config)
        body = "<!doctype html><title>{}</title><p>{}</p>".format(
            escape(_("No preview")), escape(_("There is no email to show."))
        )
        return Response(body, media_type="text/html", headers=PREVIEW_HEADERS)
    html = built.rendered.html
    for placeholder in PLACEHOLDERS:  # per-reader values: the subscribe page stands in
        html = html.replace(placeholder, subscribe_url(desk.config))
    return Response(html, media_type="text/html", headers=PREVIEW_HEADERS)


# --- what went wrong ---------------------------------------------------------------------


def message(request: Request, desk: Desk, status: int, title: str, text: str) -> Response:
    """A page that says why not (this page's and the changes' refusals)."""
    response: Response = desk.templates.TemplateResponse(
        request,
        "desk/message.html",
        {"desk": desk, "title": title, "message": text, "back": "/desk"},
        status_code=status,
    )
    return response


__all__ = [
    "DONE",
    "PREVIEW_CSP",
    "coming_page",
    "message",
    "preview",
    "relative",
]
