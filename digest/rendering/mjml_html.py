"""MJML (already rendered by Jinja) to HTML, with the CSS of ``<mj-style inline>`` inlined.

That CSS is taken out of the MJML first: mjml-python would leave it in a ``<style>``
block indistinguishable from the others. Its at-rules (``@media`` …) cannot be
inlined, so they go back as a normal ``<mj-style>`` and stay in ``<head>``.
css-inline then writes the rest into ``style=""`` attributes.
"""

from __future__ import annotations

import re

import css_inline
import mjml

from digest.errors import RenderError
from digest.rendering.css import split_at_rules

_INLINE_STYLE = re.compile(
    r"<mj-style\b[^>]*\binline\s*=\s*([\"'])inline\1[^>]*>(.*?)</mj-style\s*>",
    re.DOTALL | re.IGNORECASE,
)

# An inliner parses its CSS once; every issue of a configuration has the same CSS.
_INLINERS: dict[str, css_inline.CSSInliner] = {}


def mjml_to_html(source: str, *, template: str) -> str:
    """``source`` as HTML; a ``RenderError`` naming ``template`` if it cannot be."""
    inline_css: list[str] = []

    def take(match: re.Match[str]) -> str:
        plain, at_rules = split_at_rules(match.group(2))
        if plain:
            inline_css.append(plain)
        return f"<mj-style>{at_rules}</mj-style>" if at_rules else ""

    source = _INLINE_STYLE.sub(take, source)
    try:
        # fonts={}: no Google Fonts <link> for "Roboto" in the font stack; an
        # email must not make readers' clients fetch third-party CSS.
        html: str = mjml.mjml2html(source, disable_comments=True, fonts={})
    except ValueError as exc:
        raise RenderError(f"template {template}: the MJML it produced is invalid: {exc}") from None
    css = "\n".join(inline_css)
    if not css:
        return html
    try:
        return str(_inliner(css).inline(html))
    except css_inline.InlineError as exc:
        raise RenderError(f"template {template}: its inline CSS cannot be applied: {exc}") from None


def _inliner(css: str) -> css_inline.CSSInliner:
    inliner = _INLINERS.get(css)
    if inliner is None:
        if len(_INLINERS) > 32:
            _INLINERS.clear()
        inliner = _INLINERS[css] = css_inline.CSSInliner(
            inline_style_tags=False,  # the head's styles (resets, media queries) stay put
            keep_style_tags=True,
            keep_link_tags=True,
            load_remote_stylesheets=False,
            extra_css=css,
            preallocate_node_capacity=512,  # an issue has ~1,500 nodes; fewer reallocations
        )
    return inliner
