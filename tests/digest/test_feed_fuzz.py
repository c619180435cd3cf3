"""Real feed documents, mutated (random bytes; control characters in text fields; deep
nesting; huge category and attribute lists; bad dates), built beside a healthy source: the
build never crashes, never runs past its parse budgets, and the issue renders whenever the
healthy source alone has min_articles stories (benchmarks/fuzz.py has the mutations and the
property; ``python -m benchmarks.fuzz --minutes N`` runs it for longer)."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.fuzz import MUTATIONS, build_with, seed_documents

DOCUMENTS = seed_documents()
SCALE = 20_000  # the largest nesting or element count tried here (the fuzz run goes to 1M)


@pytest.mark.slow
@settings(
    max_examples=20, deadline=timedelta(seconds=30), suppress_health_check=[HealthCheck.too_slow]
)
@given(
    document=st.sampled_from(DOCUMENTS),
    mutations=st.lists(st.sampled_from(sorted(MUTATIONS)), min_size=1, max_size=3),
    rnd=st.randoms(use_true_random=False),
)
def test_a_mutated_feed_never_stops_the_issue(
    document: tuple[str, bytes], mutations: list[str], rnd: random.Random
) -> None:
    body = document[1]
    for name in mutations:
        body = MUTATIONS[name](body, rnd, SCALE)
    outcome = build_with(body, budget=5.0)
    assert outcome.error is None, f"{document[0]} + {mutations}: {outcome.error}"
