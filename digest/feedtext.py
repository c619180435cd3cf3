"""Cleaning what feeds say: canonical URLs and plain text from untrusted HTML.

Feed content is hostile. Everything here returns plain text (no markup at
all, entities decoded, whitespace collapsed) or an http(s) URL; the renderer
escapes it again on the way out.
"""

from __future__ import annotations

import re
from dataclasses import fields, replace
from html import unescape
from typing import Any
from urllib.parse import quote, unquote, urljoin, urlsplit, urlunsplit

import nh3

from digest.feedlimits import MAX_LINE, MAX_TEXT, limit_html
from digest.models import Article, Image
from digest.safetext import xml_safe

# Tags kept by the first, sanitizing pass: only the ones whose boundaries we
# turn into paragraph breaks or spaces. Everything else is unwrapped (its text
# kept), and script/style lose their text too (nh3's clean_content_tags).
_BLOCK_TAGS = {
    "p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6",
    "blockquote", "pre", "table", "tr", "td", "th", "figure",
    "section", "article", "header", "footer", "hr", "dd", "dt", "dl", "aside",
}  # fmt: skip
# figcaption: a picture's caption or credit is not the story's text (it would open the excerpt)
_DROP_WITH_CONTENT = {"script", "style", "iframe", "object", "embed", "noscript", "template",
                      "svg", "math", "select", "textarea", "button", "form",
                      "figcaption"}  # fmt: skip
# Markup left in the text after one pass was escaped twice by the feed (``&amp;lt;p&amp;gt;``).
# Only a real HTML element counts, written as a browser reads a tag ("<" straight before the
# name): "rents < 5% and wages > 3%" and "email <name>" are text a reader needs.
_ELEMENTS = (
    "a|abbr|address|article|aside|audio|b|bdi|bdo|big|blockquote|body|br|button|caption|center|"
    "cite|code|col|colgroup|dd|del|details|dfn|div|dl|dt|em|embed|figcaption|figure|font|footer|"
    "form|h[1-6]|head|header|hr|html|i|iframe|img|input|ins|kbd|label|li|link|main|mark|meta|"
    "nav|noscript|object|ol|p|picture|pre|q|s|samp|script|section|small|source|span|strike|"
    "strong|style|sub|summary|sup|svg|table|tbody|td|tfoot|th|thead|time|title|tr|tt|u|ul|"
    "var|video|wbr"
)
_TAG_LIKE = re.compile(
    rf"<(?:/?(?:{_ELEMENTS})(?=[\s/>])[^<>]*|!--.*?--|!\[CDATA\[.*?\]\])>",
    re.IGNORECASE | re.DOTALL,
)
_WS = re.compile(r"\s+")
PARAGRAPH = "\n\n"


_BREAK = re.compile(r"</?([a-z0-9]+)\s*/?>")
_LINE_TAGS = {"br", "td", "th", "li", "dd", "dt"}


def _break(match: re.Match[str]) -> str:
    return "\n" if match.group(1) in _LINE_TAGS else PARAGRAPH


def _sanitize(html: str) -> str:
    return nh3.clean(
        limit_html(html),  # nh3's time grows with the square of the nesting depth
        tags=_BLOCK_TAGS,
        attributes={},
        clean_content_tags=_DROP_WITH_CONTENT,
        url_schemes=set(),
        strip_comments=True,
        link_rel=None,
    )


def _extract(html: str) -> str:
    # nh3's output holds only the block tags above, without attributes, and
    # escapes every other "<" and "&": the tags become breaks, then entities text.
    # Source newlines mean nothing in HTML: only the tags make breaks.
    return unescape(_BREAK.sub(_break, _sanitize(" ".join(html.split()))))


def _only_elements(text: str) -> str:
    """Text holding double-escaped markup, ready for another pass: every "<" that does not open
    a real element is escaped, so "< 5%" and "<editor>" stay text (entities are left alone:
    a feed that escapes its markup twice escapes its entities twice too)."""
    out, last = [], 0
    for m in _TAG_LIKE.finditer(text):
        out += [text[last : m.start()].replace("<", "&lt;"), m.group()]
        last = m.end()
    out.append(text[last:].replace("<", "&lt;"))
    return "".join(out)


def paragraphs(html: str) -> list[str]:
    """The text paragraphs of an HTML fragment: sanitized, no markup, whitespace collapsed.

    Double-escaped HTML (``&lt;p&gt;`` in an already-unescaped feed field) is
    common; a second pass removes the markup it turns into. Only the first ``MAX_TEXT``
    characters are read (each pass costs time in proportion to the length).
    """
    html = html[:MAX_TEXT]
    if "<" not in html and "&" not in html:  # already plain text: only whitespace to tidy
        paras = (" ".join(p.split()) for p in re.split(r"\n\s*\n", html))
        return [p for p in paras if p]
    text = _extract(html)
    for _ in range(2):
        if not _TAG_LIKE.search(text):
            break
        text = _extract(_only_elements(text))
    # whatever still looks like a tag after two passes goes (it was never text a reader needs)
    text = _TAG_LIKE.sub(" ", text)
    paras = (" ".join(p.split()) for p in text.split("\n"))
    return [p for p in paras if p]


def plain_text(html: str) -> str:
    """One line of plain text from an HTML fragment (or plain text with entities); only its
    first ``MAX_LINE`` characters are read."""
    return " ".join(paragraphs(html[:MAX_LINE]))


def word_count(text: str) -> int:
    return len(text.split())


def shorten(text: str, limit: int) -> str:
    """``text`` cut at a word boundary to at most ``limit`` characters, with an ellipsis."""
    text = _WS.sub(" ", text).strip()
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:.-–—(") + "…"


def excerpt(paras: list[str], limit: int) -> str:
    """Whole paragraphs up to ``limit`` characters (the first one shortened if it alone is longer)."""
    out: list[str] = []
    size = 0
    for p in paras:
        extra = len(p) + (1 if out else 0)
        if size + extra > limit:
            break
        out.append(p)
        size += extra
    if not out and paras:
        return shorten(paras[0], limit)
    return " ".join(out)


# --- URLs ---------------------------------------------------------------------


# every printable ASCII character but the ones that end or break a link in HTML and mail
_URL_SAFE = "".join(c for c in map(chr, range(33, 127)) if not c.isalnum() and c not in '"<>\\`')


def _is_tracking(key: str) -> bool:
    return key.lower().startswith("utm_")


def canonical_url(url: str, base: str | None = None) -> str:
    """``url`` (resolved against ``base``) without utm_* parameters or fragment.

    Scheme and host are lower-cased, a default port is dropped, an empty path
    becomes ``/``; other query parameters keep their order and values.
    """
    url = url.strip()
    if base:
        url = urljoin(base, url)
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        userinfo += "@"
    else:
        userinfo, hostport = "", netloc
    host, port = hostport, ""
    if hostport.startswith("["):  # IPv6 literal
        end = hostport.find("]")
        host, port = hostport[: end + 1], hostport[end + 1 :].lstrip(":")
    elif ":" in hostport:
        host, _, port = hostport.rpartition(":")
    host = host.lower().rstrip(".")
    if (scheme, port) in (("http", "80"), ("https", "443")):
        port = ""
    netloc = userinfo + host + (f":{port}" if port else "")
    # spaces and non-ASCII letters percent-encoded (a raw space ends a link in many mail
    # clients); existing %XX escapes and reserved characters kept as the feed gave them
    path = quote(parts.path, safe=_URL_SAFE)
    if not path and scheme in ("http", "https"):
        path = "/"
    # filter the raw query so the parameters kept are byte-for-byte what the feed gave
    query = "&".join(
        quote(seg, safe=_URL_SAFE)
        for seg in parts.query.split("&")
        if seg and not _is_tracking(unquote(seg.split("=")[0]))
    )
    return urlunsplit((scheme, netloc, path, query, ""))


def is_web_url(url: str) -> bool:
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 -- raises ValueError for a port that is no port ("99999", "abc")
    except ValueError:
        return False
    host = parts.hostname or ""
    return (
        parts.scheme.lower() in ("http", "https")
        and bool(host)
        and not any(c.isspace() or c in '<>"\\' for c in host)
    )


# --- characters XML cannot carry: digest.safetext.xml_safe, applied to every field ------------


def _safe_value(value: Any) -> Any:
    if isinstance(value, str):
        return xml_safe(value)
    if isinstance(value, tuple):
        return tuple(_safe_value(v) for v in value)
    if isinstance(value, Image):
        return Image(
            url=xml_safe(value.url), alt=_safe_value(value.alt), credit=_safe_value(value.credit)
        )
    return value


def safe_article(article: Article) -> Article:
    """``article`` with every text field (title, dek, URL, guid, categories, authors, image
    alt and credit, …) made ``xml_safe``: feed text is made safe once, where Articles are
    built, for every format, before it can reach MJML, a mail header or a terminal."""
    changes = {}
    for f in fields(article):
        value = getattr(article, f.name)
        safe = _safe_value(value)
        if safe != value:
            changes[f.name] = safe
    return replace(article, **changes) if changes else article
