"""The protective stop order that rests on the exchange while a position is open.

The engine enforces a position's stop on every trade it sees; a dead feed or a dead
process would leave the position unprotected. So, after an entry fills, a reduce-only stop
order rests on the venue at the position's current protective stop level — the one value
:attr:`tapeflow.execution.stops.TrailingStop.stop_price` (initial stop, then the trailing
stop that ratchets from it) — and is moved as that level ratchets (seed 001 §7.1–7.2):

* **order**: futures ``stop_market`` reduce-only (Binance USD-M ``STOP_MARKET`` through the
  algo-order endpoint); spot ``stop_limit`` (Binance ``STOP_LOSS_LIMIT``) whose limit lies
  :attr:`~tapeflow.config.execution.RestingStopSettings.spot_limit_offset_pct` beyond the
  stop. The stop price is the protective level rounded to the price tick towards the
  position (a long's sell stop up, a short's buy stop down): never looser than the engine's
  level, so the resting order triggers on the same trade or one before the engine would.
* **ids**: the n-th stop order of a position is ``tf-<signal id>-sl<n>``
  (:func:`~tapeflow.execution.client_ids.client_order_id` purpose ``stop``, attempt n), n
  = the number of stop orders already stored for it (a position that is not a signal's,
  e.g. one reconciliation imported, uses :func:`stop_key` of its id): deterministic, so a
  restarted engine finds the order it sent, and a resend of the same move is never a
  second order. After
  :data:`MAX_STOP_ORDERS` orders the stop is no longer moved (the last one keeps resting;
  the engine still enforces the ratcheted level on every trade).
* **moves**: cancel, then place at the new level (a spot stop-loss-limit locks the base
  asset, so two cannot rest at once); at most one per position every
  ``min_move_interval_s`` of the engine clock, one at a time per position (the caller holds
  the position's lock; see :meth:`PositionLifecycle.sync_resting_stops
  <tapeflow.execution.lifecycle.PositionLifecycle.sync_resting_stops>`).

This class keeps which stop order of each position is live and decides when a move is due;
the lifecycle applies fills (a filled stop closes its position, booked once).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from tapeflow.config.execution import RestingStopSettings
from tapeflow.execution.client_ids import client_order_id
from tapeflow.execution.errors import ExecutionError, OrderNotFound, OrderRejected
from tapeflow.execution.exchange import Exchange
from tapeflow.execution.markets import MarketRules
from tapeflow.execution.orders import OrderManager
from tapeflow.execution.stops import TrailingStopBook
from tapeflow.model.records import Order, Position
from tapeflow.model.symbols import SymbolKey

log = logging.getLogger(__name__)

HUNDRED = Decimal(100)
#: Stop orders per position (client order id attempts 0–999).
MAX_STOP_ORDERS = 1000
#: Stop order statuses that may still rest on the exchange.
LIVE = frozenset({"new", "sent", "open", "partially_filled"})


_SIGNAL_ID = re.compile(r"^[0-9a-f]{8,20}$")


def stop_key(position_id: str) -> str:
    """The signal id in the client order ids of ``position_id``'s stops: the position id
    itself when it is a signal id (8–20 lower-case hex), else the first 20 hex digits of its
    SHA-256 (deterministic, so a restart finds the same ids)."""
    if _SIGNAL_ID.fullmatch(position_id):
        return position_id
    return hashlib.sha256(position_id.encode()).hexdigest()[:20]


def resting_level(rules: MarketRules, direction: str, level: Decimal) -> Decimal:
    """``level`` (quote) on the price tick, rounded towards the position: up for a long's
    sell stop, down for a short's buy stop (never looser than ``level``)."""
    rounding = ROUND_CEILING if direction == "long" else ROUND_FLOOR
    steps = (level / rules.price_tick).to_integral_value(rounding=rounding)
    return (steps * rules.price_tick).quantize(rules.price_tick)


def spot_limit(rules: MarketRules, direction: str, stop: Decimal, offset_pct: Decimal) -> Decimal:
    """The limit price of a spot stop-loss-limit at ``stop``: ``offset_pct`` percent beyond
    it (below for a long's sell, above for a short's buy), on the tick, away from the stop."""
    factor = offset_pct / HUNDRED
    if direction == "long":
        raw, rounding = stop * (1 - factor), ROUND_FLOOR
    else:
        raw, rounding = stop * (1 + factor), ROUND_CEILING
    steps = (raw / rules.price_tick).to_integral_value(rounding=rounding)
    return (steps * rules.price_tick).quantize(rules.price_tick)


class RestingStops:
    """Which stop order of each position rests on the exchange, and when to move it.

    Args:
        exchange: the venue (market rules).
        orders: idempotent order submission.
        stops: the stop book whose ``stop_price`` is the protective level.
        settings: :class:`~tapeflow.config.execution.RestingStopSettings`.
        clock: UTC now (the engine clock: tick time in a replay).
    """

    def __init__(
        self,
        exchange: Exchange,
        orders: OrderManager,
        stops: TrailingStopBook,
        settings: RestingStopSettings,
        clock: Callable[[], datetime],
    ) -> None:
        self.exchange = exchange
        self.orders = orders
        self.stops = stops
        self.settings = settings
        self.clock = clock
        self.paused = False  # set while flattening: no stop is moved or placed
        self._live: dict[str, Order] = {}
        self._count: dict[str, int] = {}
        self._moved_at: dict[str, datetime] = {}

    def live(self, position_id: str) -> Order | None:
        """The stop order of ``position_id`` believed to rest on the exchange, or None."""
        return self._live.get(position_id)

    def items(self) -> list[tuple[str, Order]]:
        """``(position id, live stop order)`` pairs (a copy)."""
        return list(self._live.items())

    def update(self, position_id: str, order: Order) -> None:
        """Record the latest view of a live stop order (one that ended is dropped)."""
        if order.status in LIVE:
            self._live[position_id] = order
        else:
            self.ended(position_id, order.client_order_id)

    def level(self, pos: Position) -> Decimal | None:
        """Where the resting stop of ``pos`` belongs now (quote, on the tick), or None when
        the position has no stop in the book."""
        stop = self.stops.get(pos.position_id)
        if stop is None:
            return None
        rules = self.exchange.market(SymbolKey.parse(pos.symbol))
        return resting_level(rules, pos.direction, stop.stop_price)

    def remember(self, pos: Position, stored: list[Order]) -> None:
        """Load what the store knows of ``pos``'s stop orders (after a restart)."""
        mine = [o for o in stored if o.purpose == "stop"]
        self._count[pos.position_id] = len(mine)
        live = [o for o in mine if o.status in LIVE]
        if live:
            self._live[pos.position_id] = live[-1]

    def forget(self, position_id: str) -> None:
        """Drop a position whose stop no longer rests (closed position)."""
        self._live.pop(position_id, None)
        self._count.pop(position_id, None)
        self._moved_at.pop(position_id, None)

    def ended(self, position_id: str, client_order_id: str) -> None:
        """The stop order ``client_order_id`` no longer rests (cancelled, rejected or
        expired on the exchange); a missing stop is re-placed when next due."""
        live = self._live.get(position_id)
        if live is not None and live.client_order_id == client_order_id:
            del self._live[position_id]

    def due(self, pos: Position, now: datetime) -> bool:
        """True if ``pos``'s resting stop is missing or off its level, the position may
        have another stop order, and the last move is ``min_move_interval_s`` old (never
        while :attr:`paused`)."""
        if self.paused:
            return False
        level = self.level(pos)
        if level is None:
            return False
        live = self._live.get(pos.position_id)
        if live is not None and live.stop_price == level:
            return False
        if self._count.get(pos.position_id, 0) >= MAX_STOP_ORDERS:
            return False
        last = self._moved_at.get(pos.position_id)
        return last is None or (now - last).total_seconds() >= self.settings.min_move_interval_s

    async def place(self, pos: Position, quantity: Decimal) -> Order | None:
        """Send the next stop order of ``pos`` at its current level.

        Returns:
            The stored stop order (``open`` when it rests; ``filled`` if the exchange
            filled it at once — the caller books that; ``rejected`` with the reason), or
            None when there is no level or no id left.
        """
        pid = pos.position_id
        level = self.level(pos)
        n = self._count.get(pid, 0)
        if level is None or n >= MAX_STOP_ORDERS:
            return None
        rules = self.exchange.market(SymbolKey.parse(pos.symbol))
        spot = not rules.contract
        order = Order(
            client_order_id=client_order_id(stop_key(pid), "stop", n),
            symbol=pos.symbol,
            position_id=pid,
            purpose="stop",
            side="sell" if pos.direction == "long" else "buy",
            order_type="stop_limit" if spot else "stop_market",
            quantity=quantity,
            stop_price=level,
            price=(
                spot_limit(rules, pos.direction, level, self.settings.spot_limit_offset_pct)
                if spot
                else None
            ),
        )
        self._count[pid] = n + 1
        self._moved_at[pid] = self.clock()
        order = await self.orders.submit(order)
        if order.status in LIVE:
            self._live[pid] = order
            log.info("resting stop %s of %s at %s", order.client_order_id, pid, level)
        elif order.status == "rejected":
            log.warning(
                "resting stop %s of %s not placed: %s", order.client_order_id, pid, order.error
            )
        return order

    async def lift(self, position_id: str) -> Order | None:
        """Cancel the live stop of ``position_id``.

        Returns:
            The stop order as recorded afterwards — ``canceled``, or ``filled`` /
            ``partially_filled`` when the exchange had already filled it (the caller books
            that) — or None when no stop was live.

        Raises:
            ExecutionError: the cancel and the lookup failed (the stop stays recorded as
                live).
        """
        order = self._live.pop(position_id, None)
        if order is None:
            return None
        try:
            return await self.orders.cancel(order)
        except (OrderRejected, OrderNotFound) as exc:  # gone: filled, triggered or expired
            log.info("resting stop %s not cancelled (%s); looked up", order.client_order_id, exc)
            try:
                found = await self.orders.resolve(order)
            except ExecutionError:
                self._live[position_id] = order
                raise
            if found.status in LIVE:
                self._live[position_id] = found
            return found
        except ExecutionError:
            self._live[position_id] = order
            raise
