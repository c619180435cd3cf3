"""A slow feed server: ``python -m benchmarks.feedserver --feeds 20 --entries 100 --delay 0.2``.

Serves ``/feed{i}.xml`` (RSS 2.0, ``entries`` recent stories each) and waits
``delay`` seconds before answering every request, like a distant publisher.
Threads, so concurrent requests wait concurrently.
"""

from __future__ import annotations

import argparse
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from benchmarks.publication import rss
from benchmarks.servers import serve_until_terminated


def make_handler(feeds: dict[str, bytes], delay: float) -> type[BaseHTTPRequestHandler]:
    class FeedHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            body = feeds.get(self.path.split("?", 1)[0])
            if delay and self.path != "/healthz":
                time.sleep(delay)
            if body is None:
                body, status, ctype = b"not found", 404, "text/plain"
            else:
                status, ctype = 200, "application/rss+xml; charset=utf-8"
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return FeedHandler


class FeedServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.feedserver", description=__doc__)
    parser.add_argument("--feeds", type=int, default=20)
    parser.add_argument("--entries", type=int, default=100)
    parser.add_argument("--delay", type=float, default=0.2)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    feeds = {f"/feed{i}.xml": rss(args.entries, feed=i).encode() for i in range(args.feeds)}
    feeds["/healthz"] = b"ok"
    serve_until_terminated(FeedServer(("127.0.0.1", args.port), make_handler(feeds, args.delay)))


if __name__ == "__main__":
    main()
