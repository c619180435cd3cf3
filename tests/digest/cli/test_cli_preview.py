"""`digest init`, `collect`, `preview`, `pin`, `drop`, `note` end to end."""

from __future__ import annotations

import email
import json
import os
import subprocess
import sys
from email import policy
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from digest.cli import cli
from tests.conftest import REPO
from tests.pipeline_support import SITE, Item, standard_items, write_config

STORY_KEYS = {"title", "url", "section", "published", "reason"}


def run(*args: str, cwd: Path | None = None) -> Result:
    env: dict[str, str | None] = {
        "DIGEST_DATABASE_URL": None,
        "DIGEST_CONFIG": None,
        "DIGEST_NOW": None,
    }
    runner = CliRunner()
    if cwd is None:
        return runner.invoke(cli, list(args), env=env)
    old = Path.cwd()
    os.chdir(cwd)
    try:
        return runner.invoke(cli, list(args), env=env)
    finally:
        os.chdir(old)


def preview_data(config: Path, *extra: str) -> dict[str, Any]:
    result = run(
        "preview", "--config", str(config), "--out", str(config.parent / "pv"), "--json", *extra
    )
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)  # nothing but the JSON on stdout
    return data


# --- init ------------------------------------------------------------------------


def test_init_writes_a_valid_starter_and_never_overwrites(tmp_path: Path) -> None:
    result = run("init", str(tmp_path / "news"))
    assert result.exit_code == 0, result.output
    target = tmp_path / "news" / "digest.toml"
    text = target.read_text()
    assert "CHANGE ME" in text and "[[sources]]" in text
    assert run("note", "x", "--config", str(target)).exit_code == 0  # it loads
    target.write_text(text + "# my edits\n")
    again = run("init", str(tmp_path / "news"))
    assert again.exit_code == 1
    assert str(target) in again.output and "already exists" in again.output
    assert target.read_text().endswith("# my edits\n")


def test_init_defaults_to_the_current_folder(tmp_path: Path) -> None:
    result = run("init", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "digest.toml").is_file()


# --- preview -------------------------------------------------------------------------


def test_preview_prints_the_picks_and_writes_files(tmp_path: Path) -> None:
    items = standard_items() + [Item("markup", 40, title="[red]Boom[/red] & <b>bold</b>")]
    config = write_config(tmp_path, items)
    result = run("preview", "--config", str(config), cwd=tmp_path)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "2026-W47" in out and "newest in Featured" in out and "lead" in out
    assert "Featured Story" in out and "[red]Boom[/red]" in out  # feed text is never rich markup
    assert "newest of 6 in the week" in out and "3rd newest of 6 in the week" in out
    html = (tmp_path / "preview" / "issue.html").read_text()
    text = (tmp_path / "preview" / "issue.txt").read_text()
    assert "Featured Story" in html and f"{SITE}/featured-story" in text
    assert "<script" not in html.lower()


def test_preview_json_is_stable_and_files_are_identical(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    first = preview_data(config)
    html1 = (tmp_path / "pv" / "issue.html").read_bytes()
    text1 = (tmp_path / "pv" / "issue.txt").read_bytes()
    second = preview_data(config)
    assert first == second
    assert (tmp_path / "pv" / "issue.html").read_bytes() == html1
    assert (tmp_path / "pv" / "issue.txt").read_bytes() == text1
    assert (
        first["issue"] == "2026-W47" and first["skipped"] is False and first["skip_reason"] is None
    )
    assert set(first["lead"]) == STORY_KEYS and len(first["latest"]) == 4
    assert first["subject"].startswith("Featured Story")


def test_as_of_an_issue_key_previews_that_weeks_scheduled_issue(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    by_key = preview_data(config, "--as-of", "2026-W47")
    # the default schedule is Friday 09:00 local: the same issue as the explicit moment
    assert by_key["issue"] == "2026-W47" and by_key["as_of"] == "2026-11-20T09:00:00-05:00"
    assert by_key == preview_data(config, "--as-of", "2026-11-20T09:00")


def test_pin_drop_note_show_up_in_preview(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    c = ("--config", str(config))
    pinned = run("pin", f"{SITE}/older-story?utm_source=newsletter#top", *c)
    assert pinned.exit_code == 0, pinned.output
    assert pinned.output.strip() == f"2026-W47: pinned {SITE}/older-story as the lead"
    assert (
        run("drop", f"{SITE}/newest-story", *c).output.strip()
        == f"2026-W47: dropped {SITE}/newest-story"
    )
    noted = run("note", "Back after the holiday.", *c)
    assert noted.output.strip() == "2026-W47: note set to 'Back after the holiday.'"

    data = preview_data(config)
    assert (
        data["lead"]["url"] == f"{SITE}/older-story"
        and data["lead"]["reason"] == "pinned by the editor"
    )
    assert f"{SITE}/newest-story" not in [s["url"] for s in data["latest"]]
    assert data["note"] == "Back after the holiday."
    table = run("preview", *c, "--out", str(tmp_path / "pv"))
    assert "pinned by the editor" in table.output and "Back after the holiday." in table.output
    assert "dropped by the editor" in table.output

    assert (
        run("pin", "--clear", *c).output.strip()
        == f"2026-W47: pin removed (was {SITE}/older-story)"
    )
    assert run("drop", "--clear", *c).output.strip() == f"2026-W47: put back {SITE}/newest-story"
    assert (
        run("note", "--clear", *c).output.strip()
        == "2026-W47: note removed (was 'Back after the holiday.')"
    )
    data = preview_data(config)
    assert data["lead"]["reason"] == "newest in Featured" and data["note"] is None
    assert run("pin", *c).output.strip() == "2026-W47: no pin; the lead is chosen by the rules"


def test_controls_for_another_week_and_a_pin_outside_the_window(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    c = ("--config", str(config))
    # outside the issue's window: refused, unless forced (then preview warns)
    refused = run("pin", f"{SITE}/newest-story", "--as-of", "2026-11-27", *c)
    assert refused.exit_code == 1 and "outside the window of issue 2026-W48" in refused.output
    later = run("pin", f"{SITE}/newest-story", "--as-of", "2026-11-27", "--force", *c)
    assert later.output.strip() == f"2026-W48: pinned {SITE}/newest-story as the lead"
    assert preview_data(config)["lead"]["reason"] == "newest in Featured"
    assert run("pin", f"{SITE}/last-month", "--force", *c).exit_code == 0
    data = preview_data(config)
    assert data["lead"]["url"] == f"{SITE}/featured-story"
    assert any(f"{SITE}/last-month" in w and "outside the window" in w for w in data["warnings"])


def test_bad_urls_and_as_of_exit_2(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    bad_url = run("pin", "statecraft.example/story", "--config", str(config))
    assert bad_url.exit_code == 2 and "statecraft.example/story" in bad_url.output
    bad_as_of = run("preview", "--config", str(config), "--as-of", "next friday")
    assert bad_as_of.exit_code == 2 and "next friday" in bad_as_of.output


def test_skipped_issue_exits_0_with_the_reason(tmp_path: Path) -> None:
    config = write_config(tmp_path, [Item("only-one", 5)])
    result = run("preview", "--config", str(config), "--out", str(tmp_path / "pv"))
    assert result.exit_code == 0, result.output
    assert "skipped: only 1 new article since Fri 13 Nov 09:00; min_articles is 3" in result.output
    assert not (tmp_path / "pv" / "issue.html").exists()
    assert "no preview files written: the issue is skipped" in result.output


def test_every_source_failing_exits_1_naming_it(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    (tmp_path / "feed.xml").write_text("<html><body>not a feed</body></html>")
    result = run("preview", "--config", str(config), "--json")
    assert result.exit_code == 1
    assert "Main feed" in result.output
    assert result.stdout == ""


def test_to_sends_a_test_copy_to_the_file_backend(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    result = run(
        "preview",
        "--config",
        str(config),
        "--out",
        str(tmp_path / "pv"),
        "--to",
        "editor@statecraft.example",
    )
    assert result.exit_code == 0, result.output
    emls = list((tmp_path / "outbox").rglob("*.eml"))
    assert len(emls) == 1
    msg = email.message_from_bytes(emls[0].read_bytes(), policy=policy.default)
    assert msg["Subject"].startswith("[TEST] Featured Story")
    assert "editor@statecraft.example" in msg["To"]
    bad = run("preview", "--config", str(config), "--to", "not-an-address")
    assert bad.exit_code == 2 and "not-an-address" in bad.output


# --- collect -------------------------------------------------------------------------


def test_collect_lists_the_window(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    table = run("collect", "--config", str(config))
    assert table.exit_code == 0, table.output
    assert "Newest Story" in table.output and "Last Month" not in table.output
    assert "1 more article in the feeds falls outside the window" in table.output
    result = run("collect", "--config", str(config), "--json")
    data = json.loads(result.stdout)
    assert [a["url"].rsplit("/", 1)[1] for a in data["articles"]] == [
        "newest-story",
        "featured-story",
        "middle-story",
        "older-story",
        "oldest-in-week",
    ]
    assert data["outside_window"] == 1 and data["issue"] == "2026-W47"


@pytest.mark.parametrize("command", ["init", "collect", "preview", "pin", "drop", "note"])
def test_help_has_an_example(command: str) -> None:
    result = run(command, "--help")
    assert result.exit_code == 0 and "Example:" in result.output


# --- the bundled sample, as a user runs it ---------------------------------------------


def test_sample_preview_subprocess(tmp_path: Path) -> None:
    env = {**os.environ, "DIGEST_DATABASE_URL": f"sqlite:///{tmp_path / 'sample.db'}"}
    env.pop("DIGEST_NOW", None)
    outputs = []
    for run_dir in ("one", "two"):
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "digest",
                "preview",
                "--config",
                str(REPO / "examples" / "digest.toml"),
                "--out",
                str(tmp_path / run_dir),
                "--json",
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            cwd=tmp_path,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        outputs.append(json.loads(proc.stdout))
    data = outputs[0]
    assert outputs[1] == data
    assert data["issue"] == "2026-W47" and data["skipped"] is False
    assert isinstance(data["subject"], str) and data["subject"]
    assert set(data["lead"]) == STORY_KEYS and data["lead"]["reason"]
    assert len(data["latest"]) >= 3
    assert all(set(s) == STORY_KEYS and s["reason"] for s in data["latest"])
    for name in ("issue.html", "issue.txt"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()
    html = (tmp_path / "one" / "issue.html").read_text()
    assert 'name="viewport"' in html and "<script" not in html.lower()
    assert len(html.encode()) < 102 * 1024


def test_open_hands_the_html_to_the_browser(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "browser.sh"
    browser.write_text(f'#!/bin/sh\necho "$1" > {opened}\n')
    browser.chmod(0o755)
    env = {
        **os.environ,
        "BROWSER": str(browser),
        "DIGEST_DATABASE_URL": f"sqlite:///{tmp_path / 'o.db'}",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "digest", "preview", "--config", str(config), "--out", str(tmp_path / "pv"), "--open"],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert opened.read_text().strip() == (tmp_path / "pv" / "issue.html").resolve().as_uri()
