"""The desk's readers page: counts by status, growth per week from the consent ledger,
finding a reader by address, and unsubscribe / erase with a confirmation step, through
the same functions as `digest subscribers unsubscribe/erase` (SQLite and PostgreSQL)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from digest.store.database import Store
from digest.store.tables import ConsentEvent, DeskAudit, Subscriber
from subscribers import repository as repo
from tests.desk_numbers_support import CSRF, EDITOR, desk_app
from tests.subscribers_support import FakeClock, make_config

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
SVG_NS = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def client(store: Store, tmp_path: Path) -> TestClient:
    app = desk_app(store, make_config(tmp_path), FakeClock(NOW))
    return TestClient(app, base_url="http://127.0.0.1", follow_redirects=False)


def add(
    store: Store, email: str, *, at: datetime, status: str = "active", name: str | None = None
) -> int:
    with store.session() as s:
        return repo.add(s, email, at=at, source="cli", status=status, name=name).id


def set_status(store: Store, sub_id: int, status: str, at: datetime) -> None:
    with store.session() as s:
        sub = repo.get(s, sub_id)
        assert sub is not None
        repo.set_status(s, sub, status, source="webhook", at=at)


def form_of(html: str) -> tuple[str, dict[str, str]]:
    action = re.search(r'<form method="post" action="([^"]+)"', html)
    assert action, html
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', html))
    return action.group(1), fields


def test_counts_and_growth_per_week(client: TestClient, store: Store) -> None:
    week = timedelta(weeks=1)
    a = add(store, "ann@example.org", at=NOW - 3 * week)
    add(store, "bob@example.org", at=NOW - 3 * week)
    add(store, "cy@example.org", at=NOW - 1 * week)
    add(store, "pending@example.org", at=NOW - week, status="pending")
    set_status(store, a, "unsubscribed", NOW - timedelta(days=1))
    with store.session() as s:  # a pending address that unsubscribes never joined or left
        pending = repo.get_by_email(s, "pending@example.org")
        assert pending is not None
        repo.set_status(s, pending, "unsubscribed", source="form", at=NOW - timedelta(days=2))
    with store.session() as s:  # an unsubscribed address erased later: left once only
        sub = repo.get(s, a)
        assert sub is not None
        repo.erase(s, sub, at=NOW - timedelta(hours=2))
    add(store, "old@example.org", at=NOW - 60 * week)  # before the chart's weeks

    page = client.get("/desk/readers")
    assert page.status_code == 200
    assert re.search(r"Active<b>3</b>", page.text)
    assert re.search(r"Unsubscribed<b>1</b>", page.text)
    (chart,) = [ET.fromstring(m) for m in re.findall(r"<svg .*?</svg>", page.text, flags=re.DOTALL)]
    ups = chart.findall(f".//{SVG_NS}g[@class='marks up']/{SVG_NS}rect")
    downs = chart.findall(f".//{SVG_NS}g[@class='marks down']/{SVG_NS}rect")
    assert len(ups) == len(downs) == 26
    assert "3 joined, 1 left, net +2" in (chart.findtext(f"{SVG_NS}desc") or "")

    data = orjson.loads(client.get("/desk/readers?format=json").content)
    assert data["by_status"]["active"] == 3
    assert sum(r["joined"] for r in data["rows"]) == 3
    assert sum(r["left"] for r in data["rows"]) == 1
    assert b"@" not in client.get("/desk/readers?format=json&q=bob@example.org").content


def test_find_a_reader_by_address(client: TestClient, store: Store) -> None:
    add(store, "Reader.One@Example.ORG", at=NOW - timedelta(days=3), name="<b>Ada</b>")
    found = client.get("/desk/readers", params={"q": "  reader.one@EXAMPLE.org "})
    assert "Reader.One@example.org" in found.text
    assert "&lt;b&gt;Ada&lt;/b&gt;" in found.text
    assert "/unsubscribe" in found.text and "/erase" in found.text
    missing = client.get("/desk/readers", params={"q": "nobody@example.org"})
    assert "nobody@example.org is not on the list" in missing.text
    invalid = client.get("/desk/readers", params={"q": "<script>@"})
    assert "not a valid address" in invalid.text and "<script>@" not in invalid.text


def test_unsubscribe_with_a_confirmation_step(client: TestClient, store: Store) -> None:
    sub_id = add(store, "ann@example.org", at=NOW - timedelta(days=3))
    confirm = client.get(f"/desk/readers/{sub_id}/unsubscribe")
    assert confirm.status_code == 200 and "Unsubscribe this reader?" in confirm.text
    with store.session() as s:  # the GET changes nothing
        assert s.get(Subscriber, sub_id).status == "active"  # type: ignore[union-attr]
    action, fields = form_of(confirm.text)
    assert action == f"/desk/readers/{sub_id}/unsubscribe" and fields == {"csrf": CSRF}

    assert client.post(action, data={}).status_code == 403  # no CSRF field: refused
    done = client.post(action, data=fields)
    assert done.status_code == 303
    assert done.headers["location"].startswith("/desk/readers?done=unsubscribed")
    with store.session() as s:
        sub = s.get(Subscriber, sub_id)
        assert sub is not None and sub.status == "unsubscribed"
        event = s.scalars(select(ConsentEvent).where(ConsentEvent.kind == "unsubscribed")).one()
        assert (event.source, event.detail) == ("desk", "by the editors")
        (entry,) = s.scalars(select(DeskAudit)).all()
        assert (entry.editor, entry.action) == (EDITOR, "unsubscribe_reader")
        assert entry.detail == f"unsubscribed reader #{sub_id} (was active)"
    shown = client.get(done.headers["location"])
    assert "Unsubscribed." in shown.text and "ann@example.org" in shown.text
    again = client.post(action, data=fields)  # nothing left to do
    assert again.headers["location"].startswith("/desk/readers?done=unchanged")


def test_erase_with_a_confirmation_step(client: TestClient, store: Store) -> None:
    sub_id = add(store, "ann@example.org", at=NOW - timedelta(days=3))
    confirm = client.get(f"/desk/readers/{sub_id}/erase")
    assert "Erase this reader?" in confirm.text and "cannot be undone" in confirm.text
    action, fields = form_of(confirm.text)
    done = client.post(action, data=fields)
    assert done.status_code == 303 and done.headers["location"] == "/desk/readers?done=erased"
    with store.session() as s:
        assert s.get(Subscriber, sub_id) is None
        assert repo.is_tombstoned(s, "ann@example.org")
        erased = s.scalars(select(ConsentEvent).where(ConsentEvent.kind == "erased")).one()
        assert erased.source == "desk"
        (entry,) = s.scalars(select(DeskAudit)).all()
        assert (entry.editor, entry.action) == (EDITOR, "erase_reader")
        assert "ann@" not in entry.detail  # the audit log keeps no erased address
    search = client.get("/desk/readers", params={"q": "ann@example.org"})
    assert "was erased" in search.text
    gone = client.post(action, data=fields)
    assert gone.headers["location"] == "/desk/readers?done=gone"
    assert client.get(f"/desk/readers/{sub_id}/erase").status_code == 303
    assert client.get(f"/desk/readers/{sub_id}/delete").status_code == 404
