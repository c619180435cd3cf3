"""Helpers for the delivery tests: a config on the sample feed, a list of subscribers."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from digest.config import Config, parse_config
from digest.store.database import Store
from digest.store.tables import Subscriber

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
SAMPLE_KEY = "2026-W47"


def sample_config(tmp_path: Path, db_url: str, **delivery: Any) -> Config:
    """The bundled sample publication, writing into ``tmp_path``, on ``db_url``."""
    raw = tomllib.loads((EXAMPLES / "digest.toml").read_text())
    raw["sources"][0]["url"] = str(EXAMPLES / "feed.xml")
    raw["storage"]["url"] = db_url
    raw["delivery"] = {"backend": "file", "outbox": str(tmp_path / "outbox"), **delivery}
    return parse_config(raw, path=tmp_path / "digest.toml")


def add_subscribers(
    store: Store, statuses: dict[str, int], *, start: int = 0
) -> dict[str, list[str]]:
    """Add ``n`` subscribers per status (emails ``<status>-<i>@example.com``); returns them."""
    out: dict[str, list[str]] = {}
    rows = []
    for status, n in statuses.items():
        for i in range(start, start + n):
            email = f"{status}-{i}@example.com"
            out.setdefault(status, []).append(email)
            rows.append({
                "email": email, "email_key": email, "name": f"Reader {i}" if i % 2 else None,
                "status": status, "source": "import", "created_at": NOW, "soft_bounces": 0,
            })  # fmt: skip
    with store.session() as s:
        for i in range(0, len(rows), 5000):
            s.execute(insert(Subscriber), rows[i : i + 5000])
    return out


def set_status(store: Store, email: str, status: str) -> None:
    from sqlalchemy import update

    with store.session() as s:
        s.execute(update(Subscriber).where(Subscriber.email_key == email).values(status=status))
