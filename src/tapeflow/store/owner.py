"""One owner per store root: the lock ``tapeflow run`` holds on ``{root}/.tapeflow/run.lock``.

DuckDB locks each symbol file only when it is opened, which for ``tapeflow run`` is after
reconciliation and the start of its execution engines: a second run on the same root used
to get that far and then die on DuckDB's lock error. The run therefore claims the whole
root first (:func:`claim_root`, an exclusive ``flock`` on the lock file, released by the
kernel when the process ends, however it ends), and writes its process id and start time
(UTC) into the file. A second claim fails at once with :class:`StoreBusyError`; readers ask
:func:`root_owner` whether a run holds the root (then they use its query endpoint).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_fixed

from tapeflow.model.errors import TapeflowError

LOCK_FILE = Path(".tapeflow") / "run.lock"


class StoreBusyError(TapeflowError, RuntimeError):
    """Another ``tapeflow run`` holds the store root."""


class _Probed(TapeflowError, BlockingIOError):
    """The lock is taken but its recorded owner is not alive: a reader probing it
    (:func:`root_owner`) or a run that has not written its pid yet; it is free again at
    once."""


@dataclass(frozen=True)
class RootOwner:
    """The process holding a store root: its id, when it started (UTC) and its command
    (``run``, or ``ingest`` for live ingest alone)."""

    pid: int
    started: datetime | None
    command: str = "run"

    def describe(self, root: str | Path) -> str:
        """``another tapeflow run (pid N, started …) holds ROOT``."""
        when = self.started.strftime("%Y-%m-%d %H:%M:%S UTC") if self.started else "unknown"
        return f"another tapeflow {self.command} (pid {self.pid}, started {when}) holds {root}"


class RootLock:
    """The held lock of a store root (from :func:`claim_root`); :meth:`release` or use as a
    context manager."""

    def __init__(self, fd: int, path: Path) -> None:
        self._fd: int | None = fd
        self.path = path

    def release(self) -> None:
        """Give the root up. Idempotent."""
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None

    def __enter__(self) -> RootLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read_owner(fd: int) -> RootOwner:
    os.lseek(fd, 0, os.SEEK_SET)
    try:
        data = json.loads(os.read(fd, 4096).decode() or "{}")
        started = data.get("started")
        return RootOwner(
            int(data.get("pid", 0)),
            datetime.fromisoformat(started) if started else None,
            str(data.get("command", "run")),
        )
    except (ValueError, TypeError):  # being written right now
        return RootOwner(0, None)


def process_alive(pid: int) -> bool:
    """Whether a process with id ``pid`` (> 0) exists on this machine (signal 0 probe)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _lock_exclusive(fd: int) -> None:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        if not process_alive(_read_owner(fd).pid):
            raise _Probed() from None
        raise


def claim_root(root: str | Path, command: str = "run") -> RootLock:
    """Take the exclusive lock of ``root`` for this process (creating ``root/.tapeflow``),
    recording ``command`` (what the owner is: ``run`` or ``ingest``) with its pid.

    A lock held for a moment by a reader's probe (:func:`root_owner`) is waited for (up to
    0.5 s); a live owner fails the claim at once.

    Raises:
        StoreBusyError: another process holds it; the message names its pid, start time
            and the root (``another tapeflow run (pid N, started …) holds ROOT``).
    """
    path = Path(root) / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        for attempt in Retrying(
            retry=retry_if_exception_type(_Probed),
            stop=stop_after_delay(0.5),
            wait=wait_fixed(0.02),
            reraise=True,
        ):
            with attempt:
                _lock_exclusive(fd)
    except BlockingIOError:
        owner = _read_owner(fd)
        os.close(fd)
        raise StoreBusyError(owner.describe(root)) from None
    except BaseException:
        os.close(fd)
        raise
    body = json.dumps(
        {"pid": os.getpid(), "started": datetime.now(UTC).isoformat(), "command": command}
    )
    os.ftruncate(fd, 0)
    os.pwrite(fd, body.encode(), 0)
    return RootLock(fd, path)


def root_owner(root: str | Path) -> RootOwner | None:
    """The ``tapeflow run`` holding ``root``, or None if none does (no lock file, or its
    lock is free: a process that ended, however, holds nothing)."""
    path = Path(root) / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_owner(fd)
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
