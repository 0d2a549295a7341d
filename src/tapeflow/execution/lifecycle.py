"""A position's life: entry order → open (exits armed) → exit order → closed.

:class:`PositionLifecycle` turns decisions into orders and order updates into position
state, through the :class:`~tapeflow.execution.positions.PositionBook` (write-through to
the store) and the :class:`~tapeflow.execution.orders.OrderManager` (idempotent sends):

* ``open`` — a ``pending`` position and its market entry order
  (``tf-<signal id>-en``); the entry's fill opens the position at the fill price and, if
  the position is monitored, arms its exits in the stop book: the initial stop (the
  signal's stop, ``Position.stop_price``), the trailing stop that ratchets from it, and the
  take-profit target (``Position.target_price``).
* ``close`` — a market exit (``tf-<signal id>-ex``, reduce-only), the position goes
  ``closing``; the exit's fill closes it with realized P&L. A rejected exit puts the
  position back to ``open`` and re-arms its stop; the next attempt gets a new id
  (``...-ex1``), because it is a new decision.
* resting stop — with :class:`~tapeflow.execution.resting.RestingStops`, an opened
  position also gets a reduce-only stop order on the exchange (``tf-<signal id>-sl<n>``),
  moved by :meth:`PositionLifecycle.sync_resting_stops` as the stop ratchets. A close
  cancels it before the exit is sent; if the exchange had already filled it, that fill is
  the exit and no other is sent. A stop fill (learned from the close, a lookup, the
  user-data stream or a restart) closes the position like an exit fill: one exit, booked
  once.

Realized P&L (quote) = ``(exit − entry) × quantity × contract_size`` (× −1 for a short)
minus the entry and exit fees. Events: :class:`~tapeflow.bus.PositionOpened`,
:class:`~tapeflow.bus.PositionClosed`. Work on one position is serialized by a lock per
position, so a stop trigger and a risk close racing each other send one exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from tapeflow.bus import EventBus
from tapeflow.config.execution import RestingStopSettings
from tapeflow.execution import crashpoints
from tapeflow.execution.client_ids import client_order_id, decision_id
from tapeflow.execution.errors import ExecutionError
from tapeflow.execution.exchange import Exchange
from tapeflow.execution.orders import OrderManager
from tapeflow.execution.positions import PositionBook
from tapeflow.execution.resting import LIVE, RestingStops
from tapeflow.execution.stops import TrailingStopBook
from tapeflow.model.events import Event, PositionClosed, PositionOpened
from tapeflow.model.orders import OrderUpdate
from tapeflow.model.records import Order, OrderStatus, Position, RecordExistsError, utcnow
from tapeflow.model.signals import TradeSignal
from tapeflow.model.symbols import SymbolKey

log = logging.getLogger(__name__)

ZERO = Decimal(0)

#: Order statuses whose outcome is unknown or may still change on the exchange.
UNSETTLED: frozenset[OrderStatus] = frozenset({"new", "sent", "open", "partially_filled"})


@dataclass(frozen=True, slots=True)
class Settlement:
    """One order looked up by client order id (:meth:`PositionLifecycle.settle`).

    Attributes:
        before: the stored order before the lookup.
        after: the stored order after the exchange's answer was applied (None if the
            lookup failed).
        error: why the lookup failed (safe to log), else None.
    """

    before: Order
    after: Order | None
    error: str | None = None


class PositionLifecycle:
    """Opens and closes positions; applies order updates. See the module docstring.

    Args:
        exchange: the venue.
        book: active positions (write-through).
        orders: idempotent order submission.
        stops: trailing stops, armed when a monitored position opens.
        bus: receives position events (optional).
        clock: UTC now.
        resting_stops: settings of the stop order resting on the exchange (None or
            ``enabled=False``: none is placed).
    """

    def __init__(
        self,
        exchange: Exchange,
        book: PositionBook,
        orders: OrderManager,
        stops: TrailingStopBook,
        *,
        bus: EventBus | None = None,
        clock: Callable[[], datetime] = utcnow,
        resting_stops: RestingStopSettings | None = None,
    ) -> None:
        self.exchange = exchange
        self.book = book
        self.orders = orders
        self.stops = stops
        self.bus = bus
        self.clock = clock
        self._monitored: set[str] = set()
        self._leverage_set: dict[SymbolKey, Decimal] = {}
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        # moves are rate-limited on the engine clock on the paper exchange (tick time:
        # deterministic replays) and on the wall clock on a live venue (its request budget)
        paper = getattr(exchange, "on_tick", None) is not None
        self.resting: RestingStops | None = (
            RestingStops(exchange, orders, stops, resting_stops, clock if paper else utcnow)
            if resting_stops is not None and resting_stops.enabled
            else None
        )

    def _lock(self, position_id: str) -> asyncio.Lock:
        lock = self._locks.get(position_id)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[position_id] = lock
        return lock

    # -- entries -------------------------------------------------------------------------

    async def open(
        self,
        signal: TradeSignal,
        quantity: Decimal,
        *,
        trailing_distance_pct: Decimal,
        leverage: Decimal = Decimal(1),
        target_price: Decimal | None = None,
    ) -> tuple[Position, Order]:
        """Create the pending position of ``signal`` and send its market entry. The
        position keeps the signal's stop as its initial stop and ``target_price`` (quote,
        None = no target) as its take-profit.

        Returns:
            ``(position, entry order)`` after the send (the position may already be open if
            the exchange filled at once, or closed if the entry was rejected).

        Raises:
            RecordExistsError: a position with this signal id is already stored.
        """
        key = signal.key
        pid = signal.signal_id
        async with self._lock(pid):
            if await self.book.lookup(pid) is not None:
                raise RecordExistsError(f"position {pid} already exists")
            market = self.exchange.market(key)
            if market.contract and self._leverage_set.get(key) != leverage:
                await self.exchange.set_leverage(key, leverage)
                self._leverage_set[key] = leverage
            cid = client_order_id(pid, "entry")
            position = Position(
                position_id=pid,
                symbol=str(key),
                direction=signal.direction,
                status="pending",
                quantity=quantity,
                entry_price=signal.entry_price,
                stop_price=signal.stop_loss,
                trailing_distance_pct=trailing_distance_pct,
                target_price=target_price,
                entry_client_order_id=cid,
            )
            order = Order(
                client_order_id=cid,
                symbol=str(key),
                position_id=pid,
                purpose="entry",
                side="buy" if signal.direction == "long" else "sell",
                order_type="market",
                quantity=quantity,
            )
            # the write-ahead order record is the only write before the send; the position
            # is recorded while the order is in flight (restore() rebuilds it if the
            # process dies in between)
            order = await self.orders.submit(order, alongside=self._record(position))
            await self._after(order)
            stored = await self.book.lookup(pid)
            assert stored is not None
            return stored, order

    async def _record(self, position: Position) -> None:
        try:
            await self.book.add(position)
        except RecordExistsError:
            log.warning("position %s was already recorded", position.position_id)

    def monitor(self, position: Position) -> None:
        """Arm ``position``'s exits (stop, trailing stop, target): now if it is open, else
        when its entry fills."""
        self._monitored.add(position.position_id)
        current = self.book.get(position.position_id)
        if current is not None and current.status == "open":
            self._arm(current)

    async def protect(self, position_id: str) -> Order | None:
        """Place the resting stop of an open, monitored position that has none live (an
        entry that filled before :meth:`monitor` was called). Returns the stop order placed,
        or None."""
        if self.resting is None:
            return None
        async with self._lock(position_id):
            pos = self.book.get(position_id)
            if pos is None or pos.status != "open" or self.resting.live(position_id):
                return None
            return await self._rest_stop(pos)

    def _arm(self, pos: Position) -> None:
        if pos.position_id in self.stops or pos.trailing_distance_pct is None:
            return
        assert pos.entry_price is not None
        stop = self.stops.add(
            pos.position_id,
            SymbolKey.parse(pos.symbol),
            pos.direction,
            pos.entry_price,
            pos.trailing_distance_pct,
            initial_stop=pos.stop_price,
            target=pos.target_price,
        )
        log.info(
            "exits armed: %s %s %s entry %s stop %s (initial %s, trailing %s%%) target %s",
            pos.position_id,
            pos.symbol,
            pos.direction,
            pos.entry_price,
            stop.stop_price,
            pos.stop_price,
            pos.trailing_distance_pct,
            pos.target_price,
        )

    # -- exits ---------------------------------------------------------------------------

    async def close(self, position: Position | str, reason: str) -> Order | None:
        """Send a market exit for an open position (idempotent: a position already being
        closed returns its live exit order).

        Returns:
            The exit order (``rejected`` if it could not be placed), or None if the
            position is not open (pending entries are not closed; closed ones are gone).
        """
        pid = position if isinstance(position, str) else position.position_id
        async with self._lock(pid):
            pos = self.book.get(pid)
            if pos is None:
                return None
            exits = [o for o in await self.book.orders_of(pid) if o.purpose == "exit"]
            live = [o for o in exits if o.status not in ("rejected", "canceled")]
            if live:
                return live[-1]
            if pos.status != "open":
                log.info("position %s is %s; not closed (%s)", pid, pos.status, reason)
                return None
            stop = await self._lift_stop(pid)
            if stop is not None and stop.filled > 0:
                current = self.book.get(pid)
                if current is None or current.status != "open":
                    return stop  # the resting stop filled: that was the exit
                pos = current  # it filled part: close the rest
            quantity = await self._exit_quantity(pos)
            if quantity <= 0:
                log.error(
                    "position %s: nothing left to sell on %s; not closed (%s)",
                    pid,
                    pos.symbol,
                    reason,
                )
                return None
            cid = client_order_id(decision_id(pid), "exit", len(exits))
            pos = await self.book.transition(
                pid, "closing", expect="open", exit_client_order_id=cid, close_reason=reason
            )
            log.info(
                "closing %s %s %s %s: %s", pid, pos.symbol, pos.direction, pos.quantity, reason
            )
            order = Order(
                client_order_id=cid,
                symbol=pos.symbol,
                position_id=pid,
                purpose="exit",
                side="sell" if pos.direction == "long" else "buy",
                order_type="market",
                quantity=quantity,
            )
            order = await self.orders.submit(order)
            await self._after(order)
            return order

    async def _exit_quantity(self, pos: Position) -> Decimal:
        """The quantity to sell or buy back. Futures: the position's. Spot: no more than
        the free base balance, floored to the step (Binance charges a spot buyer's fee in
        the bought asset, so slightly less than the filled quantity may be held)."""
        market = self.exchange.market(SymbolKey.parse(pos.symbol))
        if market.contract:
            return pos.quantity
        try:
            balances = await self.exchange.fetch_balance()
        except ExecutionError as exc:
            log.warning(
                "position %s: balance unavailable (%s); selling %s",
                pos.position_id,
                exc,
                pos.quantity,
            )
            return pos.quantity
        held = balances.get(market.base)
        if held is None or held.free >= pos.quantity:
            return pos.quantity
        quantity = market.floor_amount(held.free)
        log.warning(
            "position %s: %s %s free of %s bought; selling %s",
            pos.position_id,
            held.free,
            market.base,
            pos.quantity,
            quantity,
        )
        return quantity

    # -- updates -------------------------------------------------------------------------

    async def on_update(self, update: OrderUpdate) -> Order:
        """Apply an exchange order update (fill, trigger, cancel, rejection)."""
        order = await self.orders.apply(update)
        if order.position_id is None:
            return order
        async with self._lock(order.position_id):
            order = await self.orders.get(order.client_order_id) or order
            await self._after(order)
        return order

    async def _after(self, order: Order) -> None:
        pid = order.position_id
        pos = self.book.get(pid) if pid else None
        if pos is None:
            return
        if order.purpose == "entry":
            await self._after_entry(pos, order)
        elif order.purpose == "exit":
            await self._after_exit(pos, order)
        elif order.purpose == "stop":
            await self._after_stop(pos, order)

    async def _after_entry(self, pos: Position, order: Order) -> None:
        pid = pos.position_id
        if order.filled > 0 and order.average_price is not None:
            if pos.status == "pending":
                pos = await self.book.transition(
                    pid,
                    "open",
                    expect="pending",
                    quantity=order.filled,
                    entry_price=order.average_price,
                    fees=order.fee,
                    opened_at=self.clock(),
                )
                crashpoints.hit("after_fill")
                log.info(
                    "position %s opened: %s %s %s @ %s",
                    pid,
                    pos.symbol,
                    pos.direction,
                    pos.quantity,
                    pos.entry_price,
                )
                await self._publish(
                    PositionOpened(
                        key=SymbolKey.parse(pos.symbol),
                        position_id=pid,
                        direction=pos.direction,
                        quantity=pos.quantity,
                        entry_price=order.average_price,
                        stop_price=pos.stop_price,
                    )
                )
                if pid in self._monitored:
                    self._arm(pos)
                    await self._rest_stop(pos)
            elif pos.status == "open" and (order.filled != pos.quantity or order.fee != pos.fees):
                await self.book.transition(
                    pid,
                    "open",
                    expect="open",
                    quantity=order.filled,
                    entry_price=order.average_price,
                    fees=order.fee,
                )
        elif order.status in ("rejected", "canceled") and pos.status == "pending":
            await self.book.transition(
                pid,
                "closed",
                expect="pending",
                close_reason=f"entry {order.status}: {order.error or ''}".strip(),
                closed_at=self.clock(),
                realized_pnl=ZERO,
            )
            self._monitored.discard(pid)

    async def _after_exit(self, pos: Position, order: Order) -> None:
        pid = pos.position_id
        rules = self.exchange.market(SymbolKey.parse(pos.symbol))
        sign = 1 if pos.direction == "long" else -1
        entry = pos.entry_price or ZERO
        # gross P&L of exits that filled only partly before; fees accumulate in pos.fees
        prior = pos.realized_pnl or ZERO
        gross = ZERO
        if order.average_price is not None:
            gross = (order.average_price - entry) * order.filled * rules.contract_size * sign
        if order.status == "filled" and order.average_price is not None:
            fees = pos.fees + order.fee
            pnl = prior + gross - fees
            changes: dict = {}
            if order.purpose == "stop":  # the resting stop closed it, whatever was underway
                changes.update(
                    exit_client_order_id=order.client_order_id,
                    close_reason=f"resting stop {order.stop_price} filled at {order.average_price}",
                )
            pos = await self.book.transition(
                pid,
                "closed",
                expect=("open", "closing") if order.purpose == "stop" else "closing",
                exit_price=order.average_price,
                realized_pnl=pnl,
                fees=fees,
                closed_at=self.clock(),
                **changes,
            )
            self.stops.remove(pid)
            self._monitored.discard(pid)
            if self.resting is not None:
                self.resting.forget(pid)
            log.info(
                "position %s closed @ %s pnl %s (%s)",
                pid,
                order.average_price,
                pnl,
                pos.close_reason,
            )
            await self._publish(
                PositionClosed(
                    key=SymbolKey.parse(pos.symbol),
                    position_id=pid,
                    direction=pos.direction,
                    quantity=order.filled,
                    entry_price=entry,
                    exit_price=order.average_price,
                    pnl=pnl,
                    reason=pos.close_reason or "",
                )
            )
        elif order.status in ("rejected", "canceled") and pos.status == "closing":
            left = pos.quantity - order.filled
            log.warning(
                "exit %s of %s %s after %s filled; %s stays open",
                order.client_order_id,
                pid,
                order.status,
                order.filled,
                left,
            )
            changes = {"exit_client_order_id": None}
            if order.filled > 0:
                changes.update(quantity=left, realized_pnl=prior + gross, fees=pos.fees + order.fee)
            await self.book.transition(pid, "open", expect="closing", **changes)
            self.stops.rearm(pid)

    async def _after_stop(self, pos: Position, order: Order) -> None:
        """A resting stop's update: a fill closes the position (as an exit fill does); a
        stop that ended (cancelled, rejected, expired) after filling part reduces it."""
        pid = pos.position_id
        if order.status == "filled":
            await self._after_exit(pos, order)
            return
        if order.status in LIVE:
            return
        if self.resting is not None:
            self.resting.ended(pid, order.client_order_id)
        if order.filled > 0 and order.average_price is not None and pos.status == "open":
            rules = self.exchange.market(SymbolKey.parse(pos.symbol))
            sign = 1 if pos.direction == "long" else -1
            gross = (
                (order.average_price - (pos.entry_price or ZERO))
                * order.filled
                * rules.contract_size
                * sign
            )
            log.warning(
                "resting stop %s of %s filled %s, then ended",
                order.client_order_id,
                pid,
                order.filled,
            )
            await self.book.transition(
                pid,
                "open",
                expect="open",
                quantity=pos.quantity - order.filled,
                realized_pnl=(pos.realized_pnl or ZERO) + gross,
                fees=pos.fees + order.fee,
            )

    async def _rest_stop(self, pos: Position) -> Order | None:
        """Place the resting stop of an open ``pos`` (under its lock); a stop the exchange
        fills at once is booked."""
        if self.resting is None or pos.position_id not in self.stops:
            return None
        quantity = await self._exit_quantity(pos)
        if quantity <= 0:
            return None
        try:
            order = await self.resting.place(pos, quantity)
        except ExecutionError as exc:
            log.warning("resting stop of %s not placed: %s", pos.position_id, exc)
            return None
        if order is not None and order.filled > 0:
            await self._after(order)
        return order

    async def _lift_stop(self, pid: str) -> Order | None:
        """Cancel ``pid``'s resting stop (under its lock); a fill found instead is booked
        and returned."""
        if self.resting is None:
            return None
        try:
            order = await self.resting.lift(pid)
        except ExecutionError as exc:
            log.warning("resting stop of %s not cancelled: %s", pid, exc)
            return None
        if order is not None and order.filled > 0:
            await self._after(order)
        return order

    async def poll_resting_stops(self) -> list[Order]:
        """Look up every live resting stop by its client order id and apply the answer (a
        fill closes its position): how a fill is learned while no user-data stream
        delivers it, and the re-sync after the stream (re)connects. A failed lookup is
        logged and retried at the next poll.

        Returns:
            The stop orders that changed.
        """
        if self.resting is None:
            return []
        changed = []
        for pid, order in self.resting.items():
            after = await self._poll_stop(pid, order)
            if after is not None:
                changed.append(after)
        return changed

    async def settle_resting_stop(self, client_order_id: str) -> Order | None:
        """The user-data stream reported that the order ``client_order_id`` changed: if it
        is a live resting stop, look it up and apply the answer exactly as
        :meth:`poll_resting_stops` does (one booking path; a stop already settled — a
        second event for the same fill — is no longer live, so nothing is booked).

        Returns:
            The stop order as changed, or None (not a live resting stop, unchanged, or the
            lookup failed: the next poll retries).
        """
        if self.resting is None:
            return None
        for pid, order in self.resting.items():
            if order.client_order_id == client_order_id:
                return await self._poll_stop(pid, order)
        return None

    async def _poll_stop(self, pid: str, order: Order) -> Order | None:
        """Look up ``pid``'s live stop ``order`` by client order id (under the position's
        lock; skipped while a move or close holds it) and book what changed."""
        lock = self._lock(pid)
        if lock.locked() or self.resting is None:
            return None  # a move or close is underway; it settles the stop itself
        async with lock:
            if self.resting.live(pid) is not order:
                return None
            try:
                after = await self.orders.resolve(order)
            except ExecutionError as exc:
                log.warning("resting stop %s: lookup failed: %s", order.client_order_id, exc)
                return None
            if after.status == order.status and after.filled == order.filled:
                return None
            self.resting.update(pid, after)
            await self._after(after)
            return after

    async def sync_resting_stops(self, key: SymbolKey) -> int:
        """Move the resting stops of ``key``'s open positions to their current protective
        level, or re-place a missing one: a position whose move is due
        (:meth:`RestingStops.due`: level changed, ``min_move_interval_s`` passed) and whose
        lock is free (one cancel/replace at a time) gets one cancel and one new order.

        Returns:
            How many stops were moved or placed.
        """
        if self.resting is None:
            return 0
        now = self.clock()
        moved = 0
        for stop in self.stops.for_symbol(key):
            pid = stop.position_id
            pos = self.book.get(pid)
            if stop.triggered or pos is None or pos.status != "open":
                continue
            if not self.resting.due(pos, now) or self._lock(pid).locked():
                continue
            async with self._lock(pid):
                pos = self.book.get(pid)
                if pos is None or pos.status != "open":
                    continue
                lifted = await self._lift_stop(pid)
                if lifted is not None and (lifted.filled > 0 or lifted.status in LIVE):
                    continue  # filled (booked), or still resting: not replaced
                pos = self.book.get(pid)
                if pos is not None and pos.status == "open":
                    await self._rest_stop(pos)
                    moved += 1
        return moved

    async def rebuild_pending(
        self, trailing_for: Callable[[SymbolKey], Decimal | None] | None = None
    ) -> list[Position]:
        """Rebuild the ``pending`` position of every unacknowledged (``new``/``sent``) entry
        order whose process died before recording the position (only the order record
        precedes the send). Returns the rebuilt positions.

        Args:
            trailing_for: trailing distance (percent) for a rebuilt position's symbol; None
                (from it, or no function) leaves the position without a trailing stop.
        """
        unacked = await asyncio.to_thread(self.book.store.list_orders, status=["new", "sent"])
        rebuilt = []
        for order in unacked:
            pid = order.position_id
            if order.purpose != "entry" or pid is None or await self.book.lookup(pid):
                continue
            key = SymbolKey.parse(order.symbol)
            log.warning("restore: rebuilding position %s of entry %s", pid, order.client_order_id)
            rebuilt.append(
                await self.book.add(
                    Position(
                        position_id=pid,
                        symbol=order.symbol,
                        direction="long" if order.side == "buy" else "short",
                        status="pending",
                        quantity=order.quantity,
                        trailing_distance_pct=trailing_for(key) if trailing_for else None,
                        entry_client_order_id=order.client_order_id,
                    )
                )
            )
        return rebuilt

    async def settle(self, orders: Iterable[Order]) -> list[Settlement]:
        """Look up each order whose outcome is unknown or may have changed
        (:data:`UNSETTLED`) by its client order id and apply the exchange's answer — to the
        order (:meth:`OrderManager.resolve`: found → recorded as found; an unacknowledged
        order the exchange never saw → ``rejected``) and, through the lifecycle, to its
        position (an entry fill opens it, a rejected entry closes it, an exit fill closes
        it). Orders in other states are skipped. A failed lookup leaves the order as it
        is (``Settlement.error``). Used by :meth:`restore` and by startup reconciliation.
        """
        out = []
        for order in orders:
            if order.status not in UNSETTLED:
                continue
            pid = order.position_id
            async with self._lock(pid) if pid else contextlib.nullcontext():
                try:
                    after = await self.orders.resolve(order)
                except ExecutionError as exc:
                    log.warning("restore: order %s unresolved: %s", order.client_order_id, exc)
                    out.append(Settlement(order, None, str(exc)))
                    continue
                await self._after(after)
            out.append(Settlement(order, after))
        return out

    async def restore(self, trailing_for: Callable[[SymbolKey], Decimal] | None = None) -> int:
        """After a restart: rebuild lost pending positions (:meth:`rebuild_pending`), re-arm
        the exits of open positions (a stop restored from the snapshot keeps its extreme and
        level and gains the position's initial stop and target if it lacks them), and
        settle their orders whose outcome is unknown or still open (:meth:`settle`).
        Returns how many orders were looked up successfully.

        Args:
            trailing_for: trailing distance (percent) for a rebuilt position's symbol.
        """
        await self.rebuild_pending(trailing_for)
        orders: list[Order] = []
        for pos in list(self.book.active()):
            pid = pos.position_id
            if pos.trailing_distance_pct is not None:
                self._monitored.add(pid)
            if pos.status == "open":
                self._arm(pos)
                self.stops.ensure_exits(pid, initial_stop=pos.stop_price, target=pos.target_price)
                self.stops.rearm(pid)
            orders += await self.book.orders_of(pid)
        resolved = sum(1 for s in await self.settle(orders) if s.error is None)
        await self.restore_resting_stops()
        return resolved

    async def restore_resting_stops(self) -> list[Order]:
        """Load the stored stop orders of every open position and place the resting stop
        of each open position that has none live (the process died before placing it, or
        the exchange dropped it). Returns the stop orders placed."""
        if self.resting is None:
            return []
        placed = []
        for pos in list(self.book.active()):
            if pos.status != "open":
                continue
            pid = pos.position_id
            async with self._lock(pid):
                self.resting.remember(pos, await self.book.orders_of(pid))
                if self.resting.live(pid) is None:
                    current = self.book.get(pid)
                    if current is not None and current.status == "open":
                        order = await self._rest_stop(current)
                        if order is not None:
                            placed.append(order)
        return placed

    async def _publish(self, event: Event) -> None:
        if self.bus is not None:
            await self.bus.publish(event)
