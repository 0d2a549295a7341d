"""Fixtures for the execution tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tapeflow.state.embedded import EmbeddedStore


@pytest.fixture
def open_store(tmp_path: Path) -> Iterator[Callable[[], EmbeddedStore]]:
    """Opens the same embedded state store (one SQLite file) again on each call, as a
    restarted process would; every opened store is closed after the test."""
    opened: list[EmbeddedStore] = []

    def factory() -> EmbeddedStore:
        store = EmbeddedStore(tmp_path / "state.db")
        opened.append(store)
        return store

    yield factory
    for store in opened:
        store.close()


@pytest.fixture
def store(open_store: Callable[[], EmbeddedStore]) -> EmbeddedStore:
    """A fresh embedded state store."""
    return open_store()
