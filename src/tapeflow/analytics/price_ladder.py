"""A price-sorted set of live levels, so a detector touches only what a candle can reach.

Detectors keep every unfilled gap, unbroken zone and unmitigated order block alive; over long
histories those number in the thousands, while one candle reaches only the few near its range.
:class:`PriceLadder` keeps the items sorted by a Decimal price key and returns those at or
beyond a price in ``O(log n + hits)``.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from decimal import Decimal
from itertools import count


class PriceLadder[T]:
    """Items sorted by a Decimal key (ties in insertion order); each item is held once."""

    def __init__(self) -> None:
        self._entries: list[tuple[Decimal, int, T]] = []
        self._seq = count()
        self._where: dict[int, tuple[Decimal, int]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, key: Decimal, item: T) -> None:
        """Insert ``item`` at price ``key``."""
        seq = next(self._seq)
        insort(self._entries, (key, seq, item), key=lambda e: (e[0], e[1]))
        self._where[id(item)] = (key, seq)

    def remove(self, item: T) -> None:
        """Remove ``item`` (KeyError if absent)."""
        key, seq = self._where.pop(id(item))
        i = bisect_left(self._entries, (key, seq), key=lambda e: (e[0], e[1]))
        del self._entries[i]

    def above(self, price: Decimal) -> list[T]:
        """Items with key > ``price``, lowest key first."""
        i = bisect_right(self._entries, price, key=lambda e: e[0])
        return [e[2] for e in self._entries[i:]]

    def at_or_above(self, price: Decimal) -> list[T]:
        """Items with key >= ``price``, lowest key first."""
        i = bisect_left(self._entries, price, key=lambda e: e[0])
        return [e[2] for e in self._entries[i:]]

    def below(self, price: Decimal) -> list[T]:
        """Items with key < ``price``, lowest key first."""
        i = bisect_left(self._entries, price, key=lambda e: e[0])
        return [e[2] for e in self._entries[:i]]

    def at_or_below(self, price: Decimal) -> list[T]:
        """Items with key <= ``price``, lowest key first."""
        i = bisect_right(self._entries, price, key=lambda e: e[0])
        return [e[2] for e in self._entries[:i]]
