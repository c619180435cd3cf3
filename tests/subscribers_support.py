"""Helpers shared by the subscriber tests: a config, a settable clock, outbox reading."""

from __future__ import annotations

import email
import email.policy
import re
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from digest.config import Config, Secrets, parse_config
from digest.store.database import Store
from digest.store.tables import IssueArticle, IssueRecord

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
SECRET = "test-secret-key-0123456789"
NAME = "Statecraft Weekly"


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


def add_issue(
    store: Store,
    key: str,
    *,
    lead: str | None,
    as_of: datetime,
    status: str = "sent",
    preheader: str | None = None,
    latest: str | None = None,
    image_url: str | None = None,
    archive_html: str | None = None,
) -> None:
    """A sent (or ``status``) issue ``key`` in the store, as the archive lists it: a lead
    titled ``lead`` and two latest stories if ``latest`` is given; ``archive_html`` is the
    page the archive serves (a placeholder page unless given)."""
    with store.session() as s:
        s.add(
            IssueRecord(
                key=key,
                status=status,
                as_of=as_of,
                subject=f"{lead or latest or ''} | {NAME}",
                preheader=preheader,
                html="<p>issue</p>",
                text="issue",
                archive_html=archive_html or f"<!doctype html><title>{key}</title><p>{key}</p>",
                created_at=as_of,
                started_at=as_of + timedelta(hours=1),
                finished_at=as_of + timedelta(hours=2),
                sent=3,
            )
        )
        s.flush()  # the issue before its stories (their foreign key)
        if lead is not None:
            s.add(
                IssueArticle(
                    issue_key=key,
                    url=f"https://statecraft.example/{key}/lead",
                    role="lead",
                    position=0,
                    title=lead,
                    reason="pinned",
                    image_url=image_url,
                )
            )
        if latest is not None:
            for position, title in ((1, "Second story"), (0, latest)):
                s.add(
                    IssueArticle(
                        issue_key=key,
                        url=f"https://statecraft.example/{key}/{position}",
                        role="latest",
                        position=position,
                        title=title,
                        reason="newest",
                    )
                )


# A page of the publication's site with the embed snippet (GET /embed) in place of
# {snippet}, styled with the digest-embed classes as docs/embed.md suggests.
EMBED_HOST_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>The Sahel's hunger season | Statecraft</title>
<style>
  body {{ margin: 0; font: 17px/1.6 Georgia, serif; color: #1a1a1a; background: #fff; }}
  article {{ max-width: 680px; margin: 0 auto; padding: 24px 16px; }}
  .subscribe-box {{ border-top: 4px solid #b3202a; background: #f4f4f0; padding: 20px; }}
  .subscribe-box h2 {{ margin: 0 0 8px; font-size: 22px; }}
  .digest-embed__label {{ display: block; margin-bottom: 6px; font: 600 15px sans-serif; }}
  .digest-embed__row {{ display: flex; gap: 8px; flex-wrap: wrap; }}
  .digest-embed__input {{ flex: 1 1 220px; min-width: 0; height: 46px; padding: 0 12px;
    border: 2px solid #767676; border-radius: 4px; font: 16px sans-serif; }}
  .digest-embed__button {{ height: 46px; padding: 0 22px; border: 0; border-radius: 4px;
    background: #b3202a; color: #fff; font: 600 16px sans-serif; }}
  .digest-embed__note {{ color: #555; font: 14px sans-serif; }}
</style></head>
<body><article>
<h1>The Sahel's hunger season</h1>
<p>Aid convoys wait at the border while the lean season begins.</p>
<aside class="subscribe-box"><h2>Subscribe now to our weekly round-up</h2>
{snippet}
</aside>
</article></body></html>
"""


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
