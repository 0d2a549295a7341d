"""The Firestore position store (firebase-admin / google-cloud-firestore).

Layout under a configurable ``root`` document (default ``tapeflow/paper``; one per
environment), see ``docs/state.md``::

    {root}/positions/{position_id}        one Position per document
    {root}/orders/{client_order_id}       one Order per document
    {root}/engine_state/{name}            {"value": <map>, "updated_at": <timestamp>}

Decimals are stored as exact strings, times as Firestore timestamps (microseconds).
Checked writes (``transition``, ``update_order``) run in a Firestore transaction: read the
document, check the rule, write; Firestore aborts and the client retries a transaction whose
document changed underneath it, so of two racing writers in different processes exactly one
sees the old state. ``create_*`` use Firestore's create (fails if the document exists).

Writes to one document are additionally serialised inside the process (striped locks keyed
by document path): same-document contention between transactions is slow (the emulator
holds lock timeouts of seconds) and gains nothing within one process.

Credentials: with ``FIRESTORE_EMULATOR_HOST`` set, anonymous credentials and a ``demo-``
project (nothing reaches Google); otherwise Application Default Credentials
(``GOOGLE_APPLICATION_CREDENTIALS`` pointing at a service-account file, or the gcloud ADC
login, or the metadata server on GCP). Each store instance owns a uniquely named firebase
app, so several stores (e.g. in tests) live side by side.
"""

from __future__ import annotations

import contextlib
import os
import threading
import uuid
import zlib
from collections.abc import Collection, Iterator
from typing import Any

import firebase_admin
from firebase_admin import credentials as fb_credentials
from firebase_admin import firestore as fb_firestore
from google.api_core import exceptions as gexc
from google.auth.credentials import AnonymousCredentials, Credentials
from google.auth.exceptions import DefaultCredentialsError
from google.cloud.firestore import FieldFilter, transactional

from tapeflow.model.errors import TapeflowError
from tapeflow.model.records import (
    ORDER_STATUSES,
    POSITION_STATUSES,
    Order,
    OrderStatus,
    Position,
    PositionStatus,
    RecordExistsError,
    apply_order_update,
    apply_position_transition,
    check_id,
    status_filter,
    utcnow,
)
from tapeflow.state.codec import decode_state, encode_state_document, record_to_fields

#: Project used against the emulator when none is given (``demo-`` never reaches Google).
EMULATOR_PROJECT = "demo-tapeflow"
_STRIPES = 64


class StateConfigError(TapeflowError, RuntimeError):
    """The Firestore store cannot be set up (credentials, project, root path)."""


def _check_root(root: str) -> str:
    parts = root.strip("/").split("/")
    if len(parts) % 2 or not all(parts):
        raise StateConfigError(
            f"state.root {root!r} must be a document path 'collection/document[/...]' "
            "(an even number of non-empty segments), e.g. 'tapeflow/paper'"
        )
    for part in parts:
        check_id("state.root segment", part)
    return "/".join(parts)


class FirestoreStore:
    """:class:`~tapeflow.state.store.PositionStore` in Cloud Firestore.

    Args:
        root: document path under which the collections live, e.g. ``"tapeflow/live"``.
        project_id: Google Cloud project; defaults to the credentials' project (or
            ``GOOGLE_CLOUD_PROJECT``), and to ``demo-tapeflow`` against the emulator.
        database: Firestore database id (``None`` = ``(default)``).
        credentials: explicit google-auth credentials (overrides the rules above).
        transaction_attempts: how often a contended transaction is retried by the client.

    Raises:
        StateConfigError: bad ``root``, no credentials or no project.
    """

    def __init__(
        self,
        *,
        root: str = "tapeflow/paper",
        project_id: str | None = None,
        database: str | None = None,
        credentials: Credentials | None = None,
        transaction_attempts: int = 10,
    ) -> None:
        self.root = _check_root(root)
        self._attempts = transaction_attempts
        emulator = os.environ.get("FIRESTORE_EMULATOR_HOST")
        options: dict[str, Any] = {}
        if credentials is not None:
            cred: Any = credentials
        elif emulator:
            cred = AnonymousCredentials()
            project_id = project_id or EMULATOR_PROJECT
        else:
            cred = fb_credentials.ApplicationDefault()
        if project_id:
            options["projectId"] = project_id
        self._app: firebase_admin.App | None = firebase_admin.initialize_app(
            cred, options=options, name=f"tapeflow-state-{uuid.uuid4().hex}"
        )
        try:
            self._client = fb_firestore.client(self._app, database_id=database)
        except (DefaultCredentialsError, ValueError) as exc:
            firebase_admin.delete_app(self._app)
            self._app = None
            raise StateConfigError(
                "Firestore state store: no usable credentials or project. Set "
                "GOOGLE_APPLICATION_CREDENTIALS to a service-account JSON file (or run "
                "`gcloud auth application-default login`) and state.project_id, or set "
                f"FIRESTORE_EMULATOR_HOST for the emulator. Cause: {exc}"
            ) from None
        self.project_id = self._client.project
        root_doc = self._client.document(self.root)
        self._positions = root_doc.collection("positions")
        self._orders = root_doc.collection("orders")
        self._engine_state = root_doc.collection("engine_state")
        self._stripes = [threading.Lock() for _ in range(_STRIPES)]

    # -- plumbing -------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._app is None:
            raise RuntimeError(f"Firestore state store {self.root} is closed")

    @contextlib.contextmanager
    def _serialised(self, path: str) -> Iterator[None]:
        self._check_open()
        with self._stripes[zlib.crc32(path.encode()) % _STRIPES]:
            yield

    @staticmethod
    def _fields(record: Position | Order) -> dict[str, Any]:
        return record_to_fields(record, native_datetimes=True)

    def _create(self, ref: Any, record: Position | Order, what: str) -> None:
        with self._serialised(ref.path):
            try:
                ref.create(self._fields(record))
            except gexc.AlreadyExists as exc:
                raise RecordExistsError(f"{what} {ref.id} already exists") from exc

    def _put(self, ref: Any, record: Position | Order) -> None:
        with self._serialised(ref.path):
            ref.set(self._fields(record))

    def _checked_update(
        self, ref: Any, key: str, model: type[Position] | type[Order], apply: Any
    ) -> Any:
        """Read ``ref`` in a transaction, ``apply(current) -> new``, write ``new``."""

        @transactional
        def run(tx: Any) -> Any:
            snap = ref.get(transaction=tx)
            if not snap.exists:
                raise KeyError(key)
            new = apply(model.model_validate(snap.to_dict()))
            tx.set(ref, self._fields(new))
            return new

        with self._serialised(ref.path):
            return run(self._client.transaction(max_attempts=self._attempts))

    @staticmethod
    def _query(collection: Any, filters: dict[str, Any], statuses: list[str]) -> Any:
        query = collection
        for field, value in filters.items():
            if value is not None:
                query = query.where(filter=FieldFilter(field, "==", value))
        if statuses:
            query = query.where(filter=FieldFilter("status", "in", statuses))
        return query

    # -- positions ------------------------------------------------------------------------
    def put_position(self, position: Position) -> None:
        self._put(self._positions.document(position.position_id), position)

    def create_position(self, position: Position) -> Position:
        self._create(self._positions.document(position.position_id), position, "position")
        return position.model_copy(deep=True)

    def get_position(self, position_id: str) -> Position | None:
        check_id("position id", position_id)
        self._check_open()
        snap = self._positions.document(position_id).get()
        return Position.model_validate(snap.to_dict()) if snap.exists else None

    def list_positions(
        self,
        *,
        status: PositionStatus | Collection[PositionStatus] | None = None,
        symbol: str | None = None,
    ) -> list[Position]:
        statuses = status_filter(status, POSITION_STATUSES)
        self._check_open()
        query = self._query(self._positions, {"symbol": symbol}, statuses)
        found = [Position.model_validate(s.to_dict()) for s in query.stream()]
        return sorted(found, key=lambda p: (p.created_at, p.position_id))

    def transition(
        self,
        position_id: str,
        to: PositionStatus,
        /,
        *,
        expect: PositionStatus | Collection[PositionStatus] | None = None,
        **changes: Any,
    ) -> Position:
        check_id("position id", position_id)
        return self._checked_update(
            self._positions.document(position_id),
            position_id,
            Position,
            lambda cur: apply_position_transition(cur, to, changes, expect=expect),
        )

    # -- orders ---------------------------------------------------------------------------
    def put_order(self, order: Order) -> None:
        self._put(self._orders.document(order.client_order_id), order)

    def create_order(self, order: Order) -> Order:
        self._create(self._orders.document(order.client_order_id), order, "order")
        return order.model_copy(deep=True)

    def get_order(self, client_order_id: str) -> Order | None:
        check_id("client order id", client_order_id)
        self._check_open()
        snap = self._orders.document(client_order_id).get()
        return Order.model_validate(snap.to_dict()) if snap.exists else None

    def list_orders(
        self,
        *,
        symbol: str | None = None,
        position_id: str | None = None,
        status: OrderStatus | Collection[OrderStatus] | None = None,
    ) -> list[Order]:
        statuses = status_filter(status, ORDER_STATUSES)
        self._check_open()
        query = self._query(self._orders, {"symbol": symbol, "position_id": position_id}, statuses)
        found = [Order.model_validate(s.to_dict()) for s in query.stream()]
        return sorted(found, key=lambda o: (o.created_at, o.client_order_id))

    def update_order(
        self,
        client_order_id: str,
        /,
        *,
        expect: OrderStatus | Collection[OrderStatus] | None = None,
        **changes: Any,
    ) -> Order:
        check_id("client order id", client_order_id)
        return self._checked_update(
            self._orders.document(client_order_id),
            client_order_id,
            Order,
            lambda cur: apply_order_update(cur, changes, expect=expect),
        )

    # -- engine state ---------------------------------------------------------------------
    def get_state(self, name: str) -> dict[str, Any] | None:
        check_id("engine state name", name)
        self._check_open()
        snap = self._engine_state.document(name).get()
        return decode_state(snap.get("value")) if snap.exists else None

    def put_state(self, name: str, value: dict[str, Any]) -> None:
        doc = {
            "value": encode_state_document(name, value, native_datetimes=True),
            "updated_at": utcnow(),
        }
        ref = self._engine_state.document(name)
        with self._serialised(ref.path):
            ref.set(doc)

    # -- lifecycle ------------------------------------------------------------------------
    def close(self) -> None:
        if self._app is None:
            return
        # The GAPIC client owns the gRPC channel; firebase-admin has no close of its own.
        api = getattr(self._client, "_firestore_api_internal", None)
        if api is not None:
            api.transport.close()
        firebase_admin.delete_app(self._app)
        self._app = None

    def __enter__(self) -> FirestoreStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"FirestoreStore(project={self.project_id!r}, root={self.root!r})"
