"""Database work from the pages runs a few requests at a time (subscribers/web/database.py)."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace
from typing import Any

import anyio
import pytest

from subscribers.web.database import database_limiter, in_database


def test_at_most_the_limit_work_on_the_database_at_once() -> None:
    request: Any = SimpleNamespace(
        app=SimpleNamespace(state=SimpleNamespace(database_limiter=database_limiter(3)))
    )
    lock = threading.Lock()
    running = 0
    most = 0

    def work(i: int) -> int:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.02)
        with lock:
            running -= 1
        return i * 2

    results: list[int] = []

    async def main() -> None:
        async def one(i: int) -> None:
            results.append(await in_database(request, work, i))

        async with anyio.create_task_group() as tg:
            for i in range(12):
                tg.start_soon(one, i)

    anyio.run(main)
    assert sorted(results) == [i * 2 for i in range(12)]
    assert most == 3


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="database_threads"):
        database_limiter(0)
