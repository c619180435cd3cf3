"""Running calls at the same moment: one thread each, lined up on a barrier, so that
races between replicas (each call with its own connection) happen for real; and an app
served by a real uvicorn in a thread (one event loop per replica, as in production:
Starlette's TestClient gives each request a loop of its own, and the app's limiters
cannot be shared between loops)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

from starlette.types import ASGIApp

T = TypeVar("T")


def run_together(calls: Sequence[Callable[[], T]], *, timeout: float = 60) -> list[T]:
    """Each call in its own thread, all released at once; their results in order. The
    first exception a call raised is raised here (after every thread has finished)."""
    barrier = threading.Barrier(len(calls))
    results: list[T | None] = [None] * len(calls)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait(timeout)
            results[i] = calls[i]()
        except BaseException as exc:  # noqa: BLE001 - reported to the test below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
        assert not t.is_alive(), "a call did not finish in time"
    if errors:
        raise errors[0]
    return results  # type: ignore[return-value]


@contextmanager
def serving(app: ASGIApp) -> Iterator[str]:
    """``app`` served by uvicorn in a thread on a free 127.0.0.1 port (one replica, with
    its own event loop); its base URL once it accepts connections."""
    import uvicorn

    started = threading.Event()

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            started.set()

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        assert started.wait(30), "the server did not start"
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()
