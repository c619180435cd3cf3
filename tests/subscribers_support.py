"""Helpers shared by the subscriber tests: a config, a settable clock, outbox reading."""

from __future__ import annotations

import email
import email.policy
import re
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from digest.config import Config, Secrets, parse_config

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
SECRET = "test-secret-key-0123456789"


class FakeClock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def make_config(
    tmp_path: Path,
    *,
    public_url: str = "http://127.0.0.1:8000",
    web: dict[str, Any] | None = None,
    storage_url: str | None = None,
) -> Config:
    data: dict[str, Any] = {
        "newsletter": {
            "name": "Statecraft Weekly",
            "tagline": "The week in foreign policy",
            "from_email": "newsletter@statecraft.example",
            "postal_address": "1 Example Street, Washington, DC 20001",
            "site_url": "https://statecraft.example",
            "public_url": public_url,
            "timezone": "America/New_York",
        },
        "sources": [{"name": "Main", "url": "feed.xml"}],
        "delivery": {"backend": "file", "outbox": "outbox"},
        "web": web or {},
    }
    if storage_url:
        data["storage"] = {"url": storage_url}
    return parse_config(data, path=tmp_path / "digest.toml")


def secrets(key: str | None = SECRET) -> Secrets:
    return Secrets(
        secret_key=key, sendgrid_api_key=None, sendgrid_api_host=None, smtp_password=None
    )


def outbox_messages(outbox: Path) -> list[EmailMessage]:
    out = []
    for path in sorted(outbox.glob("*.eml")) if outbox.is_dir() else []:
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        out.append(msg)
    return out


def confirm_link(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain",))
    assert part is not None
    text = part.get_content()
    found = re.findall(r"https?://\S+/confirm/\S+", text)
    assert found, text
    return str(found[0])


# A publication for the CLI and `digest serve` tests: file backend, loopback public_url.
EDITOR_CONFIG = """
[newsletter]
name = "Statecraft Weekly"
from_email = "newsletter@statecraft.example"
postal_address = "1 Example Street, Washington, DC 20001"
site_url = "https://statecraft.example"
public_url = "http://127.0.0.1:8000"
timezone = "America/New_York"

[[sources]]
name = "Main"
url = "feed.xml"

[delivery]
backend = "file"
outbox = "outbox"
"""
