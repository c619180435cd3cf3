"""Import: ``digest subscribers import FILE --confirmed`` as its own process, on SQLite and
PostgreSQL (``benchmarks.import_speed``: a generated CSV with bad rows and repeats; each run
into a fresh, migrated database). Rows/s over the whole process and its peak RSS.

Sizes: 100k (``repeat`` runs, default 3) and 1M (one run: a minute or more each);
``--quick``: 2,000 rows on SQLite. Targets (2 cores): >= 30,000 rows/s at 100k and 1M;
peak RSS flat between them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks import import_speed, pgdb
from benchmarks.bench_send import label
from benchmarks.stats import Figure, check, median, unmeasured

TARGET_ROWS_PER_S = 30_000


def run(
    *, quick: bool, workdir: Path, repeat: int | None = None, options: Any = None
) -> list[Figure]:
    dbs_opt = getattr(options, "databases", None)
    dbs = dbs_opt.split(",") if dbs_opt else (["sqlite"] if quick else ["sqlite", "postgresql"])
    rows_opt = getattr(options, "import_rows", None)
    sizes = (
        sorted(int(s) for s in rows_opt.split(","))
        if rows_opt
        else ([2000] if quick else [100_000, 1_000_000])
    )
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "digest.toml").write_text(import_speed.CONFIG, encoding="utf-8")
    figures: list[Figure] = []
    for kind in dbs:
        if kind == "postgresql" and not pgdb.available():
            figures.append(unmeasured("import", "import on postgresql", "rows/s", "not reachable"))
            continue
        peaks: dict[int, float] = {}
        for n in sizes:
            csv_path = workdir / f"readers-{n}.csv"
            if not csv_path.exists():
                import_speed.write_csv(csv_path, n)
            runs = repeat or (1 if quick or n >= 1_000_000 else 3)
            got = [
                import_speed.measure("new", import_speed.REPO, kind, csv_path, n, workdir)
                for _ in range(runs)
            ]
            name = f"import {label(n)} {kind}"
            # exit 1 with a summary: the file's bad rows were reported (as they should be)
            failed = [r for r in got if r.exit_code not in (0, 1) or "imported" not in r.summary]
            if failed:
                figures.append(unmeasured("import", name, "rows/s", f"exit {failed[0].exit_code}"))
                continue
            rates = [r.rate for r in got]
            rate = median(rates)
            peaks[n] = median([r.peak_rss_mb for r in got])
            figures += [
                Figure(
                    "import",
                    f"{name}: rows/s",
                    rate,
                    "rows/s",
                    runs,
                    rates,
                    target=f">= {TARGET_ROWS_PER_S:,}",
                    met=check(rate, at_least=TARGET_ROWS_PER_S),
                    note=got[0].summary[:120],
                ),
                Figure("import", f"{name}: peak RSS", peaks[n], "MB", runs, [peaks[n]]),
            ]
        if len(peaks) > 1:
            growth = peaks[max(peaks)] - peaks[min(peaks)]
            figures.append(
                Figure(
                    "import",
                    f"import peak RSS growth {label(min(peaks))}→{label(max(peaks))} {kind}",
                    growth,
                    "MB",
                    1,
                    [growth],
                    target="flat (<= 20 MB)",
                    met=check(growth, at_most=20),
                )
            )
    return figures
