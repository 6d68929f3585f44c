"""Shared fixtures: a small synthetic cohort (generated once per test session)."""

from __future__ import annotations

import pytest

from synthetic import SyntheticCase, generate_cohort


@pytest.fixture(scope="session")
def small_cohort() -> list[SyntheticCase]:
    """Six ``small`` synthetic cases (seed 7): CHUM-001 ... CHUV-001, at least one without GTVn and one
    flipped CT. Treat as read-only (the images are shared between tests)."""
    return generate_cohort(n=6, seed=7, size="small")
