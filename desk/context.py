"""What every desk handler gets: ``async def handler(request, desk: Desk) -> Response``.

``desk.app.protect`` builds it for a signed-in editor (and has already checked the CSRF
token of a POST) before calling the handler; handlers never read cookies themselves.
Templates extend ``desk/base.html`` and receive ``desk`` in their context: the base reads
``desk.editor`` and ``desk.csrf_token`` (every POST form carries
``<input type="hidden" name="csrf" value="{{ desk.csrf_token }}">``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response

if TYPE_CHECKING:
    from starlette.templating import Jinja2Templates

    from digest.backends.base import Backend
    from digest.clock import Clock
    from digest.config import Config
    from digest.store.database import Store
    from subscribers.workflow import Workflow


@dataclass(frozen=True)
class Desk:
    """One request's view of the desk."""

    config: Config
    store: Store
    clock: Clock
    workflow: Workflow  # the list's rules (unsubscribe, erase) and the configured backend
    backend: Backend
    templates: Jinja2Templates  # desk/… templates, with the pages' filters
    editor: str  # the signed-in editor's address
    csrf_token: str  # for the hidden "csrf" field of every POST form


Handler = Callable[[Request, Desk], Awaitable[Response]]
