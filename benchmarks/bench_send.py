"""Send: N active subscribers, ``digest send --yes`` with the sendgrid backend
pointed at the local sink. Wall time, recipients/s and peak RSS of the
``digest send`` process, on SQLite and PostgreSQL.

Targets on 2 cores: 1M recipients in ≤ 30 s wall; peak RSS ≤ 200 MB and flat
between 100k and 1M. Each run starts from the same list with no issue sent
(``datagen.clear_sends``); the sink checks every body and every recipient
must arrive exactly once.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from benchmarks import datagen, pgdb
from benchmarks.profiling import run_profiled
from benchmarks.publication import AS_OF, write_publication
from benchmarks.runner import digest_env, run_measured
from benchmarks.servers import HelperProcess, wait_for_http
from benchmarks.stats import Figure, check, median, unmeasured


def label(n: int) -> str:
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1000 and n % 1000 == 0:
        return f"{n // 1000}k"
    return str(n)


@contextmanager
def database(kind: str, workdir: Path) -> Iterator[str]:
    if kind == "sqlite":
        path = workdir / "send.db"
        for p in workdir.glob("send.db*"):
            p.unlink()
        yield f"sqlite:///{path}"
    else:
        with pgdb.bench_database("digest_bench") as url:
            yield url


def run(
    *, quick: bool, workdir: Path, repeat: int | None = None, options: Any = None
) -> list[Figure]:
    sizes_opt = getattr(options, "send_sizes", None)
    sizes = (
        sorted(int(s) for s in sizes_opt.split(","))
        if sizes_opt
        else ([2000] if quick else [100_000, 1_000_000])
    )
    dbs_opt = getattr(options, "databases", None)
    dbs = dbs_opt.split(",") if dbs_opt else (["sqlite"] if quick else ["sqlite", "postgresql"])
    runs = repeat or (1 if quick else 3)
    profile_dir: Path | None = getattr(options, "profile", None)
    try:
        import digest.backends.sendgrid
        import digest.send  # noqa: F401
    except ImportError as exc:
        return [unmeasured("send", "send", "s", f"the send path is not available: {exc}")]
    from digest.store.database import open_store

    workdir.mkdir(parents=True, exist_ok=True)
    figures: list[Figure] = []
    with HelperProcess("benchmarks.sink") as sink:
        wait_for_http(sink.url + "/stats")
        env = digest_env(sink.url)
        for kind in dbs:
            if kind == "postgresql" and not pgdb.available():
                figures.append(
                    unmeasured(
                        "send",
                        "send on postgresql",
                        "s",
                        f"PostgreSQL not reachable at {pgdb.ADMIN_URL}",
                    )
                )
                continue
            rss_by_size: dict[int, float] = {}
            with database(kind, workdir) as url:
                store = open_store(url)
                have = 0
                try:
                    for size in sizes:
                        datagen.generate(store, size - have, start=have + 1)
                        have = size
                        folder = workdir / f"{kind}-{label(size)}"
                        config = write_publication(folder, db_url=url)
                        walls, rates, rsss, firsts, busy, drifts = [], [], [], [], [], []
                        problems: list[str] = []
                        for r in range(runs):
                            datagen.clear_sends(store)
                            httpx.post(sink.url + "/reset")
                            done = run_measured(
                                [
                                    "send",
                                    "--yes",
                                    "--config",
                                    str(config),
                                    "--as-of",
                                    AS_OF.isoformat(),
                                ],
                                env=env,
                                log=folder / f"send-{r}.log",
                                cwd=folder,
                                timeout=120 if quick else 900,
                            )
                            got = httpx.get(sink.url + "/stats").json()
                            if done.returncode != 0:
                                problems.append(f"exit {done.returncode}: {done.tail()}")
                            if got["recipients"] != size or got["duplicates"] or got["rejected"]:
                                problems.append(
                                    f"sink saw {got['recipients']} recipients of {size}, "
                                    f"{got['duplicates']} duplicates, {got['rejected']} rejected {got['errors'][:2]}"
                                )
                            walls.append(done.wall)
                            rates.append(got["recipients"] / done.wall)
                            rsss.append(done.peak_rss_mb)
                            busy.append(got.get("busy_seconds", 0.0))
                            drift = done.rss_drift_mb()
                            if drift is not None:
                                drifts.append(drift)
                            if got["first_at"]:
                                firsts.append(got["first_at"] - done.started_at)
                            print(
                                f"    send {kind} {label(size)} run {r + 1}: {done.wall:.1f} s, "
                                f"{done.peak_rss_mb:.0f} MB, {got['recipients']} recipients",
                                file=sys.stderr,
                            )
                        ok = not problems
                        name = f"send {label(size)} {kind}"
                        note = "; ".join(dict.fromkeys(problems))[:600]
                        wall = median(walls)
                        wall_target = "<= 30 s" if size >= 1_000_000 else None
                        met = (
                            bool(check(wall, at_most=30.0)) and ok
                            if wall_target
                            else (None if ok else False)
                        )
                        figures.append(
                            Figure(
                                "send",
                                f"{name}: wall",
                                wall,
                                "s",
                                runs,
                                walls,
                                wall_target,
                                met,
                                note,
                            )
                        )
                        figures.append(
                            Figure(
                                "send",
                                f"{name}: recipients/s",
                                median(rates),
                                "rcpt/s",
                                runs,
                                rates,
                                note="recipients / wall time of the whole process",
                            )
                        )
                        if firsts:
                            figures.append(
                                Figure(
                                    "send",
                                    f"{name}: time to first batch",
                                    median(firsts),
                                    "s",
                                    len(firsts),
                                    firsts,
                                    note="start-up, collect, render, freezing the recipients",
                                )
                            )
                        figures.append(
                            Figure(
                                "send",
                                f"{name}: sink busy time",
                                median(busy),
                                "s",
                                runs,
                                busy,
                                note="the sink's own time reading and checking the bodies (a floor the send waits on)",
                            )
                        )
                        rss = median(rsss)
                        rss_by_size[size] = rss
                        figures.append(
                            Figure(
                                "send",
                                f"{name}: peak RSS",
                                rss,
                                "MB",
                                runs,
                                rsss,
                                "<= 200 MB",
                                check(rss, at_most=200.0),
                            )
                        )
                        if drifts:
                            figures.append(
                                Figure(
                                    "send",
                                    f"{name}: RSS drift during the send",
                                    median(drifts),
                                    "MB",
                                    len(drifts),
                                    drifts,
                                    "flat (<= 10 MB)" if size >= 100_000 else None,
                                    check(median(drifts), at_most=10.0)
                                    if size >= 100_000
                                    else None,
                                    "resident memory in the last quarter of the run minus the "
                                    "second quarter (/proc VmRSS every 0.2 s)",
                                )
                            )
                        if profile_dir is not None and size == sizes[-1]:
                            figures[-1].note = _profile(
                                profile_dir, kind, size, store, config, env, sink.url, folder
                            )
                finally:
                    store.dispose()
            if len(rss_by_size) >= 2:
                lo, hi = min(rss_by_size), max(rss_by_size)
                growth = rss_by_size[hi] - rss_by_size[lo]
                figures.append(
                    Figure(
                        "send",
                        f"peak RSS growth {label(lo)}→{label(hi)} {kind}",
                        growth,
                        "MB",
                        runs,
                        [growth],
                        "flat (<= 20 MB)",
                        check(growth, at_most=20.0),
                    )
                )
    return figures


def _profile(
    profile_dir: Path,
    kind: str,
    size: int,
    store: Any,
    config: Path,
    env: dict[str, str],
    sink_url: str,
    folder: Path,
) -> str:
    profile_dir.mkdir(parents=True, exist_ok=True)
    datagen.clear_sends(store)
    httpx.post(sink_url + "/reset")
    raw = profile_dir / f"send-{kind}-{label(size)}.pyspy.txt"
    summary = run_profiled(
        [
            sys.executable,
            "-m",
            "digest",
            "send",
            "--yes",
            "--config",
            str(config),
            "--as-of",
            AS_OF.isoformat(),
        ],
        raw=raw,
        env=env,
        cwd=folder,
    )
    (profile_dir / f"send-{kind}-{label(size)}.summary.txt").write_text(
        summary + "\n", encoding="utf-8"
    )
    print(f"--- profile send {kind} {label(size)} ---\n{summary}", file=sys.stderr)
    return f"profile: {raw.name}"
