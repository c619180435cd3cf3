"""The editor's changes to the coming issue: ``POST /desk/coming/…`` (routes in ``desk.app``).

Pin, drop, note go through ``digest.editor`` (``digest pin/drop/note``), test copies
through ``digest.testcopy`` (``digest preview --to``); each change is made only when the
form was for the issue still coming and it can still change, is written to the audit log
and is answered with a redirect back to ``/desk`` (post/redirect/get).
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from desk.audit import record
from desk.coming import message
from desk.coming_issue import Target, built_issue, situation
from desk.context import Desk
from digest import editor
from digest.errors import DigestError
from digest.i18n import gettext_for
from subscribers.web.database import in_database


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()  # read (and limited) by ``protect`` already
    return {k: v for k, v in form.items() if isinstance(v, str)}


async def _open(request: Request, desk: Desk, form: dict[str, str]) -> Target | Response:
    """The coming issue when the form was made for it and it can still change; else the
    page that says why not."""
    target, frozen = await in_database(request, situation, desk)
    _ = gettext_for(desk.config)
    if form.get("key") != target.key:
        return message(
            request,
            desk,
            409,
            _("The coming issue has changed"),
            _(
                "That form was for issue %(old)s; the coming issue is now %(key)s. Nothing "
                "was changed: look at it again and repeat the change.",
                old=form.get("key", "")[:10],
                key=target.key,
            ),
        )
    if frozen:
        return message(
            request,
            desk,
            409,
            _("This issue can no longer change"),
            _("%(why)s Nothing was changed.", why=frozen),
        )
    return target


def _back(done: str) -> Response:
    return RedirectResponse(f"/desk?done={done}", status_code=303)


async def _known_url(request: Request, desk: Desk, target: Target, url: str) -> str | Response:
    """``url`` (canonical) when it is one of the issue's articles, as ``digest pin``
    checks (the built issue is usually cached: the page was just shown)."""
    _ = gettext_for(desk.config)
    try:
        canon = editor.check_article_url(url)
    except DigestError as exc:
        return message(request, desk, 400, _("That is not an article"), str(exc))
    built = await built_issue(request, desk, target)
    known = {p.article.url for p in built.issue.picks} | {a.url for a, _ in built.issue.left_out}
    if canon not in known:
        return message(
            request,
            desk,
            400,
            _("That is not an article of this issue"),
            _(
                "%(url)s is not among the articles collected for issue %(key)s.",
                url=canon,
                key=target.key,
            ),
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
        _ = gettext_for(desk.config)
        return message(request, desk, 400, _("Nothing to restore"), _("The form named no article."))

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
        _ = gettext_for(desk.config)
        return message(request, desk, 400, _("The note was not saved"), str(exc))
    return _back(done)


async def send_test(request: Request, desk: Desk) -> Response:
    form = await _form(request)
    target = await _open(request, desk, form)
    if isinstance(target, Response):
        return target
    to_all = form.get("to") == "editors"
    recipients = list(desk.config.newsletter.editors) if to_all else [desk.editor]
    built = await built_issue(request, desk, target)
    _ = gettext_for(desk.config)
    if built.rendered is None:
        return message(
            request,
            desk,
            409,
            _("No test copy sent"),
            _(
                "Issue %(key)s is skipped: %(reason)s.",
                key=target.key,
                reason=built.issue.skip_reason or _("it has no articles"),
            ),
        )
    from digest.testcopy import send_test_copy

    rendered = built.rendered
    try:
        count = await run_in_threadpool(
            send_test_copy, desk.config, rendered, recipients, backend=desk.backend
        )
    except DigestError as exc:
        return message(request, desk, 502, _("The test copy was not sent"), str(exc))
    await in_database(
        request,
        record,
        desk,
        "test",
        target.key,
        f"{count} of {len(recipients)} accepted: {', '.join(recipients)}",
    )
    return _back("test_editors" if to_all else "test_me")


__all__ = ["drop", "note", "pin", "restore", "send_test", "unpin"]
