"""Fixtures: a tick store holding the real recordings (built once per session, copied per
test so each test's decision log starts empty)."""

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tapeflow.store import TickStore
from tests.strategy.recordings import build_store


@pytest.fixture(scope="session")
def recordings_template(tmp_path_factory, market_dir) -> Path:
    """Store root with every strategy recording imported and candle caches current."""
    root = tmp_path_factory.mktemp("strategy_store")
    build_store(root).close()
    return root


@pytest.fixture
def recorded_store(recordings_template, tmp_path) -> Iterator[TickStore]:
    """A private, writable copy of the recordings store."""
    root = tmp_path / "store"
    shutil.copytree(recordings_template, root)
    store = TickStore(root)
    yield store
    store.close()
