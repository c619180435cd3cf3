"""Provider webhooks (one file per provider): written with the webhook issue."""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
