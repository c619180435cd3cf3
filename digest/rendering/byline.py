"""The byline, "By A, B and C": the one place that joins authors' names into words.

Its words go through the template's own ``gettext`` (Jinja's i18n extension), so a
catalog installed for the newsletter's locale translates them like every other fixed
string of the email. ``N_`` only marks them for extraction (``pybabel extract`` finds
``N_`` by default). In an HTML template the names are escaped by that ``gettext``
(autoescape); in a text template they stay plain.
"""

from __future__ import annotations

from collections.abc import Sequence

import jinja2
from jinja2.runtime import Context


def N_(message: str) -> str:
    """gettext's conventional name for "mark for translation only"."""
    return message


BY = N_("By %(names)s")
AND = N_("%(names)s and %(last)s")  # "A, B and C": names is "A, B", last is "C"
COMMA = N_(", ")  # between the names before the last


def _text(value: object) -> str:
    """``value`` itself (a ``Markup`` stays one) once it is known to be text."""
    if not isinstance(value, str):
        raise TypeError(f"gettext gave {type(value).__name__}, not text")
    return value


@jinja2.pass_context
def byline(context: Context, authors: Sequence[str]) -> str:
    """``By A, B and C`` in the template's language, or ``""`` when there is nobody to name
    (a template writes ``{% set by = byline(story.authors) %}{% if by %}…{% endif %}``).
    In an HTML template the result is ``Markup`` with the names escaped."""
    names = [n for n in authors if isinstance(n, str) and n.strip()]
    if not names:
        return ""
    gettext = context.resolve_or_missing("gettext")

    def _(message: str, **values: object) -> str:
        return _text(context.call(gettext, message, **values))

    joined = names[0]
    if len(names) > 1:
        joined = _(AND, names=_(COMMA).join(names[:-1]), last=names[-1])
    return _(BY, names=joined)
