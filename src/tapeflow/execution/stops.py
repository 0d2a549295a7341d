"""A position's protective exits, checked on every trade tick: the initial stop, the
trailing stop that ratchets from it, and the take-profit target.

For a long position the stop trails the highest trade price seen since entry (the
*extreme*) at a fixed distance below it; for a short, the lowest price, above it — and it is
never looser than the position's *initial stop* (the signal's stop at the zone boundary ±
buffer, seed 001 §6.2 "initial stop-loss ... at demand/supply zone"):

    long:  stop = max(initial, extreme × (1 − distance_pct / 100))   extreme = max(entry, prices)
    short: stop = min(initial, extreme × (1 + distance_pct / 100))   extreme = min(entry, prices)

(without an initial stop the trailing level alone; seed 001 §8.1, §8.3, §12.10). The stop
only ever moves in the position's favour (long: up, short: down). It triggers on the first
trade at or through it (long: price ≤ stop, short: price ≥ stop). A target, when set,
triggers on the first trade at or through it (long: price ≥ target, short: price ≤
target). The book then reports a :class:`StopTrigger` whose ``kind`` names the exit —
``stop`` (the initial stop was the level), ``trailing`` (the trail had moved past it) or
``target`` — and the engine closes the position with a market order.

The current protective stop level of a position is :attr:`TrailingStop.stop_price`, read
through :meth:`TrailingStopBook.protective_stop`: an exchange-side resting stop order
mirrors that one value.

Prices are exact :class:`~decimal.Decimal`; the stop is not rounded to the price tick, so the
trigger price is exactly ``extreme × factor`` (or the initial stop).

Stops are indexed by symbol: a tick touches only the stops of its own symbol, so the cost
of a tick does not grow with the number of positions in other symbols.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from tapeflow.model.symbols import SymbolKey

HUNDRED = Decimal(100)
ONE = Decimal(1)

#: What closed a position: the initial stop, the trailing stop, or the take-profit target.
ExitKind = Literal["stop", "trailing", "target"]


@dataclass(slots=True)
class TrailingStop:
    """One position's protective exits: initial stop, trailing stop and target.

    Attributes:
        position_id: the position it protects.
        key: the position's symbol.
        direction: ``long`` or ``short``.
        distance_pct: trailing distance from the extreme, percent of price.
        extreme: best trade price since entry (highest for long, lowest for short).
        stop_price: the current protective stop level (quote), exact: the trailing level,
            never looser than ``initial_stop``. The one value a resting stop order mirrors.
        initial_stop: the signal's stop (quote), or None (only the trailing stop).
        target: take-profit price (quote), or None (no target).
        triggered: set once it fired (it fires once; :meth:`TrailingStopBook.rearm`
            re-enables it if the close could not be sent).
    """

    position_id: str
    key: SymbolKey
    direction: Literal["long", "short"]
    distance_pct: Decimal
    extreme: Decimal
    stop_price: Decimal
    initial_stop: Decimal | None = None
    target: Decimal | None = None
    triggered: bool = False
    _factor: Decimal = ONE
    _long: bool = True

    def trailing_level(self) -> Decimal:
        """The trail alone, ``extreme × factor`` (quote), before the initial-stop bound."""
        return self.extreme * self._factor

    def level(self, trail: Decimal) -> Decimal:
        """``trail`` bounded by the initial stop: never looser than it."""
        initial = self.initial_stop
        if initial is None:
            return trail
        return max(initial, trail) if self._long else min(initial, trail)

    @property
    def kind(self) -> ExitKind:
        """``stop`` while the initial stop is the level, else ``trailing``."""
        return "stop" if self.stop_price == self.initial_stop else "trailing"

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (decimals as strings)."""
        return {
            "position_id": self.position_id,
            "key": str(self.key),
            "direction": self.direction,
            "distance_pct": str(self.distance_pct),
            "extreme": str(self.extreme),
            "stop_price": str(self.stop_price),
            "initial_stop": _text(self.initial_stop),
            "target": _text(self.target),
            "triggered": self.triggered,
        }


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _decimal(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


@dataclass(frozen=True, slots=True)
class StopTrigger:
    """An exit fired: close ``position_id``.

    Attributes:
        stop_price: the exact level that was reached (the stop, or the target for
            ``kind == "target"``), quote.
        trade_price: the trade that reached it, quote.
        extreme: best price since entry at that moment.
        kind: ``stop``, ``trailing`` or ``target``.
    """

    position_id: str
    key: SymbolKey
    direction: Literal["long", "short"]
    stop_price: Decimal
    trade_price: Decimal
    extreme: Decimal
    kind: ExitKind = "trailing"

    @property
    def reason(self) -> str:
        """The close reason recorded on the position, starting with the exit's kind:
        ``stop 59880 hit by trade at 59850``, ``trailing stop ... hit by trade at ...``,
        ``target ... reached by trade at ...``."""
        if self.kind == "target":
            return f"target {self.stop_price} reached by trade at {self.trade_price}"
        name = "stop" if self.kind == "stop" else "trailing stop"
        return f"{name} {self.stop_price} hit by trade at {self.trade_price}"


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
        *,
        initial_stop: Decimal | None = None,
        target: Decimal | None = None,
    ) -> TrailingStop:
        """Start a position's exits: a trailing stop at ``distance_pct`` from
        ``entry_price``, never looser than ``initial_stop``, and the ``target``; replaces
        an existing stop of the same position.

        Raises:
            ValueError: for a bad direction or distance, a non-positive price, or a target
                not beyond the initial stop (long: target > stop; short: target < stop).
        """
        if entry_price <= 0:
            raise ValueError(f"{position_id}: entry price must be positive, got {entry_price}")
        factor = stop_factor(direction, distance_pct)
        for name, value in (("initial stop", initial_stop), ("target", target)):
            if value is not None and value <= 0:
                raise ValueError(f"{position_id}: {name} must be positive, got {value}")
        is_long = direction == "long"
        if (
            initial_stop is not None
            and target is not None
            and ((is_long and target <= initial_stop) or (not is_long and target >= initial_stop))
        ):
            raise ValueError(
                f"{position_id}: {direction} target {target} is not beyond its stop {initial_stop}"
            )
        stop = TrailingStop(
            position_id=position_id,
            key=key,
            direction=direction,
            distance_pct=distance_pct,
            extreme=entry_price,
            stop_price=entry_price * factor,
            initial_stop=initial_stop,
            target=target,
            _factor=factor,
            _long=is_long,
        )
        stop.stop_price = stop.level(stop.stop_price)
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

    def protective_stop(self, position_id: str) -> Decimal | None:
        """The current protective stop level of ``position_id`` (quote): the price an
        exchange-side resting stop order should sit at. None for an unknown position."""
        stop = self._by_id.get(position_id)
        return None if stop is None else stop.stop_price

    def ensure_exits(
        self, position_id: str, *, initial_stop: Decimal | None, target: Decimal | None
    ) -> bool:
        """Give an existing stop the initial stop and target it lacks (a stop restored
        from a snapshot written before those were kept); values it has stay.

        Returns:
            True if the stop changed.
        """
        stop = self._by_id.get(position_id)
        if stop is None:
            return False
        changed = False
        if stop.initial_stop is None and initial_stop is not None:
            stop.initial_stop = initial_stop
            stop.stop_price = stop.level(stop.stop_price)
            changed = True
        if stop.target is None and target is not None:
            stop.target = target
            changed = True
        self.dirty |= changed
        return changed

    def rearm(self, position_id: str) -> None:
        """Let a fired stop fire again (its close order could not be placed)."""
        stop = self._by_id.get(position_id)
        if stop is not None:
            stop.triggered = False

    def tighten(self, position: Any, distance_pct: Decimal) -> bool:
        """Narrow a stop's distance (the risk manager's lever).

        The stop is recomputed from the extreme at the new distance but never loosened:
        a long's stop only rises, a short's only falls (so it stays at or beyond the
        initial stop). A distance not narrower than the current one changes nothing.

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
        """Apply one trade price to the stops of ``key``: ratchet the trailing level, then
        check the target and the stop.

        Returns:
            The exits that fired on this trade (usually empty). A fired stop stays in the
            book, marked ``triggered``, until the position is removed.
        """
        stops = self._by_symbol.get(key)
        if not stops:
            return _NO_TRIGGERS
        fired: list[StopTrigger] | None = None
        for stop in stops.values():
            if stop.triggered:
                continue
            target = stop.target
            if stop._long:
                if price > stop.extreme:
                    stop.extreme = price
                    trail = price * stop._factor  # level() inlined: this runs on every trade
                    initial = stop.initial_stop
                    stop.stop_price = trail if initial is None or trail > initial else initial
                    self.dirty = True
                    if target is None or price < target:
                        continue
                    kind: ExitKind = "target"
                elif target is not None and price >= target:
                    kind = "target"
                elif price > stop.stop_price:
                    continue
                else:
                    kind = stop.kind
            else:
                if price < stop.extreme:
                    stop.extreme = price
                    trail = price * stop._factor
                    initial = stop.initial_stop
                    stop.stop_price = trail if initial is None or trail < initial else initial
                    self.dirty = True
                    if target is None or price > target:
                        continue
                    kind = "target"
                elif target is not None and price <= target:
                    kind = "target"
                elif price < stop.stop_price:
                    continue
                else:
                    kind = stop.kind
            stop.triggered = True
            self.dirty = True
            if fired is None:
                fired = []
            level = target if kind == "target" else stop.stop_price
            assert level is not None
            fired.append(
                StopTrigger(stop.position_id, key, stop.direction, level, price, stop.extreme, kind)
            )
        return fired if fired is not None else _NO_TRIGGERS

    def snapshot(self) -> dict[str, Any]:
        """Every stop in JSON-safe form (``{"stops": [...]}``); clears :attr:`dirty`."""
        self.dirty = False
        return {"stops": [s.to_dict() for s in self._by_id.values()]}

    def restore(self, snapshot: dict[str, Any] | None) -> int:
        """Load stops saved by :meth:`snapshot` (replacing those with the same position
        id); returns how many were loaded. Snapshots written before initial stops and
        targets were kept load without them (see :meth:`ensure_exits`).

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
                    initial_stop=_decimal(item.get("initial_stop")),
                    target=_decimal(item.get("target")),
                )
                stop.stop_price = Decimal(item["stop_price"])
                stop.triggered = bool(item.get("triggered", False))
            except (KeyError, ArithmeticError, TypeError) as exc:
                raise ValueError(f"bad trailing-stop entry {item!r}: {exc}") from exc
            count += 1
        return count
