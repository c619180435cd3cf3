"""Signing in to the desk and what guards it: every page needs a session, the same answer
for every address, links that work once and for 15 minutes, form tokens, signing out,
the security headers."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from desk.app import DESK_CSP, PUBLIC_PATHS, desk_routes
from digest.editor import get_controls
from digest.store.database import Store
from tests.desk_support import (
    EDITOR,
    NOW,
    OTHER_EDITOR,
    hidden,
    mail_to,
    make_app,
    make_desk_config,
    outbox,
    press_link,
    request_link,
    sign_in,
    sign_in_link,
)
from tests.subscribers_support import FakeClock


@pytest.fixture
def desk_clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def client(tmp_path: Path, sqlite_store: Store, desk_clock: FakeClock) -> TestClient:
    return TestClient(make_app(make_desk_config(tmp_path), sqlite_store, desk_clock))


def _mounted() -> list[tuple[str, str]]:
    """(method, path) of every desk route but the public ones (sign-in, stylesheet)."""
    out: list[tuple[str, str]] = []
    for route in desk_routes():
        inner = route.routes if isinstance(route, Mount) else [route]
        base = "/desk" if isinstance(route, Mount) else ""
        for r in inner:
            assert isinstance(r, Route)
            if r.path in PUBLIC_PATHS:
                continue
            path = re.sub(r"\{reader_id:int\}", "1", base + r.path)
            path = re.sub(r"\{key\}", "2026-W46", path)
            path = re.sub(r"\{[^}]+\}", "x", path)
            for method in sorted((r.methods or {"GET"}) - {"HEAD"}):
                out.append((method, path))
    return out


ROUTES = _mounted()


def test_the_numbers_pages_are_guarded_too() -> None:
    paths = {p for _, p in ROUTES}
    assert {"/desk", "/desk/", "/desk/audit", "/desk/coming/preview.html"} <= paths
    try:
        import desk.numbers  # noqa: F401
    except ImportError:  # pragma: no cover - the other half of the desk is not there
        return
    assert "/desk/issues" in paths and "/desk/readers" in paths


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_desk_url_without_a_session_goes_to_sign_in(
    client: TestClient, method: str, path: str
) -> None:
    response = client.request(method, path, follow_redirects=False, data={"csrf": "x"})
    if method == "GET":
        assert response.status_code == 303
        assert response.headers["location"] == "/desk/sign-in"
    else:
        assert response.status_code == 403
    assert response.headers["content-security-policy"] == DESK_CSP
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"


def test_a_forged_cookie_is_no_session(client: TestClient) -> None:
    client.cookies.set("digest_desk", "InNvbWUtaWQi.c2lnbmF0dXJl", path="/desk")
    response = client.get("/desk", follow_redirects=False)
    assert response.status_code == 303


def test_a_non_editor_gets_the_same_answer_and_no_email(client: TestClient, tmp_path: Path) -> None:
    answers = []
    for address in ("nobody@example.org", "not an address", EDITOR.upper()):
        response = request_link(client, address)
        answers.append((response.status_code, response.text))
    assert answers[0] == answers[1] == answers[2]
    assert answers[0][0] == 200 and "Check your inbox" in answers[0][1]
    mails = outbox(tmp_path)
    assert len(mails) == 1  # the editor's, compared case-insensitively
    assert mails[0]["To"] == EDITOR
    assert "sign-in link" in str(mails[0]["Subject"])


def test_sign_in_through_the_emailed_link(
    tmp_path: Path, store: Store, desk_clock: FakeClock
) -> None:
    client = TestClient(make_app(make_desk_config(tmp_path), store, desk_clock))
    request_link(client, OTHER_EDITOR.lower())
    link = sign_in_link(mail_to(tmp_path, OTHER_EDITOR))
    # opening the link (a mail scanner) changes nothing: it still works afterwards
    for _ in range(2):
        page = client.get("/" + link.split("/", 3)[3])
        assert page.status_code == 200 and "Sign in" in page.text
    answer = press_link(client, link)
    assert answer.status_code == 303 and answer.headers["location"] == "/desk"
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/desk" in cookie
    assert "Secure" not in cookie  # public_url is http
    desk = client.get("/desk/audit")
    assert desk.status_code == 200 and OTHER_EDITOR in desk.text  # as the config writes it
    assert "signed in" in desk.text

    # the link works once: a second press (or a second device) is refused
    other = TestClient(client.app)
    again = press_link(other, link)
    assert again.status_code == 410 and "already been used" in again.text
    assert other.get("/desk", follow_redirects=False).status_code == 303


def test_secure_cookie_behind_https(tmp_path: Path, sqlite_store: Store) -> None:
    config = make_desk_config(tmp_path, public_url="https://news.example")
    client = TestClient(
        make_app(config, sqlite_store, FakeClock(NOW)), base_url="https://testserver"
    )
    request_link(client, EDITOR)
    answer = press_link(client, sign_in_link(mail_to(tmp_path, EDITOR)))
    assert answer.status_code == 303 and "Secure" in answer.headers["set-cookie"]


def test_an_expired_link_is_refused(
    client: TestClient, tmp_path: Path, desk_clock: FakeClock
) -> None:
    request_link(client, EDITOR)
    link = sign_in_link(mail_to(tmp_path, EDITOR))
    page = client.get("/" + link.split("/", 3)[3])
    assert page.status_code == 200
    desk_clock.now = NOW + timedelta(minutes=15, seconds=1)
    refused = client.get("/" + link.split("/", 3)[3])
    assert refused.status_code == 410 and "expired" in refused.text
    # the button of a page opened in time does not work either
    pressed = client.post(
        "/" + link.split("/", 3)[3],
        data={"csrf_token": hidden(page.text, "csrf_token")},
        follow_redirects=False,
    )
    assert pressed.status_code == 410
    assert client.get("/desk", follow_redirects=False).status_code == 303


def test_a_tampered_link_is_refused(client: TestClient, tmp_path: Path) -> None:
    request_link(client, EDITOR)
    link = sign_in_link(mail_to(tmp_path, EDITOR))
    assert press_link(client, link[:-2] + "xx").status_code == 400


def test_posts_without_the_right_form_token_are_refused_and_change_nothing(
    client: TestClient, tmp_path: Path, sqlite_store: Store
) -> None:
    csrf = sign_in(client, tmp_path)
    url = "https://statecraft.example/newest-story"
    # a second editor's session has its own token
    other = TestClient(client.app)
    other_csrf = sign_in(other, tmp_path, OTHER_EDITOR)
    assert other_csrf != csrf
    for data in (
        {"key": "2026-W47", "url": url},
        {"key": "2026-W47", "url": url, "csrf": ""},
        {"key": "2026-W47", "url": url, "csrf": csrf[:-1] + ("A" if csrf[-1] != "A" else "B")},
        {"key": "2026-W47", "url": url, "csrf": other_csrf},
    ):
        response = client.post("/desk/coming/pin", data=data, follow_redirects=False)
        assert response.status_code == 403
        assert "Nothing was changed" in response.text
    assert get_controls(sqlite_store, "2026-W47").empty
    # sign-out needs the token too
    assert client.post("/desk/sign-out", data={}).status_code == 403
    assert client.get("/desk", follow_redirects=False).status_code == 200
    # and with it, the change is made
    done = client.post(
        "/desk/coming/pin",
        data={"key": "2026-W47", "url": url, "csrf": csrf},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert get_controls(sqlite_store, "2026-W47").pin == url


def test_signing_out_ends_the_session_for_every_copy_of_the_cookie(
    tmp_path: Path, store: Store
) -> None:
    client = TestClient(make_app(make_desk_config(tmp_path), store, FakeClock(NOW)))
    csrf = sign_in(client, tmp_path)
    stolen = client.cookies.get("digest_desk")
    assert stolen
    out = client.post("/desk/sign-out", data={"csrf": csrf})
    assert out.status_code == 200 and "signed out" in out.text
    assert 'digest_desk=""' in out.headers["set-cookie"] or "Max-Age=0" in out.headers["set-cookie"]
    thief = TestClient(client.app)
    thief.cookies.set("digest_desk", stolen, path="/desk")
    assert thief.get("/desk", follow_redirects=False).status_code == 303
    assert (
        thief.post(
            "/desk/coming/note", data={"csrf": csrf, "key": "2026-W47", "note": "x"}
        ).status_code
        == 403
    )


def test_a_session_lasts_12_hours_from_its_last_use(
    client: TestClient, tmp_path: Path, desk_clock: FakeClock
) -> None:
    sign_in(client, tmp_path)
    desk_clock.now = NOW + timedelta(hours=11)
    assert client.get("/desk/audit", follow_redirects=False).status_code == 200  # renews
    desk_clock.now = NOW + timedelta(hours=22)
    assert client.get("/desk/audit", follow_redirects=False).status_code == 200
    desk_clock.now = NOW + timedelta(hours=34, seconds=1)  # 12 h without a request
    assert client.get("/desk/audit", follow_redirects=False).status_code == 303


def test_sign_in_is_rate_limited_per_address(client: TestClient, tmp_path: Path) -> None:
    statuses = [request_link(client, EDITOR).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert len(outbox(tmp_path)) >= 1


def test_the_sign_in_pages_carry_the_desk_headers(client: TestClient) -> None:
    for path in ("/desk/sign-in", "/desk/sign-in/nonsense"):
        response = client.get(path)
        assert response.headers["content-security-policy"] == DESK_CSP
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "same-origin"
        assert response.headers["cache-control"] == "no-store"
        assert "<script" not in response.text
    css = client.get("/desk/desk.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
