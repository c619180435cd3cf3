"""The web app through Starlette's TestClient: every route, every error page."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from starlette.routing import Route
from starlette.testclient import TestClient
from subscribers_support import T0, FakeClock, confirm_link, make_config, outbox_messages, secrets

from digest.backends.file import FileBackend
from digest.config import Config
from digest.errors import TokenError
from digest.store.database import Store
from subscribers import repository as repo
from subscribers.web.app import create_app

SECURITY = {
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
}


@dataclass
class Site:
    client: TestClient
    config: Config
    store: Store
    clock: FakeClock
    outbox: Path

    def form_token(self, path: str = "/") -> str:
        page = self.client.get(path)
        match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert match, page.text
        return match.group(1)

    def subscribe(self, email: str, **extra: str) -> object:
        token = self.form_token()
        return self.client.post(
            "/subscribe", data={"email": email, "csrf_token": token, "website": "", **extra}
        )

    def status(self, email: str) -> str | None:
        with self.store.session() as s:
            sub = repo.get_by_email(s, email)
            return sub.status if sub else None

    def ledger(self, email: str) -> list[tuple[str, str | None]]:
        with self.store.session() as s:
            sub = repo.get_by_email(s, email)
            assert sub is not None
            return [(e.kind, e.source) for e in repo.events_for(s, sub)]

    def add(self, email: str, status: str = "active") -> int:
        with self.store.session() as s:
            sub = repo.add(
                s, email, at=T0, source="cli", status="active" if status != "pending" else "pending"
            )
            if status not in ("active", "pending"):
                repo.set_status(s, sub, status, source="cli", at=T0)
            return sub.id

    def unsubscribe_path(self, subscriber_id: int, email: str | None = None) -> str:
        from digest.tokens import Tokens

        return (
            f"/unsubscribe/{Tokens(secrets().secret_key or '').unsubscribe(subscriber_id, email)}"
        )


def make_site(
    tmp_path: Path,
    store: Store,
    web: dict[str, object] | None = None,
    *,
    subscribe_delay: float = 0.0,
) -> Site:
    clock = FakeClock(T0)
    cfg = make_config(tmp_path, web=web)
    # TestClient waits for the work after the answer: no random wait before it here
    app = create_app(
        cfg,
        store=store,
        secrets=secrets(),
        clock=clock,
        backend=FileBackend(cfg, secrets()),
        subscribe_delay=subscribe_delay,
    )
    return Site(TestClient(app), cfg, store, clock, tmp_path / "outbox")


@pytest.fixture
def site(tmp_path: Path, sqlite_store: Store) -> Site:
    return make_site(tmp_path, sqlite_store)


def assert_secure(response: object) -> None:
    headers = response.headers  # type: ignore[attr-defined]
    for name, value in SECURITY.items():
        assert headers[name] == value, name
    csp = headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'none'" in csp


def path_of(link: str) -> str:
    return urlsplit(link).path


# --- the subscribe page ---------------------------------------------------------------


def test_subscribe_page(site: Site) -> None:
    page = site.client.get("/")
    assert page.status_code == 200
    assert_secure(page)
    assert "Statecraft Weekly" in page.text
    assert "Subscribe now to our weekly round-up" in page.text
    assert '<label for="email">Email address</label>' in page.text
    assert 'id="email" name="email" type="email"' in page.text
    assert '<form method="post" action="/subscribe"' in page.text
    assert "<script" not in page.text
    assert "digest_csrf" in page.headers["set-cookie"]
    assert "HttpOnly" in page.headers["set-cookie"] and "SameSite=lax" in page.headers["set-cookie"]
    assert site.client.get("/static/site.css").headers["content-type"].startswith("text/css")
    redirect = site.client.get("/subscribe", follow_redirects=False)
    assert redirect.status_code == 303 and redirect.headers["location"] == "/"


def test_subscribe_sends_a_confirmation(site: Site) -> None:
    response = site.subscribe("New.Reader@Example.com")
    assert response.status_code == 200  # type: ignore[attr-defined]
    assert "Check your inbox" in response.text  # type: ignore[attr-defined]
    assert_secure(response)
    assert site.status("new.reader@example.com") == "pending"
    [msg] = outbox_messages(site.outbox)
    assert msg["To"] == "New.Reader@example.com"
    assert confirm_link(msg).startswith("http://127.0.0.1:8000/confirm/")
    ledger = site.ledger("new.reader@example.com")
    assert ledger == [("subscribed", "form"), ("confirmation_sent", "form")]
    with site.store.session() as s:
        sub = repo.get_by_email(s, "new.reader@example.com")
        assert sub is not None
        ev = repo.events_for(s, sub)[0]
        assert (
            ev.ip == "testclient"
            and ev.user_agent
            and ev.form_version == site.config.web.form_version
        )


def test_post_answer_is_identical_whatever_the_address(site: Site) -> None:
    site.add("active@example.com", "active")
    site.add("pending@example.com", "pending")
    site.add("left@example.com", "unsubscribed")
    site.add("bounced@example.com", "bounced")
    site.add("complained@example.com", "complained")
    answers = []
    for email in [
        "new@example.com",
        "active@example.com",
        "pending@example.com",
        "left@example.com",
        "bounced@example.com",
        "complained@example.com",
    ]:
        r = site.subscribe(email)
        headers = {k: v for k, v in r.headers.items() if k != "date"}  # type: ignore[attr-defined]
        answers.append((r.status_code, r.content, headers))  # type: ignore[attr-defined]
    assert all(a == answers[0] for a in answers), "the answer reveals who is subscribed"
    assert "set-cookie" not in answers[0][2]
    # active, bounced and complained got no email; new, pending and unsubscribed did
    sent_to = sorted(m["To"] for m in outbox_messages(site.outbox))
    assert sent_to == ["left@example.com", "new@example.com", "pending@example.com"]
    assert site.status("active@example.com") == "active"
    assert site.status("bounced@example.com") == "bounced"
    assert site.status("left@example.com") == "pending"


def test_resend_is_throttled(site: Site) -> None:
    site.subscribe("p@example.com")
    site.clock.now = T0 + timedelta(minutes=1)
    site.subscribe("p@example.com")
    assert [k for k, _ in site.ledger("p@example.com")].count("confirmation_sent") == 1
    site.clock.now = T0 + timedelta(minutes=site.config.web.resend_confirmation_minutes + 1)
    site.subscribe("p@example.com")
    assert [k for k, _ in site.ledger("p@example.com")].count("confirmation_sent") == 2


def test_the_answer_goes_out_before_the_address_is_looked_up(
    tmp_path: Path, sqlite_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 11, item 9: how long the answer takes must not depend on the address's state
    (active addresses were answered ~3 ms sooner, enough to enumerate the list). Nothing
    that depends on the state may happen before the answer is complete, and it waits a
    random moment after it; its effects (status, confirmation emails) still follow."""
    from subscribers.web import pages

    site = make_site(tmp_path, sqlite_store, subscribe_delay=0.01)
    site.add("active@example.com", "active")
    site.add("pending@example.com", "pending")
    site.add("left@example.com", "unsubscribed")
    wf = site.client.app.state.workflow  # type: ignore[attr-defined]
    seen: list[str] = []
    real = wf.request_subscription

    def looked_up(*args: object, **kwargs: object) -> object:
        seen.append("looked up")
        return real(*args, **kwargs)

    monkeypatch.setattr(wf, "request_subscription", looked_up)
    real_uniform = pages._jitter.uniform

    def waited(low: float, high: float) -> float:
        seen.append(f"waited up to {high} s")
        return real_uniform(low, high)

    monkeypatch.setattr(pages._jitter, "uniform", waited)
    app = site.client.app

    async def watched(scope: Any, receive: Any, send: Any) -> None:
        async def sending(message: Any) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                seen.append("answered")

        await app(scope, receive, sending)

    client = TestClient(watched)
    for email in [
        "new@example.com",
        "pending@example.com",
        "active@example.com",
        "left@example.com",
    ]:
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/").text)
        assert token
        seen.clear()
        r = client.post("/subscribe", data={"email": email, "csrf_token": token.group(1)})
        assert r.status_code == 200 and "Check your inbox" in r.text
        assert seen == ["answered", "waited up to 0.01 s", "looked up"], email
    sent_to = sorted(m["To"] for m in outbox_messages(site.outbox))
    assert sent_to == ["left@example.com", "new@example.com", "pending@example.com"]
    assert site.status("new@example.com") == "pending"
    assert site.status("left@example.com") == "pending"
    assert site.status("active@example.com") == "active"


def test_posts_wait_for_room_when_the_work_after_answers_backs_up(site: Site) -> None:
    """Answering before the work must not let a flood pile up work without end: past the
    backlog a post waits, before its answer, for an earlier post's work to finish."""
    import threading

    import anyio
    import anyio.lowlevel
    import anyio.to_thread
    import httpx

    app: Any = site.client.app
    backlog = app.state.subscribe_backlog = anyio.Semaphore(1)
    wf = app.state.workflow
    stuck, release = threading.Event(), threading.Event()
    real = wf.request_subscription

    def slow_first(email: str, **kwargs: Any) -> Any:
        if email == "first@example.com":
            stuck.set()
            assert release.wait(10)
        return real(email, **kwargs)

    wf.request_subscription = slow_first

    async def main() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            page = await client.get("/")
            token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
            assert token

            async def post(email: str) -> None:
                r = await client.post(
                    "/subscribe", data={"email": email, "csrf_token": token.group(1)}
                )
                assert r.status_code == 200

            with anyio.fail_after(10):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(post, "first@example.com")
                    await anyio.to_thread.run_sync(stuck.wait)  # its work began, and hangs
                    tg.start_soon(post, "second@example.com")
                    while backlog.statistics().tasks_waiting == 0:
                        await anyio.lowlevel.checkpoint()
                    assert site.status("second@example.com") is None  # waiting for room
                    release.set()

    anyio.run(main)
    assert site.status("first@example.com") == site.status("second@example.com") == "pending"


def test_a_failure_after_the_answer_is_logged_not_shown(
    site: Site, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    normal = site.subscribe("first@example.com")
    wf = site.client.app.state.workflow  # type: ignore[attr-defined]

    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(wf, "request_subscription", broken)
    r = site.subscribe("second@example.com")
    assert r.status_code == 200 and r.content == normal.content  # type: ignore[attr-defined]
    assert "the database went away" in caplog.text
    assert "second@example.com" not in caplog.text


def test_post_without_csrf_is_refused(site: Site) -> None:
    r = site.client.post("/subscribe", data={"email": "x@example.com"})
    assert r.status_code == 403 and "Please try again" in r.text
    assert_secure(r)
    # a token from another browser (cookie) does not work either
    token = site.form_token()
    other = TestClient(site.client.app)
    r = other.post("/subscribe", data={"email": "x@example.com", "csrf_token": token})
    assert r.status_code == 403
    r = site.client.post("/subscribe", data={"email": "x@example.com", "csrf_token": token + "x"})
    assert r.status_code == 403
    assert site.status("x@example.com") is None
    assert outbox_messages(site.outbox) == []


def test_honeypot_gets_the_same_answer_and_nothing_happens(site: Site) -> None:
    normal = site.subscribe("real@example.com")
    bot = site.subscribe("bot@example.com", website="http://spam.example")
    assert bot.status_code == 200 and bot.content == normal.content  # type: ignore[attr-defined]
    assert site.status("bot@example.com") is None


@pytest.mark.parametrize(
    "bad, message",
    [
        ("", "Please enter your email address."),
        ("not-an-address", "doesn&#39;t look like an email address"),
        ("<script>alert(1)</script>@x", "doesn&#39;t look like an email address"),
    ],
)
def test_invalid_address_shows_the_form_again(site: Site, bad: str, message: str) -> None:
    r = site.subscribe(bad)
    assert r.status_code == 400  # type: ignore[attr-defined]
    text = r.text  # type: ignore[attr-defined]
    assert message in text
    assert 'aria-invalid="true"' in text and 'role="alert"' in text
    assert "<script>alert" not in text
    assert outbox_messages(site.outbox) == []
    with site.store.session() as s:
        assert repo.counts_by_status(s)["pending"] == 0


def test_rate_limit_per_ip(tmp_path: Path, sqlite_store: Store) -> None:
    site = make_site(
        tmp_path, sqlite_store, web={"rate_limit_per_ip": 3, "rate_limit_window_seconds": 600}
    )
    for i in range(3):
        assert site.subscribe(f"u{i}@example.com").status_code == 200  # type: ignore[attr-defined]
    r = site.subscribe("u3@example.com")
    assert r.status_code == 429  # type: ignore[attr-defined]
    assert "Please wait a moment" in r.text and "10 minutes" in r.text  # type: ignore[attr-defined]
    assert int(r.headers["retry-after"]) == 600  # type: ignore[attr-defined]
    assert_secure(r)
    assert site.status("u3@example.com") is None
    site.clock.now = T0 + timedelta(seconds=601)
    assert site.subscribe("u3@example.com").status_code == 200  # type: ignore[attr-defined]


def test_rate_limit_per_address(tmp_path: Path, sqlite_store: Store) -> None:
    site = make_site(tmp_path, sqlite_store, web={"rate_limit_per_address": 2})
    assert site.subscribe("same@example.com").status_code == 200  # type: ignore[attr-defined]
    assert site.subscribe("SAME@example.com").status_code == 200  # type: ignore[attr-defined]
    assert site.subscribe("same@example.com").status_code == 429  # type: ignore[attr-defined]
    assert site.subscribe("other@example.com").status_code == 200  # type: ignore[attr-defined]


def test_oversized_form_is_refused(site: Site) -> None:
    token = site.form_token()
    r = site.client.post(
        "/subscribe", data={"email": "a@example.com", "csrf_token": token, "name": "x" * 20000}
    )
    assert r.status_code == 413
    assert site.status("a@example.com") is None


# --- confirm ------------------------------------------------------------------------


def _subscribed_link(site: Site, email: str = "c@example.com") -> str:
    site.subscribe(email)
    return path_of(confirm_link(outbox_messages(site.outbox)[0]))


def test_confirm_get_shows_a_button_and_changes_nothing(site: Site) -> None:
    link = _subscribed_link(site)
    for _ in range(3):  # a link scanner opening it
        page = site.client.get(link)
        assert page.status_code == 200
        assert "Confirm my subscription" in page.text and '<form method="post">' in page.text
        assert page.headers["cache-control"] == "no-store"
        assert_secure(page)
    assert site.status("c@example.com") == "pending"


def test_confirm_post_activates_once(site: Site) -> None:
    link = _subscribed_link(site)
    token = site.form_token(link)
    site.clock.now = T0 + timedelta(minutes=3)
    r = site.client.post(link, data={"csrf_token": token})
    assert r.status_code == 200 and "You are subscribed" in r.text
    assert site.status("c@example.com") == "active"
    again = site.client.post(link, data={"csrf_token": token})
    assert again.status_code == 200 and "already confirmed" in again.text
    assert [k for k, _ in site.ledger("c@example.com")].count("confirmed") == 1
    assert "already confirmed" in site.client.get(link).text


def test_confirm_post_needs_csrf(site: Site) -> None:
    link = _subscribed_link(site)
    r = TestClient(site.client.app).post(link, data={})
    assert r.status_code == 403
    assert site.status("c@example.com") == "pending"


def test_tampered_confirm_link_gets_a_clear_page(site: Site) -> None:
    link = _subscribed_link(site)
    token = site.form_token("/")
    for bad in (link[:-4] + "abcd", "/confirm/garbage", link + "x"):
        page = site.client.get(bad)
        assert page.status_code == 400
        assert "This link does not work" in page.text and "Nothing has been changed" in page.text
        assert site.client.post(bad, data={"csrf_token": token}).status_code == 400
    assert site.status("c@example.com") == "pending"


def test_expired_confirm_link(site: Site) -> None:
    link = _subscribed_link(site)
    site.clock.now = T0 + timedelta(days=site.config.web.confirm_token_days, hours=1)
    page = site.client.get(link)
    assert page.status_code == 400 and "expired" in page.text
    assert site.status("c@example.com") == "pending"


# --- unsubscribe ----------------------------------------------------------------------


def test_unsubscribe_page_then_button(site: Site) -> None:
    sid = site.add("u@example.com")
    link = site.unsubscribe_path(sid, "u@example.com")
    page = site.client.get(link)
    assert page.status_code == 200 and "u@example.com" in page.text
    assert '<form method="post">' in page.text and ">Unsubscribe</button>" in page.text
    assert site.status("u@example.com") == "active"
    r = site.client.post(link)
    assert r.status_code == 200 and "You are unsubscribed" in r.text
    assert site.status("u@example.com") == "unsubscribed"
    assert site.ledger("u@example.com")[-1] == ("unsubscribed", "form")
    assert "You are not subscribed" in site.client.get(link).text


def test_one_click_post_without_cookie_or_csrf(site: Site) -> None:
    sid = site.add("oc@example.com")
    link = site.unsubscribe_path(sid, "oc@example.com")
    raw = TestClient(site.client.app)  # a mail provider: no cookie, no token
    r = raw.post(
        link,
        content=b"List-Unsubscribe=One-Click",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert 200 <= r.status_code < 300
    assert_secure(r)
    assert site.status("oc@example.com") == "unsubscribed"
    with site.store.session() as s:
        sub = repo.get_by_email(s, "oc@example.com")
        assert sub is not None
        ev = repo.events_for(s, sub)[-1]
        assert (
            ev.kind == "unsubscribed" and ev.source == "email" and "RFC 8058" in (ev.detail or "")
        )
    # again: still 2xx, nothing new in the ledger
    assert raw.post(link, content=b"List-Unsubscribe=One-Click").status_code == 200
    assert len(site.ledger("oc@example.com")) == 3


def test_one_click_multipart_body(site: Site) -> None:
    sid = site.add("mp@example.com")
    r = TestClient(site.client.app).post(
        site.unsubscribe_path(sid), files={"List-Unsubscribe": (None, "One-Click")}
    )
    assert r.status_code == 200
    assert site.status("mp@example.com") == "unsubscribed"


def test_tampered_unsubscribe_link_changes_nothing(site: Site) -> None:
    sid = site.add("keep@example.com")
    link = site.unsubscribe_path(sid)
    for bad in (
        link[:-3] + "xyz",
        "/unsubscribe/abc",
        link.replace("/unsubscribe/", "/unsubscribe/x"),
    ):
        assert site.client.get(bad).status_code == 400
        r = site.client.post(bad, content=b"List-Unsubscribe=One-Click")
        assert r.status_code == 400 and "This link does not work" in r.text
    assert site.status("keep@example.com") == "active"


def test_another_subscribers_link_only_touches_that_subscriber(site: Site) -> None:
    a = site.add("a@example.com")
    site.add("b@example.com")
    site.client.post(site.unsubscribe_path(a), content=b"List-Unsubscribe=One-Click")
    assert site.status("a@example.com") == "unsubscribed"
    assert site.status("b@example.com") == "active"


def test_a_link_with_padding_appended_does_not_work(site: Site) -> None:
    """A token has one canonical form: `==` decodes to the same signature, but it is not
    the link that was sent."""
    sid = site.add("pad@example.com")
    link = site.unsubscribe_path(sid, "pad@example.com")
    for variant in (link + "==", link + "="):
        assert site.client.get(variant).status_code == 400
        r = TestClient(site.client.app).post(variant, content=b"List-Unsubscribe=One-Click")
        assert r.status_code == 400 and "This link does not work" in r.text
    assert site.status("pad@example.com") == "active"
    assert site.client.get(link).status_code == 200


def test_links_of_an_issue_signed_with_the_previous_key_still_unsubscribe(
    tmp_path: Path, sqlite_store: Store, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Key rotation: an issue went out signed with the old key; the app now signs with a new
    one and has the old one in DIGEST_SECRET_KEY_PREVIOUS, so the issue's page and its
    RFC 8058 one-click POST both still work (and without the old key, neither does)."""
    from digest.config import Secrets
    from digest.send import run_send
    from tests.delivery_support import NOW, add_subscribers, sample_config

    old, new = "the-key-of-the-issue-already-sent", "the-key-after-the-rotation-0123"
    monkeypatch.setenv("DIGEST_SECRET_KEY", old)
    monkeypatch.delenv("DIGEST_DATABASE_URL", raising=False)
    cfg = sample_config(tmp_path, sqlite_url)
    add_subscribers(sqlite_store, {"active": 2})
    assert run_send(cfg, sqlite_store, as_of=cfg.fixed_as_of(), clock=lambda: NOW).outcome == "sent"  # type: ignore[arg-type]
    links = {
        str(m["To"]): path_of(str(m["List-Unsubscribe"]).strip("<>"))
        for m in outbox_messages(tmp_path / "outbox")
    }
    page_link, one_click_link = (
        links["active-0@example.com"],
        links["Reader 1 <active-1@example.com>"],
    )

    def app(**env: str) -> TestClient:
        keys = Secrets.from_env(env)
        return TestClient(
            create_app(
                cfg,
                store=sqlite_store,
                secrets=keys,
                clock=FakeClock(T0),
                backend=FileBackend(cfg, keys),
            )
        )

    alone = app(DIGEST_SECRET_KEY=new)
    r = alone.post(one_click_link, content=b"List-Unsubscribe=One-Click")
    assert r.status_code == 400 and "This link does not work" in r.text
    rotated = app(DIGEST_SECRET_KEY=new, DIGEST_SECRET_KEY_PREVIOUS=f"{'x' * 20},{old}")
    page = rotated.get(page_link)
    assert page.status_code == 200 and "active-0@example.com" in page.text
    assert rotated.post(page_link).status_code == 200  # the page's button
    provider = TestClient(rotated.app)  # a mail provider: no cookie, no form token
    r = provider.post(
        one_click_link,
        content=b"List-Unsubscribe=One-Click",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 200
    with sqlite_store.session() as s:
        for email in ("active-0@example.com", "active-1@example.com"):
            sub = repo.get_by_email(s, email)
            assert sub is not None and sub.status == "unsubscribed"
    # a confirmation link signed before the rotation works too
    from digest.tokens import Tokens

    with sqlite_store.session() as s:
        pending = repo.add(s, "pending@example.com", at=T0, source="cli", status="pending")
        pending.confirm_nonce = "nonce-before-the-rotation"
        s.flush()
        confirm = Tokens(old, clock=FakeClock(T0)).confirm(pending.id, pending.confirm_nonce)
    page = rotated.get(f"/confirm/{confirm}")
    assert page.status_code == 200 and "pending@example.com" in page.text


# --- the rest -----------------------------------------------------------------------------


def test_healthz(site: Site) -> None:
    r = site.client.get("/healthz")
    assert r.status_code == 200 and r.json()["status"] == "ok"
    assert_secure(r)


def test_healthz_reports_a_broken_database(tmp_path: Path) -> None:
    from digest.store.database import open_store

    store = open_store(f"sqlite:///{tmp_path / 'x.db'}")
    site = make_site(tmp_path, store)
    store.engine.dispose()
    (tmp_path / "x.db").unlink()
    (tmp_path / "x.db").mkdir()  # the file is now a directory: unopenable
    r = site.client.get("/healthz")
    assert r.status_code == 503 and r.json()["status"] == "error"


def test_not_found_and_wrong_method_pages(site: Site) -> None:
    r = site.client.get("/nope")
    assert r.status_code == 404 and "Page not found" in r.text
    assert_secure(r)
    r = site.client.delete("/")
    assert r.status_code == 405
    assert_secure(r)


def test_server_error_page_has_security_headers(site: Site) -> None:
    def boom(request: object) -> None:
        raise RuntimeError("database exploded")

    site.client.app.router.routes.append(Route("/boom", boom))  # type: ignore[attr-defined]
    client = TestClient(site.client.app, raise_server_exceptions=False)
    r = client.get("/boom")
    assert r.status_code == 500 and "Something went wrong" in r.text
    assert "database exploded" not in r.text
    assert_secure(r)


def test_app_refuses_to_start_without_a_secret_key(tmp_path: Path, sqlite_store: Store) -> None:
    with pytest.raises(TokenError, match=r"export DIGEST_SECRET_KEY=\$\(python -c"):
        create_app(make_config(tmp_path), store=sqlite_store, secrets=secrets(None))


def test_app_state_for_other_routes(site: Site) -> None:
    state = site.client.app.state  # type: ignore[attr-defined]
    for name in ("config", "store", "secrets", "clock", "backend", "templates"):
        assert getattr(state, name) is not None
    html = state.templates.get_template("base.html").render(title="x")
    assert "Statecraft Weekly" in html


def test_webhook_route_is_mounted_without_csrf_and_with_headers(site: Site) -> None:
    # no cookie, no form token: the webhook answers on its own terms (here: unsigned → refused),
    # never with the CSRF page, and still carries the security headers
    r = TestClient(site.client.app).post(
        "/webhooks/sendgrid", content=b"[]", headers={"content-type": "application/json"}
    )
    assert r.status_code != 404 and "Please try again" not in r.text
    assert_secure(r)
