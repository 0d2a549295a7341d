"""Named engine-state documents: the ``get_state``/``put_state`` half of a position store,
and a small JSON-file implementation of it.

Any :class:`~tapeflow.state.store.PositionStore` satisfies :class:`StateStore`; the paper
exchange and the portfolio risk manager persist through either.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
from pathlib import Path
from typing import Any, Protocol

_NAME = re.compile(r"^[A-Za-z0-9_.:/-]{1,120}$")


class StateStore(Protocol):
    """Durable named JSON documents (``name`` -> dict)."""

    def get_state(self, name: str) -> dict[str, Any] | None: ...
    def put_state(self, name: str, value: dict[str, Any]) -> None: ...


class JsonStateFile:
    """All documents in one JSON file, replaced atomically on every write.

    A write goes to a temporary file in the same directory, is flushed (and ``fsync``-ed
    when ``durable``), then renamed over the old file: a crash leaves either the old or the
    new content, never a torn file.

    Args:
        path: the JSON file (its directory is created).
        durable: fsync each write (survives power loss; slower).

    Raises:
        ValueError: on opening, if the existing file is not a JSON object.
    """

    def __init__(self, path: str | Path, *, durable: bool = True) -> None:
        self.path = Path(path)
        self.durable = durable
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._docs: dict[str, dict[str, Any]] = {}
        if self.path.exists():
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{self.path}: not valid JSON ({exc})") from exc
            if not isinstance(data, dict):
                raise ValueError(f"{self.path}: expected a JSON object")
            self._docs = data

    def get_state(self, name: str) -> dict[str, Any] | None:
        """The document ``name`` (a copy), or None."""
        with self._lock:
            doc = self._docs.get(name)
            return json.loads(json.dumps(doc)) if doc is not None else None

    def put_state(self, name: str, value: dict[str, Any]) -> None:
        """Store ``value`` (JSON-serialisable) under ``name`` and write the file.

        Raises:
            ValueError: for an invalid name; TypeError for a value JSON cannot hold.
        """
        if not _NAME.fullmatch(name):
            raise ValueError(f"invalid state name {name!r}")
        with self._lock:
            self._docs[name] = json.loads(json.dumps(value))
            self._write()

    def _write(self) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(self._docs, fh, separators=(",", ":"), sort_keys=True)
                fh.flush()
                if self.durable:
                    os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
