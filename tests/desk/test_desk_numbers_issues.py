"""The desk's issue pages: clicks per story from signed Event Webhook click events (the
unsubscribe and archive links never shown as stories, a batch posted twice counted once),
the list of issues with a chart per measure, hostile subjects and titles escaped."""

from __future__ import annotations

import base64
import json
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.testclient import TestClient

from digest.config import Config
from digest.store import clicks as click_store
from digest.store.database import Store
from digest.store.tables import IssueRecord
from subscribers.webhooks.sendgrid import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign_payload
from tests.desk_numbers_support import desk_app, seed_issue
from tests.subscribers_support import FakeClock, make_config

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
KEY = "2026-W47"
PUBLIC = "http://127.0.0.1:8000"
ONE = "https://statecraft.example/2026/11/one"
TWO = "https://statecraft.example/2026/11/two/"  # the click comes without the slash
THREE = "https://statecraft.example/2026/11/three"
SVG_NS = "{http://www.w3.org/2000/svg}"
HOSTILE = '<script>alert(1)</script><img src=x onerror="alert(2)">'


@pytest.fixture(scope="module")
def private_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def config(tmp_path: Path, private_key: ec.EllipticCurvePrivateKey) -> Config:
    der = private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    key = base64.b64encode(der).decode("ascii")
    return make_config(tmp_path, public_url=PUBLIC, web={"sendgrid_webhook_public_key": key})


@pytest.fixture
def client(store: Store, config: Config) -> TestClient:
    return TestClient(desk_app(store, config, FakeClock(NOW)), base_url="http://127.0.0.1")


def click(n: int, url: str, **extra: Any) -> dict[str, Any]:
    event = {
        "email": f"reader{n}@example.org",
        "timestamp": int(NOW.timestamp()) - 600 + n,
        "event": "click",
        "url": url,
        "url_offset": {"index": 0, "type": "html"},
        "sg_event_id": f"sg-click-{n}",
        "sg_message_id": f"msg{n}.filter",
        "issue": KEY,
    }
    event.update(extra)
    return event


def post_signed(client: TestClient, key: ec.EllipticCurvePrivateKey, events: list[Any]) -> None:
    body = json.dumps(events).encode()
    ts = str(int(NOW.timestamp()))
    headers = {
        SIGNATURE_HEADER: sign_payload(key, ts, body),
        TIMESTAMP_HEADER: ts,
        "Content-Type": "application/json",
    }
    response = client.post("/webhooks/sendgrid", content=body, headers=headers)
    assert response.status_code == 200, response.text


def story_rows(html: str) -> list[tuple[str, int]]:
    """(title, clicks) of the clicks-per-story table, in its order."""
    table = html.split("<h2>Clicks per story</h2>", 1)[1].split("</table>", 1)[0]
    rows = re.findall(
        r'<th scope="row" class="text"><a [^>]*>(.*?)</a></th>\s*<td>[^<]*</td>\s*<td>([\d,]+)</td>',
        table,
    )
    return [(title, int(n.replace(",", ""))) for title, n in rows]


def svgs(html: str) -> list[ET.Element]:
    return [ET.fromstring(m) for m in re.findall(r"<svg .*?</svg>", html, flags=re.DOTALL)]


def seed(store: Store) -> None:
    seed_issue(
        store,
        KEY,
        as_of=NOW - timedelta(hours=6),
        subject="Statecraft Weekly: the week",
        articles=(
            (ONE, "lead", "The first story"),
            (TWO, "latest", "The second story"),
            (THREE, "latest", "The third story"),
        ),
        recipients=10,
        sent=10,
        delivered=9,
    )


def batch() -> list[dict[str, Any]]:
    return [
        click(1, ONE),
        click(2, ONE + "?utm_source=newsletter"),  # SendGrid's own tracking parameters
        click(3, ONE),
        click(4, TWO.rstrip("/")),
        click(5, TWO),
        click(6, f"{PUBLIC}/unsubscribe/eyJ1Ijo0Mn0.c2lnbmF0dXJl"),
        click(7, f"{PUBLIC}/unsubscribe/eyJ1Ijo0M30.b3RoZXJzaWc"),
        click(8, f"{PUBLIC}/issues/{KEY}"),  # view in browser
    ]


def test_clicks_per_story_and_nothing_for_the_unsubscribe_link(
    client: TestClient, store: Store, private_key: ec.EllipticCurvePrivateKey
) -> None:
    seed(store)
    post_signed(client, private_key, batch())

    page = client.get(f"/desk/issues/{KEY}")
    assert page.status_code == 200
    assert story_rows(page.text) == [
        ("The first story", 3),
        ("The second story", 2),
        ("The third story", 0),
    ]
    assert "unsubscribe/" not in page.text.split("<h2>Clicks per story</h2>", 1)[1]
    assert "Other links (view in browser, unsubscribe, the site): 3 clicks" in page.text
    # stored per link; the unsubscribe links without the reader's token, in one row
    stored = click_store.clicks_of(store, KEY)
    assert stored[f"{PUBLIC}/unsubscribe/"] == 2
    assert not any("eyJ1" in url for url in stored)
    with store.session() as s:
        record = s.get(IssueRecord, KEY)
        assert record is not None and record.clicked == 8

    # the chart of the page: one bar per story
    (chart,) = svgs(page.text)
    assert len(chart.findall(f".//{SVG_NS}rect[@class='mark']")) == 3


def test_the_same_batch_twice_counts_once(
    client: TestClient, store: Store, private_key: ec.EllipticCurvePrivateKey
) -> None:
    seed(store)
    post_signed(client, private_key, batch())
    first = click_store.clicks_of(store, KEY)
    post_signed(client, private_key, batch())
    post_signed(client, private_key, batch()[:3] + [click(9, THREE)])  # 3 repeats, 1 new
    after = click_store.clicks_of(store, KEY)
    assert after == {**first, THREE: 1}
    page = client.get(f"/desk/issues/{KEY}")
    assert story_rows(page.text)[:2] == [("The first story", 3), ("The second story", 2)]


def test_clicks_for_an_issue_not_in_the_database_are_not_stored(
    client: TestClient, store: Store, private_key: ec.EllipticCurvePrivateKey
) -> None:
    seed(store)
    post_signed(client, private_key, [click(1, ONE, issue="2026-W40")])
    assert click_store.clicks_of(store, "2026-W40") == {}


def test_issues_page_lists_the_year_with_a_chart_per_measure(
    client: TestClient, store: Store
) -> None:
    for week, delivered in ((45, 100), (46, 120), (47, 90)):
        seed_issue(
            store,
            f"2026-W{week}",
            as_of=NOW - timedelta(weeks=47 - week),
            subject=f"Issue {week}",
            recipients=130,
            sent=130,
            delivered=delivered,
            opened=delivered * 2,
            clicked=week,
        )
    seed_issue(store, "2025-W40", as_of=NOW - timedelta(days=400), subject="Too old", sent=1)
    seed_issue(
        store, "2026-W44", as_of=NOW - timedelta(weeks=3), subject="Skipped", status="skipped"
    )

    page = client.get("/desk/issues")
    assert page.status_code == 200
    html = page.text
    assert "Too old" not in html and "Skipped" not in html
    assert html.index("2026-W47") < html.index("2026-W45")  # the table: newest first
    assert "Opens are unreliable" in html and "Apple Mail Privacy Protection" in html
    assert "76.9%" in html  # 100 delivered of 130 sent
    charts = svgs(html)
    assert len(charts) == 6
    for chart in charts:
        assert chart.get("role") == "img"
        assert chart.find(f"{SVG_NS}title") is not None
        assert (chart.find(f"{SVG_NS}desc").text or "").strip()  # type: ignore[union-attr]
        marks = chart.findall(f".//{SVG_NS}rect[@class='mark']")
        assert len(marks) == 3  # one per issue
        assert all(m.find(f"{SVG_NS}title") is not None for m in marks)
        labels = [t.text for t in chart.findall(f".//{SVG_NS}g[@class='x-labels']/{SVG_NS}text")]
        assert "2026-W47" in labels
    delivered = next(c for c in charts if c.get("id") == "chart-delivered")
    titles = [m.findtext(f"{SVG_NS}title") for m in delivered.iter(f"{SVG_NS}rect")]
    assert "2026-W45 (2026-11-06): 100 delivered, 76.9%" in titles
    opened = next(c for c in charts if c.get("id") == "chart-opened")
    assert "unreliable" in (opened.findtext(f"{SVG_NS}title") or "")


def test_hostile_subjects_and_titles_are_escaped(client: TestClient, store: Store) -> None:
    seed_issue(
        store,
        KEY,
        as_of=NOW - timedelta(hours=6),
        subject='=HYPERLINK("http://evil")' + HOSTILE,
        articles=(("javascript:alert(3)", "lead", HOSTILE), (ONE, "latest", "-2+3")),
        sent=5,
    )
    for url in ("/desk/issues", f"/desk/issues/{KEY}"):
        html = client.get(url).text
        assert "<script>alert(1)" not in html and "<img src=x" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        for chart in svgs(html):  # still well-formed XML with the text inside
            assert chart is not None
    page = client.get(f"/desk/issues/{KEY}").text
    assert 'href="javascript:' not in page
    (chart,) = svgs(page)
    titles = [m.findtext(f"{SVG_NS}title") for m in chart.iter(f"{SVG_NS}rect")]
    assert f"{HOSTILE}: 0 clicks" in titles  # the text, not markup

    csv_text = client.get("/desk/issues?format=csv").text
    assert "'=HYPERLINK" in csv_text
    stories = client.get(f"/desk/issues/{KEY}?format=csv").text
    assert ",'-2+3," in stories


def test_unknown_or_malformed_issue_is_404(client: TestClient) -> None:
    assert client.get("/desk/issues/2026-W01").status_code == 404
    assert client.get("/desk/issues/..%2Fetc").status_code == 404
    assert client.get("/desk/issues?format=xml").status_code == 400
