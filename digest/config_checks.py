"""Checks of a parsed config against the rest of the world, made when the file is loaded.

``parse_config`` checks the document itself. These check what it names:

- ``check_delivery``: the backend exists and has the settings it needs from the file
  (``digest.backends.settings``). ``load_config`` runs it, so every command, ``preview``
  and ``status`` included, stops on it with exit 2 naming the key and the file.
- ``check_local_feeds``: every local feed (a path or a file:// URL) names an existing
  file. The commands that read the feeds run it; a mistyped path would otherwise be a
  warning, and a scheduled send would go out without that source's stories.

``digest check`` reports every problem of both instead of the first.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

from digest.config_types import Config, SourceConfig
from digest.errors import ConfigError


def _where(cfg: Config) -> str | None:
    return str(cfg.path) if cfg.path else None


def delivery_problems(cfg: Config) -> list[ConfigError]:
    from digest.backends.settings import settings_problems

    return [
        ConfigError(message, path=_where(cfg), key=key)
        for key, message in settings_problems(cfg.delivery)
    ]


def local_feed_path(url: str) -> Path | None:
    """The file a local source reads (a path, made absolute on load, or a file:// URL);
    None for an http(s) source."""
    if url.lower().startswith(("http://", "https://")):
        return None
    if url.lower().startswith("file:"):
        return Path(url2pathname(unquote(urlsplit(url).path)))
    return Path(url).expanduser()


def feed_problem(cfg: Config, index: int, source: SourceConfig) -> ConfigError | None:
    """Why local source ``index`` cannot be read, or None (also for http(s) sources)."""
    path = local_feed_path(source.url)
    if path is None or path.is_file():
        return None
    what = "is a folder, not a feed file" if path.is_dir() else "no such file"
    return ConfigError(
        f"{what}: {path} (source {source.name!r}; fix the path, or give an http(s) URL)",
        path=_where(cfg),
        key=f"sources[{index}].url",
    )


def local_feed_problems(cfg: Config) -> list[ConfigError]:
    found = (feed_problem(cfg, i, src) for i, src in enumerate(cfg.sources))
    return [p for p in found if p is not None]


def check_delivery(cfg: Config) -> None:
    """Raise the first delivery problem (ConfigError, exit 2)."""
    for problem in delivery_problems(cfg):
        raise problem


def check_local_feeds(cfg: Config) -> None:
    """Raise the first missing local feed (ConfigError, exit 2)."""
    for problem in local_feed_problems(cfg):
        raise problem
