"""The live process's read-only query endpoint (Arrow Flight on loopback).

DuckDB lets only one process open a file read-write, and no other process may open it at
all meanwhile. So while ``tapeflow run`` holds the symbol files, a notebook's
``tapeflow.open(root)`` reaches them through this endpoint instead:

* the server (:class:`QueryEndpoint`) listens on ``127.0.0.1`` on a free port and writes
  ``{root}/.tapeflow/endpoint.json`` (mode 0600): host, port, process id and a random
  bearer token. It removes the file when it stops;
* a client (:class:`FlightRunner`) finds the file (:func:`find_endpoint`), checks that the
  process is alive, and sends each query as a Flight ticket with the token; the result
  comes back as an Arrow table;
* every query runs where writing is impossible: in a sandbox instance
  (:mod:`tapeflow.store.sandbox`: external access off, configuration locked, a ``READ ONLY``
  transaction, one statement) over a **snapshot** of the symbol's database that the
  process copies from its live file (``COPY FROM DATABASE``, a consistent copy taken
  without pausing the writers) into ``{root}/.tapeflow/snapshots/``. A snapshot serves
  queries for up to ``snapshot_max_age_s`` (default 1 s) after it was taken, so the
  several queries of one analytics call see the same data; then the next query takes a
  fresh one;
* before that, a query that is not a single ``SELECT`` or ``EXPLAIN`` statement is refused
  early with a friendly message (:func:`check_read_only`, DuckDB's own parser) — a
  courtesy, not the protection. Refusals come back as ``FlightServerError`` naming the
  rule.

Both sides run the same :class:`~tapeflow.analytics.query.Query`, so results are identical
whichever path a query takes.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.flight as flight

from tapeflow.analytics.errors import ReadOnlyQueryError
from tapeflow.analytics.query import Query, utc_frame
from tapeflow.model.symbols import SymbolKey
from tapeflow.store import SchemaError, TickStore, UnknownSymbolError
from tapeflow.store.owner import process_alive
from tapeflow.store.sandbox import databases, open_sandbox, run_statement

log = logging.getLogger(__name__)

ENDPOINT_FILE = Path(".tapeflow") / "endpoint.json"
SNAPSHOT_DIR = Path(".tapeflow") / "snapshots"


#: What a user's query may be (the endpoint, ``tapeflow sql``, ``Analytics.sql``): one
#: SELECT, or EXPLAIN of one.
READ_KINDS = frozenset({duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN})


def check_read_only(
    sql: str, *, kinds: frozenset = READ_KINDS, single: bool = True
) -> list[duckdb.Statement]:
    """Parse ``sql`` with DuckDB's own parser and accept only statements of ``kinds`` (and
    only one statement when ``single``). Returns the statements.

    A friendly early error only: what makes a query unable to write is where it runs
    (:mod:`tapeflow.store.sandbox`), not this check.

    Raises:
        ReadOnlyQueryError: unparseable, empty, several statements when ``single``, or a
            statement that is not a read query.
    """
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise ReadOnlyQueryError(f"cannot parse query: {exc}") from exc
    if not statements:
        raise ReadOnlyQueryError("empty query")
    allowed = ", ".join(sorted(k.name for k in kinds))
    if single and len(statements) != 1:
        names = ", ".join(s.type.name for s in statements)
        raise ReadOnlyQueryError(
            f"only read queries ({allowed}) are accepted, one statement per query; got {names}"
        )
    refused = sorted({s.type.name for s in statements if s.type not in kinds})
    if refused:
        raise ReadOnlyQueryError(
            f"only read queries ({allowed}) are accepted; got {', '.join(refused)}"
        )
    return statements


def _encode(value: Any) -> Any:
    # query parameters travel as JSON; datetimes and decimals as tagged strings
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, Decimal):
        return {"$dec": str(value)}
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict) and "$dt" in value:
        return datetime.fromisoformat(value["$dt"])
    if isinstance(value, dict) and "$dec" in value:
        return Decimal(value["$dec"])
    return value


class _TokenMiddlewareFactory(flight.ServerMiddlewareFactory):
    def __init__(self, token: str) -> None:
        self._expected = f"Bearer {token}"

    def start_call(self, info, headers):
        values = headers.get("authorization") or headers.get("Authorization") or []
        if not any(secrets.compare_digest(v, self._expected) for v in values):
            raise flight.FlightUnauthenticatedError("missing or wrong endpoint token")
        return None


@dataclass
class _Snapshot:
    con: duckdb.DuckDBPyConnection
    path: Path
    taken: float
    databases: frozenset[str]
    users: int = 0
    retired: bool = False


@dataclass
class SnapshotSandboxes:
    """Per symbol, a sandbox (:func:`tapeflow.store.sandbox.open_sandbox`) over a recent
    snapshot of the live store's file; see the module docstring.

    Args:
        store: the live (read-write) store.
        max_age_s: how long a snapshot serves queries after it was taken (seconds).
        memory_limit, threads: DuckDB limits of each sandbox.
    """

    store: TickStore
    max_age_s: float = 1.0
    memory_limit: str = "512MB"
    threads: int = 2
    _current: dict[SymbolKey, _Snapshot] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _taking: dict[SymbolKey, threading.Lock] = field(default_factory=dict)

    @property
    def folder(self) -> Path:
        """Where the snapshot files live."""
        return self.store.root / SNAPSHOT_DIR

    def clear(self) -> None:
        """Remove snapshot files left by a process that was killed."""
        for path in self.folder.glob("*.duckdb*"):
            path.unlink(missing_ok=True)

    def query(self, key: SymbolKey, sql: str, params: list[Any]) -> pa.Table:
        """Run a user's query on a snapshot of ``key`` no older than ``max_age_s``.

        Raises:
            ReadOnlyQueryError, UnknownSymbolError, SchemaError, duckdb.Error: see
            :func:`tapeflow.store.sandbox.run_statement`.
        """
        snap = self._acquire(key)
        try:
            return run_statement(snap.con, key, sql, params)
        finally:
            intact = databases(snap.con) == snap.databases
            self._release(snap, retire=not intact)

    def _fresh(self, key: SymbolKey) -> _Snapshot | None:
        # caller holds self._lock
        snap = self._current.get(key)
        if snap is not None and time.monotonic() - snap.taken < self.max_age_s:
            snap.users += 1
            return snap
        return None

    def _acquire(self, key: SymbolKey) -> _Snapshot:
        with self._lock:
            snap = self._fresh(key)
            taking = self._taking.setdefault(key, threading.Lock())
        if snap is not None:
            return snap
        with taking:  # one snapshot of a symbol at a time; the others wait and share it
            with self._lock:
                snap = self._fresh(key)
            if snap is not None:
                return snap
            snap = self._take(key)
            with self._lock:
                old = self._current.get(key)
                self._current[key] = snap
                snap.users += 1
                if old is not None:
                    old.retired = True
                    if not old.users:
                        self._dispose(old)
            return snap

    def _take(self, key: SymbolKey) -> _Snapshot:
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"snap_{uuid.uuid4().hex}"
        path = self.folder / f"{key.alias}-{name}.duckdb"
        taken = time.monotonic()
        with self.store.connection(key) as con:
            con.execute(f"ATTACH '{str(path).replace(chr(39), chr(39) * 2)}' AS {name}")
            try:
                con.execute(f'COPY FROM DATABASE "{key.alias}" TO {name}')
            finally:
                con.execute(f"DETACH {name}")
        try:
            sandbox = open_sandbox(path, key, memory_limit=self.memory_limit, threads=self.threads)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return _Snapshot(sandbox, path, taken, databases(sandbox))

    def _release(self, snap: _Snapshot, *, retire: bool = False) -> None:
        with self._lock:
            snap.users -= 1
            if retire and not snap.retired:
                snap.retired = True
                for key, current in list(self._current.items()):
                    if current is snap:
                        del self._current[key]
            if snap.retired and not snap.users:
                self._dispose(snap)

    @staticmethod
    def _dispose(snap: _Snapshot) -> None:
        snap.con.close()
        snap.path.unlink(missing_ok=True)
        snap.path.with_name(snap.path.name + ".wal").unlink(missing_ok=True)

    def close(self) -> None:
        """Close every sandbox and remove the snapshot files (once their queries end)."""
        with self._lock:
            for snap in self._current.values():
                snap.retired = True
                if not snap.users:
                    self._dispose(snap)
            self._current.clear()


class _Server(flight.FlightServerBase):
    def __init__(self, snapshots: SnapshotSandboxes, location: str, token: str) -> None:
        super().__init__(location, middleware={"auth": _TokenMiddlewareFactory(token)})
        self._snapshots = snapshots
        self._store = snapshots.store

    def do_get(self, context, ticket):
        try:
            request = json.loads(ticket.ticket)
            key = SymbolKey.parse(request["symbol"])
            sql = request["sql"]
            params = [_decode(p) for p in request.get("params", [])]
        except (ValueError, KeyError, TypeError) as exc:
            raise flight.FlightServerError(f"bad query ticket: {exc}") from exc
        try:
            check_read_only(sql)
        except ReadOnlyQueryError as exc:
            raise flight.FlightServerError(f"refused: {exc}") from exc
        try:
            table = self._snapshots.query(key, sql, params)
        except UnknownSymbolError as exc:
            raise flight.FlightServerError(f"unknown symbol: {exc}") from exc
        except ReadOnlyQueryError as exc:
            raise flight.FlightServerError(f"refused: {exc}") from exc
        except (duckdb.Error, SchemaError) as exc:
            raise flight.FlightServerError(f"query failed: {exc}") from exc
        return flight.RecordBatchStream(table)

    def do_action(self, context, action):
        if action.type == "symbols":
            body = json.dumps([str(k) for k in self._store.symbols()]).encode()
            return [flight.Result(pa.py_buffer(body))]
        raise flight.FlightServerError(f"unknown action {action.type!r}")


class QueryEndpoint:
    """Serve read-only queries on ``store`` over Arrow Flight on loopback.

    Use as a context manager, or :meth:`start` / :meth:`stop`. The endpoint file is written
    after the server listens and removed on stop. Queries run on snapshots
    (:class:`SnapshotSandboxes`; ``snapshot_max_age_s`` in seconds).
    """

    def __init__(
        self,
        store: TickStore,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        snapshot_max_age_s: float = 1.0,
    ) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("the query endpoint listens on loopback only")
        self._store = store
        self._token = secrets.token_urlsafe(32)
        self._snapshots = SnapshotSandboxes(store, max_age_s=snapshot_max_age_s)
        self._server = _Server(self._snapshots, f"grpc+tcp://{host}:{port}", self._token)
        self._host = host
        self._thread: threading.Thread | None = None
        self.path = store.root / ENDPOINT_FILE

    @property
    def port(self) -> int:
        """The port the server listens on."""
        return self._server.port

    def start(self) -> QueryEndpoint:
        """Serve in a background thread and publish the endpoint file."""
        self._snapshots.clear()
        self._thread = threading.Thread(
            target=self._server.serve, name="query-endpoint", daemon=True
        )
        self._thread.start()
        publish_endpoint(self.path, self._host, self.port, self._token)
        log.info("query endpoint on %s:%d", self._host, self.port)
        return self

    def stop(self) -> None:
        """Remove the endpoint file and shut the server down. Idempotent."""
        self.path.unlink(missing_ok=True)
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=10)
            self._thread = None
        self._snapshots.close()

    def __enter__(self) -> QueryEndpoint:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass(frozen=True)
class EndpointInfo:
    """What a client needs to reach a running process's endpoint."""

    host: str
    port: int
    pid: int
    token: str

    def __repr__(self) -> str:  # never show the token
        return f"EndpointInfo(host={self.host!r}, port={self.port}, pid={self.pid})"


def publish_endpoint(path: Path, host: str, port: int, token: str) -> None:
    """Write an endpoint file (``host``, ``port``, this process's id, ``token``) atomically
    with mode 0600, so only the owner can read the token. Read it with
    :func:`read_endpoint`; the query endpoint and the control endpoint both use these."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"host": host, "port": port, "pid": os.getpid(), "token": token}, fh)
    os.replace(tmp, path)


def find_endpoint(root: str | Path) -> EndpointInfo | None:
    """The endpoint of a live process holding ``root``, or None (no file, or its process is
    gone — a stale file left by a killed process is ignored)."""
    return read_endpoint(Path(root) / ENDPOINT_FILE)


def read_endpoint(path: Path) -> EndpointInfo | None:
    """The endpoint described by the file at ``path`` (see :func:`publish_endpoint`), or
    None when there is no readable file or its process is gone."""
    try:
        data = json.loads(path.read_text())
        info = EndpointInfo(
            str(data["host"]), int(data["port"]), int(data["pid"]), str(data["token"])
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return info if process_alive(info.pid) else None


class FlightRunner:
    """:class:`~tapeflow.analytics.query.QueryRunner` that sends queries to a live process's
    :class:`QueryEndpoint`.

    Raises (from :meth:`run`):
        UnknownSymbolError: the process has no such symbol.
        ReadOnlyQueryError: the query was refused as not read-only.
        RuntimeError: the query failed in the process (message from DuckDB).
    """

    def __init__(self, info: EndpointInfo) -> None:
        self._client = flight.FlightClient(f"grpc+tcp://{info.host}:{info.port}")
        self._options = flight.FlightCallOptions(
            headers=[(b"authorization", f"Bearer {info.token}".encode())]
        )

    def run(self, key: SymbolKey, query: Query) -> pl.DataFrame:
        """See :meth:`tapeflow.analytics.query.QueryRunner.run`."""
        ticket = json.dumps(
            {"symbol": str(key), "sql": query.sql, "params": [_encode(p) for p in query.params]}
        )
        try:
            reader = self._client.do_get(flight.Ticket(ticket.encode()), self._options)
            table = reader.read_all()
        except flight.FlightServerError as exc:
            message = str(exc).split(". Detail:")[0]
            if "unknown symbol" in message:
                raise UnknownSymbolError(message) from None
            if "refused:" in message:
                raise ReadOnlyQueryError(message) from None
            raise RuntimeError(message) from None
        return utc_frame(pl.from_arrow(table))

    def sql(self, key: SymbolKey, query: Query) -> pl.DataFrame:
        """See :meth:`tapeflow.analytics.query.QueryRunner.sql` (the endpoint runs every
        query where writing is impossible)."""
        return self.run(key, query)

    def symbols(self) -> list[SymbolKey]:
        """See :meth:`tapeflow.analytics.query.QueryRunner.symbols`."""
        results = list(self._client.do_action(flight.Action("symbols", b""), self._options))
        return [SymbolKey.parse(s) for s in json.loads(results[0].body.to_pybytes())]

    def close(self) -> None:
        """Close the client connection."""
        self._client.close()
