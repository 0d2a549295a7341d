"""Configuration of the position store and the function that opens the configured one."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from tapeflow.state.store import PositionStore


class StateSettings(BaseModel):
    """Where positions, orders and engine state live.

    Attributes:
        backend: ``"embedded"`` (one SQLite file, the paper default) or ``"firestore"``.
        path: the embedded store's file (relative paths are relative to the working
            directory).
        root: Firestore document path holding the collections, one per environment
            (``tapeflow/paper``, ``tapeflow/live``).
        project_id: Google Cloud project for Firestore (default: from the credentials; the
            credentials themselves come only from ``GOOGLE_APPLICATION_CREDENTIALS`` / ADC).
        database: Firestore database id (None = ``(default)``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: Literal["embedded", "firestore"] = "embedded"
    path: Path = Path("data/state/state.sqlite3")
    root: str = "tapeflow/paper"
    project_id: str | None = None
    database: str | None = None


def open_store(settings: StateSettings) -> PositionStore:
    """Open the store ``settings`` describe (caller closes it).

    Raises:
        tapeflow.state.firestore.StateConfigError: Firestore credentials/project/root.
        RuntimeError: the embedded file's schema does not match this code.
    """
    if settings.backend == "firestore":
        from tapeflow.state.firestore import FirestoreStore

        return FirestoreStore(
            root=settings.root, project_id=settings.project_id, database=settings.database
        )
    from tapeflow.state.embedded import EmbeddedStore

    return EmbeddedStore(settings.path)
