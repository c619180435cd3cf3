"""A local SendGrid that loses its answers, for the "a lost answer never sends twice" tests.

``LossySendGrid`` reads each ``POST /v3/mail/send`` in full and counts its recipients: from
then on the batch is as good as delivered, as it is at SendGrid once the request is in.
Then, as its script says for that request number, it answers 202, answers 503 (counted as
not delivered), drops the connection without a word, or answers only after the client has
given up waiting (it waits for the client to close the connection: an event, not a
sleep). Raw sockets and a thread per connection: an HTTP server library always answers.
Keep-alive works as with SendGrid, so a dropped connection is one the client had reused.

Built bound but not listening (``listening=False``), a connection to it is refused, as
when nothing listens; ``listen()`` opens it (e.g. from the backend's retry wait).
"""

from __future__ import annotations

import json
import socket
import threading
from collections import Counter
from pathlib import Path
from typing import Any

from tests.delivery_support import EXAMPLES

OK = b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\nX-Message-Id: lossy\r\n\r\n"
UNAVAILABLE = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"
GIVE_UP_AFTER = 30.0  # a bound on waiting for a client that never closes; never reached


class LossySendGrid:
    def __init__(self, script: dict[int, str] | None = None, *, listening: bool = True):
        self.script = dict(script or {})  # request number (1-based) -> "drop" | "late" | "503"
        self.received: Counter[str] = Counter()  # recipient -> copies accepted
        self.batches: list[list[str]] = []  # the recipients of each request read, in order
        self.requests = 0
        self.late_answered = threading.Event()  # a "late" answer went (or failed to go) out
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        if listening:
            self.listen()

    def listen(self) -> None:
        self.sock.listen()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            buffer = b""
            while True:
                request, buffer = _read_request(conn, buffer)
                if request is None:
                    return
                if not self._answer(conn, request):
                    return

    def _answer(self, conn: socket.socket, body: bytes) -> bool:
        """Count the batch and act on it; False: the connection is finished."""
        recipients = [to["email"] for p in json.loads(body)["personalizations"] for to in p["to"]]
        with self.lock:
            self.requests += 1
            action = self.script.get(self.requests, "ok")
            if action != "503":
                self.batches.append(recipients)
                self.received.update(recipients)
        if action == "503":
            conn.sendall(UNAVAILABLE)
            return True
        if action == "drop":
            conn.shutdown(socket.SHUT_RDWR)  # accepted, then the connection is lost
            return False
        if action == "late":
            conn.settimeout(GIVE_UP_AFTER)
            try:
                while conn.recv(65536):  # until the client, tired of waiting, closes
                    pass
                conn.sendall(OK)
            except OSError:
                pass
            self.late_answered.set()
            return False
        conn.sendall(OK)
        return True

    def close(self) -> None:
        self.sock.close()


def _read_request(conn: socket.socket, buffer: bytes) -> tuple[bytes | None, bytes]:
    """One request's body from ``conn`` (None when the client closed) and what follows it."""
    while b"\r\n\r\n" not in buffer:
        chunk = conn.recv(65536)
        if not chunk:
            return None, b""
        buffer += chunk
    head, _, rest = buffer.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(rest) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return None, b""
        rest += chunk
    return rest[:length], rest[length:]


def sendgrid_config(tmp_path: Path, api_host: str, **delivery: Any) -> Path:
    """The bundled sample as a digest.toml sending through SendGrid at ``api_host``."""
    settings = {"backend": "sendgrid", "api_host": api_host, **delivery}
    lines = [f"{k} = {json.dumps(v)}" for k, v in settings.items()]
    text = (EXAMPLES / "digest.toml").read_text()
    text = text.replace('url = "feed.xml"', f'url = "{EXAMPLES / "feed.xml"}"')
    text = text.replace('backend = "file"\noutbox = "outbox"', "\n".join(lines))
    path = tmp_path / "digest.toml"
    path.write_text(text)
    return path
