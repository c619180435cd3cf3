"""What some tests need from the machine (PostgreSQL, Chromium, Node), and what happens
when it is missing.

On a developer's machine a missing part skips the tests that need it, with one line saying
how to get it. ``.ci/run`` provides all of them and sets ``DIGEST_TESTS_REQUIRE_ALL=1``
(so does ``CI``): then a missing part fails the test instead, and CI never skips.
"""

from __future__ import annotations

import os

import pytest


def required_everywhere() -> bool:
    return bool(os.environ.get("DIGEST_TESTS_REQUIRE_ALL") or os.environ.get("CI"))


def missing(what: str, how: str) -> None:
    """Skip (or, under CI, fail) the current test: ``what`` is missing, ``how`` gets it."""
    message = f"{what} is missing: {how}"
    if required_everywhere():
        pytest.fail(message + " (required: DIGEST_TESTS_REQUIRE_ALL/CI is set)")
    pytest.skip(message)
