"""Charts drawn on the server as plain SVG: readable without JavaScript or a charting library.

Each chart is one ``<svg role="img">`` with a ``<title>`` and a ``<desc>`` (its text
alternative: what it shows, the highest and the latest value) named by
``aria-labelledby``, a y axis with labelled ticks, an x axis with a few labels, and one
mark (``<rect class="mark">``) per value carrying its own ``<title>`` (the exact number,
shown as a tooltip and read by screen readers). Every text is escaped here; the result is
``Markup``, so a template includes it as it is.

The charts' own words ("No data yet", the text alternative) go through the ``gettext``
a caller passes (``digest.i18n.gettext_for``); English without one.

Only presentation attributes (``fill``, ``font-size``), no ``style``: a page whose Content
Security Policy forbids inline styles still draws the charts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from digest.i18n import DEFAULT_LOCALE, Gettext, translations

WIDTH = 420
HEIGHT = 210
LEFT = 46  # room for the y labels
RIGHT = 30  # room for half the last x label
TOP = 12
BOTTOM = 34  # room for the x labels
MAX_X_LABELS = 4
FONT = 11
AXIS = "#5f6b76"
GRID = "#d8dde2"
TEXT = "#2b3137"


@dataclass(frozen=True)
class Bar:
    """One mark: its x label, its value and the sentence its tooltip says."""

    label: str
    value: int
    title: str


def english() -> Gettext:
    """English words (no catalog): what a chart says when its caller passes no gettext."""
    return Gettext(translations(DEFAULT_LOCALE))


def number(n: float) -> str:
    """``1,234`` (integers) or ``0.5`` (a tick between integers)."""
    return f"{int(n):,}" if float(n).is_integer() else f"{n:,.1f}"


def ticks(top_value: float, count: int = 4) -> list[float]:
    """0 and up to ``count`` round steps (1, 2, 5 × 10ⁿ, integers) reaching ``top_value``."""
    if top_value <= 0:
        return [0, 1]
    raw = top_value / count
    power = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    step = max(1, step)
    steps = max(1, math.ceil(top_value / step))
    return [i * step for i in range(steps + 1)]


def _label_every(n: int) -> int:
    return max(1, math.ceil(n / MAX_X_LABELS))


def _svg_open(chart_id: str, title: str, desc: str, height: int = HEIGHT) -> list[str]:
    t, d = f"{chart_id}-title", f"{chart_id}-desc"
    return [
        (
            f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{escape(chart_id)}" '
            f'viewBox="0 0 {WIDTH} {height}" width="100%" role="img" '
            f'aria-labelledby="{escape(t)} {escape(d)}" font-family="system-ui, sans-serif" '
            f'font-size="{FONT}" preserveAspectRatio="xMidYMid meet">'
        ),
        f'<title id="{escape(t)}">{escape(title)}</title>',
        f'<desc id="{escape(d)}">{escape(desc)}</desc>',
    ]


def _x_labels(labels: Sequence[str], xs: Sequence[float], y: float) -> list[str]:
    out = ['<g class="x-labels" text-anchor="middle" fill="' + TEXT + '">']
    every = _label_every(len(labels))
    last = len(labels) - 1
    for i, (label, x) in enumerate(zip(labels, xs, strict=True)):
        # every n-th label from the last one backwards: the latest is always named
        if (last - i) % every == 0:
            out.append(f'<text x="{x:.1f}" y="{y:.1f}">{escape(label)}</text>')
    out.append("</g>")
    return out


def _y_axis(values: Sequence[float], scale_y: float, zero_y: float) -> list[str]:
    out = ['<g class="y-axis" text-anchor="end" fill="' + TEXT + '">']
    for v in values:
        y = zero_y - v * scale_y
        out.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="{GRID if v else AXIS}" stroke-width="1"/>'
        )
        out.append(f'<text x="{LEFT - 5}" y="{y + 4:.1f}">{escape(number(abs(v)))}</text>')
    out.append("</g>")
    return out


def bar_chart(
    *,
    chart_id: str,
    title: str,
    bars: Sequence[Bar],
    color: str = "#2a6fb0",
    summary: str = "",
    gettext: Gettext | None = None,
) -> Markup:
    """A bar per value (all ≥ 0), left to right in the order given."""
    _ = gettext or english()
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM
    zero_y = TOP + plot_h
    highest = max((b.value for b in bars), default=0)
    scale = ticks(highest)
    scale_y = plot_h / scale[-1]
    desc = summary or _describe(title, bars, _)
    out = _svg_open(chart_id, title, desc)
    out += _y_axis(scale, scale_y, zero_y)
    slot = plot_w / max(1, len(bars))
    width = max(1.0, slot * 0.7)
    xs = [LEFT + slot * i + slot / 2 for i in range(len(bars))]
    out.append(f'<g class="marks" fill="{escape(color)}">')
    for bar, x in zip(bars, xs, strict=True):
        h = bar.value * scale_y
        out.append(
            f'<rect class="mark" x="{x - width / 2:.1f}" y="{zero_y - h:.1f}" '
            f'width="{width:.1f}" height="{h:.1f}"><title>{escape(bar.title)}</title></rect>'
        )
    out.append("</g>")
    out += _x_labels([b.label for b in bars], xs, zero_y + 16)
    if not bars:
        empty = _("No data yet")
        out.append(
            f'<text x="{LEFT + plot_w / 2:.1f}" y="{TOP + plot_h / 2:.1f}" '
            f'text-anchor="middle" fill="{TEXT}">{escape(empty)}</text>'
        )
    out.append("</svg>")
    return Markup("".join(out))


def diverging_chart(
    *,
    chart_id: str,
    title: str,
    labels: Sequence[str],
    up: Sequence[Bar],
    down: Sequence[Bar],
    up_name: str,
    down_name: str,
    up_color: str = "#2a7a4b",
    down_color: str = "#b5541c",
    summary: str = "",
) -> Markup:
    """Two marks per slot: ``up`` above the zero line, ``down`` below it (joined / left)."""
    height = HEIGHT + 30
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = height - TOP - BOTTOM - 20  # 20: the legend
    most_up = max([b.value for b in up] + [0])
    most_down = max([b.value for b in down] + [0])
    step = ticks(max(most_up, most_down), count=3)[1]
    up_top = step * max(1, math.ceil(most_up / step))
    down_top = step * max(1, math.ceil(most_down / step))
    scale_y = plot_h / (up_top + down_top)
    zero_y = TOP + 20 + up_top * scale_y
    scale = [-down_top + i * step for i in range(round((up_top + down_top) / step) + 1)]
    out = _svg_open(chart_id, title, summary or f"{title}.", height)
    second = LEFT + 14 + round(len(up_name) * FONT * 0.62) + 16  # after the first legend text
    out.append(
        f'<g class="legend" fill="{TEXT}">'
        f'<rect x="{LEFT}" y="{TOP - 2}" width="10" height="10" fill="{escape(up_color)}"/>'
        f'<text x="{LEFT + 14}" y="{TOP + 7}">{escape(up_name)}</text>'
        f'<rect x="{second}" y="{TOP - 2}" width="10" height="10" '
        f'fill="{escape(down_color)}"/>'
        f'<text x="{second + 14}" y="{TOP + 7}">{escape(down_name)}</text></g>'
    )
    out += _y_axis(scale, scale_y, zero_y)
    slot = plot_w / max(1, len(labels))
    width = max(1.0, slot * 0.7)
    xs = [LEFT + slot * i + slot / 2 for i in range(len(labels))]
    out.append(f'<g class="marks up" fill="{escape(up_color)}">')
    for bar, x in zip(up, xs, strict=True):
        h = bar.value * scale_y
        out.append(
            f'<rect class="mark" x="{x - width / 2:.1f}" y="{zero_y - h:.1f}" '
            f'width="{width:.1f}" height="{h:.1f}"><title>{escape(bar.title)}</title></rect>'
        )
    out.append(f'</g><g class="marks down" fill="{escape(down_color)}">')
    for bar, x in zip(down, xs, strict=True):
        h = bar.value * scale_y
        out.append(
            f'<rect class="mark" x="{x - width / 2:.1f}" y="{zero_y:.1f}" '
            f'width="{width:.1f}" height="{h:.1f}"><title>{escape(bar.title)}</title></rect>'
        )
    out.append("</g>")
    out += _x_labels(labels, xs, height - BOTTOM + 22)
    out.append("</svg>")
    return Markup("".join(out))


def _describe(title: str, bars: Sequence[Bar], _: Gettext) -> str:
    if not bars:
        return _("%(title)s: no data yet.", title=title)
    top = max(bars, key=lambda b: b.value)
    latest = bars[-1]
    return _.ngettext(
        "%(title)s, %(num)d bar from %(first)s to %(last)s. Highest: %(top)s "
        "(%(top_label)s). Latest: %(latest)s (%(latest_label)s).",
        "%(title)s, %(num)d bars from %(first)s to %(last)s. Highest: %(top)s "
        "(%(top_label)s). Latest: %(latest)s (%(latest_label)s).",
        len(bars),
        title=title,
        first=bars[0].label,
        last=latest.label,
        top=number(top.value),
        top_label=top.label,
        latest=number(latest.value),
        latest_label=latest.label,
    )


__all__ = ["Bar", "bar_chart", "diverging_chart", "english", "number", "ticks"]
