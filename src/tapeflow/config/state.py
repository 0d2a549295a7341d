"""Configuration of the position store (opened by :func:`tapeflow.state.opening.open_store`)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from tapeflow.config.base import Section


class StateSettings(Section):
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

    backend: Literal["embedded", "firestore"] = "embedded"
    path: Path = Path("state/state.sqlite3")
    root: str = "tapeflow/paper"
    project_id: str | None = None
    database: str | None = None
