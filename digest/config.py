"""Loading and validating ``digest.toml``.

Every problem is a ``ConfigError`` naming the file and the key: an unknown
key, a wrong type, a bad time zone, an empty source list. Relative paths are
relative to the file's own folder. Secrets never come from the file: they
are read from the environment (see ``Secrets``).
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from datetime import date, datetime
from pathlib import Path
from typing import Any, get_type_hints
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from digest.config_values import check_addresses, check_subject
from digest.errors import ConfigError

DEFAULT_CONFIG = "digest.toml"


@dataclass(frozen=True)
class NewsletterConfig:
    name: str
    from_email: str
    postal_address: str
    site_url: str
    from_name: str | None = None
    reply_to: str | None = None
    editors: list[str] = field(default_factory=list)
    public_url: str = "http://127.0.0.1:8000"
    timezone: str = "UTC"
    subject: str = "{lead_title} | {name}"
    tagline: str | None = None  # a line under the name in the masthead
    templates_dir: str | None = None  # user templates, searched before the bundled ones

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class SourceConfig:
    name: str
    url: str  # http(s) URL, file:// URL or an absolute path (made absolute on load)
    section: str | None = None  # default section for entries that give none


@dataclass(frozen=True)
class SelectionConfig:
    window_days: int = 7
    latest_count: int = 6
    lead_categories: list[str] = field(default_factory=lambda: ["Featured"])
    include_categories: list[str] = field(default_factory=list)
    exclude_categories: list[str] = field(default_factory=list)
    max_per_section: int = 0
    min_articles: int = 1
    as_of: str | None = None  # a fixed as-of (ISO 8601) for demos; normally absent = now
    parse_budget_seconds: float = 10.0  # reading one source stops after this (digest.feeds)


@dataclass(frozen=True)
class DeliveryConfig:
    backend: str = "file"
    outbox: str = "outbox"
    batch_size: int = 1000
    api_host: str | None = None
    sandbox_mode: bool = False
    categories: list[str] = field(default_factory=lambda: ["digest"])
    timeout_seconds: float = 30.0
    max_retries: int = 6
    resend_in_flight: bool = False  # after a crash, resend the batch that was in flight
    host: str | None = None  # smtp
    port: int | None = None  # smtp
    starttls: bool = True  # smtp
    ssl: bool = False  # smtp
    username: str | None = None  # smtp


@dataclass(frozen=True)
class StorageConfig:
    url: str = "sqlite:///digest.db"


@dataclass(frozen=True)
class ScheduleConfig:
    cron: str = "0 9 * * fri"
    misfire_grace_hours: float = 6
    preview_hours_before: float = 0  # 0 = no scheduled preview to the editors
    # a run that failed for a passing reason (every feed down, the provider or the database
    # unreachable) is tried again this often while inside misfire_grace_hours; 0 = never
    retry_minutes: float = 30


@dataclass(frozen=True)
class WebConfig:
    host: str = "127.0.0.1"
    port: int = 8000
    sendgrid_webhook_public_key: str | None = None
    webhook_tolerance_seconds: int = 300
    confirm_token_days: int = 7
    resend_confirmation_minutes: int = 15
    rate_limit_per_ip: int = 10  # subscribe posts per IP per window
    rate_limit_per_address: int = 3  # subscribe posts per address per window
    rate_limit_window_seconds: int = 600
    soft_bounce_limit: int = 3
    form_version: str = "2026-11-subscribe-v1"
    # The bundled sample only: without $DIGEST_SECRET_KEY, sign links with a development
    # secret generated beside a SQLite database (digest.signing_secret); a real list sets the key
    development_secret: bool = False


@dataclass(frozen=True)
class Config:
    newsletter: NewsletterConfig
    sources: list[SourceConfig]
    selection: SelectionConfig = field(default_factory=SelectionConfig)
    delivery: DeliveryConfig = field(default_factory=DeliveryConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    web: WebConfig = field(default_factory=WebConfig)
    path: Path | None = None  # the file it came from

    @property
    def base_dir(self) -> Path:
        return self.path.parent if self.path else Path.cwd()

    @property
    def database_url(self) -> str:
        return os.environ.get("DIGEST_DATABASE_URL") or self.storage.url

    @property
    def outbox_dir(self) -> Path:
        return _resolve(self.base_dir, self.delivery.outbox)

    @property
    def templates_dirs(self) -> list[Path]:
        """User templates first, then the bundled ones."""
        from digest.templates import bundled_templates_dir

        dirs = []
        if self.newsletter.templates_dir:
            dirs.append(_resolve(self.base_dir, self.newsletter.templates_dir))
        dirs.append(bundled_templates_dir())
        return dirs

    def fixed_as_of(self) -> datetime | None:
        if not self.selection.as_of:
            return None
        from digest.clock import parse_as_of

        return parse_as_of(self.selection.as_of, self.newsletter.tz)


def _resolve(base: Path, value: str) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() else (base / p)


# --- validation -------------------------------------------------------------

_SECTIONS: dict[str, type] = {
    "newsletter": NewsletterConfig,
    "selection": SelectionConfig,
    "delivery": DeliveryConfig,
    "storage": StorageConfig,
    "schedule": ScheduleConfig,
    "web": WebConfig,
}


def _type_name(tp: Any) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}
    if tp in names:
        return names[tp]
    return "a list of strings"


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


def _build(cls: type, table: Any, *, path: str, section: str) -> Any:
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


def parse_config(data: Mapping[str, Any], *, path: Path | None = None) -> Config:
    """Validate a parsed TOML document and build a ``Config``."""
    where = str(path) if path else "<config>"
    base = path.parent if path else Path.cwd()
    allowed = set(_SECTIONS) | {"sources"}
    for key in data:
        if key not in allowed:
            raise ConfigError(
                f"unknown section (known: {', '.join(sorted(allowed))})", path=where, key=key
            )
    if "newsletter" not in data:
        raise ConfigError("section is required", path=where, key="newsletter")
    built = {
        name: _build(cls, data[name], path=where, section=name)
        for name, cls in _SECTIONS.items()
        if name in data
    }
    raw_sources = data.get("sources")
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
        raise ConfigError(f"source names must be unique: {sorted(dupes)}", path=where, key="sources")

    nl: NewsletterConfig = built["newsletter"]
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
    sel: SelectionConfig | None = built.get("selection")
    if sel:
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
            raise ConfigError(f"must be more than 0 seconds, got {sel.parse_budget_seconds}",
                              path=where, key="selection.parse_budget_seconds")
    dl: DeliveryConfig | None = built.get("delivery")
    if dl and not 1 <= dl.batch_size <= 1000:
        raise ConfigError("must be between 1 and 1000", path=where, key="delivery.batch_size")
    if dl and not dl.timeout_seconds > 0:
        raise ConfigError(
            f"must be more than 0 seconds, got {dl.timeout_seconds}",
            path=where,
            key="delivery.timeout_seconds",
        )
    if dl and dl.max_retries < 0:
        raise ConfigError("must be 0 (no retry) or more", path=where, key="delivery.max_retries")
    sch: ScheduleConfig | None = built.get("schedule")
    if sch and len(sch.cron.split()) != 5:
        raise ConfigError(
            f"must be a 5-field crontab such as '0 9 * * fri', got {sch.cron!r}",
            path=where,
            key="schedule.cron",
        )
    if sch and not sch.misfire_grace_hours >= 0:
        raise ConfigError(
            "must be 0 (never send late) or more", path=where, key="schedule.misfire_grace_hours"
        )
    if sch and not sch.retry_minutes >= 0:
        raise ConfigError(
            "must be 0 (never retry) or more minutes", path=where, key="schedule.retry_minutes"
        )
    if sch:  # every field, as `digest schedule` reads it (lazily: that module imports this one)
        from digest.schedule.cron import CrontabError, parse_crontab

        try:
            parse_crontab(sch.cron)
        except CrontabError as exc:
            raise ConfigError(
                f"{exc} in {sch.cron!r} (e.g. '0 9 * * fri')", path=where, key="schedule.cron"
            ) from None
    cfg = Config(sources=sources, path=path, **built)
    if sel and sel.as_of:
        try:
            cfg.fixed_as_of()
        except Exception:  # noqa: BLE001 -- whatever the reason, the value is what is wrong
            raise ConfigError(
                f"{sel.as_of!r} is not an ISO 8601 date-time (e.g. 2026-01-09T09:00)",
                path=where,
                key="selection.as_of",
            ) from None
    return cfg


MAX_WINDOW_DAYS = 366
# zoneinfo knows these, but they are US standard time all year: "EST" in July is an hour off
_NO_DST_ABBREVIATIONS = {"EST": "America/New_York", "MST": "America/Denver",
                         "HST": "Pacific/Honolulu"}

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
    path = _resolve(base, url)
    if _LOOKS_LIKE_HOST.match(url) and not path.exists():
        raise ConfigError(
            f"{url!r} looks like a web address without its scheme: write 'https://{url}' "
            "(a path to a feed file must name an existing file)",
            path=where,
            key=f"sources[{i}].url",
        )
    return SourceConfig(name=src.name, url=str(path), section=src.section)


# "example.com/feed", "www.example.org:8080/rss": a host name, then a path
_LOOKS_LIKE_HOST = re.compile(r"^(?:[a-z0-9-]+\.)+[a-z]{2,}(?::\d+)?/", re.IGNORECASE)


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
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            "not found (create one with `digest init`, or pass --config PATH)", path=str(path)
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot be read: {exc.strerror}", path=str(path)) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError("is not UTF-8 text", path=str(path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"is not valid TOML: {exc}", path=str(path)) from None
    cfg = parse_config(data, path=path.resolve())
    if strict:  # lazily: the backends it consults import this module
        from digest.config_checks import check_delivery

        check_delivery(cfg)
    return cfg


@dataclass(frozen=True)
class Secrets:
    """Secrets come only from the environment."""

    secret_key: str | None
    sendgrid_api_key: str | None
    sendgrid_api_host: str | None
    smtp_password: str | None
    # $DIGEST_SECRET_KEY_PREVIOUS: older keys that still verify links already sent (never sign)
    previous_secret_keys: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Secrets:
        env = os.environ if env is None else env
        return cls(
            secret_key=env.get("DIGEST_SECRET_KEY") or None,
            sendgrid_api_key=env.get("SENDGRID_API_KEY") or None,
            sendgrid_api_host=env.get("SENDGRID_API_HOST") or None,
            smtp_password=env.get("DIGEST_SMTP_PASSWORD") or None,
            previous_secret_keys=tuple(
                k.strip() for k in env.get("DIGEST_SECRET_KEY_PREVIOUS", "").split(",") if k.strip()
            ),
        )
