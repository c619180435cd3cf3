"""desk.charts: valid SVG with a title, a text alternative, axes, labels, one mark per
value with its own tooltip, and every text escaped."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from desk.charts import Bar, bar_chart, diverging_chart, ticks

NS = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def test_a_bar_per_value_with_title_desc_axes_and_labels() -> None:
    bars = [
        Bar(f"2026-W{w:02d}", w * 10, f"2026-W{w:02d}: {w * 10} delivered") for w in range(1, 21)
    ]
    root = parse(bar_chart(chart_id="c1", title="Delivered per issue", bars=bars))
    assert root.tag == f"{NS}svg" and root.get("role") == "img"
    assert root.get("aria-labelledby") == "c1-title c1-desc"
    assert root.findtext(f"{NS}title") == "Delivered per issue"
    desc = root.findtext(f"{NS}desc") or ""
    assert "20 bars from 2026-W01 to 2026-W20" in desc and "Highest: 200 (2026-W20)" in desc
    marks = root.findall(f".//{NS}rect[@class='mark']")
    assert len(marks) == 20
    assert marks[4].findtext(f"{NS}title") == "2026-W05: 50 delivered"
    heights = [float(m.get("height") or 0) for m in marks]
    assert heights == sorted(heights) and heights[0] > 0
    x_labels = [t.text for t in root.findall(f".//{NS}g[@class='x-labels']/{NS}text")]
    assert 2 <= len(x_labels) <= 6 and x_labels[-1] == "2026-W20"
    y_labels = [t.text for t in root.findall(f".//{NS}g[@class='y-axis']/{NS}text")]
    assert y_labels[0] == "0" and y_labels[-1] == "200"
    assert "style" not in ET.tostring(root, encoding="unicode")  # CSP: no inline styles


def test_no_data_and_zeros() -> None:
    root = parse(bar_chart(chart_id="c", title="Clicked", bars=[]))
    assert root.findall(f".//{NS}rect[@class='mark']") == []
    assert "No data yet" in ET.tostring(root, encoding="unicode")
    zeros = parse(bar_chart(chart_id="z", title="Z", bars=[Bar("a", 0, "a: 0")]))
    assert zeros.find(f".//{NS}rect[@class='mark']").get("height") == "0.0"  # type: ignore[union-attr]


def test_hostile_text_is_escaped() -> None:
    evil = "</title><script>alert(1)</script>&\"'"
    svg = bar_chart(chart_id='x" onload="alert(1)', title=evil, bars=[Bar(evil, 3, evil)])
    assert "<script>" not in svg and 'onload="' not in svg
    root = parse(svg)
    assert root.findtext(f"{NS}title") == evil
    assert root.find(f".//{NS}rect[@class='mark']").findtext(f"{NS}title") == evil  # type: ignore[union-attr]
    assert [t.text for t in root.findall(f".//{NS}g[@class='x-labels']/{NS}text")] == [evil]


def test_diverging_chart_has_two_marks_per_week() -> None:
    labels = ["2 Nov", "9 Nov", "16 Nov"]
    root = parse(
        diverging_chart(
            chart_id="g",
            title="Growth",
            labels=labels,
            up=[
                Bar(lbl, n, f"{lbl}: {n} joined") for lbl, n in zip(labels, (3, 0, 5), strict=True)
            ],
            down=[
                Bar(lbl, n, f"{lbl}: {n} left") for lbl, n in zip(labels, (1, 2, 0), strict=True)
            ],
            up_name="Joined",
            down_name="Left",
        )
    )
    ups = root.findall(f".//{NS}g[@class='marks up']/{NS}rect")
    downs = root.findall(f".//{NS}g[@class='marks down']/{NS}rect")
    assert [u.findtext(f"{NS}title") for u in ups] == [
        "2 Nov: 3 joined",
        "9 Nov: 0 joined",
        "16 Nov: 5 joined",
    ]
    assert [d.findtext(f"{NS}title") for d in downs][1] == "9 Nov: 2 left"
    legend = [t.text for t in root.findall(f".//{NS}g[@class='legend']/{NS}text")]
    assert legend == ["Joined", "Left"]


def test_ticks_are_round() -> None:
    assert ticks(0) == [0, 1]
    assert ticks(7) == [0, 2, 4, 6, 8]
    assert ticks(1234) == [0, 500, 1000, 1500]
