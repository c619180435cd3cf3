"""The desk's tables as files: ``?format=csv`` and ``?format=json`` on each numbers page.

A table is a ``Table``: a file name, column names and rows of plain values (str, int,
float, None). CSV cells go through ``subscribers.spreadsheet.to_cell``, so a subject or a
title starting with ``= + - @`` (or a tab, a carriage return, a full-width look-alike)
gets an apostrophe and is never run as a formula; numbers are written as numbers. JSON is
written with orjson: an object per row, or the ``extra`` objects beside the table.

Both are downloads (``Content-Disposition: attachment``) and never cached.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.responses import Response

from subscribers.spreadsheet import to_cell

FORMATS = ("csv", "json")
Value = str | int | float | None

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Table:
    """One table of the desk as it is exported."""

    name: str  # the file name without its extension: "digest-issues"
    columns: Sequence[str]
    rows: Sequence[Sequence[Value]]
    extra: Mapping[str, Any] = field(default_factory=dict)  # JSON only: beside "rows"

    def records(self) -> list[dict[str, Value]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


def cell(value: Value) -> str | int | float:
    """What the CSV writer gets: numbers as they are, text guarded against formulas."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return value
    return to_cell(str(value))


def to_csv(table: Table) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([cell(c) for c in table.columns])
    for row in table.rows:
        writer.writerow([cell(v) for v in row])
    return out.getvalue()


def to_json(table: Table) -> bytes:
    body: dict[str, Any] = {**table.extra, "rows": table.records()}
    return orjson.dumps(body, option=orjson.OPT_INDENT_2)


def filename(table: Table, fmt: str) -> str:
    return f"{_SAFE_NAME.sub('-', table.name).strip('-') or 'export'}.{fmt}"


def export_response(table: Table, fmt: str) -> Response:
    """The table as a ``fmt`` (``csv`` or ``json``) download."""
    headers = {
        "Content-Disposition": f'attachment; filename="{filename(table, fmt)}"',
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    }
    if fmt == "csv":
        # a BOM so that Excel reads the file as UTF-8
        body = ("\ufeff" + to_csv(table)).encode("utf-8")
        return Response(body, media_type="text/csv; charset=utf-8", headers=headers)
    if fmt == "json":
        return Response(to_json(table), media_type="application/json", headers=headers)
    raise ValueError(f"unknown export format {fmt!r}")


__all__ = ["FORMATS", "Table", "cell", "export_response", "to_csv", "to_json"]
