"""The desk's sign-in and coming-issue tests: a publication with two editors and a local feed, its
app, signing in through the emailed link (the numbers' tests use tests.desk_numbers_support)."""

from __future__ import annotations

import email
import email.policy
import re
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.testclient import TestClient

from digest.config import Config, parse_config
from digest.store.database import Store
from subscribers.web.app import create_app
from tests.pipeline_support import AS_OF, Item, rss
from tests.subscribers_support import FakeClock, outbox_messages, secrets

EDITOR = "editor@statecraft.example"
OTHER_EDITOR = "Second.Editor@statecraft.example"
NOW = AS_OF - timedelta(days=2)  # Wednesday 18 Nov 2026 09:00 New York: issue 2026-W47 is Friday's

# every item is published before NOW, inside the week before Friday's send
ITEMS = [
    Item("featured-story", 52, section="Europe", featured=True, title="Featured story"),
    Item("newest-story", 50, section="Asia", title="Newest story"),
    Item("middle-story", 60, section="Africa", title="Middle story"),
    Item("older-story", 100, section="Europe", title="Older story"),
    Item("oldest-in-week", 160, section="Americas", title="Oldest in the week"),
]


def make_desk_config(
    tmp_path: Path,
    items: list[Item] | None = None,
    *,
    public_url: str = "http://testserver",
    raw_feed: str | None = None,
) -> Config:
    (tmp_path / "feed.xml").write_text(raw_feed or rss(items or ITEMS), encoding="utf-8")
    data: dict[str, Any] = {
        "newsletter": {
            "name": "Statecraft Weekly",
            "tagline": "The week in foreign policy",
            "from_email": "newsletter@statecraft.example",
            "editors": [EDITOR, OTHER_EDITOR],
            "postal_address": "1 Example Street, Washington, DC 20001",
            "site_url": "https://statecraft.example",
            "public_url": public_url,
            "timezone": "America/New_York",
        },
        "sources": [{"name": "Main feed", "url": "feed.xml"}],
        "selection": {"latest_count": 3, "min_articles": 3},
        "delivery": {"backend": "file", "outbox": "outbox"},
    }
    return parse_config(data, path=tmp_path / "digest.toml")


def make_app(config: Config, store: Store, clock: FakeClock) -> Starlette:
    return create_app(config, store=store, secrets=secrets(), clock=clock, subscribe_delay=0)


def outbox(tmp_path: Path) -> list[EmailMessage]:
    return outbox_messages(tmp_path / "outbox")


def mail_to(tmp_path: Path, address: str) -> EmailMessage:
    """The newest message in the outbox to ``address`` (case-insensitive)."""
    paths = sorted((tmp_path / "outbox").glob("*.eml"), key=lambda p: p.stat().st_mtime_ns)
    for path in reversed(paths):
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        if str(msg["To"]).lower() == address.lower():
            return msg
    raise AssertionError(f"no message to {address} in the outbox")


def sign_in_link(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain",))
    assert part is not None
    found = re.findall(r"https?://\S+/desk/sign-in/\S+", part.get_content())
    assert found, part.get_content()
    return str(found[0])


def hidden(html: str, name: str) -> str:
    """The value of the first hidden field ``name`` of a page."""
    found = re.search(rf'name="{re.escape(name)}" value="([^"]*)"', html)
    assert found, f"no field {name!r} in the page"
    return found.group(1)


def request_link(client: TestClient, address: str) -> Any:
    page = client.get("/desk/sign-in")
    assert page.status_code == 200
    return client.post(
        "/desk/sign-in", data={"csrf_token": hidden(page.text, "csrf_token"), "email": address}
    )


def press_link(client: TestClient, link: str) -> Any:
    path = link.split("://", 1)[1].split("/", 1)[1]
    page = client.get("/" + path)
    if page.status_code != 200:
        return page
    return client.post(
        "/" + path, data={"csrf_token": hidden(page.text, "csrf_token")}, follow_redirects=False
    )


def sign_in(client: TestClient, tmp_path: Path, address: str = EDITOR) -> str:
    """Sign ``client`` in through the emailed link; the desk's form token."""
    assert request_link(client, address).status_code == 200
    answer = press_link(client, sign_in_link(mail_to(tmp_path, address)))
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/desk"
    desk = client.get("/desk")
    assert desk.status_code == 200, desk.text
    return hidden(desk.text, "csrf")
