"""Archive routes (/issues, /issues/KEY): written with the delivery issue."""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
