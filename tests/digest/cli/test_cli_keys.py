"""Keys that never break sent links, from the command line: `digest send`, `digest serve` and
`digest subscribers add` refuse a new DIGEST_SECRET_KEY unless the old one is kept in
DIGEST_SECRET_KEY_PREVIOUS; `digest keys rotate` explains and checks; only the bundled sample
signs with a development secret, and anything else without a key stops before the prompt."""

from __future__ import annotations

import email
import email.policy
import os
import pty
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from starlette.testclient import TestClient

from digest.cli import cli
from digest.signing_secret import fingerprint
from digest.store.database import open_store
from subscribers import repository as repo
from tests.conftest import REPO

EXAMPLES = REPO / "examples"
OLD = "the-key-that-signed-the-sample-issue"
NEW = "a-new-key-set-without-the-old-one"


class Sample:
    """The bundled sample, copied into a folder of its own, driven through the CLI."""

    def __init__(self, folder: Path) -> None:
        for name in ("digest.toml", "feed.xml", "subscribers.csv"):
            shutil.copy(EXAMPLES / name, folder / name)
        self.dir = folder
        self.config = folder / "digest.toml"

    def run(self, *args: str, key: str | None, previous: str | None = None) -> Result:
        env = {
            "DIGEST_SECRET_KEY": key,
            "DIGEST_SECRET_KEY_PREVIOUS": previous,
            "DIGEST_DATABASE_URL": None,
            "DIGEST_CONFIG": str(self.config),
            "DIGEST_NOW": None,
        }
        return CliRunner().invoke(cli, list(args), env=env)

    def import_list(self, key: str | None) -> Result:
        return self.run(
            "subscribers", "import", str(self.dir / "subscribers.csv"), "--confirmed", key=key
        )

    def send_first_issue(self) -> None:
        assert self.import_list(key=OLD).exit_code == 0
        r = self.run("send", "--yes", key=OLD)
        assert r.exit_code == 0 and "sent 5" in r.output, r.output

    def first_link(self) -> tuple[str, str]:
        """(address, path of its unsubscribe link) of one email of the sent issue."""
        path = min((self.dir / "outbox").glob("*.eml"))
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        url = str(msg["List-Unsubscribe"]).strip("<>")
        return str(msg["To"].addresses[0].addr_spec), url.split("8000", 1)[1]


@pytest.fixture
def sample(tmp_path: Path) -> Sample:
    return Sample(tmp_path)


@pytest.fixture(autouse=True)
def served(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """`digest serve` hands its app to this instead of running a server: a serve that
    should have refused returns instead of blocking the test, and the app can be tried."""
    import uvicorn

    apps: list[Any] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: apps.append(app))
    return apps


def test_send_refuses_a_changed_key_unless_the_old_one_is_kept(sample: Sample) -> None:
    sample.send_first_issue()
    r = sample.run("send", "--yes", key=NEW)
    assert r.exit_code == 1
    assert fingerprint(NEW) in r.stderr and fingerprint(OLD) in r.stderr
    assert "DIGEST_SECRET_KEY_PREVIOUS" in r.stderr and "digest keys rotate" in r.stderr
    assert OLD not in r.output and NEW not in r.output
    assert sample.run("send", "--yes", "--dry-run", key=NEW).exit_code == 1
    r = sample.run("send", "--yes", key=NEW, previous=OLD)
    assert r.exit_code == 0 and "already sent" in r.output


def test_serve_refuses_a_changed_key_and_serves_old_links_with_the_previous_one(
    sample: Sample, served: list[Any]
) -> None:
    """The issue's scenario: the sample was sent, then `digest serve` is started with a new
    key. It refuses (naming both fingerprints and the fix); with the old key in
    DIGEST_SECRET_KEY_PREVIOUS it starts, and the sent links still unsubscribe."""
    sample.send_first_issue()
    r = sample.run("serve", "--port", "0", key=NEW)
    assert r.exit_code == 1 and served == []
    assert fingerprint(NEW) in r.stderr and fingerprint(OLD) in r.stderr
    assert "export DIGEST_SECRET_KEY_PREVIOUS=" in r.stderr
    r = sample.run("serve", "--port", "0", key=NEW, previous=OLD)
    assert r.exit_code == 0, r.output
    [app] = served
    address, link = sample.first_link()
    page = TestClient(app).get(link)
    assert page.status_code == 200 and address in page.text
    r = TestClient(app).post(
        link,
        content=b"List-Unsubscribe=One-Click",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 200
    store = open_store(f"sqlite:///{sample.dir / 'digest.db'}")
    try:
        with store.session() as s:
            sub = repo.get_by_email(s, address)
            assert sub is not None and sub.status == "unsubscribed"
    finally:
        store.dispose()


def test_serve_the_sample_with_its_development_secret(sample: Sample, served: list[Any]) -> None:
    """The sample sends with no key at all; serving its links then needs that same secret,
    and a new key is refused with the exact command that keeps the old one."""
    assert sample.import_list(key=None).exit_code == 0
    assert sample.run("send", "--yes", key=None).exit_code == 0
    r = sample.run("serve", "--port", "0", key=NEW)
    assert r.exit_code == 1 and served == []
    dev = sample.dir / "digest.db.dev-secret"
    assert f"export DIGEST_SECRET_KEY_PREVIOUS=$(cat {dev})" in r.stderr
    assert sample.run("keys", "rotate", key=None).exit_code == 0


def test_subscribers_add_refuses_a_changed_key(sample: Sample) -> None:
    """A confirmation link signed with a new key would also make it the key in use, and the
    next send would then accept it: so adding is refused too, and nothing changes."""
    sample.send_first_issue()
    r = sample.run("subscribers", "add", "new.reader@example.com", key=NEW)
    assert r.exit_code == 1 and fingerprint(OLD) in r.stderr
    assert "new.reader@example.com" not in sample.run("subscribers", "list", key=OLD).output
    r = sample.run("subscribers", "add", "new.reader@example.com", key=NEW, previous=OLD)
    assert r.exit_code == 0, r.output
    # the confirmation was signed with the new key, which is now the one in use
    assert sample.run("send", "--yes", key=NEW).exit_code == 0
    assert sample.run("send", "--yes", key=OLD).exit_code == 1


def test_keys_rotate_explains_and_checks(sample: Sample) -> None:
    r = sample.run("keys", "rotate", key=OLD)
    assert r.exit_code == 0 and fingerprint(OLD) in r.output
    assert "python -c 'import secrets; print(secrets.token_urlsafe(32))'" in r.output
    assert 'export DIGEST_SECRET_KEY_PREVIOUS="$DIGEST_SECRET_KEY"' in r.output
    assert "Restart `digest serve`" in r.output
    sample.send_first_issue()
    r = sample.run("keys", "rotate", key=NEW)
    assert r.exit_code == 1 and r.output.startswith("not consistent")
    assert fingerprint(NEW) in r.output and fingerprint(OLD) in r.output
    r = sample.run("keys", "rotate", key=NEW, previous=OLD)
    assert r.exit_code == 0 and r.output.startswith("consistent")
    assert "in DIGEST_SECRET_KEY_PREVIOUS" in r.output
    assert OLD not in r.output and NEW not in r.output


def test_keys_rotate_without_a_key_is_a_configuration_error(sample: Sample) -> None:
    sample.config.write_text(sample.config.read_text().replace("development_secret = true", ""))
    r = sample.run("keys", "rotate", key=None)
    assert r.exit_code == 2 and "export DIGEST_SECRET_KEY=$(python -c" in r.output


def test_serve_without_a_key_prints_its_error_as_an_error(sample: Sample) -> None:
    r = sample.run("serve", key=None)
    assert r.exit_code == 2
    assert (
        r.stderr.startswith("error: DIGEST_SECRET_KEY is not set") and "[bold red]" not in r.stderr
    )


def test_a_config_that_is_not_the_sample_stops_before_the_prompt(sample: Sample) -> None:
    """`digest send` at a terminal, without DIGEST_SECRET_KEY, on a config that is not the
    bundled sample (here: the sample without web.development_secret): exit 2 with the
    command that sets the key, before the issue is shown and y/N asked."""
    sample.config.write_text(sample.config.read_text().replace("development_secret = true", ""))
    assert sample.import_list(key=None).exit_code == 0
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIGEST_", "SENDGRID_"))}
    terminal, keyboard = pty.openpty()  # a terminal on stdin, so send would ask
    os.write(terminal, b"n\n")  # were it to ask, the answer is no (and the test goes on)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "digest", "send", "--config", str(sample.config)],
            stdin=keyboard,
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
    finally:
        os.close(terminal)
        os.close(keyboard)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "y/N" not in proc.stdout + proc.stderr and "Issue 2026-W47" not in proc.stdout
    assert "export DIGEST_SECRET_KEY=$(python -c" in proc.stderr
    assert not (sample.dir / "digest.db.dev-secret").exists()
    assert not (sample.dir / "outbox").exists()
