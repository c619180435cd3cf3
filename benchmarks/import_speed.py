"""How fast ``digest subscribers import FILE --confirmed`` is, on SQLite and PostgreSQL.

``python -m benchmarks.import_speed [--rows 100000] [--old-tree DIR] [--runs 1]``

Generates a CSV of ``--rows`` rows (addresses at a few dozen common domains and, one row
in fifty, a domain of its own; names; one row in 20,000 not an address, one in 1,000 a
repeat of an earlier row), then for each database imports it with ``--confirmed`` into a
fresh one (a new SQLite file; a new schema of the PostgreSQL test database, found through
``search_path`` as tests/conftest.py does) and reports rows/s (rows of the file over the
wall time of the whole ``digest subscribers import`` process, the database migrated
beforehand) and the process's peak RSS.

``--old-tree DIR`` also runs the code checked out in DIR (e.g. ``git worktree add
/tmp/old-import HEAD``) on the same file, side by side.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, text

REPO = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("DIGEST_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
CONFIG = """\
[newsletter]
name = "Benchmark Weekly"
from_email = "newsletter@bench.example"
postal_address = "1 Example Street, Washington, DC 20001"
site_url = "https://bench.example"
public_url = "http://127.0.0.1:8000"
timezone = "UTC"

[[sources]]
name = "Main"
url = "feed.xml"

[delivery]
backend = "file"
outbox = "outbox"
"""
DOMAINS = [
    "gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "icloud.com", "aol.com",
    "proton.me", "gmx.de", "web.de", "orange.fr", "free.fr", "libero.it", "mail.ru",
    "yandex.ru", "qq.com", "163.com", "naver.com", "comcast.net", "verizon.net",
    "btinternet.com", "example.org", "uni-heidelberg.de", "ox.ac.uk", "harvard.edu",
    "state.gov", "europa.eu", "bbc.co.uk", "nytimes.com", "münchen.de", "bücher.example",
]  # fmt: skip


def write_csv(path: Path, rows: int, seed: int = 7) -> int:
    """Write the file; the number of rows that are not addresses."""
    rnd = random.Random(seed)
    bad = 0
    with path.open("w", encoding="utf-8") as f:
        f.write("email,name\n")
        for i in range(rows):
            if i % 20_000 == 10_000:
                f.write(f"not an address {i},Bad Row\n")
                bad += 1
            elif i % 1_000 == 999:
                f.write(f"reader{i - 500}@{DOMAINS[(i - 500) % len(DOMAINS)]},Repeat\n")
            else:
                domain = f"firm{i}.example" if i % 50 == 0 else DOMAINS[i % len(DOMAINS)]
                first = rnd.choice(("Ada", "Bo", "Cy", "Di", "Ed", "Flo", "Gus", "Hal"))
                f.write(f"Reader{i}@{domain},{first} Reader {i}\n")
    return bad


@dataclass
class Run:
    code: str
    database: str
    rows: int
    seconds: float
    peak_rss_mb: float
    exit_code: int
    summary: str

    @property
    def rate(self) -> float:
        return self.rows / self.seconds


@contextmanager
def fresh_database(kind: str, workdir: Path) -> Iterator[str]:
    if kind == "sqlite":
        db = workdir / f"bench-{uuid.uuid4().hex[:8]}.db"
        try:
            yield f"sqlite:///{db}"
        finally:
            db.unlink(missing_ok=True)
        return
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def digest(tree: Path, args: list[str], env: dict[str, str]) -> tuple[int, float, float, str]:
    """Run ``digest ARGS`` with the code of ``tree``: exit code, seconds, peak RSS (MB), stdout."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", "from digest.cli import main; main()", *args],
        cwd=tree,
        env={**os.environ, **env, "PYTHONPATH": str(tree)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, seconds, usage.ru_maxrss / 1024, out.strip()


def measure(code: str, tree: Path, kind: str, csv_path: Path, rows: int, workdir: Path) -> Run:
    with fresh_database(kind, workdir) as url:
        env = {"DIGEST_DATABASE_URL": url, "DIGEST_CONFIG": str(workdir / "digest.toml")}
        rc, _, _, _ = digest(tree, ["db", "upgrade"], env)
        if rc != 0:
            raise SystemExit(f"digest db upgrade failed ({code}, {kind})")
        rc, seconds, rss, out = digest(
            tree, ["subscribers", "import", str(csv_path), "--confirmed"], env
        )
    return Run(code, kind, rows, seconds, rss, rc, out.splitlines()[-1] if out else "")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=1, help="runs of each; the median is shown")
    parser.add_argument("--old-tree", type=Path, default=None, help="older code to compare")
    parser.add_argument(
        "--database", choices=("sqlite", "postgresql", "both"), default="both", help="which"
    )
    args = parser.parse_args(argv)
    kinds = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    trees = [("new", REPO)] + ([("old", args.old_tree.resolve())] if args.old_tree else [])
    with tempfile.TemporaryDirectory(prefix="digest-import-") as tmp:
        workdir = Path(tmp)
        (workdir / "digest.toml").write_text(CONFIG)
        csv_path = workdir / "readers.csv"
        bad = write_csv(csv_path, args.rows)
        size = csv_path.stat().st_size / 1e6
        print(f"{args.rows:,} rows ({size:.1f} MB, {bad} not addresses), --confirmed")
        print(f"{'code':<5} {'database':<11} {'rows/s':>9} {'seconds':>8} {'peak RSS':>9}")
        for kind in kinds:
            for code, tree in trees:
                runs = sorted(
                    (measure(code, tree, kind, csv_path, args.rows, workdir)
                     for _ in range(args.runs)),
                    key=lambda r: r.seconds,
                )  # fmt: skip
                run = runs[len(runs) // 2]
                print(
                    f"{code:<5} {kind:<11} {run.rate:>9,.0f} {run.seconds:>8.2f} "
                    f"{run.peak_rss_mb:>6.0f} MB   exit {run.exit_code}: {run.summary}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
