"""The SendGrid contract mock: Stoplight Prism serving SendGrid's published Mail Send spec
(tests/data/sendgrid/mail_send.oas3.json), started and stopped by the tests themselves.

Prism is an npm package: it is installed once into ``~/.cache/digest-prism/<version>``
(``$DIGEST_PRISM_DIR`` overrides) and started on a free port of 127.0.0.1.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import httpx

from tests.needs import missing

PRISM_VERSION = "5.14.2"
SPEC = Path(__file__).resolve().parent / "data" / "sendgrid" / "mail_send.oas3.json"
START_TIMEOUT = 90.0


def _prism_dir() -> Path:
    base = os.environ.get("DIGEST_PRISM_DIR") or Path.home() / ".cache" / "digest-prism"
    return Path(base) / PRISM_VERSION


def _entry_point() -> Path:
    return _prism_dir() / "node_modules" / "@stoplight" / "prism-cli" / "dist" / "index.js"


def _install() -> Path:
    """Prism's entry point, installed with npm when it is not there yet."""
    entry = _entry_point()
    if entry.exists():
        return entry
    if not shutil.which("node") or not shutil.which("npm"):
        missing("Node.js and npm (for the Prism SendGrid mock)", "apt-get install nodejs npm")
    where = _prism_dir()
    where.mkdir(parents=True, exist_ok=True)
    (where / "package.json").write_text('{"name": "digest-prism", "private": true}\n')
    done = subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--loglevel=error", "--save-exact",
         f"@stoplight/prism-cli@{PRISM_VERSION}"],
        cwd=where, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    if done.returncode != 0 or not entry.exists():
        missing("the Prism SendGrid mock", f"npm install failed: {done.stderr.strip()[-600:]}")
    return entry


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers(url: str) -> bool:
    try:
        httpx.get(url + "/", timeout=1.5)
        return True
    except httpx.TransportError:
        return False


class Prism:
    """One Prism process serving the spec; ``url`` is its base URL."""

    def __init__(self) -> None:
        entry = _install()
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.log = _prism_dir() / f"prism-{port}.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                ["node", str(entry), "mock", "-h", "127.0.0.1", "-p", str(port), "--errors", str(SPEC)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        self._wait_until_ready()

    def _wait_until_ready(self) -> None:
        # Prism prints nothing we can wait on reliably across versions: its port answering
        # is the event (polled, with a deadline, not a fixed sleep)
        deadline = time.monotonic() + START_TIMEOUT
        while not _answers(self.url):
            if self.process.poll() is not None:
                raise RuntimeError(f"Prism exited while starting: {self.log.read_text()[-800:]}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"Prism did not answer within {START_TIMEOUT:g} s ({self.log})")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.log.unlink(missing_ok=True)
