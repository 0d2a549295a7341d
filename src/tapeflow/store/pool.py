"""A bounded LRU pool of per-symbol DuckDB databases inside one DuckDB instance.

Every separately connected DuckDB database is its own instance with its own buffer pool and
thread pool (~5 MB each before any data, and each may grow to 80% of RAM). The pool instead
keeps **one** in-memory DuckDB instance (the *hub*, with one ``memory_limit`` and one thread
pool) and ``ATTACH``es each symbol's file to it under the symbol's alias. A lease hands out a
cursor of the hub whose default database is the symbol's (``USE alias``) and whose search
path is that file, then the hub's own database ``memory``: unqualified table names resolve
inside the file, and views and macros defined once in the hub (``on_hub``, e.g.
:func:`tapeflow.store.catalog.define_analytics`) are visible from every lease. See
``shared/docs/facts.md`` for the measurements behind this choice.

Guarantees:

* at most ``limit`` files are attached; attaching one more detaches the least recently used
  file that nobody is using (``DETACH`` checkpoints it cleanly);
* a file is never detached while leased; if all ``limit`` files are leased, a new lease waits
  (up to ``wait_timeout_s``) and then raises :class:`PoolExhaustedError`;
* thread-safe: leases of different symbols run in parallel (each on its own cursor); writers
  of the same symbol serialise on the entry's ``write_lock``;
* counters: hits, misses, evictions (:meth:`ConnectionPool.stats`).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from tapeflow.model.errors import TapeflowError
from tapeflow.model.symbols import SymbolKey

#: The hub's own (in-memory) database: what every lease sees after its file.
HUB_DATABASE = "memory"


class PoolExhaustedError(TapeflowError, RuntimeError):
    """Every pooled database is in use and none freed up in time."""


class UnknownSymbolError(TapeflowError, KeyError):
    """No database exists for this symbol under the store root."""

    def __str__(self) -> str:  # KeyError quotes its argument; keep the message readable
        return str(self.args[0]) if self.args else "unknown symbol"


@dataclass
class PoolStats:
    """Pool counters since creation."""

    limit: int
    attached: int
    in_use: int
    hits: int
    misses: int
    evictions: int


@dataclass
class _Entry:
    key: SymbolKey
    path: Path
    users: int = 0
    write_lock: threading.Lock = field(default_factory=threading.Lock)
    #: per-entry cache owned by the store (e.g. the max stored trade id)
    cache: dict[str, Any] = field(default_factory=dict)


class ConnectionPool:
    """Bounded LRU pool of attached per-symbol databases; see the module docstring.

    Args:
        root: store root; a symbol's file is ``key.path(root)``.
        limit: maximum number of attached databases (default 200).
        memory_limit: DuckDB memory limit for the whole hub (e.g. ``"1GB"``).
        threads: DuckDB worker threads for the whole hub.
        read_only: attach files read-only (for readers while no writer runs).
        on_attach: called with ``(cursor, key, created)`` after a file is attached (the store
            runs schema migrations there).
        on_hub: called once with the hub connection after it is created (the store defines
            the analytics views and macros there).
        wait_timeout_s: how long a lease waits for a free slot before failing.
    """

    def __init__(
        self,
        root: str | Path,
        *,
        limit: int = 200,
        memory_limit: str = "192MB",
        threads: int = 2,
        read_only: bool = False,
        on_attach: Callable[[duckdb.DuckDBPyConnection, SymbolKey, bool], None] | None = None,
        on_hub: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
        wait_timeout_s: float = 60.0,
    ) -> None:
        if limit < 1:
            raise ValueError(f"pool limit must be >= 1, got {limit}")
        self.root = Path(root)
        self.limit = limit
        self.read_only = read_only
        self._on_attach = on_attach
        self._wait_timeout_s = wait_timeout_s
        # an in-memory hub has no spill folder by default: without one, un-checkpointed
        # blocks of many attached files can only live in RAM and exhaust memory_limit
        spill = self.root / ".tmp"
        self._hub = duckdb.connect(
            ":memory:",
            config={
                "memory_limit": memory_limit,
                "threads": threads,
                "temp_directory": str(spill),
            },
        )
        # UTC for every TIMESTAMPTZ conversion (icu is loaded once the instance exists)
        self._hub.execute("SET TimeZone = 'UTC'")
        if on_hub is not None:
            try:
                on_hub(self._hub)
            except BaseException:
                self._hub.close()
                raise
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lent: set[str] = set()
        self._cond = threading.Condition()
        self._hits = self._misses = self._evictions = 0
        self._closed = False

    # -- leasing -------------------------------------------------------------------------

    @contextmanager
    def lease(self, key: SymbolKey, *, create: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """Borrow a cursor on ``key``'s database (attaching it if needed).

        Args:
            key: the symbol.
            create: create the file (and its folders) if it does not exist; ignored (and an
                error if the file is missing) in a read-only pool.

        Raises:
            UnknownSymbolError: the file does not exist and ``create`` is false.
            PoolExhaustedError: all slots stayed busy for ``wait_timeout_s``.
        """
        entry = self._acquire(key, create=create)
        try:
            cur = self._cursor(key.alias)
            try:
                yield cur
            finally:
                cur.close()
        finally:
            self._release(entry)

    @contextmanager
    def lease_entry(
        self, key: SymbolKey, *, create: bool = False
    ) -> Iterator[tuple[duckdb.DuckDBPyConnection, _Entry]]:
        """Like :meth:`lease` but also yields the entry (its ``write_lock`` and ``cache``)."""
        entry = self._acquire(key, create=create)
        try:
            cur = self._cursor(key.alias)
            try:
                yield cur, entry
            finally:
                cur.close()
        finally:
            self._release(entry)

    @contextmanager
    def lend(self, key: SymbolKey) -> Iterator[Path]:
        """Detach ``key``'s file (once nobody uses it) and keep it detached while the caller
        holds it, so that another DuckDB instance of this process may attach it (DuckDB lets
        one instance per process attach a file); leases of ``key`` wait meanwhile.

        Yields:
            the file's path.

        Raises:
            UnknownSymbolError: the file does not exist.
            PoolExhaustedError: the file stayed in use (or lent) for ``wait_timeout_s``.
        """
        alias = key.alias
        path = key.path(self.root)
        deadline = time.monotonic() + self._wait_timeout_s
        with self._cond:
            while True:
                if self._closed:
                    raise RuntimeError("connection pool is closed")
                entry = self._entries.get(alias)
                if alias not in self._lent and (entry is None or entry.users == 0):
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._cond.wait(remaining):
                    raise PoolExhaustedError(f"{key} stayed in use; cannot lend its file")
            if not path.exists():
                raise UnknownSymbolError(f"no database for {key} at {path}")
            if entry is not None:
                self._detach(entry, force=True)  # not an eviction: it comes back on next use
            self._lent.add(alias)
        try:
            yield path
        finally:
            with self._cond:
                self._lent.discard(alias)
                self._cond.notify_all()

    def _cursor(self, alias: str) -> duckdb.DuckDBPyConnection:
        """A new hub cursor whose default database is ``alias`` and whose search path is
        that file, then the hub's own definitions."""
        with self._cond:
            cur = self._hub.cursor()
        try:
            cur.execute(f'USE "{alias}"; SET search_path = \'"{alias}".main,{HUB_DATABASE}.main\'')
        except BaseException:
            cur.close()
            raise
        return cur

    def _acquire(self, key: SymbolKey, *, create: bool) -> _Entry:
        alias = key.alias
        deadline = time.monotonic() + self._wait_timeout_s
        with self._cond:
            if self._closed:
                raise RuntimeError("connection pool is closed")
            while alias in self._lent:  # another instance of this process has the file
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._cond.wait(remaining):
                    raise PoolExhaustedError(f"{key}'s file stayed lent to a query sandbox")
            entry = self._entries.get(alias)
            if entry is not None:
                self._hits += 1
                entry.users += 1
                self._entries.move_to_end(alias)
                return entry
            self._misses += 1
            path = key.path(self.root)
            exists = path.exists()
            if not exists and (self.read_only or not create):
                raise UnknownSymbolError(f"no database for {key} at {path}")
            while len(self._entries) >= self.limit:
                victim = next((e for e in self._entries.values() if e.users == 0), None)
                if victim is not None:
                    self._detach(victim)
                    continue
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._cond.wait(remaining):
                    raise PoolExhaustedError(
                        f"all {self.limit} pooled databases are in use; raise the pool limit "
                        "or hold leases for shorter"
                    )
                entry = self._entries.get(alias)  # another thread may have attached it
                if entry is not None:
                    entry.users += 1
                    self._entries.move_to_end(alias)
                    return entry
            if not exists:
                path.parent.mkdir(parents=True, exist_ok=True)
            options = " (READ_ONLY)" if self.read_only else ""
            escaped = str(path).replace("'", "''")
            self._hub.execute(f"ATTACH '{escaped}' AS \"{alias}\"{options}")
            entry = _Entry(key=key, path=path, users=1)
            self._entries[alias] = entry
            if self._on_attach is not None:
                cur = self._cursor(alias)
                try:
                    self._on_attach(cur, key, not exists)
                except BaseException:
                    cur.close()
                    self._detach(entry, force=True)
                    raise
                cur.close()
            return entry

    def _release(self, entry: _Entry) -> None:
        with self._cond:
            entry.users -= 1
            self._cond.notify_all()

    def _detach(self, entry: _Entry, *, force: bool = False) -> None:
        # caller holds self._cond
        if entry.users and not force:
            raise RuntimeError(f"{entry.key} is in use")
        self._hub.execute(f'DETACH "{entry.key.alias}"')
        del self._entries[entry.key.alias]
        self._evictions += 0 if force else 1

    # -- housekeeping --------------------------------------------------------------------

    def stats(self) -> PoolStats:
        """Counters and occupancy."""
        with self._cond:
            return PoolStats(
                limit=self.limit,
                attached=len(self._entries),
                in_use=sum(1 for e in self._entries.values() if e.users),
                hits=self._hits,
                misses=self._misses,
                evictions=self._evictions,
            )

    def close(self) -> None:
        """Detach every database (checkpointing it) and close the hub. Idempotent.

        Raises:
            RuntimeError: if a lease is still open (closing would pull a file from under it).
        """
        with self._cond:
            if self._closed:
                return
            busy = [str(e.key) for e in self._entries.values() if e.users]
            if busy:
                raise RuntimeError(f"cannot close the pool: still in use: {', '.join(busy)}")
            for entry in list(self._entries.values()):
                self._detach(entry, force=True)
            self._hub.close()
            self._closed = True
