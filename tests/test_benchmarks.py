"""The benchmark harness keeps working: ``python -m benchmarks --quick`` runs
every benchmark at tiny sizes and writes its figures; the SendGrid sink
refuses bodies of the wrong shape; the generator fills a list fast."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from benchmarks import datagen
from benchmarks.servers import HelperProcess, wait_for_http
from digest.store.database import Store
from tests.conftest import REPO

AUTH = {"Authorization": "Bearer SG.bench"}


def issue_body(n: int = 2) -> dict[str, object]:
    url = "http://127.0.0.1:8000/unsubscribe/tok"
    return {
        "personalizations": [
            {
                "to": [{"email": f"reader{i}@example.com"}],
                "substitutions": {"%%unsubscribe_url%%": f"{url}{i}"},
                "headers": {
                    "List-Unsubscribe": f"<{url}{i}>",
                    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                },
            }
            for i in range(n)
        ],
        "subject": "Week 47",
        "from": {"email": "newsletter@statecraft.example"},
        "content": [
            {"type": "text/plain", "value": "t"},
            {"type": "text/html", "value": "<p>h</p>"},
        ],
        "custom_args": {"issue": "2026-W47"},
    }


def test_sink_counts_recipients_and_refuses_bad_shapes() -> None:
    with HelperProcess("benchmarks.sink") as sink:
        wait_for_http(sink.url + "/stats")
        send = sink.url + "/v3/mail/send"
        assert httpx.post(send, json=issue_body(3), headers=AUTH).status_code == 202
        assert httpx.post(send, json=issue_body(3)).status_code == 401  # no key
        no_header = issue_body(1)
        no_header["personalizations"][0]["headers"] = {"List-Unsubscribe": "<x>"}  # type: ignore[index]
        refused = httpx.post(send, json=no_header, headers=AUTH)
        assert refused.status_code == 400
        assert refused.json()["errors"][0]["field"] == "personalizations.0.headers"
        too_many = issue_body(1001)
        assert httpx.post(send, json=too_many, headers=AUTH).status_code == 400
        assert (
            httpx.post(send, json=issue_body(3), headers=AUTH).status_code == 202
        )  # the same 3 again
        stats = httpx.get(sink.url + "/stats").json()
    assert stats["recipients"] == 6
    assert stats["unique_recipients"] == 3
    assert stats["duplicates"] == 3
    assert stats["rejected"] == 2
    assert stats["unauthorized"] == 1
    assert stats["issues"] == {"2026-W47": 6}


@pytest.mark.postgres
def test_generator_fills_active_subscribers(store: Store) -> None:
    datagen.generate(store, 1500)
    datagen.generate(store, 500, start=1501)
    assert datagen.active_count(store) == 2000
    from subscribers import repository

    with store.session() as s:
        last = repository.get_by_email(s, "reader0002000@example.com")
        assert last is not None and last.status == "active"
        assert last.confirmed_at is not None and last.confirmed_at.tzinfo is not None


def test_quick_run_measures_every_benchmark(tmp_path: Path) -> None:
    out = tmp_path / "quick.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIGEST_", "SENDGRID_"))}
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--load-tool", "python", "--out", str(out)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["machine"]["cpu_count"] == os.cpu_count()
    assert result["failed"] == []
    figures = result["figures"]
    benches = {"render", "collect", "send", "latency", "import", "ledger", "web"}
    assert {f["bench"] for f in figures} == benches
    unmeasured = [f"{f['name']}: {f['note']}" for f in figures if f["value"] is None]
    assert not unmeasured, unmeasured
    for f in figures:
        assert f["runs"] >= 1 and len(f["samples"]) == f["runs"], f
    # the quick send reached the sink with every one of its 2,000 recipients once
    wall = next(f for f in figures if f["name"] == "send 2k sqlite: wall")
    assert wall["met"] is not False, wall["note"]
    # every one-click POST unsubscribed its reader; every subscribe post made a pending
    # subscriber and a confirmation e-mail (the benchmark notes any shortfall)
    problems = [f"{f['name']}: {f['note']}" for f in figures if f["note"].startswith("run ")]
    assert not problems, problems
    assert "median" in proc.stdout and "send 2k sqlite" in proc.stdout
