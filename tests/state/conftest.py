"""Fixtures for the position stores: the real Firestore emulator and a store factory
parametrised over both backends."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tapeflow.state.embedded import EmbeddedStore
from tapeflow.state.firestore import FirestoreStore
from tapeflow.state.store import PositionStore
from tests.support.firestore_emulator import (
    EmulatorUnavailableError,
    FirestoreEmulator,
    start_emulator,
)

StoreFactory = Callable[[], PositionStore]


@pytest.fixture(scope="session")
def firestore_emulator() -> Iterator[FirestoreEmulator]:
    """One real Firestore emulator for the session, on a free 127.0.0.1 port.

    Fails (never skips) with install instructions when Java or the jar is missing.
    """
    try:
        emulator = start_emulator()
    except EmulatorUnavailableError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def firestore_env(
    firestore_emulator: FirestoreEmulator, monkeypatch: pytest.MonkeyPatch
) -> FirestoreEmulator:
    """The emulator, emptied, with ``FIRESTORE_EMULATOR_HOST`` pointing at it for this test."""
    firestore_emulator.reset()
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", firestore_emulator.host)
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    return firestore_emulator


def _embedded_factory(path: Path) -> StoreFactory:
    return lambda: EmbeddedStore(path)


@pytest.fixture(params=["embedded", "firestore"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """A factory opening the same store again on each call (same file / same root);
    every store it opened is closed after the test."""
    opened: list[PositionStore] = []
    if request.param == "embedded":
        make = _embedded_factory(tmp_path / "state" / "paper.sqlite3")
    else:
        emulator: FirestoreEmulator = request.getfixturevalue("firestore_env")
        root = f"tapeflow/test-{uuid.uuid4().hex[:8]}"

        def make() -> PositionStore:
            return FirestoreStore(root=root, project_id=emulator.project_id)

    def factory() -> PositionStore:
        store = make()
        opened.append(store)
        return store

    yield factory
    for store in opened:
        store.close()


@pytest.fixture
def store(open_store: StoreFactory) -> PositionStore:
    """A fresh, empty store of the parametrised backend."""
    return open_store()
