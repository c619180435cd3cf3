"""The scheduler's log: one line per event, each with the issue key.

    2026-11-27T14:00:02Z info  [2026-W48] sent: 2 of 2 recipients (file backend)

``--log-format json`` prints one JSON object per line instead:

    {"time": "2026-11-27T14:00:02Z", "level": "info", "issue": "2026-W48",
     "event": "sent", "message": "2 of 2 recipients", "sent": 2, ...}

Events are logged with ``extra={"event": ..., "issue": ...}``; a record
without an issue gets the key of the job being run (``issue_context``).
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

import orjson

LOGGER_NAME = "digest.schedule"
LogFormat = Literal["text", "json"]

log = logging.getLogger(LOGGER_NAME)

_current_issue: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "digest_issue", default=None
)

# attributes every LogRecord has; anything else was passed in ``extra``
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


@contextmanager
def issue_context(key: str | None) -> Iterator[None]:
    """Records logged inside (by digest's own modules too) carry this issue key."""
    token = _current_issue.set(key)
    try:
        yield
    finally:
        _current_issue.reset(token)


class IssueFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "issue", None) is None:
            record.issue = _current_issue.get()
        return True


class _DropDuplicates(logging.Filter):
    """APScheduler's own lines for what the scheduler already logs as an event."""

    def filter(self, record: logging.LogRecord) -> bool:
        msg = str(record.msg)
        return not msg.startswith(("Run time of job", "Execution of job"))


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {
        k: v
        for k, v in vars(record).items()
        if k not in _STANDARD and k not in ("issue", "event") and not k.startswith("_")
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):  # e.g. the batches in doubt of a takeover
        return [_jsonable(v) for v in value]
    return str(value)


class EventFormatter(logging.Formatter):
    """One line per record, as text or as a JSON object."""

    def __init__(self, fmt: LogFormat = "text"):
        super().__init__()
        self.fmt = fmt

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        level = record.levelname.lower()
        issue = getattr(record, "issue", None)
        event = getattr(record, "event", None) or record.name.rsplit(".", 1)[-1]
        message = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            message = f"{message} ({type(exc).__name__}: {exc})"
        if self.fmt == "json":
            obj: dict[str, Any] = {
                "time": when,
                "level": level,
                "issue": issue,
                "event": event,
                "message": message,
            }
            for k, v in _extras(record).items():
                obj.setdefault(k, _jsonable(v))
            return orjson.dumps(obj).decode()
        line = f"{when} {level:<7} [{issue or '-'}] {event}: {message}"
        return " | ".join(part.strip() for part in line.splitlines() if part.strip())


_saved: dict[int, list[tuple[str, int, bool]]] = {}


def configure_logging(
    fmt: LogFormat = "text", *, stream: TextIO | None = None, level: int = logging.INFO
) -> logging.Handler:
    """Send digest's and APScheduler's log records, one line each, to ``stream`` (stderr).
    ``remove_logging(handler)`` puts the loggers back as they were."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(EventFormatter(fmt))
    handler.addFilter(IssueFilter())
    handler.addFilter(_DropDuplicates())
    saved = []
    for name, lvl in (("digest", level), ("apscheduler", logging.WARNING)):
        logger = logging.getLogger(name)
        saved.append((name, logger.level, logger.propagate))
        logger.setLevel(lvl)
        logger.addHandler(handler)
        logger.propagate = False
    _saved[id(handler)] = saved
    return handler


def remove_logging(handler: logging.Handler) -> None:
    for name, lvl, propagate in _saved.pop(id(handler), []):
        logger = logging.getLogger(name)
        logger.removeHandler(handler)
        logger.setLevel(lvl)
        logger.propagate = propagate


def event(
    name: str, message: str, *, issue: str | None = None, level: int = logging.INFO, **fields: Any
) -> None:
    """Log one scheduler event."""
    log.log(level, message, extra={"event": name, "issue": issue, **fields})
