"""The access log without the readers' link tokens.

An unsubscribe or confirm link's token is the authority to change that
reader's subscription; uvicorn's access log would keep every one of them
(``POST /unsubscribe/eyJ1Ijo…``) in files that outlive the request. This
filter logs such paths as ``/unsubscribe/…``; what was done, when and from
where is in the consent ledger.
"""

from __future__ import annotations

import logging
import re

TOKEN_PATH = re.compile(r"^(/(?:unsubscribe|confirm)/)[^/?#]+")


def redact(path: str) -> str:
    """``/unsubscribe/eyJ1IjoxMjN9.abc…`` → ``/unsubscribe/…``."""
    return TOKEN_PATH.sub("\\1…", path)


class RedactTokens(logging.Filter):
    """For uvicorn's ``uvicorn.access`` records: (client, method, path, version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact(args[2]), *args[3:])
        return True


def uvicorn_log_config() -> dict[str, object]:
    """uvicorn's own logging config with ``RedactTokens`` on the access log."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_tokens"] = {
        "()": "subscribers.web.accesslog.RedactTokens"
    }
    config["handlers"]["access"]["filters"] = ["redact_tokens"]
    return config
