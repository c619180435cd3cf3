"""Three real `digest schedule` processes on one PostgreSQL, 20,000 readers, a local
SendGrid with latency: the one sending is killed with SIGKILL mid-send, and another takes
the send over within `schedule.takeover_seconds` (2 here) plus a margin. Every reader
outside the batches reported in doubt gets the issue exactly once, nobody twice, and the
issue ends `sent`, logged `sent` once.

The run is due when the processes start (the job table is seeded with a run a minute ago,
inside the misfire grace), so the test does not wait for a minute boundary; the crontab is
daily, so no later cron run can resume the send before the takeover check does."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from apscheduler.job import Job
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.blocking import BlockingScheduler
from sqlalchemy import select

from digest.config import Config, load_config
from digest.schedule.apscheduler_runner import SEND_FUNC
from digest.schedule.cron import trigger_for
from digest.schedule.plan import JOBS_TABLE, SEND_JOB_ID, RunPlan
from digest.store.database import Store, make_engine, open_store
from digest.store.tables import IssueRecord, SendRecipient, Subscriber
from tests.delivery_support import add_subscribers
from tests.schedule_support import digest_env, wait, write_config, write_feed

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

TZ = ZoneInfo("America/New_York")
READERS = 20_000
BATCH = 1000  # 20 batches
KILL_AT = 6  # the request whose arrival is the moment of the kill
LATENCY = 0.05  # seconds per request
TAKEOVER_SECONDS = 2
MARGIN = 30  # a loaded machine: PostgreSQL noticing the dead session, a slow look


class SlowSendGrid:
    """A local /v3/mail/send answering 202 after ``LATENCY``, counting the readers of each
    request it answered 2xx (even when the sender is gone by then: those may have gone
    out). From request ``KILL_AT`` on, requests are held until ``release`` is set, so the
    sender is killed with batches on the wire."""

    def __init__(self) -> None:
        self.received: Counter[str] = Counter()
        self.requests = 0
        self.reached = threading.Event()
        self.release = threading.Event()
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                emails = [to["email"] for p in body["personalizations"] for to in p["to"]]
                with outer.lock:
                    outer.requests += 1
                    number = outer.requests
                if number >= KILL_AT and not outer.release.is_set():
                    outer.reached.set()
                    outer.release.wait(60)
                time.sleep(LATENCY)
                with outer.lock:
                    outer.received.update(emails)
                try:
                    self.send_response(202)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the sender is gone

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def sink() -> Iterator[SlowSendGrid]:
    server = SlowSendGrid()
    try:
        yield server
    finally:
        server.close()


def _configs(root: Path, url: str, api: str, cron: str) -> list[Path]:
    feed = write_feed(root, datetime.now(UTC))
    paths = []
    for name in ("a", "b", "c"):
        path = write_config(
            root / name,
            cron=cron,
            database_url=url,
            feed=str(feed),
            extra=f"takeover_seconds = {TAKEOVER_SECONDS}\n",
        )
        text = path.read_text().replace(
            'backend = "file"\noutbox = "outbox"',
            f'backend = "sendgrid"\napi_host = "{api}"\nbatch_size = {BATCH}\n'
            "concurrency = 4\nmax_retries = 0\ntimeout_seconds = 60",
        )
        path.write_text(text)
        paths.append(path)
    return paths


def _seed_due_run(config: Config, url: str, fire: datetime) -> None:
    """The job table as a scheduler that stopped before ``fire`` leaves it: the run is
    due, and the processes send it at once (late, inside the grace). Written through the
    job store alone: a scheduler, even paused, would process the due run as it shuts down."""
    engine = make_engine(url)
    scheduler = BlockingScheduler(timezone=TZ)  # never started: the job store needs one
    store = SQLAlchemyJobStore(engine=engine, tablename=JOBS_TABLE)
    try:
        store.start(scheduler, "default")
        job = Job(
            scheduler,
            id=SEND_JOB_ID,
            func=SEND_FUNC,
            trigger=trigger_for(config),
            executor="default",
            args=(),
            kwargs={},
            name="weekly send",
            misfire_grace_time=RunPlan.from_config(config).grace_seconds,
            coalesce=True,
            max_instances=1,
            next_run_time=fire,
        )
        store.add_job(job)
    finally:
        engine.dispose()


def _start(config: Path, api_key: str) -> subprocess.Popen[bytes]:
    log = (config.parent / "schedule.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "digest", "schedule", "--config", str(config)]
        + ["--log-format", "json"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=digest_env(SENDGRID_API_KEY=api_key),
        cwd=str(config.parent),
    )


def _log(config: Path) -> list[dict[str, object]]:
    lines = (config.parent / "schedule.log").read_text().splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


def _has(config: Path, name: str) -> Callable[[], bool]:
    return lambda: any(e["event"] == name for e in _log(config))


def _story(configs: list[Path]) -> str:
    return "\n".join(
        f"{c.parent.name}: {e['event']}: {e.get('message', '')}" for c in configs for e in _log(c)
    )


def _batch_of(store: Store, key: str) -> dict[str, int]:
    with store.session() as s:
        rows = s.execute(
            select(Subscriber.email, SendRecipient.batch)
            .join(SendRecipient, SendRecipient.subscriber_id == Subscriber.id)
            .where(SendRecipient.issue_key == key)
        ).all()
    return {str(email): int(batch) for email, batch in rows}


def test_a_scheduler_takes_over_the_send_of_one_killed_mid_send(
    tmp_path: Path, pg_url: str, sink: SlowSendGrid
) -> None:
    fire = (datetime.now(UTC) - timedelta(minutes=1)).replace(second=0, microsecond=0)
    local = fire.astimezone(TZ)
    configs = _configs(tmp_path, pg_url, sink.url, f"{local.minute} {local.hour} * * *")
    store = open_store(pg_url)  # migrated once, before the processes start
    procs: list[subprocess.Popen[bytes]] = []
    try:
        readers = add_subscribers(store, {"active": READERS})["active"]
        _seed_due_run(load_config(configs[0]), pg_url, fire)
        procs = [_start(c, "SG.takeover") for c in configs]

        assert sink.reached.wait(60), "the send never reached the request of the kill\n" + (
            _story(configs)
        )
        senders = [i for i, c in enumerate(configs) if _has(c, "sending")()]
        assert len(senders) == 1, _story(configs)
        victim = senders[0]
        procs[victim].send_signal(signal.SIGKILL)
        assert procs[victim].wait(20) == -signal.SIGKILL
        killed_at = time.monotonic()
        sink.release.set()  # the requests it left on the wire are answered to nobody

        others = [c for i, c in enumerate(configs) if i != victim]
        assert wait(
            lambda: any(_has(c, "takeover")() for c in others), TAKEOVER_SECONDS + MARGIN
        ), "no scheduler took the send over\n" + _story(configs)
        took_after = time.monotonic() - killed_at
        assert wait(lambda: any(_has(c, "sent")() for c in others), 90), _story(configs)
        for i, proc in enumerate(procs):
            if i != victim:
                proc.send_signal(signal.SIGTERM)
        for i, proc in enumerate(procs):
            if i != victim:
                assert proc.wait(30) == 0, _story(configs)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    try:
        _check(configs, victim, store, readers, sink, took_after)
    finally:
        store.dispose()


def _check(
    configs: list[Path],
    victim: int,
    store: Store,
    readers: list[str],
    sink: SlowSendGrid,
    took_after: float,
) -> None:
    story = _story(configs)
    takeovers = [e for c in configs for e in _log(c) if e["event"] == "takeover"]
    assert len(takeovers) == 1, story  # the loser of a race logs `locked`, not `takeover`
    (took,) = takeovers
    taker = next(c for c in configs if any(e["event"] == "takeover" for e in _log(c)))
    assert taker != configs[victim] and took_after <= TAKEOVER_SECONDS + MARGIN, story
    key = str(took["issue"])
    in_doubt = set(took["in_doubt_batches"])  # type: ignore[call-overload]
    assert 1 <= len(in_doubt) <= 4, story  # the kill came with requests on the wire
    sent = [e for c in configs for e in _log(c) if e["event"] == "sent"]
    assert len(sent) == 1 and sent[0]["issue"] == key, story
    assert any(e["event"] == "sent" for e in _log(taker)), story
    with store.session() as s:
        rec = s.get(IssueRecord, key)
        assert rec is not None and rec.status == "sent", story
    # nobody twice; everyone once but (at most) the readers of the batches in doubt
    batch_of = _batch_of(store, key)
    assert max(sink.received.values()) == 1
    assert set(sink.received) <= set(readers)
    missing = set(readers) - set(sink.received)
    assert {batch_of[r] for r in missing} <= in_doubt, story
    assert len(batch_of) == READERS
