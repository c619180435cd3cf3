"""An entry's dates, as publishers write them, in UTC.

Importing this module also teaches feedparser the zone names below; ``digest.feeds``
imports it (through ``digest.feedentry``), so that happens before any feed is parsed.
"""

from __future__ import annotations

import calendar
import re
import time
from datetime import UTC, datetime, tzinfo
from email.utils import parsedate_to_datetime
from typing import Any

import feedparser

# feedparser reads RFC 822 zone names from a table of US zones and takes any other name
# for UTC: "10:00 CEST" would be 10:00 UTC, two hours late. Unambiguous names publishers
# use are added (hours east of UTC); IST (India? Ireland? Israel?) stays unknown.
_ZONE_HOURS = {
    "wet": 0,
    "bst": 1,
    "west": 1,
    "cet": 1,
    "cest": 2,
    "eet": 2,
    "eest": 3,
    "msk": 3,
    "hkt": 8,
    "sgt": 8,
    "awst": 8,
    "jst": 9,
    "kst": 9,
    "aest": 10,
    "aedt": 11,
    "nzst": 12,
    "nzdt": 13,
}
for _zone, _hours in _ZONE_HOURS.items():
    feedparser.datetimes.rfc822.timezone_names.setdefault(_zone, _hours)

# a date, or a time of day, with nothing after it: no zone (feedparser would say UTC)
_NO_ZONE = re.compile(r"(?:^\d{4}-\d{2}-\d{2}|(?<![+\-\d])\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)$")


def entry_date(entry: Any, key: str, local_tz: tzinfo = UTC) -> datetime | None:
    """The entry's ``key`` date ("published", "updated"); one written without a zone is
    read in ``local_tz``. None when it has none, or none that can be read."""
    # dict.get: FeedParserDict.get would quietly map updated_parsed to published_parsed
    parsed: time.struct_time | None = dict.get(entry, f"{key}_parsed")
    raw = dict.get(entry, key)
    if not parsed:
        return _rfc822_date(raw, local_tz) if isinstance(raw, str) else None
    try:
        if isinstance(raw, str) and _NO_ZONE.search(raw.strip()):
            # the publisher's wall time: far likelier the newsletter's zone than UTC
            return datetime(*parsed[:6], tzinfo=local_tz).astimezone(UTC)
        return datetime.fromtimestamp(calendar.timegm(parsed), tz=UTC)
    except (OverflowError, ValueError, OSError):
        return None


def _rfc822_date(raw: str, local_tz: tzinfo) -> datetime | None:
    """What feedparser gives up on: "Wed, 18 Nov 2026 10:00:00" (a weekday but no zone)."""
    try:
        found = parsedate_to_datetime(raw.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if found.tzinfo is None:
        found = found.replace(tzinfo=local_tz)
    try:
        return found.astimezone(UTC)
    except OverflowError:  # "31 Dec 9999 23:59:59 -0100" is past the last datetime in UTC
        return None
