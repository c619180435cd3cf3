"""The reader's pages in the newsletter's locale: the words (gettext catalogs), the dates
of the archive (CLDR), ``<html lang>``, the subjects of the list's emails, and a
publication's own catalog."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import write_po
from starlette.testclient import TestClient
from subscribers_support import T0, FakeClock, make_config, outbox_messages, secrets

from digest import i18n
from digest.backends.file import FileBackend
from digest.config import Config
from digest.store.database import Store
from digest.store.tables import IssueRecord
from subscribers.web.app import create_app


@pytest.fixture(autouse=True)
def _fresh_catalogs() -> Any:
    i18n.clear_cache()
    yield
    i18n.clear_cache()


def localized(tmp_path: Path, locale: str, templates_dir: Path | None = None) -> Config:
    cfg = make_config(tmp_path)
    nl = replace(cfg.newsletter, locale=locale)
    if templates_dir is not None:
        nl = replace(nl, templates_dir=str(templates_dir))
    return replace(cfg, newsletter=nl)


def client(cfg: Config, store: Store) -> TestClient:
    app = create_app(
        cfg,
        store=store,
        secrets=secrets(),
        clock=FakeClock(T0),
        backend=FileBackend(cfg, secrets()),
        subscribe_delay=0.0,
    )
    return TestClient(app)


def add_sent_issue(store: Store, key: str, as_of: datetime) -> None:
    with store.session() as s:
        s.add(
            IssueRecord(
                key=key,
                status="sent",
                as_of=as_of,
                subject="Sahel | Statecraft Weekly",
                preheader=None,
                html="<p>issue</p>",
                text="issue",
                archive_html=f"<!doctype html><title>{key}</title>",
                created_at=as_of,
                started_at=as_of,
                finished_at=as_of + timedelta(hours=1),
                sent=3,
            )
        )


def test_the_subscribe_page_in_french(tmp_path: Path, sqlite_store: Store) -> None:
    page = client(localized(tmp_path, "fr_FR"), sqlite_store).get("/")
    assert page.status_code == 200
    assert '<html lang="fr-FR" dir="ltr">' in page.text
    assert "Abonnez-vous à notre sélection de la semaine" in page.text
    assert '<label for="email">Adresse e-mail</label>' in page.text
    assert ">S’abonner</button>" in page.text
    assert "Le meilleur de Statecraft Weekly dans votre boîte de réception" in page.text
    assert "Subscribe now" not in page.text and "Email address" not in page.text


def test_the_archive_in_french_has_french_dates(tmp_path: Path, sqlite_store: Store) -> None:
    add_sent_issue(sqlite_store, "2026-W47", datetime.fromisoformat("2026-11-20T14:00:00+00:00"))
    page = client(localized(tmp_path, "fr_FR"), sqlite_store).get("/issues")
    assert page.status_code == 200
    assert "Numéros précédents" in page.text and "Archives" in page.text
    assert '<time datetime="2026-11-20">20 novembre 2026</time>' in page.text
    assert "Suivre les archives dans un lecteur de flux (Atom)" in page.text
    assert "Past issues" not in page.text


def test_error_pages_and_messages_built_in_python_are_translated(
    tmp_path: Path, sqlite_store: Store
) -> None:
    web = client(localized(tmp_path, "de_DE"), sqlite_store)
    missing = web.get("/no-such-page")
    assert missing.status_code == 404
    assert "Seite nicht gefunden" in missing.text and '<html lang="de-DE"' in missing.text
    bad = web.get("/confirm/not-a-token")
    assert bad.status_code == 400
    assert "Dieser Link funktioniert nicht" in bad.text
    assert "Auf der Anmeldeseite können Sie einen neuen Link anfordern." in bad.text
    form = web.get("/")
    token = form.text.split('name="csrf_token" value="', 1)[-1].split('"', 1)[0]
    invalid = web.post("/subscribe", data={"email": "", "csrf_token": token})
    assert invalid.status_code == 400
    assert "Bitte geben Sie Ihre E-Mail-Adresse ein." in invalid.text


def test_the_confirmation_email_subject_and_words_follow_the_locale(
    tmp_path: Path, sqlite_store: Store
) -> None:
    cfg = localized(tmp_path, "es_ES")
    web = client(cfg, sqlite_store)
    app: Any = web.app
    app.state.workflow.subscribe("ana@example.com", source="form")
    (message,) = outbox_messages(tmp_path / "outbox")
    assert message["Subject"] == "Confirme su suscripción a Statecraft Weekly, por favor"
    text = message.get_body(preferencelist=("plain",))
    assert text is not None
    assert "Alguien, esperamos que usted, pidió recibir Statecraft Weekly" in text.get_content()


def test_a_publications_catalog_changes_a_page_string(tmp_path: Path, sqlite_store: Store) -> None:
    templates = tmp_path / "my-templates"
    catalog = Catalog(locale="fr", domain=i18n.DOMAIN)
    catalog.add("Subscribe now to our weekly round-up", "Recevez notre lettre du vendredi")
    path = i18n.catalog_path(templates / "locales", "fr")
    path.parent.mkdir(parents=True)
    with path.open("wb") as f:
        write_po(f, catalog)
    page = client(localized(tmp_path, "fr_FR", templates), sqlite_store).get("/")
    assert "Recevez notre lettre du vendredi" in page.text
    assert "Adresse e-mail" in page.text  # everything else from the bundled catalog


def test_english_pages_say_what_they_said(tmp_path: Path, sqlite_store: Store) -> None:
    page = client(localized(tmp_path, "en_US"), sqlite_store).get("/")
    assert '<html lang="en-US" dir="ltr">' in page.text
    assert "Subscribe now to our weekly round-up" in page.text
    assert '<label for="email">Email address</label>' in page.text
