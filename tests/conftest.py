"""Shared fixtures: where the real data sets are."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = Path(os.environ.get("KILOWATCH_DATA_DIR", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not DATA_DIR.is_dir():
        pytest.fail(f"shared data sets not found at {DATA_DIR} (set KILOWATCH_DATA_DIR)")
    return DATA_DIR
