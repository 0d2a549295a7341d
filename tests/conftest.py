"""Session-wide fixtures."""

from pathlib import Path

import pytest

from tests.support.paths import MARKET_DIR


@pytest.fixture(scope="session")
def market_dir() -> Path:
    """The shared real Binance recordings (read-only)."""
    if not MARKET_DIR.is_dir():
        pytest.fail(f"shared market recordings not found at {MARKET_DIR}")
    return MARKET_DIR
