"""Helpers shared by the scheduler tests: a digest.toml in tmp_path, a local feed with
fresh dates, active subscribers inserted directly, a free-running digest process."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any, Self

from digest.config import Config
from digest.schedule.apscheduler_runner import WeeklyScheduler
from digest.schedule.jobs import ScheduledWork
from digest.schedule.plan import RunPlan
from digest.send import SendReport
from digest.store.database import Store, make_engine, open_store
from digest.store.tables import Subscriber

REPO = Path(__file__).resolve().parent.parent


def write_config(
    folder: Path,
    *,
    cron: str = "0 9 * * fri",
    timezone_name: str = "America/New_York",
    database_url: str | None = None,
    grace_hours: float = 6,
    feed: str = "feed.xml",
    extra: str = "",
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    db = database_url or f"sqlite:///{folder / 'digest.db'}"
    path = folder / "digest.toml"
    path.write_text(
        f"""
[newsletter]
name = "Test Weekly"
from_email = "newsletter@example.com"
editors = ["editor@example.com"]
postal_address = "1 Example Street, Springfield"
site_url = "https://example.com"
timezone = "{timezone_name}"

[[sources]]
name = "Local feed"
url = "{feed}"

[selection]
window_days = 7
latest_count = 3
min_articles = 1

[delivery]
backend = "file"
outbox = "outbox"

[storage]
url = "{db}"

[schedule]
cron = "{cron}"
misfire_grace_hours = {grace_hours}
{extra}
"""
    )
    return path


def write_feed(folder: Path, now: datetime, count: int = 3) -> Path:
    """An RSS feed whose items were published in the last few hours before ``now``."""
    items = []
    for i in range(count):
        published = format_datetime(now - timedelta(hours=2 + i), usegmt=True)
        items.append(
            f"""<item><title>Story number {i + 1}</title>
<link>https://example.com/stories/{i + 1}</link>
<guid>https://example.com/stories/{i + 1}</guid>
<category>Featured</category>
<description>A paragraph about story {i + 1}, long enough to be an excerpt.</description>
<pubDate>{published}</pubDate></item>"""
        )
    path = folder / "feed.xml"
    path.write_text(
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Local</title>'
        "<link>https://example.com</link><description>Local feed</description>"
        + "".join(items)
        + "</channel></rss>"
    )
    return path


def add_active(url: str, emails: list[str], now: datetime | None = None) -> None:
    moment = now or datetime.now(UTC)
    store = open_store(url)
    try:
        with store.session() as s:
            for email in emails:
                s.add(
                    Subscriber(
                        email=email,
                        email_key=email.lower(),
                        status="active",
                        source="cli",
                        created_at=moment,
                        confirmed_at=moment,
                        soft_bounces=0,
                    )
                )
    finally:
        store.dispose()


def digest_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    env["DIGEST_SECRET_KEY"] = "test-secret-key-for-the-scheduler-tests"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def start_schedule(config: Path, log: Path, *args: str) -> subprocess.Popen[bytes]:
    """A real `digest schedule` process, its log (stderr and stdout) in ``log``."""
    out = log.open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "digest", "schedule", "--config", str(config), *args],
        stdout=out,
        stderr=subprocess.STDOUT,
        env=digest_env(),
        cwd=str(config.parent),
    )


class FakeSend:
    """Stands in for digest.send.run_send (injected): records each call's as_of."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __call__(self, config: Config, store: Store, **kwargs: Any) -> SendReport:
        self.calls.append(kwargs)
        return SendReport(key="x", outcome="sent", recipients=2, sent=2, message="sent")


def wait(condition: Callable[[], bool], seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


class Run:
    """A WeeklyScheduler running in a thread (no signal handlers), as `digest schedule` does."""

    def __init__(self, config: Config, store: Store, send: FakeSend):
        stop = threading.Event()
        self.engine = make_engine(config.database_url)
        work = ScheduledWork(config, store, stop=stop, send_issue=send)
        self.scheduler = WeeklyScheduler(
            RunPlan.from_config(config), work, jobstore_engine=self.engine, stop=stop
        )
        self.thread = threading.Thread(target=self.scheduler.run, kwargs={"handle_signals": False})

    def __enter__(self) -> Self:
        self.thread.start()
        assert wait(
            lambda: self.scheduler.scheduler is not None and self.scheduler.scheduler.running
        )
        return self

    def __exit__(self, *exc: object) -> None:
        self.scheduler.stop()
        self.thread.join(10)
        assert not self.thread.is_alive(), "the scheduler did not stop"
        self.engine.dispose()
