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
        path: the embedded store's file, which also holds the paper exchange's account;
            a relative path is relative to the store root (``store.root``, ``--root``,
            ``$TAPEFLOW_ROOT``), so each root has its own positions and paper account
            (default ``{root}/state/state.sqlite3``); an absolute path is used as is.
        root: Firestore document path holding the collections, one per environment
            (``tapeflow/paper``, ``tapeflow/live``).
        project_id: Google Cloud project for Firestore (default: from the credentials; the
            credentials themselves come only from ``GOOGLE_APPLICATION_CREDENTIALS`` / ADC).
        database: Firestore database id (None = ``(default)``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: Literal["embedded", "firestore"] = "embedded"
    path: Path = Path("state/state.sqlite3")
    root: str = "tapeflow/paper"
    project_id: str | None = None
    database: str | None = None


def state_path(settings: StateSettings, root: str | Path | None) -> Path:
    """The embedded store's file: ``settings.path`` under ``root`` when relative (as is
    when absolute, or when no root is given)."""
    if root is None or settings.path.is_absolute():
        return settings.path
    return Path(root) / settings.path


def open_store(settings: StateSettings, root: str | Path | None = None) -> PositionStore:
    """Open the store ``settings`` describe (caller closes it); ``root``: the store root a
    relative embedded path is under (see :func:`state_path`).

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

    return EmbeddedStore(state_path(settings, root))
