"""Trailing stops, updated on every trade tick.

For a long position the stop trails the highest trade price seen since entry (the
*extreme*) at a fixed distance below it; for a short, the lowest price, above it:

    long:  stop = extreme × (1 − distance_pct / 100)     extreme = max(entry, prices so far)
    short: stop = extreme × (1 + distance_pct / 100)     extreme = min(entry, prices so far)

The stop only ever moves in the position's favour (long: up, short: down). It triggers on
the first trade at or through it (long: price ≤ stop, short: price ≥ stop); the book then
reports a :class:`StopTrigger` and the engine closes the position with a market order.
Prices are exact :class:`~decimal.Decimal`; the stop is not rounded to the price tick, so the
trigger price is exactly ``extreme × factor``.

Stops are indexed by symbol: a tick touches only the stops of its own symbol, so the cost
of a tick does not grow with the number of positions in other symbols.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from tapeflow.store.symbols import SymbolKey

HUNDRED = Decimal(100)
ONE = Decimal(1)


@dataclass(slots=True)
class TrailingStop:
    """One position's trailing stop.

    Attributes:
        position_id: the position it protects.
        key: the position's symbol.
        direction: ``long`` or ``short``.
        distance_pct: distance from the extreme, percent of price.
        extreme: best trade price since entry (highest for long, lowest for short).
        stop_price: current trigger price, exact.
        triggered: set once it fired (it fires once; :meth:`TrailingStopBook.rearm`
            re-enables it if the close could not be sent).
    """

    position_id: str
    key: SymbolKey
    direction: Literal["long", "short"]
    distance_pct: Decimal
    extreme: Decimal
    stop_price: Decimal
    triggered: bool = False
    _factor: Decimal = ONE
    _long: bool = True

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (decimals as strings)."""
        return {
            "position_id": self.position_id,
            "key": str(self.key),
            "direction": self.direction,
            "distance_pct": str(self.distance_pct),
            "extreme": str(self.extreme),
            "stop_price": str(self.stop_price),
            "triggered": self.triggered,
        }


@dataclass(frozen=True, slots=True)
class StopTrigger:
    """A stop fired: close ``position_id`` (``stop_price`` is the exact trigger level,
    ``trade_price`` the trade that reached it)."""

    position_id: str
    key: SymbolKey
    direction: Literal["long", "short"]
    stop_price: Decimal
    trade_price: Decimal
    extreme: Decimal


def stop_factor(direction: str, distance_pct: Decimal) -> Decimal:
    """``1 − d/100`` for a long, ``1 + d/100`` for a short.

    Raises:
        ValueError: for a distance outside (0, 100) or an unknown direction.
    """
    if not Decimal(0) < distance_pct < HUNDRED:
        raise ValueError(f"trailing distance must be in (0, 100) percent, got {distance_pct}")
    if direction == "long":
        return ONE - distance_pct / HUNDRED
    if direction == "short":
        return ONE + distance_pct / HUNDRED
    raise ValueError(f"direction must be 'long' or 'short', got {direction!r}")


_NO_TRIGGERS: tuple[StopTrigger, ...] = ()


class TrailingStopBook:
    """All trailing stops, indexed by symbol and by position id."""

    def __init__(self) -> None:
        self._by_symbol: dict[SymbolKey, dict[str, TrailingStop]] = {}
        self._by_id: dict[str, TrailingStop] = {}
        self.dirty = False  # changed since the last snapshot()

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, position_id: object) -> bool:
        return position_id in self._by_id

    def get(self, position_id: str) -> TrailingStop | None:
        """The stop of ``position_id``, or None."""
        return self._by_id.get(position_id)

    def for_symbol(self, key: SymbolKey) -> list[TrailingStop]:
        """The stops of one symbol."""
        return list(self._by_symbol.get(key, {}).values())

    def add(
        self,
        position_id: str,
        key: SymbolKey,
        direction: Literal["long", "short"],
        entry_price: Decimal,
        distance_pct: Decimal,
    ) -> TrailingStop:
        """Start a trailing stop at ``distance_pct`` from ``entry_price``; replaces an
        existing stop of the same position.

        Raises:
            ValueError: for a bad direction, distance or non-positive entry price.
        """
        if entry_price <= 0:
            raise ValueError(f"{position_id}: entry price must be positive, got {entry_price}")
        factor = stop_factor(direction, distance_pct)
        stop = TrailingStop(
            position_id=position_id,
            key=key,
            direction=direction,
            distance_pct=distance_pct,
            extreme=entry_price,
            stop_price=entry_price * factor,
            _factor=factor,
            _long=direction == "long",
        )
        self.remove(position_id)
        self._by_symbol.setdefault(key, {})[position_id] = stop
        self._by_id[position_id] = stop
        self.dirty = True
        return stop

    def remove(self, position_id: str) -> TrailingStop | None:
        """Stop watching ``position_id``; returns its stop if there was one."""
        stop = self._by_id.pop(position_id, None)
        if stop is not None:
            same = self._by_symbol.get(stop.key)
            if same is not None:
                same.pop(position_id, None)
                if not same:
                    del self._by_symbol[stop.key]
            self.dirty = True
        return stop

    def rearm(self, position_id: str) -> None:
        """Let a fired stop fire again (its close order could not be placed)."""
        stop = self._by_id.get(position_id)
        if stop is not None:
            stop.triggered = False

    def tighten(self, position: Any, distance_pct: Decimal) -> bool:
        """Narrow a stop's distance (the risk manager's lever).

        The stop is recomputed from the extreme at the new distance but never loosened:
        a long's stop only rises, a short's only falls. A distance not narrower than the
        current one changes nothing.

        Args:
            position: a position id, or an object with ``position_id``.
            distance_pct: the new, smaller distance in percent.

        Returns:
            True if the stop changed.
        """
        position_id = position if isinstance(position, str) else position.position_id
        stop = self._by_id.get(position_id)
        if stop is None or distance_pct >= stop.distance_pct:
            return False
        factor = stop_factor(stop.direction, distance_pct)
        candidate = stop.extreme * factor
        stop.distance_pct = distance_pct
        stop._factor = factor
        if (stop._long and candidate > stop.stop_price) or (
            not stop._long and candidate < stop.stop_price
        ):
            stop.stop_price = candidate
        self.dirty = True
        return True

    def on_tick(self, key: SymbolKey, price: Decimal) -> Sequence[StopTrigger]:
        """Apply one trade price to the stops of ``key``.

        Returns:
            The stops that fired on this trade (usually empty). A fired stop stays in the
            book, marked ``triggered``, until the position is removed.
        """
        stops = self._by_symbol.get(key)
        if not stops:
            return _NO_TRIGGERS
        fired: list[StopTrigger] | None = None
        for stop in stops.values():
            if stop.triggered:
                continue
            if stop._long:
                if price > stop.extreme:
                    stop.extreme = price
                    stop.stop_price = price * stop._factor
                    self.dirty = True
                    continue
                if price > stop.stop_price:
                    continue
            else:
                if price < stop.extreme:
                    stop.extreme = price
                    stop.stop_price = price * stop._factor
                    self.dirty = True
                    continue
                if price < stop.stop_price:
                    continue
            stop.triggered = True
            self.dirty = True
            if fired is None:
                fired = []
            fired.append(
                StopTrigger(
                    stop.position_id, key, stop.direction, stop.stop_price, price, stop.extreme
                )
            )
        return fired if fired is not None else _NO_TRIGGERS

    def snapshot(self) -> dict[str, Any]:
        """Every stop in JSON-safe form (``{"stops": [...]}``); clears :attr:`dirty`."""
        self.dirty = False
        return {"stops": [s.to_dict() for s in self._by_id.values()]}

    def restore(self, snapshot: dict[str, Any] | None) -> int:
        """Load stops saved by :meth:`snapshot` (replacing those with the same position
        id); returns how many were loaded.

        Raises:
            ValueError: on a malformed entry (naming it).
        """
        count = 0
        for item in (snapshot or {}).get("stops", []):
            try:
                stop = self.add(
                    item["position_id"],
                    SymbolKey.parse(item["key"]),
                    item["direction"],
                    Decimal(item["extreme"]),
                    Decimal(item["distance_pct"]),
                )
                stop.stop_price = Decimal(item["stop_price"])
                stop.triggered = bool(item.get("triggered", False))
            except (KeyError, ArithmeticError, TypeError) as exc:
                raise ValueError(f"bad trailing-stop entry {item!r}: {exc}") from exc
            count += 1
        return count
