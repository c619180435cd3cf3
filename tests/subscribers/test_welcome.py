"""The welcome email: one, when a reader confirms; never on a second confirm."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from starlette.testclient import TestClient
from subscribers_support import T0, FakeClock, confirm_link, make_config, outbox_messages, secrets

from digest.backends.file import FileBackend
from digest.config import Config
from digest.errors import PermanentDeliveryError
from digest.store.database import Store
from digest.store.tables import IssueArticle, IssueRecord
from digest.tokens import Tokens
from subscribers import repository as repo
from subscribers.web.app import create_app
from subscribers.workflow import Workflow


def config(tmp_path: Path, **newsletter: object) -> Config:
    cfg = make_config(tmp_path)
    return replace(cfg, newsletter=replace(cfg.newsletter, **newsletter))


def workflow(cfg: Config, store: Store) -> Workflow:
    return Workflow(
        cfg, store, secrets=secrets(), clock=FakeClock(T0), backend=FileBackend(cfg, secrets())
    )


def token_of(link: str) -> str:
    return urlsplit(link).path.split("/", 2)[2]


def welcomes(outbox: Path) -> list[EmailMessage]:
    return [m for m in outbox_messages(outbox) if m["Subject"].startswith("Welcome to")]


def subscribe(wf: Workflow, outbox: Path, email: str = "reader@example.com") -> str:
    wf.subscribe(email, name="Ada", source="form")
    [msg] = [m for m in outbox_messages(outbox) if email in m["To"]]
    return token_of(confirm_link(msg))


def add_sent_issue(store: Store) -> None:
    with store.session() as s:
        s.add(
            IssueRecord(
                key="2026-W01",
                status="sent",
                as_of=T0 - timedelta(days=3),
                subject="Tariffs & Trade | Statecraft Weekly",
                archive_html="<p>x</p>",
                created_at=T0 - timedelta(days=3),
                finished_at=T0 - timedelta(days=3),
            )
        )
        s.flush()
        s.add(
            IssueArticle(
                issue_key="2026-W01",
                url="https://statecraft.example/tariffs",
                role="lead",
                position=0,
                title="Tariffs & Trade",
                reason="pinned",
            )
        )


@pytest.mark.postgres
def test_confirming_sends_exactly_one_welcome(tmp_path: Path, store: Store) -> None:
    wf = workflow(config(tmp_path), store)
    token = subscribe(wf, tmp_path / "outbox")
    target, state = wf.confirm_and_welcome(token)
    assert state == "ready" and target.status == "active"
    [welcome] = welcomes(tmp_path / "outbox")
    assert welcome["To"] == "Ada <reader@example.com>"
    assert welcome["Subject"] == "Welcome to Statecraft Weekly"

    # the reader's own one-click unsubscribe link, in the headers (RFC 8058) and the body
    unsubscribe = welcome["List-Unsubscribe"]
    assert unsubscribe.startswith("<http://127.0.0.1:8000/unsubscribe/")
    assert welcome["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = unsubscribe.strip("<>")
    assert (
        Tokens(secrets().secret_key or "").read_unsubscribe(token_of(link)) == target.subscriber_id
    )
    text = welcome.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    html = welcome.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
    assert link in text and f'href="{link}"' in html
    assert "Hello Ada," in text and "http://127.0.0.1:8000/issues" in text
    assert "The latest issue" not in html  # nothing sent yet

    # a second confirm (a double click, the link opened again) sends nothing
    assert wf.confirm_and_welcome(token)[1] == "already_confirmed"
    assert len(welcomes(tmp_path / "outbox")) == 1


def test_no_welcome_when_turned_off(tmp_path: Path, sqlite_store: Store) -> None:
    wf = workflow(config(tmp_path, welcome=False), sqlite_store)
    token = subscribe(wf, tmp_path / "outbox")
    assert wf.confirm_and_welcome(token)[1] == "ready"
    assert welcomes(tmp_path / "outbox") == []
    assert wf.send_welcome(1) is False


def test_the_welcome_shows_the_latest_issue_s_lead(tmp_path: Path, sqlite_store: Store) -> None:
    add_sent_issue(sqlite_store)
    wf = workflow(config(tmp_path), sqlite_store)
    wf.confirm_and_welcome(subscribe(wf, tmp_path / "outbox"))
    [welcome] = welcomes(tmp_path / "outbox")
    html = welcome.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
    text = welcome.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert 'href="https://statecraft.example/tariffs"' in html and "Tariffs &amp; Trade" in html
    assert 'href="http://127.0.0.1:8000/issues/2026-W01"' in html
    assert "Tariffs & Trade\nhttps://statecraft.example/tariffs" in text


def test_without_the_lead_when_turned_off(tmp_path: Path, sqlite_store: Store) -> None:
    add_sent_issue(sqlite_store)
    wf = workflow(config(tmp_path, welcome_latest_lead=False), sqlite_store)
    wf.confirm_and_welcome(subscribe(wf, tmp_path / "outbox"))
    [welcome] = welcomes(tmp_path / "outbox")
    assert "Tariffs" not in welcome.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]


def test_a_failed_welcome_leaves_the_reader_subscribed(
    tmp_path: Path, sqlite_store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    wf = workflow(config(tmp_path), sqlite_store)
    token = subscribe(wf, tmp_path / "outbox")

    class Refusing(FileBackend):
        def send_batch(self, message, recipients):  # type: ignore[no-untyped-def]
            if message.custom_args.get("kind") == "welcome":
                raise PermanentDeliveryError("HTTP 401: bad key")
            return super().send_batch(message, recipients)

    wf._backend = Refusing(wf.config, secrets())
    with caplog.at_level(logging.ERROR, logger="subscribers.workflow"):
        target, state = wf.confirm_and_welcome(token)
    assert state == "ready" and target.status == "active"
    with sqlite_store.session() as s:
        sub = repo.get_by_email(s, "reader@example.com")
        assert sub is not None and sub.status == "active"
    assert "could not send the welcome email" in caplog.text
    assert welcomes(tmp_path / "outbox") == []


def test_the_welcome_template_can_be_replaced(tmp_path: Path, sqlite_store: Store) -> None:
    mine = tmp_path / "mine" / "email"
    mine.mkdir(parents=True)
    (mine / "welcome.txt.j2").write_text("Hi from the editors. {{ unsubscribe_url }}\n")
    (mine / "welcome.mjml.j2").write_text(
        '{% extends "layout.mjml.j2" %}{% block content %}<mj-section><mj-column>'
        "<mj-text>Hi from the editors.</mj-text></mj-column></mj-section>{% endblock %}"
    )
    wf = workflow(config(tmp_path, templates_dir=str(tmp_path / "mine")), sqlite_store)
    wf.confirm_and_welcome(subscribe(wf, tmp_path / "outbox"))
    [welcome] = welcomes(tmp_path / "outbox")
    assert "Hi from the editors." in welcome.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]


def test_the_confirm_page_sends_one_welcome(tmp_path: Path, sqlite_store: Store) -> None:
    cfg = config(tmp_path)
    app = create_app(
        cfg,
        store=sqlite_store,
        secrets=secrets(),
        clock=FakeClock(T0),
        backend=FileBackend(cfg, secrets()),
    )
    client = TestClient(app)
    token = subscribe(workflow(cfg, sqlite_store), tmp_path / "outbox")
    for _ in range(2):  # pressed twice
        page = client.get(f"/confirm/{token}")
        csrf = (
            page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
            if ('name="csrf_token"' in page.text)
            else ""
        )
        client.post(f"/confirm/{token}", data={"csrf_token": csrf})
    assert len(welcomes(tmp_path / "outbox")) == 1
