"""`digest serve` as a process: a reader's one-click unsubscribe reaches the database, and
the access log keeps no link token (it is the authority to change that reader's
subscription)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from subscribers_support import EDITOR_CONFIG, SECRET

from subscribers import repository as repo
from subscribers.db import open_store
from subscribers.tokens import Tokens

pytestmark = pytest.mark.postgres  # db_url runs on SQLite and on PostgreSQL

CONFIG = EDITOR_CONFIG


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_one_click_unsubscribe_through_a_served_process(tmp_path: Path, db_url: str) -> None:
    from datetime import UTC, datetime

    store = open_store(db_url)
    try:
        with store.session() as s:
            sub = repo.add(s, "reader@example.com", at=datetime(2026, 1, 5, tzinfo=UTC),
                           source="cli", status="active")
            token = Tokens(SECRET).unsubscribe(sub.id, sub.email)
    finally:
        store.dispose()
    config = tmp_path / "digest.toml"
    config.write_text(CONFIG)
    port = _free_port()
    env = {**os.environ, "DIGEST_DATABASE_URL": db_url, "DIGEST_SECRET_KEY": SECRET,
           "PYTHONUNBUFFERED": "1"}
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "digest", "serve", "--config", str(config),
             "--host", "127.0.0.1", "--port", str(port)],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                assert proc.poll() is None, log.read_text()
                try:
                    if httpx.get(f"{base}/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
            r = httpx.post(f"{base}/unsubscribe/{token}",
                           data={"List-Unsubscribe": "One-Click"})
            assert r.status_code == 200 and "reader@example.com" in r.text
            assert httpx.get(f"{base}/unsubscribe/{token}").status_code == 200
        finally:
            proc.terminate()
            proc.wait(timeout=15)
    store = open_store(db_url)
    try:
        with store.session() as s:
            got = repo.get_by_email(s, "reader@example.com")
            assert got is not None and got.status == "unsubscribed"
    finally:
        store.dispose()
    said = log.read_text(encoding="utf-8")
    assert '"POST /unsubscribe/… HTTP/1.1" 200' in said
    assert '"GET /unsubscribe/… HTTP/1.1" 200' in said
    assert token not in said and token[-20:] not in said
