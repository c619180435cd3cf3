"""A cap on the size of a request's head (request line and headers) for ``digest serve``.

uvicorn sets no such limit with httptools, its default parser: a 10 MB Cookie header
was read whole and answered 200 after 0.4 s, 300 MB after 225 s with the server at
662 MB (the time grows with the square of the header's size).
``HeadLimitedHttpTools`` counts the bytes it hands the parser while a head is being
read and answers ``431 Request Header Fields Too Large`` (and closes the connection)
once they pass ``MAX_HEAD_BYTES``, before the parser has buffered more than that.
Bodies are not counted here: the pages bound those.

``uvicorn_options()`` gives uvicorn this protocol, and h11's own limit for the case
where httptools cannot be imported (h11 then answers 400 rather than 431).
"""

from __future__ import annotations

from typing import Any

# Browsers send a few KB; nginx's default allows 8 KB a line and 32 KB in all.
MAX_HEAD_BYTES = 16 * 1024

_431_BODY = b"The request's headers are too large.\r\n"
_431 = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"content-length: " + str(len(_431_BODY)).encode() + b"\r\n"
    b"connection: close\r\n\r\n" + _431_BODY
)

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # pragma: no cover - httptools is a dependency; h11 is uvicorn's fallback
    HAVE_HTTPTOOLS = False
    HttpToolsProtocol = object  # type: ignore[assignment, misc]
else:
    HAVE_HTTPTOOLS = True


class HeadLimitedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol, refusing a request head over ``max_head_bytes``."""

    max_head_bytes = MAX_HEAD_BYTES

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # bytes of the head being read; None while a body is (no limit here)
        self._head_bytes: int | None = 0
        self._refused = False

    def data_received(self, data: bytes) -> None:
        # The parser gets at most ``max_head_bytes`` at a time, and while a head is being
        # read only what is left of its allowance, so it never buffers more than that.
        # Where one piece ends a message and starts the next (pipelining), the next head's
        # share of that piece goes uncounted: such a head may reach twice the limit.
        while data and not self._refused:
            if self._head_bytes is None:
                piece = data[: self.max_head_bytes]
            else:
                room = self.max_head_bytes - self._head_bytes
                if room <= 0:
                    self._refuse()
                    return
                piece = data[:room]
                self._head_bytes += len(piece)
            data = data[len(piece) :]
            super().data_received(piece)
            if self.transport.is_closing():
                return  # refused by the parser (400), or the connection went

    def on_headers_complete(self) -> None:
        self._head_bytes = None
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._head_bytes = 0  # what follows is the next request's head

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._refused and not self.pipeline and not self.transport.is_closing():
            self._send_431()

    def _refuse(self) -> None:
        # Requests before this one on the connection (pipelined) are answered first: the
        # 431 follows their answers. Nothing more is read meanwhile.
        self._refused = True
        self.flow.pause_reading()
        if self.cycle is None or (self.cycle.response_complete and not self.pipeline):
            self._send_431()

    def _send_431(self) -> None:
        self.logger.warning("Request headers over %d bytes: answered 431.", self.max_head_bytes)
        self.transport.write(_431)
        self.transport.close()


def uvicorn_options() -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.run`` that cap request heads at ``MAX_HEAD_BYTES``."""
    return {
        "http": HeadLimitedHttpTools if HAVE_HTTPTOOLS else "h11",
        "h11_max_incomplete_event_size": MAX_HEAD_BYTES,
    }
