"""Where the bundled templates live (top-level ``templates/`` in a checkout,
``digest/templates`` inside the wheel)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=1)  # the installation does not move; each Renderer and render_email asks
def bundled_templates_dir() -> Path:
    here = Path(__file__).resolve().parent
    for candidate in (here / "templates", here.parent / "templates"):
        if (candidate / "email").is_dir():
            return candidate
    raise FileNotFoundError("digest's bundled templates are missing from the installation")
