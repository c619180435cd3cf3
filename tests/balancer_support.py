"""Replicas behind a real load balancer: ``digest serve`` processes on one database and
haproxy in front of them, all on 127.0.0.1 (tests/subscribers/web/test_replicas.py).

haproxy's config is not written here: it is the ``haproxy`` block of docs/deployment.md,
read from the doc, with its ``bind`` line and its servers' addresses replaced by the
test's ports. What the doc tells an operator to run is what the tests run.

Every wait is on a condition (a process answering, haproxy sending requests to every
replica), polled with a deadline; none is a fixed sleep.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.conftest import REPO
from tests.needs import missing
from tests.subscribers_support import SECRET

DEPLOYMENT_DOC = REPO / "docs" / "deployment.md"
BACKEND_HEADER = "X-Backend"  # set by the doc's haproxy config: the server that answered
START_SECONDS = 60  # generous: a busy 2-core machine may run a benchmark meanwhile
# what a test must not inherit from the shell that runs it
_ENV_DROPPED = ("DIGEST_SECRET_KEY_PREVIOUS", "DIGEST_CONFIG", "FORWARDED_ALLOW_IPS", "DIGEST_NOW")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def haproxy_binary() -> str:
    """haproxy's path, or skip (under CI: fail) saying how to get it."""
    found = shutil.which("haproxy") or next(
        (p for p in ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy") if os.access(p, os.X_OK)),
        None,
    )
    if found is None:
        missing("haproxy", "apt-get install haproxy (Debian's package; the tests start it)")
    assert found is not None
    return found


def serve_env(db_url: str) -> dict[str, str]:
    """The environment every replica shares (docs/deployment.md, "What the replicas
    share"): the database and the signing key."""
    env = {k: v for k, v in os.environ.items() if k not in _ENV_DROPPED}
    env.update(
        {"DIGEST_DATABASE_URL": db_url, "DIGEST_SECRET_KEY": SECRET, "PYTHONUNBUFFERED": "1"}
    )
    return env


def upgrade_database(config: Path, env: dict[str, str]) -> None:
    """``digest db upgrade``, once, before any replica starts (the doc's first step)."""
    done = subprocess.run(
        [sys.executable, "-m", "digest", "db", "upgrade", "--config", str(config)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _wait(
    condition_met: Callable[[], bool], what: str, *, timeout: float, log: Path | None = None
) -> None:
    """Poll ``condition_met()`` until it is true; fail naming ``what`` (and the log)."""
    deadline = time.monotonic() + timeout
    while not condition_met():
        if time.monotonic() > deadline:
            said = log.read_text(errors="replace")[-4000:] if log and log.exists() else ""
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{said}")
        time.sleep(0.05)


@dataclass
class Replica:
    """One ``digest serve`` process (its name is its haproxy server name)."""

    name: str
    port: int
    config: Path
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    _starts: int = field(default=0)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, f"{self.name} is running"
        self._starts += 1
        with self.log.open("ab") as out:
            out.write(f"--- start {self._starts} of {self.name}\n".encode())
            out.flush()
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "digest",
                    "serve",
                    "--config",
                    str(self.config),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
            )

    def healthy(self) -> bool:
        assert self.proc is not None
        assert self.proc.poll() is None, (
            f"{self.name} exited {self.proc.returncode}:\n{self.log.read_text(errors='replace')}"
        )
        try:
            return httpx.get(f"{self.url}/healthz", timeout=5).status_code == 200
        except httpx.TransportError:
            return False

    def wait_healthy(self) -> None:
        _wait(self.healthy, f"{self.name}'s /healthz", timeout=START_SECONDS, log=self.log)

    def stop(self) -> None:
        """SIGTERM (uvicorn finishes the requests under way), then wait for the exit."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


def haproxy_config(listen_port: int, servers: dict[str, int]) -> str:
    """docs/deployment.md's haproxy config with the test's addresses: ``bind`` on
    127.0.0.1:``listen_port`` and each ``server NAME ADDRESS`` on 127.0.0.1 and its port
    (the names must be the doc's). Nothing else is changed."""
    doc = DEPLOYMENT_DOC.read_text(encoding="utf-8")
    blocks = re.findall(r"^```haproxy\n(.*?)^```", doc, flags=re.MULTILINE | re.DOTALL)
    assert len(blocks) == 1, "docs/deployment.md should have one ```haproxy block"
    text, binds = re.subn(
        r"^(\s*)bind\s+.*$", rf"\g<1>bind 127.0.0.1:{listen_port}", blocks[0], flags=re.MULTILINE
    )
    assert binds == 1, "the doc's haproxy config should have one bind line"
    named: list[str] = []

    def address(m: re.Match[str]) -> str:
        named.append(m[2])
        return f"{m[1]}127.0.0.1:{servers[m[2]]}"

    text = re.sub(r"^(\s*server\s+(\S+)\s+)\S+", address, text, flags=re.MULTILINE)
    assert sorted(named) == sorted(servers), (named, servers)
    return text


@dataclass
class Balancer:
    """haproxy in the foreground (``-db``) with the doc's config."""

    port: int
    config: Path
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, binary: str) -> None:
        check = subprocess.run(
            [binary, "-c", "-f", str(self.config)], capture_output=True, text=True, check=False
        )
        assert check.returncode == 0, check.stdout + check.stderr
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [binary, "-db", "-f", str(self.config)],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.kill()
        self.proc.wait(timeout=10)

    def wait_spread(self, names: Sequence[str]) -> None:
        """Until consecutive ``/healthz`` answers through the balancer came from every
        replica in ``names`` in turn: haproxy has found them all up (its checks passed)."""
        seen: list[str] = []

        def spread() -> bool:
            assert self.proc is not None and self.proc.poll() is None, self.log.read_text()
            try:
                r = httpx.get(f"{self.url}/healthz", timeout=5)
            except httpx.TransportError:
                return False
            if r.status_code == 200 and BACKEND_HEADER in r.headers:
                seen.append(r.headers[BACKEND_HEADER])
            return len(seen) >= len(names) and set(seen[-len(names) :]) == set(names)

        _wait(spread, f"haproxy to send requests to all of {list(names)}", timeout=START_SECONDS)


@dataclass
class Cluster:
    balancer: Balancer
    replicas: list[Replica]

    @property
    def url(self) -> str:
        return self.balancer.url

    @property
    def names(self) -> list[str]:
        return [r.name for r in self.replicas]

    def restart(self, replica: Replica) -> None:
        """Stop one replica, start it again on its port, and wait until it is healthy and
        haproxy sends requests to it again."""
        replica.stop()
        replica.start()
        replica.wait_healthy()
        self.balancer.wait_spread(self.names)


@contextmanager
def cluster(tmp_path: Path, db_url: str, config_text: str) -> Iterator[Cluster]:
    """The doc's deployment on one machine: ``digest db upgrade`` once, two ``digest
    serve`` replicas (same config file, same environment) and haproxy in front, once
    haproxy sends requests to both. Everything is stopped afterwards."""
    binary = haproxy_binary()
    config = tmp_path / "digest.toml"
    config.write_text(config_text)
    env = serve_env(db_url)
    upgrade_database(config, env)
    names = ("replica1", "replica2")  # the server names of the doc's haproxy config
    replicas = [Replica(name, free_port(), config, env, tmp_path / f"{name}.log") for name in names]
    balancer = Balancer(free_port(), tmp_path / "haproxy.cfg", tmp_path / "haproxy.log")
    balancer.config.write_text(haproxy_config(balancer.port, {r.name: r.port for r in replicas}))
    with ExitStack() as stack:
        for replica in replicas:
            stack.callback(replica.stop)
            replica.start()  # both start at once; the database is already migrated
        for replica in replicas:
            replica.wait_healthy()
        stack.callback(balancer.stop)
        balancer.start(binary)
        balancer.wait_spread(names)
        yield Cluster(balancer, replicas)
