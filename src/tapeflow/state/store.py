"""The position-store interface every backend (embedded, Firestore) implements."""

from __future__ import annotations

from typing import Any, Protocol

from tapeflow.state.models import Order, Position, PositionStatus


class PositionStore(Protocol):
    """Durable position, order and engine state.

    ``transition`` is atomic (a transaction in Firestore, a lock + atomic file write in the
    embedded store) and raises :class:`~tapeflow.state.models.InvalidTransitionError` on a
    transition :data:`~tapeflow.state.models.POSITION_TRANSITIONS` forbids, or ``KeyError``
    for an unknown position.
    """

    def put_position(self, position: Position) -> None: ...
    def get_position(self, position_id: str) -> Position | None: ...
    def list_positions(
        self, *, status: PositionStatus | None = None, symbol: str | None = None
    ) -> list[Position]: ...
    def transition(self, position_id: str, to: PositionStatus, **changes: Any) -> Position: ...

    def put_order(self, order: Order) -> None: ...
    def get_order(self, client_order_id: str) -> Order | None: ...
    def list_orders(
        self, *, symbol: str | None = None, position_id: str | None = None
    ) -> list[Order]: ...

    def get_state(self, name: str) -> dict[str, Any] | None: ...
    def put_state(self, name: str, value: dict[str, Any]) -> None: ...

    def close(self) -> None: ...
