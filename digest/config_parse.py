"""From a parsed ``digest.toml`` document to a ``Config``: each section built and checked.

Every problem is a ``ConfigError`` naming the file and the key, and the first one found
is raised: unknown sections, then each section's keys and types against its dataclass
(``_build``), then the sources, then the values of each section (``_SECTION_CHECKS``),
then the as-of. Relative paths are relative to the file's own folder.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import MISSING, fields
from datetime import date, datetime
from pathlib import Path
from typing import Any, get_type_hints
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from digest.config_presentation import check_embed, check_presentation
from digest.config_types import (
    Config,
    DeliveryConfig,
    NewsletterConfig,
    ScheduleConfig,
    SelectionConfig,
    SourceConfig,
    StorageConfig,
    WebConfig,
    resolve_path,
)
from digest.config_values import check_addresses, check_subject
from digest.errors import ConfigError

MAX_WINDOW_DAYS = 366
# zoneinfo knows these, but they are US standard time all year: "EST" in July is an hour off
_NO_DST_ABBREVIATIONS = {
    "EST": "America/New_York",
    "MST": "America/Denver",
    "HST": "Pacific/Honolulu",
}
# "example.com/feed", "www.example.org:8080/rss": a host name, then a path
_LOOKS_LIKE_HOST = re.compile(r"^(?:[a-z0-9-]+\.)+[a-z]{2,}(?::\d+)?/", re.IGNORECASE)

_SECTIONS: dict[str, type] = {
    "newsletter": NewsletterConfig,
    "selection": SelectionConfig,
    "delivery": DeliveryConfig,
    "storage": StorageConfig,
    "schedule": ScheduleConfig,
    "web": WebConfig,
}


def parse_config(data: Mapping[str, Any], *, path: Path | None = None) -> Config:
    """Validate a parsed TOML document and build a ``Config``."""
    where = str(path) if path else "<config>"
    _check_section_names(data, where)
    built = {
        name: _build(cls, data[name], path=where, section=name)
        for name, cls in _SECTIONS.items()
        if name in data
    }
    sources = _sources(data.get("sources"), path.parent if path else Path.cwd(), where)
    for name, check in _SECTION_CHECKS.items():
        if name in built:
            check(built[name], where)
    cfg = Config(sources=sources, path=path, **built)
    _check_as_of(cfg, where)
    return cfg


# --- keys and types ---------------------------------------------------------------


def _check_section_names(data: Mapping[str, Any], where: str) -> None:
    allowed = set(_SECTIONS) | {"sources"}
    for key in data:
        if key not in allowed:
            raise ConfigError(
                f"unknown section (known: {', '.join(sorted(allowed))})", path=where, key=key
            )
    if "newsletter" not in data:
        raise ConfigError("section is required", path=where, key="newsletter")


def _build(cls: type, table: Any, *, path: str, section: str) -> Any:
    """An instance of ``cls`` from the TOML table ``table``: every key known to it, every
    value of its field's type, every field without a default given."""
    if not isinstance(table, dict):
        raise ConfigError("must be a table", path=path, key=section)
    hints = get_type_hints(cls)
    known = {f.name: f for f in fields(cls) if f.name != "path"}
    kwargs: dict[str, Any] = {}
    for key, value in table.items():
        dotted = f"{section}.{key}"
        if key not in known:
            raise ConfigError(
                f"unknown key (known keys: {', '.join(sorted(known))})", path=path, key=dotted
            )
        kwargs[key] = _check_value(value, hints[key], path=path, key=dotted)
    missing = [
        name
        for name, f in known.items()
        if name not in kwargs and f.default is MISSING and f.default_factory is MISSING
    ]
    if missing:
        raise ConfigError("is required", path=path, key=f"{section}.{missing[0]}")
    return cls(**kwargs)


def _check_value(value: Any, tp: Any, *, path: str, key: str) -> Any:
    """Check one value against a field's annotated type; return it (maybe converted)."""
    origin = getattr(tp, "__origin__", None)
    args = getattr(tp, "__args__", ())
    if args and type(None) in args and origin is not list:  # X | None
        inner = next(a for a in args if a is not type(None))
        return _check_value(value, inner, path=path, key=key)
    if origin is list:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"must be a list of strings, got {value!r}", path=path, key=key)
        return list(value)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"must be true or false, got {value!r}", path=path, key=key)
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"must be an integer, got {value!r}", path=path, key=key)
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"must be a number, got {value!r}", path=path, key=key)
        return float(value)
    if tp is str:
        if key == "selection.as_of" and isinstance(value, (date, datetime)):
            return value.isoformat()  # a TOML date-time written without quotes
        if not isinstance(value, str):
            raise ConfigError(f"must be a string, got {value!r}", path=path, key=key)
        return value
    raise AssertionError(f"unsupported config type {tp!r}")  # pragma: no cover


# --- the sources ------------------------------------------------------------------


def _sources(raw_sources: Any, base: Path, where: str) -> list[SourceConfig]:
    """The ``[[sources]]``, each named and with a URL or an absolute path; names unique."""
    if not raw_sources:
        raise ConfigError(
            "needs at least one [[sources]] entry with a name and a url", path=where, key="sources"
        )
    if not isinstance(raw_sources, list):
        raise ConfigError("must be an array of tables ([[sources]])", path=where, key="sources")
    sources = []
    for i, raw in enumerate(raw_sources):
        src = _build(SourceConfig, raw, path=where, section=f"sources[{i}]")
        sources.append(_absolutize_source(src, base, where, i))
    names = [s.name for s in sources]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise ConfigError(
            f"source names must be unique: {sorted(dupes)}", path=where, key="sources"
        )
    return sources


def _absolutize_source(src: SourceConfig, base: Path, where: str, i: int) -> SourceConfig:
    if not src.name.strip():  # warnings and problems name the source by it
        raise ConfigError("must not be empty", path=where, key=f"sources[{i}].name")
    url = src.url.strip()
    if not url:
        raise ConfigError("must not be empty", path=where, key=f"sources[{i}].url")
    if "://" in url:
        scheme = url.split("://", 1)[0].lower()
        if scheme not in ("http", "https", "file"):
            raise ConfigError(
                f"unsupported scheme {scheme!r} (use http, https, file or a path)",
                path=where,
                key=f"sources[{i}].url",
            )
        return src
    path = resolve_path(base, url)
    if _LOOKS_LIKE_HOST.match(url) and not path.exists():
        raise ConfigError(
            f"{url!r} looks like a web address without its scheme: write 'https://{url}' "
            "(a path to a feed file must name an existing file)",
            path=where,
            key=f"sources[{i}].url",
        )
    return SourceConfig(name=src.name, url=str(path), section=src.section)


# --- the values of each section -------------------------------------------------------


def _check_newsletter(nl: NewsletterConfig, where: str) -> None:
    try:
        ZoneInfo(nl.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"unknown time zone {nl.timezone!r} (use an IANA name such as 'America/New_York')",
            path=where,
            key="newsletter.timezone",
        ) from None
    if nl.timezone.upper() in _NO_DST_ABBREVIATIONS:
        raise ConfigError(
            f"{nl.timezone!r} is a fixed offset that never changes for daylight saving time; "
            f"use the IANA name of a place, such as "
            f"{_NO_DST_ABBREVIATIONS[nl.timezone.upper()]!r}",
            path=where,
            key="newsletter.timezone",
        )
    for key in ("name", "postal_address"):
        if not getattr(nl, key).strip():
            raise ConfigError("must not be empty", path=where, key=f"newsletter.{key}")
    check_subject(nl.subject, where)
    check_addresses(nl, where)
    check_presentation(nl, where)


def _check_selection(sel: SelectionConfig, where: str) -> None:
    for key in ("window_days", "latest_count", "min_articles"):
        if getattr(sel, key) < (1 if key == "window_days" else 0):
            raise ConfigError("must be positive", path=where, key=f"selection.{key}")
    if sel.window_days > MAX_WINDOW_DAYS:
        raise ConfigError(
            f"must be at most {MAX_WINDOW_DAYS} (a year), got {sel.window_days}",
            path=where,
            key="selection.window_days",
        )
    if sel.max_per_section < 0:
        raise ConfigError("must be 0 (no cap) or more", path=where, key="selection.max_per_section")
    if not sel.parse_budget_seconds > 0:
        raise ConfigError(
            f"must be more than 0 seconds, got {sel.parse_budget_seconds}",
            path=where,
            key="selection.parse_budget_seconds",
        )


def _check_delivery(dl: DeliveryConfig, where: str) -> None:
    """The values themselves; whether the backend has its settings is
    ``config_checks.check_delivery``."""
    if not 1 <= dl.batch_size <= 1000:
        raise ConfigError("must be between 1 and 1000", path=where, key="delivery.batch_size")
    if not dl.timeout_seconds > 0:
        raise ConfigError(
            f"must be more than 0 seconds, got {dl.timeout_seconds}",
            path=where,
            key="delivery.timeout_seconds",
        )
    if dl.max_retries < 0:
        raise ConfigError("must be 0 (no retry) or more", path=where, key="delivery.max_retries")
    if not 1 <= dl.concurrency <= 16:
        raise ConfigError("must be between 1 and 16", path=where, key="delivery.concurrency")


def _check_web(web: WebConfig, where: str) -> None:
    check_embed(web, where)


def _check_storage(st: StorageConfig, where: str) -> None:
    if st.keep_recipients_weeks < 1:
        raise ConfigError("must be 1 week or more", path=where, key="storage.keep_recipients_weeks")


def _check_schedule(sch: ScheduleConfig, where: str) -> None:
    if len(sch.cron.split()) != 5:
        raise ConfigError(
            f"must be a 5-field crontab such as '0 9 * * fri', got {sch.cron!r}",
            path=where,
            key="schedule.cron",
        )
    if not sch.misfire_grace_hours >= 0:
        raise ConfigError(
            "must be 0 (never send late) or more", path=where, key="schedule.misfire_grace_hours"
        )
    if not sch.retry_minutes >= 0:
        raise ConfigError(
            "must be 0 (never retry) or more minutes", path=where, key="schedule.retry_minutes"
        )
    if not sch.takeover_seconds >= 1:  # a lock probe and a query per look: not a busy loop
        raise ConfigError(
            f"must be 1 second or more, got {sch.takeover_seconds!r}",
            path=where,
            key="schedule.takeover_seconds",
        )
    # every field, as `digest schedule` reads it (lazily: that module imports this one)
    from digest.errors import CrontabError
    from digest.schedule.cron import parse_crontab

    try:
        parse_crontab(sch.cron)
    except CrontabError as exc:
        raise ConfigError(
            f"{exc} in {sch.cron!r} (e.g. '0 9 * * fri')", path=where, key="schedule.cron"
        ) from None


# checked in this order, each when its section is in the file
_SECTION_CHECKS: dict[str, Callable[[Any, str], None]] = {
    "newsletter": _check_newsletter,
    "selection": _check_selection,
    "delivery": _check_delivery,
    "storage": _check_storage,
    "schedule": _check_schedule,
    "web": _check_web,
}


def _check_as_of(cfg: Config, where: str) -> None:
    if not cfg.selection.as_of:
        return
    try:
        cfg.fixed_as_of()
    except Exception:  # noqa: BLE001 -- whatever the reason, the value is what is wrong
        raise ConfigError(
            f"{cfg.selection.as_of!r} is not an ISO 8601 date-time (e.g. 2026-01-09T09:00)",
            path=where,
            key="selection.as_of",
        ) from None
