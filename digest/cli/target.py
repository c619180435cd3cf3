"""Which issue an editor's command works on, and whether it may still change.

``--as-of T`` (a moment or a week key) names an issue; the config's fixed
``selection.as_of`` (the bundled sample) pins one; otherwise it is the coming issue
(``digest.coming``): the one the scheduler sends next, built for its send time. Only
then is its send time known and printed ("issue 2026-W49, sends Fri 4 Dec 2026 09:00 EST").

An issue already sent (or sending, or failed mid-send) has its rendering stored: pin,
drop and note would change nothing that goes out, so they are refused, naming it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from digest.cli.common import resolve_as_of
from digest.clock import Clock, issue_key
from digest.coming import coming_issue, frozen_status
from digest.config import Config
from digest.errors import DigestError
from digest.store.database import Store


@dataclass(frozen=True)
class Target:
    key: str
    as_of: datetime
    sends_at: datetime | None  # known for the coming issue only
    origin: str  # "coming", "as-of" (--as-of T) or "fixed" (selection.as_of)


def moment_text(moment: datetime, tz: ZoneInfo) -> str:
    """``Fri 4 Dec 2026 09:00 EST``."""
    local = moment.astimezone(tz)
    return f"{local:%a} {local.day} {local:%b %Y %H:%M %Z}"


def resolve_target(cfg: Config, store: Store, as_of: str | None, clock: Clock) -> Target:
    tz = cfg.newsletter.tz
    if as_of or cfg.fixed_as_of() is not None:
        moment = resolve_as_of(cfg, as_of, clock)
        return Target(issue_key(moment, tz), moment, None, "as-of" if as_of else "fixed")
    coming = coming_issue(cfg, store, clock())
    return Target(coming.key, coming.as_of, coming.sends_at, "coming")


def heading(target: Target, cfg: Config, now: datetime) -> str | None:
    """The line naming the coming issue and its send time; None for other issues."""
    if target.sends_at is None:
        return None
    when = moment_text(target.sends_at, cfg.newsletter.tz)
    if target.sends_at >= now:
        return f"issue {target.key}, sends {when}"
    grace = f"{cfg.schedule.misfire_grace_hours:g}"
    return (
        f"issue {target.key}, was due {when}: the scheduler still sends it late, "
        f"within misfire_grace_hours={grace}"
    )


def _status_text(store: Store, key: str, status: str, tz: ZoneInfo) -> str:
    from digest.store import records

    rec = records.get_issue(store, key)
    when = (rec.finished_at or rec.started_at) if rec is not None else None
    at = f" ({moment_text(when, tz)})" if when is not None else ""
    return {
        "sent": f"issue {key} was already sent{at}",
        "sending": f"issue {key} is being sent{at}: its rendering is stored",
        "failed": f"issue {key} failed mid-send{at} and resumes from its stored rendering",
    }.get(status, f"issue {key} is {status}")


def frozen_note(target: Target, cfg: Config, store: Store) -> str | None:
    """For a preview of an issue that went out: what it shows is rebuilt from today's
    feeds, not what was sent."""
    status = frozen_status(store, target.key)
    if status is None:
        return None
    text = _status_text(store, target.key, status, cfg.newsletter.tz)
    return (
        f"{text}; this preview is rebuilt from today's feeds and is not what went out "
        f"(`digest issues show {target.key}` has that)"
    )


def refuse_frozen(target: Target, cfg: Config, store: Store, clock: Clock) -> None:
    """Exit 1 naming the issue when its rendering is stored (sent, sending, failed)."""
    status = frozen_status(store, target.key)
    if status is None:
        return
    text = _status_text(store, target.key, status, cfg.newsletter.tz)
    if target.origin == "fixed":
        where = f" in {cfg.path}" if cfg.path else ""
        hint = (
            f"Its as-of is fixed by selection.as_of{where}: remove that (or pass "
            "--as-of T) to steer another issue."
        )
    else:
        coming = coming_issue(cfg, store, clock())
        hint = (
            f"The coming issue is {coming.key} (sends "
            f"{moment_text(coming.sends_at, cfg.newsletter.tz)}): leave out --as-of for it."
        )
    raise DigestError(f"{text}; pin, drop and note change only an issue not yet sent. {hint}")
