"""Checks of the keys that shape what readers see: locale, logo, accent colour, thumbnails
(``[newsletter]``) and the origins allowed to embed the subscribe form (``[web]``).

The accent colour carries white text (buttons) and is itself text on white (section labels,
links on the pages), so it must be readable both ways: WCAG 2's contrast ratio against
white of at least 4.5:1 (level AA for normal text). The ratio is symmetric, so one
comparison answers both.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from digest.config_types import NewsletterConfig, WebConfig
from digest.errors import ConfigError

AA_CONTRAST = 4.5
THUMBNAILS = ("small", "none")
_HEX = re.compile(r"#(?:[0-9a-fA-F]{3}){1,2}")


def relative_luminance(color: str) -> float:
    """WCAG 2's relative luminance of a ``#rgb`` or ``#rrggbb`` colour (0 black … 1 white)."""
    digits = color[1:]
    if len(digits) == 3:
        digits = "".join(d * 2 for d in digits)
    channels = [int(digits[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast_with_white(color: str) -> float:
    """WCAG 2's contrast ratio of ``color`` and white (1 … 21)."""
    return 1.05 / (relative_luminance(color) + 0.05)


def check_presentation(nl: NewsletterConfig, where: str) -> None:
    _check_locale(nl.locale, where)
    if not _HEX.fullmatch(nl.accent_color):
        raise ConfigError(
            f"{nl.accent_color!r} is not a colour: use a hex colour such as '#b3202a'",
            path=where,
            key="newsletter.accent_color",
        )
    ratio = contrast_with_white(nl.accent_color)
    if ratio < AA_CONTRAST:
        raise ConfigError(
            f"{nl.accent_color} is too light to carry white text or to be read on white: "
            f"contrast {ratio:.2f}:1, WCAG AA needs {AA_CONTRAST}:1 (choose a darker shade)",
            path=where,
            key="newsletter.accent_color",
        )
    if nl.logo_url is not None and urlsplit(nl.logo_url).scheme not in ("http", "https"):
        raise ConfigError(
            f"{nl.logo_url!r} must be an http(s) URL (email clients load it from the web)",
            path=where,
            key="newsletter.logo_url",
        )
    if not 16 <= nl.logo_width <= 600:
        raise ConfigError(
            "must be between 16 and 600 pixels", path=where, key="newsletter.logo_width"
        )
    if nl.thumbnails not in THUMBNAILS:
        raise ConfigError(
            f"must be one of {', '.join(THUMBNAILS)}, got {nl.thumbnails!r}",
            path=where,
            key="newsletter.thumbnails",
        )


def _check_locale(locale: str, where: str) -> None:
    from babel import Locale, UnknownLocaleError

    try:
        Locale.parse(locale)
    except (UnknownLocaleError, ValueError, TypeError):
        raise ConfigError(
            f"unknown locale {locale!r} (use a name such as 'en_US', 'en_GB', 'fr_FR', 'de_DE')",
            path=where,
            key="newsletter.locale",
        ) from None


def check_embed(web: WebConfig, where: str) -> None:
    """Each embed origin is exactly an origin: scheme, host and optional port, no path."""
    for i, origin in enumerate(web.embed_origins):
        parts = urlsplit(origin)
        plain = f"{parts.scheme}://{parts.netloc}" == origin
        if parts.scheme not in ("http", "https") or not parts.hostname or not plain:
            raise ConfigError(
                f"{origin!r} is not an origin: write it as the browser sends it, "
                "e.g. 'https://example.com' (scheme and host, no path or trailing slash)",
                path=where,
                key=f"web.embed_origins[{i}]",
            )
    thanks = web.embed_thanks_url
    if thanks is not None and urlsplit(thanks).scheme not in ("http", "https"):
        raise ConfigError("must be an http(s) URL", path=where, key="web.embed_thanks_url")
