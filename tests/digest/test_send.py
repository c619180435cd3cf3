"""`run_send` and `digest send` end to end on the sample publication, file backend."""

from __future__ import annotations

import email
import email.policy
import json
import re
import threading
from collections.abc import Sequence
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from digest.backends.base import Backend, BatchResult, Message, Recipient
from digest.backends.file import FileBackend
from digest.cli import cli
from digest.config import Config, Secrets
from digest.errors import DeliveryConfigError, PermanentDeliveryError, SendError
from digest.send import SendPlan, run_send, send_test_copy
from digest.store.database import Store
from digest.store.locks import issue_lock
from digest.store.tables import IssueArticle, IssueRecord
from digest.tokens import Tokens
from tests.conftest import REPO
from tests.delivery_support import NOW, SAMPLE_KEY, add_subscribers, sample_config, set_status

SECRET = "test-secret-for-links"


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGEST_SECRET_KEY", SECRET)
    monkeypatch.delenv("DIGEST_DATABASE_URL", raising=False)


def _clock() -> Any:
    return NOW


class Recording(Backend):
    """A backend that records who it was asked to deliver to; can fail on a given call."""

    name = "recording"

    def __init__(self, config: Config, *, fail_on: int | None = None, error: BaseException | None = None,
                 on_call: Any = None):  # fmt: skip
        super().__init__(config, Secrets.from_env())
        self.calls: list[list[str]] = []
        self.fail_on, self.error, self.on_call = fail_on, error, on_call
        self.subjects: list[str] = []

    def describe(self) -> str:
        return "recording backend"

    def send_batch(self, message: Message, recipients: Sequence[Recipient]) -> BatchResult:
        if self.fail_on is not None and len(self.calls) + 1 == self.fail_on:
            self.calls.append([])
            assert self.error is not None
            raise self.error
        self.calls.append([r.email for r in recipients])
        self.subjects.append(message.subject)
        if self.on_call:
            self.on_call(len(self.calls))
        return BatchResult(accepted=len(recipients))

    @property
    def delivered(self) -> list[str]:
        return [e for call in self.calls for e in call]


def _emls(outbox: Path) -> list[EmailMessage]:
    out = []
    for path in sorted(outbox.glob("*.eml")):
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        out.append(msg)
    return out


@pytest.mark.postgres
def test_sends_once_to_every_active_subscriber_with_their_own_unsubscribe_link(
    tmp_path: Path, store: Store, db_url: str
) -> None:
    cfg = sample_config(tmp_path, db_url)
    people = add_subscribers(
        store, {"active": 5, "pending": 1, "unsubscribed": 1, "bounced": 1, "complained": 1}
    )
    report = run_send(cfg, store, as_of=cfg.fixed_as_of(), clock=_clock)  # type: ignore[arg-type]
    assert report.outcome == "sent", report.message
    assert (report.key, report.recipients, report.sent, report.exit_code) == (SAMPLE_KEY, 5, 5, 0)

    messages = _emls(tmp_path / "outbox")
    assert sorted(m["To"].addresses[0].addr_spec for m in messages) == sorted(people["active"])
    tokens = Tokens(SECRET)
    urls = set()
    for msg in messages:
        assert msg["Subject"] == report.subject
        assert msg["From"].addresses[0].addr_spec == "newsletter@statecraft.example"
        assert msg["Reply-To"] == "editors@statecraft.example"
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        header_url = re.fullmatch(r"<(.+)>", msg["List-Unsubscribe"]).group(1)  # type: ignore[union-attr]
        assert header_url.startswith("http://127.0.0.1:8000/unsubscribe/")
        text = msg.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
        html = msg.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
        assert header_url in text and header_url in html
        assert "%%" not in text and "%%" not in html
        assert f"http://127.0.0.1:8000/issues/{SAMPLE_KEY}" in html  # view in browser
        # the link unsubscribes exactly this reader
        subscriber_id = tokens.read_unsubscribe(header_url.rsplit("/", 1)[1])
        with store.session() as s:
            from digest.store.tables import Subscriber

            assert s.get(Subscriber, subscriber_id).email == msg["To"].addresses[0].addr_spec  # type: ignore[union-attr]
        urls.add(header_url)
    assert len(urls) == 5

    with store.session() as s:
        rec = s.get(IssueRecord, SAMPLE_KEY)
        assert rec is not None and rec.status == "sent" and rec.sent == 5
        assert rec.html and "%%unsubscribe_url%%" in rec.html  # one render, placeholders kept
        assert (
            rec.archive_html
            and "%%" not in rec.archive_html
            and "/unsubscribe/" not in rec.archive_html
        )
        carried = s.scalars(
            select(IssueArticle.role).where(IssueArticle.issue_key == SAMPLE_KEY)
        ).all()
        assert sorted(set(carried)) == ["latest", "lead"]

    # a second send of the same issue sends nothing and says so
    for p in (tmp_path / "outbox").glob("*.eml"):
        p.unlink()
    again = run_send(cfg, store, as_of=cfg.fixed_as_of(), clock=_clock)  # type: ignore[arg-type]
    assert again.outcome == "already_sent" and again.exit_code == 0
    assert "already sent" in again.message and "--force" in again.message
    assert list((tmp_path / "outbox").glob("*.eml")) == []


def test_too_little_news_records_a_skipped_issue_and_sends_nothing(
    tmp_path: Path, sqlite_store: Store, sqlite_url: str
) -> None:
    cfg = sample_config(tmp_path, sqlite_url)
    cfg = Config(
        **{
            **cfg.__dict__,
            "selection": type(cfg.selection)(**{**cfg.selection.__dict__, "min_articles": 50}),
        }
    )
    add_subscribers(sqlite_store, {"active": 3})
    backend = Recording(cfg)
    report = run_send(cfg, sqlite_store, as_of=cfg.fixed_as_of(), backend=backend, clock=_clock)  # type: ignore[arg-type]
    assert report.outcome == "skipped" and report.exit_code == 0
    assert backend.calls == []
    with sqlite_store.session() as s:
        rec = s.get(IssueRecord, SAMPLE_KEY)
        assert rec is not None and rec.status == "skipped" and rec.skip_reason
        assert rec.skip_reason in report.message


@pytest.mark.postgres
def test_crash_mid_batch_resumes_without_resending_the_in_flight_batch(
    tmp_path: Path, store: Store, db_url: str
) -> None:
    cfg = sample_config(tmp_path, db_url, batch_size=2)
    people = add_subscribers(store, {"active": 7})
    crashing = Recording(cfg, fail_on=2, error=KeyboardInterrupt())  # the process dies mid-request
    with pytest.raises(KeyboardInterrupt):
        run_send(cfg, store, as_of=cfg.fixed_as_of(), backend=crashing, clock=_clock)  # type: ignore[arg-type]
    assert crashing.delivered == people["active"][:2]

    resumed = Recording(cfg)
    report = run_send(cfg, store, as_of=cfg.fixed_as_of(), backend=resumed, clock=_clock)  # type: ignore[arg-type]
    assert report.outcome == "resumed"
    assert report.in_flight_batches == (2,) and report.in_flight_at_crash == 2
    assert "batch 2" in report.message and "not resent" in report.message
    assert resumed.delivered == people["active"][4:]  # batches 3 and 4 only
    assert resumed.subjects == [crashing.subjects[0]] * 2  # the stored issue, not a new render
    assert report.sent == 5
    assert (
        store is not None
        and run_send(
            cfg, store, as_of=cfg.fixed_as_of(), backend=Recording(cfg), clock=_clock
        ).outcome
        == "already_sent"
    )  # type: ignore[arg-type]


def test_resend_in_flight_setting_resends_the_interrupted_batch(
    tmp_path: Path, sqlite_store: Store, sqlite_url: str
) -> None:
    cfg = sample_config(tmp_path, sqlite_url, batch_size=2, resend_in_flight=True)
    people = add_subscribers(sqlite_store, {"active": 5})
    with pytest.raises(KeyboardInterrupt):
        run_send(
            cfg,
            sqlite_store,
            as_of=cfg.fixed_as_of(),
            backend=Recording(cfg, fail_on=2, error=KeyboardInterrupt()),
            clock=_clock,
        )  # type: ignore[arg-type]
    resumed = Recording(cfg)
    report = run_send(cfg, sqlite_store, as_of=cfg.fixed_as_of(), backend=resumed, clock=_clock)  # type: ignore[arg-type]
    assert report.outcome == "resumed" and report.in_flight_batches == (2,)
    assert resumed.delivered == people["active"][2:]
    assert report.sent == 5


def test_an_unexpected_backend_error_fails_the_send_and_leaves_only_that_batch_in_doubt(
    tmp_path: Path, sqlite_store: Store, sqlite_url: str
) -> None:
    cfg = sample_config(tmp_path, sqlite_url, batch_size=2)
    people = add_subscribers(sqlite_store, {"active": 7})
    buggy = Recording(cfg, fail_on=2, error=RuntimeError("boom in the backend"))
    report = run_send(cfg, sqlite_store, as_of=cfg.fixed_as_of(), backend=buggy, clock=_clock)  # type: ignore[arg-type]
    assert report.outcome == "failed" and report.exit_code == 1 and not report.transient
    assert (
        "batch 2" in report.message
        and "unexpected RuntimeError: boom in the backend" in report.message
    )
    assert "in flight" in report.message
    with sqlite_store.session() as s:
        rec = s.get(IssueRecord, SAMPLE_KEY)
        assert rec is not None and rec.status == "failed" and "boom" in (rec.failure or "")
    # the rerun treats batch 2 as a crash would: not resent (it may have gone out), said so
    retry = Recording(cfg)
    again = run_send(cfg, sqlite_store, as_of=cfg.fixed_as_of(), backend=retry, clock=_clock)  # type: ignore[arg-type]
    assert again.outcome == "resumed" and again.in_flight_batches == (2,)
    assert retry.delivered == people["active"][4:]
    assert "not resent" in again.message


class BuildsThenBreaks(Recording):
    """Builds each batch's request ahead (as SendGrid does); building the second one raises."""

    def __init__(self, config: Config):
        super().__init__(config)
        self.built = 0

    def personalized_sender(self, message: Message, people: list[tuple[str, str, str]]) -> Any:
        self.built += 1
        if self.built == 2:
            raise RuntimeError("cannot build the next request")
        recipients = [Recipient(email=e, name=n) for e, n, _ in people]
        return lambda: self.send_batch(message, recipients)


def test_a_failure_reading_the_next_batch_still_records_the_batch_on_the_wire(
    tmp_path: Path, sqlite_store: Store, sqlite_url: str
) -> None:
    cfg = sample_config(tmp_path, sqlite_url, batch_size=2)
    people = add_subscribers(sqlite_store, {"active": 5})
    first = BuildsThenBreaks(cfg)
    with pytest.raises(RuntimeError, match="cannot build"):
        run_send(cfg, sqlite_store, as_of=cfg.fixed_as_of(), backend=first, clock=_clock)  # type: ignore[arg-type]
    assert first.delivered == people["active"][:2]
    retry = Recording(cfg)
    report = run_send(cfg, sqlite_store, as_of=cfg.fixed_as_of(), backend=retry, clock=_clock)  # type: ignore[arg-type]
    # batch 1 was recorded as accepted, not left in doubt: nobody skipped, nobody twice
    assert report.outcome == "resumed" and report.in_flight_batches == ()
    assert retry.delivered == people["active"][2:] and report.sent == 5


def test_provider_refusal_fails_the_send_and_a_rerun_finishes_it(
    tmp_path: Path, sqlite_store: Store, sqlite_url: str
) -> None:
    cfg = sample_config(tmp_path, sqlite_url, batch_size=2)
    people = add_subscribers(sqlite_store, {"active": 5})
    refusing = Recording(
        cfg,
        fail_on=2,
        error=PermanentDeliveryError(
            "SendGrid refused the request (HTTP 400): The from address does not match a verified Sender Identity."
        ),
    )
    report = run_send(cfg, sqlite_store, as_of=cfg.fixed_as_of(), backend=refusing, clock=_clock)  # type: ignore[arg-type]
    assert report.outcome == "failed" and report.exit_code == 1
    assert "verified Sender Identity" in report.message and "batch 2" in report.message
    assert "run `digest send` again" in report.message
    with sqlite_store.session() as s:
        rec = s.get(IssueRecord, SAMPLE_KEY)
        assert (
            rec is not None and rec.status == "failed" and "verified Sender" in (rec.failure or "")
        )
    retry = Recording(cfg)
    report = run_send(cfg, sqlite_store, as_of=cfg.fixed_as_of(), backend=retry, clock=_clock)  # type: ignore[arg-type]
    assert report.outcome == "resumed" and report.sent == 5
    assert retry.delivered == people["active"][2:]


def test_an_outbox_that_cannot_be_written_fails_the_send_and_a_rerun_delivers_everyone(
    tmp_path: Path, sqlite_store: Store, sqlite_url: str
) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    wrong = sample_config(tmp_path, sqlite_url, outbox=str(tmp_path / "a-file" / "outbox"))
    people = add_subscribers(sqlite_store, {"active": 3})
    report = run_send(wrong, sqlite_store, as_of=wrong.fixed_as_of(), clock=_clock)  # type: ignore[arg-type]
    # was: an OSError traceback, the batch left "in flight" and never resent: a rerun sent to nobody
    assert report.outcome == "failed" and report.exit_code == 1
    assert "[delivery.outbox]" in report.message and "a-file" in report.message
    fixed = sample_config(tmp_path, sqlite_url)
    report = run_send(fixed, sqlite_store, as_of=fixed.fixed_as_of(), clock=_clock)  # type: ignore[arg-type]
    assert report.outcome == "resumed" and report.sent == 3 and report.in_flight_batches == ()
    assert sorted(m["To"].addresses[0].addr_spec for m in _emls(tmp_path / "outbox")) == sorted(
        people["active"]
    )


def test_unsubscribing_during_the_send_skips_the_reader(
    tmp_path: Path, sqlite_store: Store, sqlite_url: str
) -> None:
    cfg = sample_config(tmp_path, sqlite_url, batch_size=2)
    people = add_subscribers(sqlite_store, {"active": 4})

    def leave(call: int) -> None:
        if call == 1:
            set_status(sqlite_store, people["active"][3], "unsubscribed")

    backend = Recording(cfg, on_call=leave)
    report = run_send(cfg, sqlite_store, as_of=cfg.fixed_as_of(), backend=backend, clock=_clock)  # type: ignore[arg-type]
    assert backend.delivered == people["active"][:3]
    assert (report.sent, report.skipped) == (3, 1)


def test_stop_finishes_the_batch_in_progress_and_the_next_run_resumes(
    tmp_path: Path, sqlite_store: Store, sqlite_url: str
) -> None:
    cfg = sample_config(tmp_path, sqlite_url, batch_size=2)
    people = add_subscribers(sqlite_store, {"active": 5})
    stop = threading.Event()
    first = Recording(cfg, on_call=lambda n: stop.set())  # SIGTERM arrives during batch 1
    report = run_send(
        cfg, sqlite_store, as_of=cfg.fixed_as_of(), backend=first, clock=_clock, stop=stop
    )  # type: ignore[arg-type]
    assert (
        report.outcome == "interrupted" and report.exit_code == 1
    )  # not finished: a cron job must see it
    assert first.delivered == people["active"][:2]
    assert "run `digest send` again" in report.message
    second = Recording(cfg)
    report = run_send(cfg, sqlite_store, as_of=cfg.fixed_as_of(), backend=second, clock=_clock)  # type: ignore[arg-type]
    assert report.outcome == "resumed" and report.in_flight_batches == ()
    assert second.delivered == people["active"][2:]


def test_dry_run_builds_everything_and_records_nothing(
    tmp_path: Path, sqlite_store: Store, sqlite_url: str
) -> None:
    cfg = sample_config(tmp_path, sqlite_url, batch_size=2)
    add_subscribers(sqlite_store, {"active": 5, "pending": 3})
    backend = Recording(cfg)
    report = run_send(
        cfg, sqlite_store, as_of=cfg.fixed_as_of(), backend=backend, dry_run=True, clock=_clock
    )  # type: ignore[arg-type]
    assert report.outcome == "dry_run" and (report.recipients, report.batches) == (5, 3)
    assert backend.calls == []
    with sqlite_store.session() as s:
        assert s.get(IssueRecord, SAMPLE_KEY) is None


def test_force_sends_again_but_never_in_a_scheduled_run(
    tmp_path: Path, sqlite_store: Store, sqlite_url: str
) -> None:
    cfg = sample_config(tmp_path, sqlite_url)
    people = add_subscribers(sqlite_store, {"active": 2})
    run_send(cfg, sqlite_store, as_of=cfg.fixed_as_of(), backend=Recording(cfg), clock=_clock)  # type: ignore[arg-type]
    with pytest.raises(SendError, match="refused in scheduled runs"):
        run_send(
            cfg,
            sqlite_store,
            as_of=cfg.fixed_as_of(),
            backend=Recording(cfg),
            force=True,
            scheduled=True,
            clock=_clock,
        )  # type: ignore[arg-type]
    again = Recording(cfg)
    report = run_send(
        cfg, sqlite_store, as_of=cfg.fixed_as_of(), backend=again, force=True, clock=_clock
    )  # type: ignore[arg-type]
    assert report.outcome == "sent" and again.delivered == people["active"]


@pytest.mark.postgres
def test_a_send_held_by_another_process_does_nothing(
    tmp_path: Path, store: Store, db_url: str
) -> None:
    cfg = sample_config(tmp_path, db_url)
    add_subscribers(store, {"active": 2})
    backend = Recording(cfg)
    with issue_lock(store, SAMPLE_KEY):
        report = run_send(cfg, store, as_of=cfg.fixed_as_of(), backend=backend, clock=_clock)  # type: ignore[arg-type]
    assert report.outcome == "locked" and report.exit_code == 0 and backend.calls == []
    assert "another process" in report.message


def test_no_active_subscribers_sends_and_records_nothing(
    tmp_path: Path, sqlite_store: Store, sqlite_url: str
) -> None:
    cfg = sample_config(tmp_path, sqlite_url)
    add_subscribers(sqlite_store, {"pending": 2})
    report = run_send(
        cfg, sqlite_store, as_of=cfg.fixed_as_of(), backend=Recording(cfg), clock=_clock
    )  # type: ignore[arg-type]
    assert report.outcome == "skipped" and "no active subscribers" in report.message
    with sqlite_store.session() as s:
        assert s.get(IssueRecord, SAMPLE_KEY) is None


def test_declining_the_prompt_sends_and_records_nothing(
    tmp_path: Path, sqlite_store: Store, sqlite_url: str
) -> None:
    cfg = sample_config(tmp_path, sqlite_url)
    add_subscribers(sqlite_store, {"active": 3})
    plans: list[SendPlan] = []
    backend = Recording(cfg)
    report = run_send(cfg, sqlite_store, as_of=cfg.fixed_as_of(), backend=backend, clock=_clock,  # type: ignore[arg-type]
                      confirm=lambda plan: plans.append(plan) or False)  # fmt: skip
    assert report.outcome == "cancelled" and backend.calls == []
    assert (
        plans[0].recipients == 3
        and plans[0].lead
        and plans[0].subject.endswith("Statecraft Weekly")
    )
    with sqlite_store.session() as s:
        assert s.get(IssueRecord, SAMPLE_KEY) is None


def test_test_copy_goes_to_editors_with_test_prefix_and_records_nothing(
    tmp_path: Path, sqlite_store: Store, sqlite_url: str
) -> None:
    from digest.pipeline import build_issue

    cfg = sample_config(tmp_path, sqlite_url)
    built = build_issue(cfg, store=sqlite_store, as_of=cfg.fixed_as_of(), clock=_clock)  # type: ignore[arg-type]
    assert built.rendered is not None
    n = send_test_copy(
        cfg,
        built.rendered,
        ["editor@statecraft.example"],
        backend=FileBackend(cfg, Secrets.from_env()),
    )
    assert n == 1
    [msg] = _emls(tmp_path / "outbox")
    assert msg["Subject"] == "[TEST] " + built.rendered.subject
    assert msg["List-Unsubscribe"] is None
    assert "%%" not in msg.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
    with sqlite_store.session() as s:
        assert s.get(IssueRecord, SAMPLE_KEY) is None


def test_without_a_secret_a_public_newsletter_refuses_to_send(
    tmp_path: Path, sqlite_store: Store, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DIGEST_SECRET_KEY")
    cfg = sample_config(tmp_path, sqlite_url)
    cfg = Config(
        **{
            **cfg.__dict__,
            "newsletter": type(cfg.newsletter)(
                **{**cfg.newsletter.__dict__, "public_url": "https://news.example.org"}
            ),
        }
    )
    add_subscribers(sqlite_store, {"active": 1})
    with pytest.raises(DeliveryConfigError, match="DIGEST_SECRET_KEY"):
        run_send(cfg, sqlite_store, as_of=cfg.fixed_as_of(), backend=Recording(cfg), clock=_clock)  # type: ignore[arg-type]


def test_the_sample_uses_a_development_secret_kept_beside_its_database(
    tmp_path: Path, sqlite_store: Store, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DIGEST_SECRET_KEY")
    cfg = sample_config(tmp_path, sqlite_url)
    add_subscribers(sqlite_store, {"active": 1})
    report = run_send(cfg, sqlite_store, as_of=cfg.fixed_as_of(), clock=_clock)  # type: ignore[arg-type]
    assert report.outcome == "sent"
    secret_file = tmp_path / "digest.db.dev-secret"
    assert secret_file.stat().st_mode & 0o077 == 0
    [msg] = _emls(tmp_path / "outbox")
    url = re.fullmatch(r"<(.+)>", msg["List-Unsubscribe"]).group(1)  # type: ignore[union-attr]
    assert Tokens(secret_file.read_text().strip()).read_unsubscribe(url.rsplit("/", 1)[1]) > 0


# --- the CLI ------------------------------------------------------------------------------------


def _write_config(tmp_path: Path) -> Path:
    src = (REPO / "examples" / "digest.toml").read_text()
    feed = REPO / "examples" / "feed.xml"
    path = tmp_path / "digest.toml"
    path.write_text(src.replace('url = "feed.xml"', f'url = "{feed}"'))
    return path


def test_cli_send_needs_yes_without_a_terminal_then_sends_once(tmp_path: Path) -> None:
    config = _write_config(tmp_path)
    runner = CliRunner()
    env = {"DIGEST_NOW": NOW.isoformat()}
    result = runner.invoke(
        cli,
        [
            "subscribers",
            "import",
            str(REPO / "examples" / "subscribers.csv"),
            "--confirmed",
            "--config",
            str(config),
        ],
        env=env,
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli, ["send", "--config", str(config)], env=env)
    assert result.exit_code == 1
    assert "add --yes" in result.output
    assert not (tmp_path / "outbox").exists()

    result = runner.invoke(cli, ["send", "--config", str(config), "--yes"], env=env)
    assert result.exit_code == 0, result.output
    assert "sent 5" in result.output
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 5

    result = runner.invoke(cli, ["send", "--config", str(config), "--yes", "--json"], env=env)
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["outcome"] == "already_sent" and data["sent"] == 5
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 5

    result = runner.invoke(cli, ["issues", "list", "--json", "--config", str(config)], env=env)
    assert result.exit_code == 0
    [issue] = json.loads(result.stdout)
    assert (issue["issue"], issue["status"], issue["recipients"], issue["sent"]) == (
        SAMPLE_KEY,
        "sent",
        5,
        5,
    )
    assert issue["delivered"] == 0 and "clicked" in issue

    result = runner.invoke(cli, ["issues", "show", SAMPLE_KEY, "--config", str(config)], env=env)
    assert (
        result.exit_code == 0
        and "sent" in result.output
        and f"/issues/{SAMPLE_KEY}" in result.output
    )
    result = runner.invoke(cli, ["issues", "show", "2026-W01", "--config", str(config)], env=env)
    assert (
        result.exit_code == 1 and "no issue '2026-W01'" in result.output
    )  # not found, not a usage error


# --- the archive ----------------------------------------------------------------------------------


def test_archive_serves_sent_issues_without_personal_links(
    tmp_path: Path, sqlite_store: Store, sqlite_url: str
) -> None:
    from starlette.testclient import TestClient

    from subscribers.web.app import create_app

    cfg = sample_config(tmp_path, sqlite_url)
    add_subscribers(sqlite_store, {"active": 2})
    report = run_send(cfg, sqlite_store, as_of=cfg.fixed_as_of(), clock=_clock)  # type: ignore[arg-type]
    assert report.outcome == "sent"
    app = create_app(cfg, store=sqlite_store, secrets=Secrets.from_env(), clock=_clock)
    with TestClient(app) as client:
        listing = client.get("/issues")
        assert listing.status_code == 200
        assert f'href="/issues/{SAMPLE_KEY}"' in listing.text
        assert "As Famine Spreads in the Sahel" in listing.text
        page = client.get(f"/issues/{SAMPLE_KEY}")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "As Famine Spreads in the Sahel" in page.text
        assert (
            "/unsubscribe/" not in page.text
            and "%%" not in page.text
            and "example.com" not in page.text
        )
        assert 'href="http://127.0.0.1:8000/"' in page.text  # the neutral subscribe link
        assert "<script" not in page.text.lower()
        assert client.get("/issues/2026-W01").status_code == 404
        assert client.get("/issues/not-a-key").status_code == 404


def test_view_in_browser_works_for_readers_of_a_send_stopped_part_way(
    tmp_path: Path, sqlite_store: Store, sqlite_url: str
) -> None:
    from starlette.testclient import TestClient

    from subscribers.web.app import create_app

    cfg = sample_config(tmp_path, sqlite_url, batch_size=2)
    add_subscribers(sqlite_store, {"active": 4})
    app = create_app(cfg, store=sqlite_store, secrets=Secrets.from_env(), clock=_clock)
    refused_first = Recording(cfg, fail_on=1, error=PermanentDeliveryError("HTTP 401: bad key"))
    report = run_send(
        cfg, sqlite_store, as_of=cfg.fixed_as_of(), backend=refused_first, clock=_clock
    )  # type: ignore[arg-type]
    assert report.outcome == "failed"
    with TestClient(app) as client:
        assert client.get(f"/issues/{SAMPLE_KEY}").status_code == 404  # nobody has it yet
    refused_second = Recording(cfg, fail_on=2, error=PermanentDeliveryError("HTTP 413: too large"))
    report = run_send(
        cfg, sqlite_store, as_of=cfg.fixed_as_of(), backend=refused_second, clock=_clock
    )  # type: ignore[arg-type]
    assert report.outcome == "failed" and len(refused_second.delivered) == 2
    with TestClient(app) as client:
        page = client.get(f"/issues/{SAMPLE_KEY}")  # two readers got the email and its link
        assert page.status_code == 200 and "As Famine Spreads in the Sahel" in page.text
        assert "/unsubscribe/" not in page.text and "%%" not in page.text
        assert f"/issues/{SAMPLE_KEY}" not in client.get("/issues").text  # listed once it is sent


def test_fast_unsubscribe_tokens_are_exactly_the_tokens_the_web_app_reads(tmp_path: Path) -> None:
    from digest.tokens import UnsubscribeLinks

    links = UnsubscribeLinks(sample_config(tmp_path, "sqlite://").newsletter.public_url, SECRET)
    assert links.fast  # the fast path is in use, not silently the fallback
    tokens = Tokens(SECRET)
    for subscriber_id in (1, 7, 999, 123_456, 2**31 + 5):
        assert links.token(subscriber_id) == tokens.unsubscribe(subscriber_id)
        assert tokens.read_unsubscribe(links.token(subscriber_id)) == subscriber_id


def test_the_readme_sample_script_sends_the_sample_issue_once(tmp_path: Path) -> None:
    import os
    import shutil
    import subprocess
    import sys

    examples = REPO / "examples"
    for name in ("digest.toml", "feed.xml", "subscribers.csv", "run-sample.sh"):
        shutil.copy(examples / name, tmp_path / name)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIGEST_", "SENDGRID_"))}
    env["DIGEST"] = f"{sys.executable} -m digest"
    first = subprocess.run(
        ["bash", str(tmp_path / "run-sample.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert first.returncode == 0, first.stderr
    assert "sent 5" in first.stdout
    emls = sorted((tmp_path / "outbox").glob("*.eml"))
    assert len(emls) == 5
    assert (tmp_path / "digest.db.dev-secret").exists()  # no secret needed for the sample
    second = subprocess.run(
        ["bash", str(tmp_path / "run-sample.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert second.returncode == 0, second.stderr
    assert "already sent" in second.stdout
    assert sorted((tmp_path / "outbox").glob("*.eml")) == emls


def test_a_request_refused_before_it_leaves_fails_the_batch_cleanly(
    tmp_path: Path, sqlite_store: Store, sqlite_url: str
) -> None:
    from digest.backends.sendgrid import SendGridBackend
    from digest.store import ledger
    from digest.store.tables import Subscriber

    # nothing listens on port 9: had anything been posted, the error would be a connection one
    cfg = sample_config(
        tmp_path,
        sqlite_url,
        backend="sendgrid",
        api_host="http://127.0.0.1:9",
        batch_size=2,
        max_retries=0,
        concurrency=1,  # batch 2 is not posted alongside batch 1
    )
    with sqlite_store.session() as s:  # an address that slipped past validation, in batch 1
        s.add(
            Subscriber(
                email="no-at-sign",
                email_key="no-at-sign",
                status="active",
                source="import",
                created_at=NOW,
            )
        )
    add_subscribers(sqlite_store, {"active": 3})
    backend = SendGridBackend(
        cfg,
        Secrets(
            secret_key=SECRET, sendgrid_api_key="SG.x", sendgrid_api_host=None, smtp_password=None
        ),
    )
    report = run_send(cfg, sqlite_store, as_of=cfg.fixed_as_of(), backend=backend, clock=_clock)  # type: ignore[arg-type]
    assert report.outcome == "failed" and report.exit_code == 1
    assert (
        "batch 1" in report.message
        and "bad address" in report.message
        and "no-at-sign" in report.message
    )
    assert [b.state for b in ledger.batches(sqlite_store, SAMPLE_KEY)] == [
        "failed",
        "queued",
    ]  # not left in flight


def test_a_scheduled_send_retries_a_transient_batch_failure_and_reaches_everyone_once(
    tmp_path: Path, sqlite_store: Store, sqlite_url: str
) -> None:
    """SendGrid 503s outlasting the backend's own retries fail batch 2; the scheduler tries
    again (schedule.retry_minutes) and the retry resumes: batch 1's readers are not sent
    the issue twice, and nobody is left out."""
    from dataclasses import replace

    from digest.errors import TransientDeliveryError
    from digest.schedule.jobs import ScheduledWork

    cfg = sample_config(tmp_path, sqlite_url, batch_size=2)
    cfg = replace(cfg, schedule=replace(cfg.schedule, retry_minutes=0.001))
    people = add_subscribers(sqlite_store, {"active": 5})
    flaky = Recording(
        cfg, fail_on=2, error=TransientDeliveryError("SendGrid answered HTTP 503 three times")
    )
    fire = cfg.fixed_as_of()
    assert fire is not None
    ScheduledWork(
        cfg, sqlite_store, stop=threading.Event(), backend=flaky, clock=lambda: fire
    ).send(fire)
    assert len(flaky.calls) == 4  # batch 1, batch 2 refused, then batches 2 and 3
    assert sorted(flaky.delivered) == sorted(people["active"])
    assert len(set(flaky.delivered)) == 5
    with sqlite_store.session() as s:
        rec = s.get(IssueRecord, SAMPLE_KEY)
        assert rec is not None and rec.status == "sent" and rec.sent == 5


def test_a_send_keeps_each_storys_picture_for_the_archive(
    tmp_path: Path, store: Store, db_url: str
) -> None:
    from sqlalchemy import select

    from digest.store.tables import IssueArticle

    cfg = sample_config(tmp_path, db_url)
    add_subscribers(store, {"active": 2})
    report = run_send(cfg, store, as_of=cfg.fixed_as_of(), clock=_clock)  # type: ignore[arg-type]
    assert report.outcome == "sent", report.message
    with store.session() as s:
        rows = s.execute(
            select(IssueArticle.role, IssueArticle.image_url).where(
                IssueArticle.issue_key == SAMPLE_KEY
            )
        ).all()
    lead = [image for role, image in rows if role == "lead"]
    assert lead and lead[0] and lead[0].startswith("https://")  # the sample's lead has one
    assert all(image is None or image.startswith(("http://", "https://")) for _, image in rows)
