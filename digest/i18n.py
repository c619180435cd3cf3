"""The newsletter's language: the gettext catalogs of the fixed words of every email and
page, and dates spelled out in the newsletter's locale (Babel's CLDR data).

The one place for both. ``[newsletter] locale`` (``en_US``, ``en_GB``, ``fr_FR``, …)
chooses:

- the **catalog**: ``digest/locales/<lang>/LC_MESSAGES/digest.po`` for the locale's
  language, then ``<lang>_<TERRITORY>`` on top when such a catalog exists (``fr_CA``
  falls back to ``fr``), then the publication's own catalogs, found the same way under
  ``<templates_dir>/locales/``, on top of those: a publication overrides one string, or
  adds a language, by shipping a ``.po`` with just those strings. The ``.po`` files are
  the source of truth; they are compiled in memory when first used (cached per locale and
  folders). A string no catalog translates stays in English; a locale with no catalog at
  all (``ja_JP``) gets English words with Japanese dates.
- the **dates**: ``format_issue_date`` (the dateline and the subject's ``{date}``:
  "Friday, November 20, 2026", "vendredi 20 novembre 2026") and ``format_page_date`` (the
  archive: "November 20, 2026", "20 novembre 2026"). Never ``strftime``: the result must
  not depend on the process's locale.

Templates use Jinja's i18n extension (``{{ _("Latest") }}``, newstyle: named
placeholders ``{{ _("Welcome to %(name)s", name=newsletter.name) }}``, escaped in HTML);
Python code takes a ``Gettext`` (``gettext_for``) with the same calling convention.
docs/email-templates.md ("Translations") says how to re-extract the messages.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import date, datetime
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

if TYPE_CHECKING:
    from digest.config import Config

DOMAIN = "digest"
BUNDLED_LOCALES = Path(__file__).parent / "locales"
DEFAULT_LOCALE = "en_US"

_CACHE: dict[tuple[str, tuple[str, ...]], Translations] = {}
_CACHE_LOCK = threading.Lock()


def N_(message: str) -> str:
    """gettext's conventional name for "mark for translation only" (``pybabel extract``
    finds it): the string is translated later, where it is shown."""
    return message


def parse_locale(locale: str) -> Locale:
    """``locale`` as Babel's ``Locale`` (``en_US`` or ``en-US``); English if it is not one
    (the config check refuses those: this only guards a config built by hand)."""
    try:
        return Locale.parse(locale.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError, AttributeError):
        return Locale.parse(DEFAULT_LOCALE)


def html_lang(locale: str) -> str:
    """The locale as a BCP 47 language tag for ``<html lang>``: ``en_US`` → ``en-US``."""
    loc = parse_locale(locale)
    return "-".join(part for part in (loc.language, loc.script, loc.territory) if part)


def text_direction(locale: str) -> str:
    """``ltr`` or ``rtl``, for ``<html dir>``."""
    return "rtl" if parse_locale(locale).character_order == "right-to-left" else "ltr"


def catalog_names(locale: str) -> list[str]:
    """The catalog folders to merge for ``locale``, most general first:
    ``fr_CA`` → ``["fr", "fr_CA"]``; ``zh_Hant_TW`` → ``["zh", "zh_Hant", "zh_Hant_TW"]``."""
    loc = parse_locale(locale)
    names = [loc.language]
    if loc.script:
        names.append(f"{loc.language}_{loc.script}")
    if loc.territory:
        names.append(str(loc))
    return list(dict.fromkeys(names))


def catalog_path(root: Path, name: str) -> Path:
    """Where the catalog ``name`` (``fr``, ``fr_CA``) lives under ``root``."""
    return root / name / "LC_MESSAGES" / f"{DOMAIN}.po"


def translations(locale: str, templates_dirs: Iterable[Path | str] = ()) -> Translations:
    """The translations for ``locale``: the bundled catalogs, then the publication's
    (``<dir>/locales/`` of each templates folder, the user's folder winning), each
    string overriding the same one before it. Cached per (locale, folders)."""
    dirs = tuple(str(d) for d in templates_dirs)
    key = (str(locale), dirs)
    with _CACHE_LOCK:
        cached = _CACHE.get(key)
        if cached is not None:
            return cached
    roots = [BUNDLED_LOCALES] + [Path(d) / "locales" for d in reversed(dirs)]
    # an empty catalog of the locale first: its header gives the plural rule (CLDR's)
    result = _compiled(Catalog(locale=parse_locale(locale), domain=DOMAIN))
    for root in roots:
        for name in catalog_names(locale):
            path = catalog_path(root, name)
            if path.is_file():
                result.merge(_compile(path, name))
    with _CACHE_LOCK:
        if len(_CACHE) > 64:
            _CACHE.clear()
        _CACHE[key] = result
    return result


def _compile(path: Path, name: str) -> Translations:
    """The ``.po`` file at ``path`` compiled in memory (fuzzy and empty entries left out:
    those fall through to the catalog below, or to the English)."""
    with path.open("rb") as f:
        catalog = read_po(f, locale=name, domain=DOMAIN)
    return _compiled(catalog)


def _compiled(catalog: Catalog) -> Translations:
    buffer = BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


def config_translations(config: Config) -> Translations:
    """The translations of ``config``'s locale and templates folders."""
    return translations(config.newsletter.locale, config.templates_dirs)


class Gettext:
    """gettext for Python code, called like the templates' newstyle ``_``:
    ``_("Welcome to %(name)s", name=nl.name)``; ``_.ngettext(singular, plural, n, …)``
    (``num`` is set to ``n``). The result is plain text (nothing escaped)."""

    def __init__(self, translations: Translations):
        self.translations = translations

    def __call__(self, message: str, **values: object) -> str:
        text = self.translations.gettext(message)
        return text % values if values else text

    def ngettext(self, singular: str, plural: str, n: int, **values: object) -> str:
        text = self.translations.ngettext(singular, plural, n)
        return text % {"num": n, **values}


def gettext_for(config: Config) -> Gettext:
    """The ``Gettext`` of ``config``'s locale and templates folders."""
    return Gettext(config_translations(config))


def format_issue_date(moment: date | datetime, locale: str) -> str:
    """A date in full, for the dateline and the subject: "Friday, November 20, 2026"
    (en_US), "Friday, 20 November 2026" (en_GB), "vendredi 20 novembre 2026" (fr_FR).
    A datetime is taken as it is: convert it to the newsletter's zone first."""
    day = moment.date() if isinstance(moment, datetime) else moment
    return format_date(day, format="full", locale=parse_locale(locale))


def format_page_date(moment: date | datetime, locale: str) -> str:
    """A date for the pages (the archive): "November 20, 2026", "20 novembre 2026"."""
    day = moment.date() if isinstance(moment, datetime) else moment
    return format_date(day, format="long", locale=parse_locale(locale))


def clear_cache() -> None:
    """Forget the compiled catalogs (tests; a publication that edits its ``.po``)."""
    with _CACHE_LOCK:
        _CACHE.clear()
