"""A fast local SendGrid sink: ``python -m benchmarks.sink [--port N]``.

Accepts ``POST /v3/mail/send`` like SendGrid's v3 API (202, empty body,
``X-Message-Id``), checks each body's shape and counts recipients:

* an issue (``custom_args.issue`` set): 1..1000 personalizations, each with
  one ``to`` address, ``substitutions`` holding the unsubscribe placeholder and
  ``headers`` with ``List-Unsubscribe`` (``<url>``) and
  ``List-Unsubscribe-Post: List-Unsubscribe=One-Click``; top-level
  ``subject``, ``content`` (text/plain and text/html), ``from.email``.
* anything else (confirmation emails): personalizations with ``to``, a
  subject, content and a sender.

A body of the wrong shape gets SendGrid's 400 error JSON and is counted as an
error. ``GET /stats`` returns the counters as JSON; ``POST /reset`` zeroes them.
Standard library HTTP server (threads, keep-alive) plus orjson: no Prism.
"""

from __future__ import annotations

import argparse
import gzip
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson

from benchmarks.servers import serve_until_terminated

UNSUBSCRIBE_PLACEHOLDER = "%%unsubscribe_url%%"  # digest.models.UNSUBSCRIBE_PLACEHOLDER
MAX_ERRORS_KEPT = 20


class Counters:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.requests = 0
        self.issue_requests = 0
        self.other_requests = 0
        self.recipients = 0  # issue recipients accepted
        self.other_recipients = 0
        self.duplicates = 0
        self.rejected = 0
        self.unauthorized = 0
        self.bytes = 0
        self.errors: list[str] = []
        self.issues: dict[str, int] = {}
        self.seen: dict[str, set[str]] = {}
        self.first_at: float | None = None
        self.last_at: float | None = None
        self.max_batch = 0
        self.busy = 0.0  # seconds spent reading, parsing and checking bodies

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "requests": self.requests,
                "issue_requests": self.issue_requests,
                "other_requests": self.other_requests,
                "recipients": self.recipients,
                "unique_recipients": sum(len(s) for s in self.seen.values()),
                "other_recipients": self.other_recipients,
                "duplicates": self.duplicates,
                "rejected": self.rejected,
                "unauthorized": self.unauthorized,
                "bytes": self.bytes,
                "errors": list(self.errors),
                "issues": dict(self.issues),
                "max_batch": self.max_batch,
                "busy_seconds": self.busy,
                "first_at": self.first_at,
                "last_at": self.last_at,
            }


COUNTERS = Counters()


class ShapeError(ValueError):
    def __init__(self, message: str, field: str):
        super().__init__(message)
        self.field = field


def _need(cond: bool, message: str, field: str) -> None:
    if not cond:
        raise ShapeError(message, field)


def check_common(body: Any) -> list[dict[str, Any]]:
    _need(isinstance(body, dict), "the body must be a JSON object", "")
    pers = body.get("personalizations")
    _need(
        isinstance(pers, list) and 1 <= len(pers) <= 1000,
        "personalizations: 1 to 1000 needed",
        "personalizations",
    )
    _need(
        isinstance(body.get("subject"), str) and bool(body["subject"]),
        "subject is required",
        "subject",
    )
    frm = body.get("from")
    _need(
        isinstance(frm, dict) and "@" in str(frm.get("email", "")),
        "from.email is required",
        "from.email",
    )
    content = body.get("content")
    _need(isinstance(content, list) and bool(content), "content is required", "content")
    types = [
        c.get("type") for c in content if isinstance(c, dict) and isinstance(c.get("value"), str)
    ]
    _need("text/html" in types, "content needs a text/html part", "content")
    for i, p in enumerate(pers):
        _need(
            isinstance(p, dict), "each personalization must be an object", f"personalizations.{i}"
        )
        to = p.get("to")
        _need(
            isinstance(to, list)
            and len(to) >= 1
            and all(isinstance(t, dict) and "@" in str(t.get("email", "")) for t in to),
            "to must list at least one address",
            f"personalizations.{i}.to",
        )
    return pers  # type: ignore[no-any-return]


def _issue_personalization_ok(p: dict[str, Any]) -> bool:
    """The fast path: one expression per personalization; ``check_issue`` explains failures."""
    try:
        h = p["headers"]
        lu = h["List-Unsubscribe"]
        return (
            len(p["to"]) == 1
            and p["substitutions"][UNSUBSCRIBE_PLACEHOLDER].startswith("http")
            and lu[:1] == "<"
            and lu[-1:] == ">"
            and h["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        )
    except (KeyError, TypeError, AttributeError):
        return False


def check_issue(body: dict[str, Any], pers: list[dict[str, Any]]) -> list[str]:
    """The per-recipient shape of an issue; returns the recipients' addresses."""
    types = {c.get("type") for c in body["content"]}
    _need("text/plain" in types, "an issue needs a text/plain part", "content")
    for i, p in enumerate(pers):
        if _issue_personalization_ok(p):
            continue
        where = f"personalizations.{i}"
        _need(len(p["to"]) == 1, "an issue goes to one address per personalization", f"{where}.to")
        subs = p.get("substitutions")
        _need(
            isinstance(subs, dict)
            and isinstance(subs.get(UNSUBSCRIBE_PLACEHOLDER), str)
            and subs[UNSUBSCRIBE_PLACEHOLDER].startswith("http"),
            f"substitutions must give {UNSUBSCRIBE_PLACEHOLDER} a URL",
            f"{where}.substitutions",
        )
        headers: Any = p.get("headers")
        _need(isinstance(headers, dict), "headers are required", f"{where}.headers")
        lu = headers.get("List-Unsubscribe", "")
        _need(
            isinstance(lu, str) and lu.startswith("<") and lu.endswith(">"),
            "List-Unsubscribe must be <url>",
            f"{where}.headers",
        )
        _need(
            headers.get("List-Unsubscribe-Post") == "List-Unsubscribe=One-Click",
            "List-Unsubscribe-Post must be List-Unsubscribe=One-Click",
            f"{where}.headers",
        )
        raise ShapeError("a personalization of the wrong shape", where)  # pragma: no cover
    return [p["to"][0]["email"] for p in pers]


class SinkHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "digest-bench-sink"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if body:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/stats":
            self._reply(200, orjson.dumps(COUNTERS.snapshot()))
        else:
            self._reply(404, orjson.dumps({"errors": [{"message": "not found"}]}))

    def do_POST(self) -> None:
        began = time.perf_counter()
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.path == "/reset":
            with COUNTERS.lock:
                COUNTERS.reset()
            self._reply(204)
            return
        if self.path.split("?", 1)[0] != "/v3/mail/send":
            self._reply(404, orjson.dumps({"errors": [{"message": f"no route {self.path}"}]}))
            return
        now = time.time()
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or len(auth) <= len("Bearer "):
            with COUNTERS.lock:
                COUNTERS.unauthorized += 1
            self._reply(
                401,
                orjson.dumps({"errors": [{"message": "authorization required", "field": None}]}),
            )
            return
        if self.headers.get("Content-Encoding", "").lower() == "gzip":
            raw = gzip.decompress(raw)
        try:
            body = orjson.loads(raw)
            pers = check_common(body)
            issue = (
                (body.get("custom_args") or {}).get("issue")
                if isinstance(body.get("custom_args"), dict)
                else None
            )
            if issue is None and pers and isinstance(pers[0].get("custom_args"), dict):
                issue = pers[0]["custom_args"].get("issue")  # digest sends them per personalization
            emails = check_issue(body, pers) if issue else []
        except orjson.JSONDecodeError:
            self._fail("the body is not JSON", "", now, len(raw))
            return
        except ShapeError as exc:
            self._fail(str(exc), exc.field, now, len(raw))
            return
        with COUNTERS.lock:
            c = COUNTERS
            c.requests += 1
            c.bytes += len(raw)
            c.first_at = c.first_at or now
            c.last_at = now
            c.max_batch = max(c.max_batch, len(pers))
            c.busy += time.perf_counter() - began
            if issue:
                c.issue_requests += 1
                c.recipients += len(emails)
                c.issues[str(issue)] = c.issues.get(str(issue), 0) + len(emails)
                seen = c.seen.setdefault(str(issue), set())
                before = len(seen)
                seen.update(emails)
                c.duplicates += len(emails) - (len(seen) - before)
            else:
                c.other_requests += 1
                c.other_recipients += len(pers)
        self._reply(202, headers={"X-Message-Id": uuid.uuid4().hex})

    def _fail(self, message: str, field: str, now: float, size: int) -> None:
        with COUNTERS.lock:
            COUNTERS.requests += 1
            COUNTERS.rejected += 1
            COUNTERS.bytes += size
            if len(COUNTERS.errors) < MAX_ERRORS_KEPT:
                COUNTERS.errors.append(f"{field}: {message}" if field else message)
        self._reply(
            400,
            orjson.dumps({"errors": [{"message": message, "field": field or None, "help": None}]}),
        )


class SinkServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sink", description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    serve_until_terminated(SinkServer(("127.0.0.1", args.port), SinkHandler))


if __name__ == "__main__":
    main()
