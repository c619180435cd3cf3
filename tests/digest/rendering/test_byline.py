"""`digest.rendering.byline` and the brand's colours (`digest.rendering.views`)."""

from __future__ import annotations

import jinja2
import pytest

from digest.errors import RenderError
from digest.rendering.byline import byline
from digest.rendering.views import darker, hex_color


def _env(autoescape: bool) -> jinja2.Environment:
    env = jinja2.Environment(extensions=["jinja2.ext.i18n"], autoescape=autoescape)
    env.install_null_translations(newstyle=True)  # type: ignore[attr-defined]
    env.globals["byline"] = byline
    return env


@pytest.mark.parametrize(
    "names, words",
    [
        ((), ""),
        (("", "  "), ""),
        (("Ann",), "By Ann"),
        (("Ann", "Bo"), "By Ann and Bo"),
        (("Ann", "Bo", "Cy"), "By Ann, Bo and Cy"),
        (("Ann", "", "Bo", "Cy", "Dee"), "By Ann, Bo, Cy and Dee"),
    ],
)
def test_names_are_joined_in_words(names: tuple[str, ...], words: str) -> None:
    assert _env(False).from_string("{{ byline(n) }}").render(n=names) == words


def test_names_are_escaped_in_html_and_left_alone_in_text() -> None:
    names = ("A & B", "<i>C</i>")
    assert _env(True).from_string("{{ byline(n) }}").render(n=names) == (
        "By A &amp; B and &lt;i&gt;C&lt;/i&gt;"
    )
    assert _env(False).from_string("{{ byline(n) }}").render(n=names) == "By A & B and <i>C</i>"


def test_the_words_come_from_the_templates_translations() -> None:
    env = _env(True)

    class French:
        def gettext(self, message: str) -> str:
            return {
                "By %(names)s": "Par %(names)s",
                "%(names)s and %(last)s": "%(names)s et %(last)s",
            }.get(message, message)

        def ngettext(self, s: str, p: str, n: int) -> str:
            return s if n == 1 else p

    env.install_gettext_translations(French(), newstyle=True)  # type: ignore[attr-defined]
    assert env.from_string("{{ byline(n) }}").render(n=("Ann", "Bo", "Cy")) == "Par Ann, Bo et Cy"


def test_colours() -> None:
    assert hex_color("#B3202A") == "#b3202a"
    assert hex_color("#abc") == "#aabbcc"
    assert darker("#b3202a") == "#8f1a22"  # close to the old fixed #8e1921
    assert darker("#000000") == "#000000"
    for bad in ("red", "#12345", "#b3202a;}", "", "#gggggg"):
        with pytest.raises(RenderError, match="accent_color"):
            hex_color(bad)
