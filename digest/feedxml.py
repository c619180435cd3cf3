"""An RSS or Atom document read by feedparser's own parsers, a piece at a time, so that a
deadline can stop the reading between pieces.

``feedparser.parse`` reads a whole document in one call nothing can interrupt. ``read_xml``
does what that call does with bytes (feedparser 6: the encoding found and the text made
UTF-8, the DOCTYPE set aside, the strict SAX parser, or the loose one when the XML is not
well-formed) with two differences: the limits of ``digest.feedlimits`` are applied to the
UTF-8 text first, and the text is fed to the parser in pieces with the deadline checked
between them. When time runs out, the entries completed so far are kept and the one being
read is dropped. feedparser itself fails on some broken documents (a KeyError in its code):
then too the entries completed before are kept, and ``failure`` says what happened, where
``feedparser.parse`` would have lost the whole feed. Should a later feedparser lack the parts
used here, the whole document is read by ``feedparser.parse`` at once (the limits still
apply; only the deadline cannot).
"""

from __future__ import annotations

import re
import time
import xml.sax
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import feedparser

from digest.feedlimits import XmlLimits, limit_xml

try:
    from feedparser.api import PREFERRED_XML_PARSERS, LooseFeedParser, StrictFeedParser
    from feedparser.encodings import convert_to_utf8
    from feedparser.sanitizer import replace_doctype
    from feedparser.sgml import sgmllib

    SGMLParser = sgmllib.SGMLParser
except ImportError:  # pragma: no cover -- a feedparser other than 6.x
    StrictFeedParser = None

PIECE = 64 * 1024  # bytes fed to the parser between two looks at the clock
# feedparser.html._BaseHTMLProcessor.feed's rewriting of a broken document
_DECLARATION = re.compile(r"<!((?!DOCTYPE|--|\[))", re.IGNORECASE)
_SHORT_TAG = re.compile(r"<([^<>\s]+?)\s*/>")


@dataclass
class XmlRead:
    parsed: Any  # feedparser's FeedParserDict: feed, entries, version, bozo, …
    document: bytes  # the UTF-8 text that was parsed (after the limits)
    limits: XmlLimits = field(default_factory=XmlLimits)
    complete: bool = True  # False: the deadline (or a failure) stopped the reading
    failure: str | None = None  # why feedparser could not read on, when it could not


def read_xml(
    body: bytes,
    *,
    content_type: str | None = None,
    deadline: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> XmlRead:
    """``body`` read as ``feedparser.parse(body)`` would, within the limits and ``deadline``."""
    headers = {"content-type": content_type} if content_type else {}
    if StrictFeedParser is None:  # pragma: no cover
        document, limits = limit_xml(body, deadline=deadline, clock=clock)
        parsed = feedparser.parse(
            document, response_headers=headers, sanitize_html=False, resolve_relative_uris=False
        )
        return XmlRead(parsed, document, limits, complete=not limits.out_of_time)
    result = feedparser.FeedParserDict(
        bozo=False, entries=[], feed=feedparser.FeedParserDict(), headers=dict(headers)
    )
    data = convert_to_utf8(result["headers"], body, result)
    data, limits = limit_xml(data, deadline=deadline, clock=clock)
    strict = bool(result["encoding"])
    result["version"], parsable, entities = replace_doctype(data)
    if deadline is None:
        deadline = float("inf")
    complete = True
    handler: Any = None
    failure: str | None = None
    if strict:
        handler, complete, error, failure = _strict(parsable, deadline, clock)
        if error is not None:
            result["bozo"] = 1
            result["bozo_exception"] = error
            if clock() > deadline:  # no time to read it again: keep what came before the error
                complete = False
            else:  # feedparser reads a broken document again with its loose parser
                strict = False
    if not strict and failure is None:
        handler, complete, failure = _loose(
            parsable.decode("utf-8", "replace"), entities, deadline, clock
        )
    entries = list(handler.entries)
    if (failure or not complete) and handler.inentry and entries:
        partial = entries.pop()  # the entry being read when time ran out or reading failed
        if failure and partial.get("title"):
            failure = f"entry {str(partial.get('title'))[:80]!r}: {failure}"
    result["feed"] = handler.feeddata
    result["entries"] = entries
    result["version"] = result["version"] or handler.version
    result["namespaces"] = handler.namespaces_in_use
    return XmlRead(
        result,
        data,
        limits,
        complete=complete and not limits.out_of_time and failure is None,
        failure=failure,
    )


def _strict(
    data: bytes, deadline: float, clock: Callable[[], float]
) -> tuple[Any, bool, Any, str | None]:
    """(the handler, whether it read everything, the XML error if the document has one,
    what made feedparser fail if it did)."""
    handler = StrictFeedParser("", None, "utf-8")
    # feedparser's own sanitizing is not needed (nh3 cleans every text, and nothing here is
    # ever output as HTML): off, it halves feedparser's time; links resolve in digest.feeds
    handler.resolve_relative_uris = False
    handler.sanitize_html = False
    sax: Any = xml.sax.make_parser(PREFERRED_XML_PARSERS)  # expat's: an IncrementalParser
    sax.setFeature(xml.sax.handler.feature_namespaces, 1)
    try:
        sax.setFeature(xml.sax.handler.feature_external_ges, 0)  # never fetch a DTD
    except xml.sax.SAXNotSupportedException:
        pass
    sax.setContentHandler(handler)
    sax.setErrorHandler(handler)
    try:
        for start in range(0, len(data), PIECE):
            if start and clock() > deadline:
                return handler, False, None, None
            sax.feed(data[start : start + PIECE])
        sax.close()
    except xml.sax.SAXException as exc:
        return handler, True, handler.exc or exc, None
    except Exception as exc:  # noqa: BLE001 -- feedparser's own failure costs what follows only
        return handler, False, None, _failure(exc)
    return handler, True, None, None


def _failure(exc: Exception) -> str:
    return f"feedparser failed: {type(exc).__name__}: {exc}"[:200]


def _pieces(text: str) -> Iterator[str]:
    """``text`` in pieces of about ``PIECE`` characters, each ending before a "<" outside any
    CDATA section (feedparser reads a section only when its end is in what it was given)."""
    start = 0
    while start < len(text):
        end = text.find("<", start + PIECE) if len(text) - start > PIECE else -1
        section = text.rfind("<![CDATA[", start, end) if end > 0 else -1
        if section >= 0 and text.find("]]>", section, end) < 0:  # inside one: cut after it
            closed = text.find("]]>", end)
            end = -1 if closed < 0 else text.find("<", closed)
        end = len(text) if end < 0 else end
        yield text[start:end]
        start = end


def _loose(
    text: str, entities: dict[str, str], deadline: float, clock: Callable[[], float]
) -> tuple[Any, bool, str | None]:
    handler = LooseFeedParser("", None, "utf-8", entities)
    handler.resolve_relative_uris = False
    handler.sanitize_html = False
    # LooseFeedParser.feed reads one whole document: it rewrites it (these three steps, as
    # feedparser 6 does them), hands it to sgmllib and closes. Here each piece is rewritten
    # and handed on, and only the last closes, so a tag or comment left open at the end of a
    # piece goes on into the next as it does in one call. No step can match across a piece's
    # end: each piece ends before a "<", and none of them matches across one.
    parser = SGMLParser
    try:
        for i, piece in enumerate(_pieces(text)):
            if i and clock() > deadline:
                return handler, False, None
            piece = _DECLARATION.sub(r"&lt;!\1", piece)
            piece = _SHORT_TAG.sub(handler._shorttag_replace, piece)
            parser.feed(handler, piece.replace("&#39;", "'").replace("&#34;", '"'))
        parser.close(handler)
    except Exception as exc:  # noqa: BLE001 -- feedparser's own failure costs what follows only
        return handler, False, _failure(exc)
    return handler, True, None
