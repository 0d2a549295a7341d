"""The position-store interface every backend (embedded, Firestore) implements.

Writes come in two kinds:

* **unchecked** ``put_position`` / ``put_order`` / ``put_state``: store the record as given
  (upsert). For importing or adopting the exchange's truth during reconciliation.
* **checked** ``create_*`` (fails if the id exists), ``transition`` and ``update_order``:
  read-check-write in one transaction (Firestore transaction; SQLite ``BEGIN IMMEDIATE``),
  so of two racing writers exactly one sees the old state. Each bumps ``revision``.

Reads return copies; mutating a returned record changes nothing stored. All methods block
(network or disk I/O): from asyncio code call them through ``asyncio.to_thread``. A store
instance is safe to share between threads.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Protocol

from tapeflow.model.records import Order, OrderStatus, Position, PositionStatus


class PositionStore(Protocol):
    """Durable position, order and engine state.

    ``transition`` is atomic and raises
    :class:`~tapeflow.model.records.InvalidTransitionError` on a transition
    :data:`~tapeflow.model.records.POSITION_TRANSITIONS` forbids (or when ``expect`` is given
    and the stored status differs), or ``KeyError`` for an unknown position.
    """

    # -- positions ----------------------------------------------------------------------
    def put_position(self, position: Position) -> None:
        """Store ``position`` as given (insert or replace)."""
        ...

    def create_position(self, position: Position) -> Position:
        """Insert ``position``; raises ``RecordExistsError`` if its id is stored."""
        ...

    def get_position(self, position_id: str) -> Position | None:
        """The stored position, or None."""
        ...

    def list_positions(
        self,
        *,
        status: PositionStatus | Collection[PositionStatus] | None = None,
        symbol: str | None = None,
    ) -> list[Position]:
        """Positions matching every given filter, ordered by ``(created_at, position_id)``."""
        ...

    def transition(
        self,
        position_id: str,
        to: PositionStatus,
        /,
        *,
        expect: PositionStatus | Collection[PositionStatus] | None = None,
        **changes: Any,
    ) -> Position:
        """Atomically move a position to status ``to``, applying field ``changes``; see
        :func:`~tapeflow.model.records.apply_position_transition`. Returns the new record."""
        ...

    # -- orders -------------------------------------------------------------------------
    def put_order(self, order: Order) -> None:
        """Store ``order`` as given (insert or replace)."""
        ...

    def create_order(self, order: Order) -> Order:
        """Insert ``order``; raises ``RecordExistsError`` if its client order id is stored
        (the guard against sending the same order twice)."""
        ...

    def get_order(self, client_order_id: str) -> Order | None:
        """The stored order, or None."""
        ...

    def list_orders(
        self,
        *,
        symbol: str | None = None,
        position_id: str | None = None,
        status: OrderStatus | Collection[OrderStatus] | None = None,
    ) -> list[Order]:
        """Orders matching every given filter, ordered by ``(created_at, client_order_id)``."""
        ...

    def update_order(
        self,
        client_order_id: str,
        /,
        *,
        expect: OrderStatus | Collection[OrderStatus] | None = None,
        **changes: Any,
    ) -> Order:
        """Atomically apply ``changes`` (status changes checked against
        :data:`~tapeflow.model.records.ORDER_TRANSITIONS`); ``KeyError`` if unknown."""
        ...

    # -- engine state -------------------------------------------------------------------
    def get_state(self, name: str) -> dict[str, Any] | None:
        """The engine-state document ``name`` (see :mod:`tapeflow.state.codec` for the
        value types that round-trip), or None."""
        ...

    def put_state(self, name: str, value: dict[str, Any]) -> None:
        """Replace the engine-state document ``name``."""
        ...

    def close(self) -> None:
        """Release connections; the store is unusable afterwards. Idempotent."""
        ...
