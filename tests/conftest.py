"""Shared fixtures: seeded randomness, threads limited for the shared 2-core machines."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded generator for tests that need random inputs."""
    return np.random.default_rng(12345)


@pytest.fixture(autouse=True)
def _seed_global_state() -> None:
    np.random.seed(0)  # noqa: NPY002 - guards third-party code that uses the global state
