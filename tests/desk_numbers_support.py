"""Helpers of the desk's numbers tests (tests/desk/test_desk_numbers_*): the real web app
with the numbers' routes mounted at ``/desk`` behind a stand-in ``protect`` (a fixed
signed-in editor, the CSRF field checked), so the handlers are tested without signing in
(the sign-in itself is tested with ``tests.desk_support``).

``desk_app(store, config, clock)`` builds it; ``CSRF`` is the token every POST must carry
as ``csrf``; ``seed_issue`` writes an issue record and its articles.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount

from desk.context import Desk, Handler
from digest.clock import Clock
from digest.config import Config
from digest.store.database import Store
from digest.store.tables import IssueArticle, IssueRecord
from tests.subscribers_support import secrets

EDITOR = "editor@statecraft.example"
CSRF = "test-csrf-token"


def fake_protect(handler: Handler) -> Callable[[Request], Any]:
    """What ``desk.app.protect`` does, minus the session: a Desk for ``EDITOR``, and a POST
    refused (403) without the right ``csrf`` field."""

    async def endpoint(request: Request) -> Response:
        state = request.app.state
        if request.method == "POST":
            form = await request.form()
            if form.get("csrf") != CSRF:
                return PlainTextResponse("CSRF token missing or wrong", status_code=403)
        desk = Desk(
            config=state.config,
            store=state.store,
            clock=state.clock,
            workflow=state.workflow,
            backend=state.backend,
            templates=state.templates,  # the pages' environment: finds desk/… too
            editor=EDITOR,
            csrf_token=CSRF,
        )
        return await handler(request, desk)

    return endpoint


def desk_app(store: Store, config: Config, clock: Clock) -> Starlette:
    """``digest serve``'s app (file backend: nothing is mailed) with
    ``numbers_routes(fake_protect)`` mounted at ``/desk`` ahead of everything else."""
    from desk.numbers import numbers_routes
    from digest.backends.file import FileBackend
    from subscribers.web.app import create_app

    outbox = Path(tempfile.gettempdir()) / "digest-desk-numbers-tests-outbox"
    keys = secrets()
    backend = FileBackend(config, keys, outbox=str(outbox))
    app = create_app(config, store=store, secrets=keys, clock=clock, backend=backend)
    app.router.routes.insert(0, Mount("/desk", routes=numbers_routes(fake_protect)))
    return app


def seed_issue(
    store: Store,
    key: str,
    *,
    as_of: datetime,
    subject: str,
    articles: tuple[tuple[str, str, str], ...] = (),
    status: str = "sent",
    **counts: int,
) -> None:
    """An issue record (``counts``: recipients, sent, delivered, …) and its articles
    ``(url, role, title)`` in order."""
    with store.session() as s:
        s.add(
            IssueRecord(
                key=key,
                status=status,
                as_of=as_of,
                subject=subject,
                created_at=as_of,
                started_at=as_of,
                finished_at=as_of,
                **counts,
            )
        )
        s.flush()
        for i, (url, role, title) in enumerate(articles):
            s.add(
                IssueArticle(
                    issue_key=key, url=url, role=role, position=i, title=title, reason="test"
                )
            )
