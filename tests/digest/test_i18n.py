"""The newsletter's language (digest/i18n.py): the shipped catalogs translate every
message the templates and the code use, dates follow the locale, a locale without a
catalog falls back to English words, and a publication's own catalog wins."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po, write_po
from click.testing import CliRunner

from digest import i18n
from digest.cli import cli
from digest.i18n import (
    BUNDLED_LOCALES,
    Gettext,
    catalog_names,
    format_issue_date,
    format_page_date,
    html_lang,
    text_direction,
    translations,
)
from digest.render import render, render_email
from tests.conftest import REPO
from tests.render_samples import make_config, make_issue

SHIPPED = ("fr", "de", "es")  # every string translated
LANGUAGES = ("en", *SHIPPED)  # en: an empty msgstr is the msgid
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


@pytest.fixture(autouse=True)
def _fresh_catalogs() -> Iterator[None]:
    i18n.clear_cache()
    yield
    i18n.clear_cache()


def extracted() -> dict[str | tuple[str, str], set[str]]:
    """Every message of the templates and the Python sources, as ``pybabel extract -F
    babel.cfg`` finds it: msgid (a tuple for a plural) → the files using it."""
    with (REPO / "babel.cfg").open(encoding="utf-8") as f:
        method_map, options_map = parse_mapping_cfg(f)
    found: dict[str | tuple[str, str], set[str]] = {}
    for filename, _lineno, message, _comments, _context in extract_from_dir(
        str(REPO), method_map, options_map
    ):
        assert not filename.startswith((".venv", "tests")), filename
        msgid = message if isinstance(message, str) else (message[0], message[1])
        assert isinstance(msgid, str) or len(message) == 2, message
        found.setdefault(msgid, set()).add(filename)
    return found


def shipped_catalog(lang: str) -> Catalog:
    with i18n.catalog_path(BUNDLED_LOCALES, lang).open("rb") as f:
        return read_po(f, locale=lang, domain=i18n.DOMAIN)


def placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text))


def test_extraction_finds_the_fixed_words_of_every_email_and_page() -> None:
    messages = extracted()
    files = {f for where in messages.values() for f in where}
    readers = [*(REPO / "templates" / "email").glob("*.j2")]
    readers += (REPO / "templates" / "pages").glob("*.html")
    for template in readers:
        if template.name != "layout.txt.j2":  # the name, the address and links only
            assert str(template.relative_to(REPO)) in files, template
    for word in ("Latest", "Keep reading", "Unsubscribe", "View in browser", "By %(names)s"):
        assert word in messages
    assert "Please confirm your subscription to %(name)s" in messages  # a subject (Python)
    assert "Page not found" in messages  # a page's words built in Python (N_)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_each_shipped_catalog_translates_every_message(lang: str) -> None:
    """No message missing, none fuzzy, none stale, the same placeholders: run
    ``pybabel extract`` / ``pybabel update`` (docs/email-templates.md) and translate."""
    messages = extracted()
    catalog = shipped_catalog(lang)
    entries: dict[object, Message] = {m.id: m for m in catalog if m.id}
    missing = [m for m in messages if m not in entries]
    stale = [m for m in entries if m not in messages]
    assert not missing, f"{lang}: not in the catalog: {missing}"
    assert not stale, f"{lang}: no longer used: {stale}"
    for msgid, entry in entries.items():
        assert not entry.fuzzy, f"{lang}: fuzzy: {msgid!r}"
        ids = [msgid] if isinstance(msgid, str) else list(msgid)  # type: ignore[arg-type]
        strings = [entry.string] if isinstance(entry.string, str) else list(entry.string)
        if lang == "en":
            continue  # empty: the msgid itself
        assert all(strings), f"{lang}: untranslated: {msgid!r}"
        if not isinstance(msgid, str):
            assert len(strings) == catalog.num_plurals, f"{lang}: plural forms of {msgid!r}"
        expected = placeholders(ids[-1])
        for string in strings:
            assert placeholders(string) == expected, f"{lang}: placeholders of {msgid!r}"
            assert string.count("%") == ids[-1].count("%"), f"{lang}: a stray % in {string!r}"
            values = {name: 1 if name == "num" else "x" for name in expected}
            assert string % values  # it formats (newstyle gettext always does)
            assert ("<strong>" in string) == ("<strong>" in ids[-1]), msgid


def test_the_pot_file_is_current() -> None:
    with (BUNDLED_LOCALES / "digest.pot").open("rb") as f:
        pot = {m.id for m in read_po(f) if m.id}
    assert pot == set(extracted()), "re-run pybabel extract (docs/email-templates.md)"


def test_catalogs_fall_back_from_territory_to_language() -> None:
    assert catalog_names("fr_CA") == ["fr", "fr_CA"]
    assert catalog_names("fr") == ["fr"]
    assert translations("fr_CA").gettext("Keep reading") == "Lire la suite"
    assert translations("de_AT").gettext("Unsubscribe") == "Abbestellen"
    assert translations("es_MX").gettext("View in browser") == "Ver en el navegador"
    assert translations("en_GB").gettext("Keep reading") == "Keep reading"
    assert translations("ja_JP").gettext("Keep reading") == "Keep reading"


def test_plurals_follow_the_language() -> None:
    fr = Gettext(translations("fr_FR"))
    lot = "We have had a lot of subscribe requests from here in a short time. "
    one, many = (
        lot + "Please try again in %(num)d minute.",
        lot + "Please try again in %(num)d minutes.",
    )
    assert fr.ngettext(one, many, 1).endswith("dans 1 minute.")
    assert fr.ngettext(one, many, 5).endswith("dans 5 minutes.")
    assert Gettext(translations("ja_JP")).ngettext(one, many, 5).endswith("in 5 minutes.")
    assert Gettext(translations("de_DE"))("Welcome to %(name)s", name="X") == "Willkommen bei X"


def test_dates_and_language_tags_follow_the_locale() -> None:
    day = date(2026, 11, 20)
    assert format_issue_date(day, "en_US") == "Friday, November 20, 2026"
    assert format_issue_date(day, "en_GB") == "Friday, 20 November 2026"
    assert format_issue_date(day, "fr_FR") == "vendredi 20 novembre 2026"
    assert format_issue_date(day, "de_DE") == "Freitag, 20. November 2026"
    assert format_issue_date(datetime(2026, 11, 20, 23, 59), "es_ES") == (
        "viernes, 20 de noviembre de 2026"
    )
    assert format_page_date(day, "fr_FR") == "20 novembre 2026"
    assert format_page_date(day, "en_US") == "November 20, 2026"
    assert html_lang("en_US") == "en-US" and html_lang("fr_FR") == "fr-FR"
    assert html_lang("fr") == "fr" and html_lang("zh_Hant_TW") == "zh-Hant-TW"
    assert text_direction("fr_FR") == "ltr" and text_direction("ar_EG") == "rtl"


# --- a whole email ---------------------------------------------------------------------


def test_a_locale_without_a_catalog_has_english_words_and_its_own_dates() -> None:
    config = make_config(locale="ja_JP", subject="{name} · {date}")
    rendered = render(make_issue(3), config)
    assert rendered.subject == "Statecraft Weekly · 2026年11月20日金曜日"
    assert '<html lang="ja-JP"' in rendered.html
    for text in (rendered.html, rendered.text):
        assert "2026年11月20日金曜日" in text
        assert "Keep reading" in text and "View in browser" in text and "Unsubscribe" in text


def _override(templates: Path, lang: str, **strings: str) -> None:
    """A publication's own catalog: ``<templates_dir>/locales/<lang>/LC_MESSAGES/digest.po``."""
    catalog = Catalog(locale=lang, domain=i18n.DOMAIN)
    for msgid, msgstr in strings.items():
        catalog.add(msgid, msgstr)
    path = i18n.catalog_path(templates / "locales", lang)
    path.parent.mkdir(parents=True)
    with path.open("wb") as f:
        write_po(f, catalog)


def test_a_publications_catalog_overrides_one_string(tmp_path: Path) -> None:
    _override(tmp_path, "fr", **{"Keep reading": "Lire l’article"})
    config = make_config(templates_dir=tmp_path, locale="fr_FR")
    rendered = render(make_issue(3), config)
    assert "Lire l’article" in rendered.html and "Lire la suite" not in rendered.html
    assert "Voir dans le navigateur" in rendered.html  # the rest: the bundled catalog
    # the bundled templates still found, and the same folder without catalogs changes nothing
    plain = render(make_issue(3), make_config(locale="fr_FR"))
    assert "Lire la suite" in plain.html


def test_a_publication_adds_a_language(tmp_path: Path) -> None:
    _override(tmp_path, "it", **{"Keep reading": "Continua a leggere", "Latest": "Ultimi articoli"})
    rendered = render(make_issue(3), make_config(templates_dir=tmp_path, locale="it_IT"))
    assert "Continua a leggere" in rendered.html and "ULTIMI ARTICOLI" in rendered.text
    assert "venerdì 20 novembre 2026" in rendered.text
    assert "View in browser" in rendered.text  # not in its catalog: English


def test_the_confirmation_and_welcome_emails_are_translated() -> None:
    config = make_config(locale="de_DE")
    html, text = render_email(
        config,
        "confirm",
        {
            "confirm_url": "https://x.example/confirm/t",
            "expires_days": 7,
            "subscriber_name": None,
            "source": "form",
        },
    )
    assert '<html lang="de-DE"' in html
    assert "Anmeldung bestätigen" in html and "in 7 Tagen ab" in text
    assert "Bitte bestätigen Sie Ihre Anmeldung" in text
    html, text = render_email(
        make_config(locale="es_ES"),
        "welcome",
        {
            "subscriber_name": "Ana",
            "unsubscribe_url": "https://x.example/u/t",
            "archive_url": "https://x.example/issues",
            "latest": None,
        },
    )
    assert "Le damos la bienvenida a Statecraft Weekly" in html
    assert "Cancelar la suscripción: https://x.example/u/t" in text


# --- digest preview of the sample, in French ----------------------------------------------


def test_preview_of_the_sample_in_french(tmp_path: Path) -> None:
    shutil.copy(REPO / "examples" / "feed.xml", tmp_path / "feed.xml")
    toml = (REPO / "examples" / "digest.toml").read_text(encoding="utf-8")
    toml = toml.replace("[newsletter]\n", '[newsletter]\nlocale = "fr_FR"\n', 1)
    toml = toml.replace('subject = "{lead_title} | {name}"', 'subject = "{name} · {date}"')
    (tmp_path / "digest.toml").write_text(toml, encoding="utf-8")
    result = CliRunner().invoke(
        cli,
        ["preview", "--config", str(tmp_path / "digest.toml"), "--out", str(tmp_path / "pv")],
        env={"DIGEST_DATABASE_URL": f"sqlite:///{tmp_path / 'fr.db'}", "DIGEST_NOW": None},
    )
    assert result.exit_code == 0, result.output
    html = (tmp_path / "pv" / "issue.html").read_text(encoding="utf-8")
    text = (tmp_path / "pv" / "issue.txt").read_text(encoding="utf-8")
    assert '<html lang="fr-FR"' in html
    for part in (html, text):
        assert "vendredi 20 novembre 2026" in part
        assert "Lire la suite" in part and "Se désabonner" in part
        assert "Voir dans le navigateur" in part
        assert "Keep reading" not in part and "Unsubscribe" not in part
    assert "Statecraft Weekly · vendredi 20 novembre 2026" in result.output
