"""Shared fixtures: the real competition files and a small synthetic competition."""

from __future__ import annotations

from pathlib import Path

import pytest

REAL = Path(__file__).parent / "data" / "real"


@pytest.fixture(scope="session")
def real_dir() -> Path:
    """tests/data/real: real Kaggle files laid out as a competition folder (see NOTICE.md)."""
    return REAL
