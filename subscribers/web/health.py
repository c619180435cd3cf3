"""``GET /healthz`` for a load balancer: the database answers and its schema is current.

A balancer polls every second or two on every replica, so an answer costs one trivial
query; the database's migration revision is read again at most every
``REVISION_SECONDS`` (that read then doubles as the query). 200 with
``{"status": "ok", …}``; 503 with ``{"status": "error", …}`` naming the problem. A
database that a newer release has already migrated is still healthy: the upgrade order
is migrate, then roll the replicas, and the old ones must keep serving meanwhile.

No rate limit. A change of health is logged once (a warning when it goes bad, info
when it recovers), not at every poll, and never as an error: the balancer acts on it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from digest.store.database import Store
from digest.store.schema import SchemaState, ping, schema_state
from subscribers.web.database import in_database

log = logging.getLogger(__name__)

REVISION_SECONDS = 5.0
NO_STORE = {"Cache-Control": "no-store"}


class Health:
    """The check behind ``/healthz`` (blocking: run it through ``in_database``)."""

    def __init__(
        self,
        store: Store,
        *,
        revision_seconds: float = REVISION_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self.store = store
        self.revision_seconds = revision_seconds
        self.monotonic = monotonic
        self._state: SchemaState | None = None
        self._read_at = -float("inf")
        self._guard = threading.Lock()
        self._healthy = True  # what was last logged

    def check(self) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON body)."""
        try:
            state = self._schema()
        except Exception as exc:  # noqa: BLE001 - any failure to answer means unreachable
            return self._answer(503, {"status": "error", "database": "unreachable"}, str(exc))
        if state.fit == "behind":
            body = {
                "status": "error",
                "migrations": "not current",
                "database_revision": state.database,
                "code_revision": state.head,
            }
            problem = f"the database is at revision {state.database}, this code needs {state.head}"
            return self._answer(503, body, problem)
        body = {"status": "ok", "revision": state.database}
        if state.fit == "newer":
            body["code_revision"] = state.head
        return self._answer(200, body, None)

    def _schema(self) -> SchemaState:
        now = self.monotonic()
        with self._guard:
            cached = self._state if now - self._read_at < self.revision_seconds else None
        if cached is not None:
            ping(self.store)
            return cached
        state = schema_state(self.store)
        with self._guard:
            self._state, self._read_at = state, now
        return state

    def _answer(
        self, status: int, body: dict[str, Any], problem: str | None
    ) -> tuple[int, dict[str, Any]]:
        healthy = status == 200
        if healthy != self._healthy:
            self._healthy = healthy
            if healthy:
                log.info("healthz: healthy again")
            else:
                log.warning("healthz: unhealthy: %s", problem)
        if not healthy:
            self._state = None  # read the revision again on the next poll
        return status, body


async def healthz(request: Request) -> Response:
    health: Health = request.app.state.health
    status, body = await in_database(request, health.check)
    return JSONResponse(body, status_code=status, headers=NO_STORE)
