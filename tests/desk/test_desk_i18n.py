"""The desk in the newsletter's language: with ``[newsletter] locale = "fr_FR"`` its pages
(nav, buttons, dates, the audit log) and the sign-in email are in French."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from desk.auth import sign_in_message
from desk.coming import relative
from digest import i18n
from digest.config import Config
from digest.store.database import Store
from tests.desk_support import (
    EDITOR,
    NOW,
    mail_to,
    make_app,
    make_desk_config,
    request_link,
    sign_in,
)
from tests.pipeline_support import AS_OF
from tests.subscribers_support import FakeClock


@pytest.fixture(autouse=True)
def _fresh_catalogs() -> Iterator[None]:
    i18n.clear_cache()
    yield
    i18n.clear_cache()


def _french(tmp_path: Path) -> Config:
    config = make_desk_config(tmp_path)
    return replace(config, newsletter=replace(config.newsletter, locale="fr_FR"))


@pytest.fixture
def client(tmp_path: Path, sqlite_store: Store) -> TestClient:
    return TestClient(make_app(_french(tmp_path), sqlite_store, FakeClock(NOW)))


def test_the_sign_in_pages_and_email_are_in_french(client: TestClient, tmp_path: Path) -> None:
    form = client.get("/desk/sign-in")
    assert '<html lang="fr-FR"' in form.text
    assert "Se connecter à la rédaction" in form.text and "pendant 15 minutes" in form.text
    assert "Sign in to the desk" not in form.text
    sent = request_link(client, EDITOR)
    assert "Consultez votre boîte de réception" in sent.text

    mail = mail_to(tmp_path, EDITOR)
    assert str(mail["Subject"]) == "Votre lien de connexion à la rédaction de Statecraft Weekly"
    text = mail.get_body(preferencelist=("plain",))
    html = mail.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    for body in (text.get_content(), html.get_content()):
        assert "Ouvrez ce lien pour vous connecter à la rédaction de Statecraft Weekly" in body
        assert "Il fonctionne une fois, pendant 15 minutes" in body
        assert "sign in" not in body.lower()
    assert '<html lang="fr-FR"' in html.get_content()


def test_a_desk_page_is_in_french(client: TestClient, tmp_path: Path) -> None:
    sign_in(client, tmp_path)
    page = client.get("/desk").text
    assert '<html lang="fr-FR"' in page
    for nav in ("Prochain numéro", "Numéros", "Lecteurs", "Modifications", "Se déconnecter"):
        assert nav in page, nav
    assert "Numéro 2026-W47" in page
    assert "vendredi 20 novembre 2026" in page  # when it sends: Babel's French date
    assert "dans 2 jours" in page
    assert "Mettre à la une" in page and "Mot de la rédaction" in page
    for english in ("Coming issue", "Sign out", "Pin as lead", "Friday", "November", "in 2 days"):
        assert english not in page, english

    audit = client.get("/desk/audit").text
    assert "Tout ce qui a été fait à la rédaction" in audit
    assert "connexion" in audit and "signed in" not in audit  # the action, translated
    assert "mer. 18 nov. 2026" in audit  # when, in French

    issues = client.get("/desk/issues")
    assert issues.status_code == 200 and "Aucun numéro n’a été envoyé" in issues.text
    readers = client.get("/desk/readers")
    assert readers.status_code == 200
    assert "Par statut" in readers.text and "En attente<b>0</b>" in readers.text
    assert "Lecteurs arrivés et partis par semaine" in readers.text  # the chart's title


def test_the_sign_in_email_follows_the_locale_without_an_app(tmp_path: Path) -> None:
    config = make_desk_config(tmp_path)
    english = sign_in_message(config, "https://x.example/desk/sign-in/t")
    assert english.subject == "Your sign-in link to the Statecraft Weekly desk"
    german = replace(config, newsletter=replace(config.newsletter, locale="de_DE"))
    assert sign_in_message(german, "https://x.example/desk/sign-in/t").subject == (
        "Ihr Anmeldelink für die Redaktion von Statecraft Weekly"
    )
    fr = i18n.Gettext(i18n.translations("fr_FR"))
    assert relative(AS_OF, NOW, fr) == "dans 2 jours"
    assert relative(AS_OF, NOW) == "in 2 days"  # English without a gettext
