"""Shared corpus fixtures: one generated sample reused by every corpus test (generation is seeded)."""

from __future__ import annotations

import pytest

from studio.corpus import iter_corpus, make_performers

SEED = 11
SAMPLE = 1500  # ~2 s to generate; enough for every composition, split and held-out kind


@pytest.fixture(scope="session")
def sample():
    return list(iter_corpus(SAMPLE, SEED))


@pytest.fixture(scope="session")
def performers():
    return make_performers(SEED)
