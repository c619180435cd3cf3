"""Running the store's blocking calls from the async pages, a few at a time.

SQLAlchemy sessions block, so every page hands its database work to a worker
thread. Starlette's ``run_in_threadpool`` shares one pool of 40 threads
among everything; with the burst of one-click unsubscribes that follows a
send, 16 or more requests then worked on the database at once in one
process, each thread waiting on the GIL and on the connection pool, and the
slowest request took several times the median. Database work therefore goes
through its own ``anyio.CapacityLimiter`` of ``DATABASE_THREADS`` tokens:
requests beyond it wait their turn on the event loop, which costs nothing.
Measured with ``wrk`` and 16 connections on a 2-core machine (PostgreSQL,
one ``digest serve`` process): 40 threads 671 req/s, p99 70 ms; 4 threads
824 req/s, p99 31 ms (docs/performance.md).

Work that waits on something else than the database (the confirmation email
to SendGrid) stays on Starlette's shared pool, so a slow email provider
never holds up an unsubscribe.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import anyio
import anyio.to_thread
from starlette.requests import Request

DATABASE_THREADS = 4

P = ParamSpec("P")
T = TypeVar("T")


def database_limiter(threads: int = DATABASE_THREADS) -> anyio.CapacityLimiter:
    if threads < 1:
        raise ValueError("database_threads must be at least 1")
    return anyio.CapacityLimiter(threads)


async def in_database(
    request: Request, func: Callable[P, T], *args: P.args, **kwargs: P.kwargs
) -> T:
    """``func(*args, **kwargs)`` in a worker thread, at most ``DATABASE_THREADS`` at once."""
    limiter: anyio.CapacityLimiter = request.app.state.database_limiter
    return await anyio.to_thread.run_sync(functools.partial(func, *args, **kwargs), limiter=limiter)
