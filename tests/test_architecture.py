"""The layers of docs/architecture.md hold: the store imports nothing above it, and the
pipeline (collect, select, render, send and what they use) never imports ``subscribers``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import REPO

DIGEST = REPO / "digest"
PIPELINE = ["collect", "select", "render", "send", "pipeline", "feeds", "models", "editor"]


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, at the top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _modules(*patterns: str) -> list[Path]:
    return sorted({p for pattern in patterns for p in DIGEST.glob(pattern)})


@pytest.mark.parametrize(
    "path", _modules("store/**/*.py"), ids=lambda p: str(p.relative_to(DIGEST))
)
def test_the_store_imports_nothing_above_it(path: Path) -> None:
    above = {
        m
        for m in _imports(path)
        if m.split(".")[0] in ("digest", "subscribers")
        and not m.startswith("digest.store")
        and m != "digest.errors"
    }
    assert not above, f"{path.relative_to(DIGEST)} imports {sorted(above)}"


@pytest.mark.parametrize(
    "path",
    _modules(
        *(f"{name}*.py" for name in PIPELINE),
        "sending/*.py",
        "rendering/*.py",
        "archive.py",
        "testcopy.py",
        "backends/*.py",
        "store/**/*.py",
    ),
    ids=lambda p: str(p.relative_to(DIGEST)),
)
def test_the_pipeline_never_imports_subscribers(path: Path) -> None:
    wrong = {m for m in _imports(path) if m.split(".")[0] == "subscribers"}
    assert not wrong, f"{path.relative_to(DIGEST)} imports {sorted(wrong)}"
