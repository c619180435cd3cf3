"""The embeddable subscribe form: GET /embed and POST /embed/subscribe (Origin check,
signed form token, the built-in form's rules and answers)."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from subscribers_support import T0, FakeClock, make_config, outbox_messages, secrets

from digest.backends.file import FileBackend
from digest.store.database import Store
from digest.tokens import Tokens
from subscribers import repository as repo
from subscribers.web.app import create_app
from subscribers.web.embed import EMBED_TOKEN_DAYS

SITE = "https://statecraft.example"
THANKS = "https://statecraft.example/thanks"


class Embed:
    def __init__(self, tmp_path: Path, store: Store, **web: object) -> None:
        self.cfg = make_config(tmp_path, web={"embed_origins": [SITE], **web})
        self.clock = FakeClock(T0)
        self.store = store
        self.outbox = tmp_path / "outbox"
        app = create_app(
            self.cfg,
            store=store,
            secrets=secrets(),
            clock=self.clock,
            backend=FileBackend(self.cfg, secrets()),
            subscribe_delay=0.0,
        )
        self.client = TestClient(app, follow_redirects=False)

    def snippet(self) -> str:
        response = self.client.get("/embed")
        assert response.status_code == 200
        return response.text

    def token(self) -> str:
        match = re.search(r'name="embed_token" value="([^"]+)"', self.snippet())
        assert match
        return match.group(1)

    def post(self, email: str, *, origin: str | None = SITE, **fields: str) -> object:
        data = {"email": email, "embed_token": self.token(), "website": "", **fields}
        headers = {"Origin": origin} if origin is not None else {}
        # a fresh client each time: the site's readers bring no cookie of ours
        self.client.cookies.clear()
        return self.client.post("/embed/subscribe", data=data, headers=headers)

    def status(self, email: str) -> str | None:
        with self.store.session() as s:
            sub = repo.get_by_email(s, email)
            return sub.status if sub else None


@pytest.fixture
def embed(tmp_path: Path, sqlite_store: Store) -> Embed:
    return Embed(tmp_path, sqlite_store)


def test_the_snippet(embed: Embed) -> None:
    response = embed.client.get("/embed")
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["cache-control"] == "no-store"
    html = response.text
    assert (
        '<form class="digest-embed" method="post" '
        'action="http://127.0.0.1:8000/embed/subscribe"' in html
    )
    assert 'name="email" type="email"' in html and 'class="digest-embed__button"' in html
    assert re.search(r'<div class="digest-embed__hp" hidden aria-hidden="true">', html)
    assert 'name="website"' in html  # the honeypot
    assert "<script" not in html and "style=" not in html  # the site styles it
    assert "January 5, 2027" in html  # when to paste a fresh copy
    assert "access-control-allow-origin" not in response.headers


def test_no_embed_without_origins(tmp_path: Path, sqlite_store: Store) -> None:
    site = Embed(tmp_path, sqlite_store, embed_origins=[])
    assert site.client.get("/embed").status_code == 404
    response = site.client.post(
        "/embed/subscribe", data={"email": "a@example.com"}, headers={"Origin": SITE}
    )
    assert response.status_code == 403 and site.status("a@example.com") is None


@pytest.mark.postgres
def test_from_an_allowed_origin_a_reader_is_pending_with_a_confirmation(
    tmp_path: Path, store: Store
) -> None:
    embed = Embed(tmp_path, store)
    response = embed.post("reader@example.com")
    assert response.status_code == 303  # type: ignore[attr-defined]
    assert response.headers["location"] == "/embed/thanks"  # type: ignore[attr-defined]
    assert "access-control-allow-origin" not in response.headers  # type: ignore[attr-defined]
    assert embed.status("reader@example.com") == "pending"
    [msg] = outbox_messages(embed.outbox)
    assert msg["To"] == "reader@example.com" and "/confirm/" in msg.get_body().get_content()  # type: ignore[union-attr]
    with store.session() as s:
        sub = repo.get_by_email(s, "reader@example.com")
        assert sub is not None and next(e.source for e in repo.events_for(s, sub)) == "form"
    thanks = embed.client.get("/embed/thanks")
    assert thanks.status_code == 200 and "Check your inbox" in thanks.text
    assert f'href="{SITE}">Back to statecraft.example' in thanks.text


def test_the_site_s_own_thank_you_page(tmp_path: Path, sqlite_store: Store) -> None:
    embed = Embed(tmp_path, sqlite_store, embed_thanks_url=THANKS)
    assert embed.post("reader@example.com").headers["location"] == THANKS  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "origin",
    [
        None,
        "null",
        "https://evil.example",
        "http://statecraft.example",  # another scheme
        "https://statecraft.example:8443",  # another port
        "https://www.statecraft.example",  # another host
        "https://statecraft.example/",  # not exactly the origin
    ],
)
def test_any_other_origin_is_refused_and_nothing_stored(embed: Embed, origin: str | None) -> None:
    response = embed.post("reader@example.com", origin=origin)
    assert response.status_code == 403  # type: ignore[attr-defined]
    assert "This form cannot be used here" in response.text  # type: ignore[attr-defined]
    assert "nothing has been stored" in response.text  # type: ignore[attr-defined]
    assert embed.status("reader@example.com") is None
    assert outbox_messages(embed.outbox) == []


@pytest.mark.parametrize("token", ["", "forged", "bad.token.here"])
def test_a_missing_or_forged_token_is_refused(embed: Embed, token: str) -> None:
    response = embed.post("reader@example.com", embed_token=token)
    assert response.status_code == 403  # type: ignore[attr-defined]
    assert embed.status("reader@example.com") is None


def test_a_csrf_token_of_the_built_in_form_is_not_an_embed_token(embed: Embed) -> None:
    page = embed.client.get("/")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf
    response = embed.post("reader@example.com", embed_token=csrf.group(1))
    assert response.status_code == 403  # type: ignore[attr-defined]


def test_the_token_expires(embed: Embed) -> None:
    token = embed.token()
    embed.clock.now = T0 + timedelta(days=EMBED_TOKEN_DAYS, seconds=1)
    response = embed.client.post(
        "/embed/subscribe",
        data={"email": "reader@example.com", "embed_token": token},
        headers={"Origin": SITE},
    )
    assert response.status_code == 403 and "has expired" in response.text
    assert embed.status("reader@example.com") is None


def test_a_token_signed_with_another_key_is_refused(embed: Embed) -> None:
    other = Tokens("another-secret-key-000000000").csrf("digest.embed.v1")
    response = embed.post("reader@example.com", embed_token=other)
    assert response.status_code == 403  # type: ignore[attr-defined]


def test_new_and_existing_addresses_get_identical_answers(embed: Embed) -> None:
    with embed.store.session() as s:
        repo.add(s, "active@example.com", at=T0, source="cli", status="active")
        repo.add(s, "pending@example.com", at=T0, source="cli", status="pending")
    answers = []
    for email in ("new@example.com", "active@example.com", "pending@example.com"):
        response = embed.post(email)
        answers.append(
            (
                response.status_code,  # type: ignore[attr-defined]
                response.content,  # type: ignore[attr-defined]
                sorted(
                    (k, v)
                    for k, v in response.headers.items()  # type: ignore[attr-defined]
                    if k not in ("date", "content-length")
                ),
            )
        )
    assert answers[0] == answers[1] == answers[2]
    assert embed.status("new@example.com") == "pending"
    assert len(outbox_messages(embed.outbox)) == 2  # new, and pending (resent); active: none


def test_the_honeypot_gets_the_same_answer_and_nothing_happens(embed: Embed) -> None:
    normal = embed.post("someone@example.com")
    trapped = embed.post("bot@example.com", website="http://spam.example")
    assert trapped.status_code == normal.status_code == 303  # type: ignore[attr-defined]
    assert trapped.headers["location"] == normal.headers["location"]  # type: ignore[attr-defined]
    assert embed.status("bot@example.com") is None


def test_rate_limits_are_the_built_in_form_s(tmp_path: Path, sqlite_store: Store) -> None:
    embed = Embed(tmp_path, sqlite_store, rate_limit_per_ip=2)
    # the built-in page and the embed count against the same limit, in the database
    page = embed.client.get("/")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token
    built_in = embed.client.post(
        "/subscribe", data={"email": "a@example.com", "csrf_token": token.group(1), "website": ""}
    )
    assert built_in.status_code == 200
    assert embed.post("b@example.com").status_code == 303  # type: ignore[attr-defined]
    limited = embed.post("c@example.com")
    assert limited.status_code == 429  # type: ignore[attr-defined]
    assert "retry-after" in limited.headers  # type: ignore[attr-defined]
    assert embed.status("c@example.com") is None


def test_an_invalid_address_shows_the_built_in_form(embed: Embed) -> None:
    response = embed.post("not an address")
    assert response.status_code == 400  # type: ignore[attr-defined]
    assert "doesn" in response.text and 'action="/subscribe"' in response.text  # type: ignore[attr-defined]
    assert 'value="not an address"' in response.text  # type: ignore[attr-defined]


def test_an_oversized_form_is_refused(embed: Embed) -> None:
    response = embed.client.post(
        "/embed/subscribe",
        data={"email": "a@example.com", "embed_token": embed.token(), "pad": "x" * 20_000},
        headers={"Origin": SITE},
    )
    assert response.status_code == 413 and embed.status("a@example.com") is None
