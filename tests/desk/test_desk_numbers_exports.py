"""Exports of the desk's tables: CSV and JSON with the right headers and shapes, cells
that start like a formula defused, and the readers' export without any address."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from starlette.testclient import TestClient

from desk.exports import Table, cell, to_csv
from digest.store.database import Store
from subscribers import repository as repo
from tests.desk_numbers_support import desk_app, seed_issue
from tests.subscribers_support import FakeClock, make_config

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
KEY = "2026-W47"


@pytest.fixture
def client(store: Store, tmp_path: Path) -> TestClient:
    seed_issue(
        store,
        KEY,
        as_of=NOW - timedelta(hours=6),
        subject="@SUM(A1:A9)",
        articles=(
            ("https://statecraft.example/a", "lead", "=cmd|' /C calc'!A0"),
            ("https://statecraft.example/b", "latest", "+plain"),
        ),
        recipients=10,
        sent=10,
        delivered=8,
        clicked=3,
    )
    with store.session() as s:
        repo.add(s, "reader@example.org", at=NOW - timedelta(days=2), source="cli", status="active")
    app = desk_app(store, make_config(tmp_path), FakeClock(NOW))
    return TestClient(app, base_url="http://127.0.0.1")


def rows_of(body: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


def test_issues_csv_and_json(client: TestClient) -> None:
    response = client.get("/desk/issues?format=csv")
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == 'attachment; filename="digest-issues.csv"'
    header, row = rows_of(response.content)
    assert header[:4] == ["issue", "date", "subject", "recipients"]
    assert "delivered_rate" in header and "opened_rate" in header
    assert row[:4] == [KEY, "2026-11-20", "'@SUM(A1:A9)", "10"]
    assert row[header.index("delivered_rate")] == "0.8"

    response = client.get("/desk/issues?format=json")
    assert response.headers["content-type"] == "application/json"
    assert response.headers["content-disposition"] == 'attachment; filename="digest-issues.json"'
    data = orjson.loads(response.content)
    assert "Apple Mail" in data["opens"]
    (issue,) = data["rows"]
    assert issue["subject"] == "@SUM(A1:A9)"  # JSON keeps the text as it is
    assert (issue["delivered"], issue["clicked_rate"]) == (8, 0.375)


def test_issue_clicks_csv_and_json(client: TestClient) -> None:
    response = client.get(f"/desk/issues/{KEY}?format=csv")
    assert response.headers["content-disposition"] == (
        f'attachment; filename="digest-issue-{KEY}-clicks.csv"'
    )
    header, *rows = rows_of(response.content)
    assert header == ["rank", "position", "role", "title", "url", "clicks"]
    assert [r[3] for r in rows] == ["'=cmd|' /C calc'!A0", "'+plain"]
    data = orjson.loads(client.get(f"/desk/issues/{KEY}?format=json").content)
    assert data["issue"] == KEY and data["counts"]["delivered"] == 8
    assert data["other_link_clicks"] == 0
    assert [r["clicks"] for r in data["rows"]] == [0, 0]


def test_readers_exports_have_counts_and_no_address(client: TestClient) -> None:
    growth = client.get("/desk/readers?format=csv")
    assert (
        growth.headers["content-disposition"] == 'attachment; filename="digest-readers-growth.csv"'
    )
    header, *weeks = rows_of(growth.content)
    assert header == ["week", "joined", "left", "net"] and len(weeks) == 26
    assert sum(int(w[1]) for w in weeks) == 1
    status = rows_of(client.get("/desk/readers?format=csv&table=status").content)
    assert ["active", "1"] in status
    data = client.get("/desk/readers?format=json").content
    assert orjson.loads(data)["by_status"]["active"] == 1
    for body in (growth.content, data):
        assert b"reader@" not in body and b"@" not in body


def test_formula_guard() -> None:
    assert [cell(v) for v in ("=1+1", "+1", "-1", "@x", "\tx", "ok", "＝1", None, 3, -2.5)] == [
        "'=1+1",
        "'+1",
        "'-1",
        "'@x",
        "'\tx",
        "ok",
        "'＝1",
        "",
        3,
        -2.5,
    ]
    text = to_csv(Table("t", ("a", "b"), [['=HYPERLINK("x")', -1]]))
    assert text == 'a,b\r\n"\'=HYPERLINK(""x"")",-1\r\n'
