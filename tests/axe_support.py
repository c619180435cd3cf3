"""Accessibility checks with axe-core (Deque's rules engine) in a Playwright page.

axe-core is an npm package: it is installed once into ``~/.cache/digest-axe/<version>``
(``$DIGEST_AXE_DIR`` overrides), the same way as Prism (tests/prism_support.py); a machine
without Node.js and npm skips the checks (fails them under CI, tests/needs.py).
``check(page)`` injects ``axe.min.js`` into the page, runs it with the WCAG 2.0/2.1 A and
AA rules and fails with one line per violation.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from tests.needs import missing

AXE_VERSION = "4.14.1"
WCAG_TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa")
TARGETS_SHOWN = 3  # the first few elements of each violation in a failure message


def _axe_dir() -> Path:
    base = os.environ.get("DIGEST_AXE_DIR") or Path.home() / ".cache" / "digest-axe"
    return Path(base) / AXE_VERSION


def axe_script() -> Path:
    """The path of ``axe.min.js``, installed with npm when it is not there yet."""
    script = _axe_dir() / "node_modules" / "axe-core" / "axe.min.js"
    if script.exists():
        return script
    if not shutil.which("npm"):
        missing(
            "Node.js and npm (for axe-core's accessibility checks)", "apt-get install nodejs npm"
        )
    where = _axe_dir()
    where.mkdir(parents=True, exist_ok=True)
    (where / "package.json").write_text('{"name": "digest-axe", "private": true}\n')
    done = subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--loglevel=error", "--save-exact",
         f"axe-core@{AXE_VERSION}"],
        cwd=where, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    if done.returncode != 0 or not script.exists():
        missing("axe-core", f"npm install failed: {done.stderr.strip()[-600:]}")
    return script


def violations(page: Any, *, disable: tuple[str, ...] = ()) -> list[Any]:
    """axe-core's WCAG 2 A/AA violations in ``page`` (a Playwright page or frame), with the
    rules in ``disable`` turned off."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(axe_script()))
    options = {
        "runOnly": {"type": "tag", "values": list(WCAG_TAGS)},
        "rules": {rule: {"enabled": False} for rule in disable},
        "resultTypes": ["violations"],
    }
    result = page.evaluate("async options => await axe.run(document, options)", options)
    return list(result["violations"])


def describe(found: list[Any]) -> str:
    """One readable line (and a few targets) per violation."""
    lines = []
    for v in found:
        targets = [" ".join(map(str, n["target"])) for n in v["nodes"][:TARGETS_SHOWN]]
        more = len(v["nodes"]) - len(targets)
        lines.append(
            f"- {v['id']} ({v.get('impact') or 'no impact'}): {v['help']} [{len(v['nodes'])}×]"
        )
        lines += [f"    {t}" for t in targets]
        if more > 0:
            lines.append(f"    … and {more} more")
    return "\n".join(lines)


def check(page: Any, what: str, *, disable: tuple[str, ...] = ()) -> None:
    """Fail unless axe-core finds no WCAG 2 A/AA violation in ``page``."""
    found = violations(page, disable=disable)
    assert not found, f"axe-core {AXE_VERSION} finds in {what}:\n{describe(found)}"
