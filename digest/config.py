"""Loading and validating ``digest.toml``.

Every problem is a ``ConfigError`` naming the file and the key: an unknown
key, a wrong type, a bad time zone, an empty source list. Relative paths are
relative to the file's own folder. Secrets never come from the file: they
are read from the environment (see ``Secrets``).

The config's parts are imported from here. What each section holds:
``digest.config_types``; building and checking them from the document:
``digest.config_parse`` (with ``digest.config_values``); checks of what the
file names (the backend, local feeds): ``digest.config_checks``.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from digest.config_parse import parse_config
from digest.config_types import (
    Config,
    DeliveryConfig,
    NewsletterConfig,
    ScheduleConfig,
    Secrets,
    SelectionConfig,
    SourceConfig,
    StorageConfig,
    WebConfig,
)
from digest.errors import ConfigError

__all__ = [
    "DEFAULT_CONFIG",
    "Config",
    "DeliveryConfig",
    "NewsletterConfig",
    "ScheduleConfig",
    "Secrets",
    "SelectionConfig",
    "SourceConfig",
    "StorageConfig",
    "WebConfig",
    "config_path",
    "load_config",
    "parse_config",
]

DEFAULT_CONFIG = "digest.toml"


def config_path(explicit: str | os.PathLike[str] | None) -> Path:
    if explicit:
        return Path(explicit)
    env = os.environ.get("DIGEST_CONFIG")
    return Path(env) if env else Path(DEFAULT_CONFIG)


def load_config(explicit: str | os.PathLike[str] | None = None, *, strict: bool = True) -> Config:
    """Read and validate the config file (``--config``, ``$DIGEST_CONFIG`` or ./digest.toml).
    ``strict``: also the delivery backend and its settings (digest.config_checks);
    ``digest check`` loads without, to report every problem rather than the first."""
    path = config_path(explicit)
    cfg = parse_config(_document(path), path=path.resolve())
    if strict:  # lazily: the backends it consults import this module
        from digest.config_checks import check_delivery

        check_delivery(cfg)
    return cfg


def _document(path: Path) -> dict[str, Any]:
    """The TOML document at ``path``; a ``ConfigError`` when it cannot be read as one."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            "not found (create one with `digest init`, or pass --config PATH)", path=str(path)
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot be read: {exc.strerror}", path=str(path)) from None
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError("is not UTF-8 text", path=str(path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"is not valid TOML: {exc}", path=str(path)) from None
