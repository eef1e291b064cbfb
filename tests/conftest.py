"""Shared fixtures. Real data lives in ../shared (never copied into the repo)."""

from __future__ import annotations

from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED = PROJECT_ROOT.parent / "shared"
LIVELINK = SHARED / "data" / "livelinkface"


@pytest.fixture
def livelink_dir() -> Path:
    if not (LIVELINK / "S88-001.csv").is_file():
        pytest.skip(f"real Live Link takes not found at {LIVELINK} (the shared data folder is absent)")
    return LIVELINK
