"""Fixtures for the importer tests: a fresh store per test."""

from pathlib import Path

import pytest

from tapeflow.store import TickStore


@pytest.fixture
def store(tmp_path: Path):
    s = TickStore(tmp_path / "data", pool_limit=16, memory_limit="512MB")
    yield s
    s.close()


def count(store: TickStore, key, sql: str = "SELECT count(*) FROM ticks"):
    """First value of a query on one symbol's database."""
    with store.connection(key) as con:
        return con.execute(sql).fetchall()[0][0]
