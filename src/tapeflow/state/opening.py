"""Opening the position store a configuration describes."""

from __future__ import annotations

from pathlib import Path

from tapeflow.config.state import StateSettings
from tapeflow.state.store import PositionStore


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
