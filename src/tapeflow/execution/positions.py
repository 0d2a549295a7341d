"""The live position book: active positions in memory, written through to the store.

Handlers and stops read positions on the hot path; reading the store for every signal would
be slow, so the book keeps every *active* position (``pending``, ``open``, ``closing``)
indexed by id and by symbol, and writes each change through the
:class:`~tapeflow.state.store.PositionStore` (in a worker thread, as the store's calls
block) before it updates its own copy. Closed positions leave the book (they stay in the
store).
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from decimal import Decimal
from typing import Any

from tapeflow.model.records import Order, Position, PositionStatus
from tapeflow.model.symbols import SymbolKey
from tapeflow.state.store import PositionStore

ACTIVE: tuple[PositionStatus, ...] = ("pending", "open", "closing")


class PositionBook:
    """Active positions by id and by symbol (``"exchange/market/SYMBOL"``).

    Args:
        store: the durable position store every change goes through first.
    """

    def __init__(self, store: PositionStore) -> None:
        self.store = store
        self._by_id: dict[str, Position] = {}
        self._by_symbol: dict[str, dict[str, Position]] = {}

    def load(self) -> int:
        """Read every active position from the store; returns how many."""
        self._by_id.clear()
        self._by_symbol.clear()
        for pos in self.store.list_positions(status=ACTIVE):
            self._index(pos)
        return len(self._by_id)

    def __len__(self) -> int:
        return len(self._by_id)

    def get(self, position_id: str) -> Position | None:
        """An active position, or None."""
        return self._by_id.get(position_id)

    def active(self, key: SymbolKey | str | None = None) -> list[Position]:
        """Active positions, all or of one symbol."""
        if key is None:
            return list(self._by_id.values())
        return list(self._by_symbol.get(str(key), {}).values())

    def count(self, *, include_closing: bool = False) -> int:
        """Active positions, not counting those being closed unless asked."""
        if include_closing:
            return len(self._by_id)
        return sum(1 for p in self._by_id.values() if p.status != "closing")

    def notional(self, key: SymbolKey | str | None = None) -> Decimal:
        """Entry notional (``quantity × entry_price``, quote) of the non-closing positions,
        all or of one symbol. Pending entries count at their reference price."""
        total = Decimal(0)
        for pos in self.active(key):
            if pos.status != "closing" and pos.entry_price is not None:
                total += pos.quantity * pos.entry_price
        return total

    async def add(self, position: Position) -> Position:
        """Create a new position in the store, then index it.

        Raises:
            RecordExistsError: a position with that id is already stored.
        """
        pos = await asyncio.to_thread(self.store.create_position, position)
        self._index(pos)
        return pos

    async def transition(
        self,
        position_id: str,
        to: PositionStatus,
        *,
        expect: PositionStatus | Collection[PositionStatus] | None = None,
        **changes: Any,
    ) -> Position:
        """Change a position's status (and fields) atomically in the store, then in the
        book; ``expect`` guards against a lost race (the stored status must be one of it).

        Raises:
            InvalidTransitionError: a transition the state model forbids, or a stored status
                other than ``expect``.
            KeyError: for an unknown position.
        """
        pos = await asyncio.to_thread(
            self.store.transition, position_id, to, expect=expect, **changes
        )
        self._unindex(position_id)
        if pos.status in ACTIVE:
            self._index(pos)
        return pos

    async def lookup(self, position_id: str) -> Position | None:
        """A position from the book, else from the store (any status)."""
        pos = self._by_id.get(position_id)
        if pos is not None:
            return pos
        return await asyncio.to_thread(self.store.get_position, position_id)

    async def orders_of(self, position_id: str) -> list[Order]:
        """Every stored order of a position, oldest first."""
        return await asyncio.to_thread(self.store.list_orders, position_id=position_id)

    def _index(self, pos: Position) -> None:
        self._by_id[pos.position_id] = pos
        self._by_symbol.setdefault(pos.symbol, {})[pos.position_id] = pos

    def _unindex(self, position_id: str) -> None:
        pos = self._by_id.pop(position_id, None)
        if pos is not None:
            same = self._by_symbol.get(pos.symbol)
            if same is not None:
                same.pop(position_id, None)
                if not same:
                    del self._by_symbol[pos.symbol]
