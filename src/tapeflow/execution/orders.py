"""Idempotent order submission: one decision, one order, whatever fails in between.

Every order is created in the store as ``sent`` *before* it goes to the exchange (a
write-ahead record; ``create_order`` refuses a client order id that is already stored).
Submitting an order whose client order id the store already knows never sends a second one:

* known and acknowledged (``open``, ``filled``, ``canceled``, ``rejected``...): returned
  as it is;
* known but unacknowledged (``new``/``sent``: the process died or the answer was lost):
  the exchange is asked for that client order id first, and the order is sent only if the
  exchange has never seen it.

Submissions of one client order id are serialized in the process (an ``asyncio.Lock`` per
id). Inside one submission the adapter does the same lookup between retries (see
:meth:`tapeflow.execution.ccxt_adapter.CcxtExchange.place_order`). Order events are
published on the bus: :class:`~tapeflow.bus.OrderPlaced` when the exchange accepts an
order, :class:`~tapeflow.bus.OrderFilled` when its filled quantity grows,
:class:`~tapeflow.bus.OrderFailed` when it is rejected or its outcome is unknown.

Store calls block (disk or network), so they run in a worker thread.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable
from typing import Any

from tapeflow.bus import EventBus
from tapeflow.execution import crashpoints
from tapeflow.execution.errors import (
    CircuitOpenError,
    ExecutionError,
    OrderRejected,
    OrderStatusUnknown,
)
from tapeflow.execution.exchange import Exchange
from tapeflow.model.events import OrderFailed, OrderFilled, OrderPlaced
from tapeflow.model.orders import OrderRequest, OrderUpdate
from tapeflow.model.records import InvalidTransitionError, Order, RecordExistsError
from tapeflow.model.symbols import SymbolKey
from tapeflow.state.store import PositionStore

log = logging.getLogger(__name__)

UNACKNOWLEDGED = frozenset({"new", "sent"})


class _SideWork:
    """Work that overlaps an order's flight (started after the write-ahead record)."""

    def __init__(self, work: Awaitable[Any] | None) -> None:
        self._work = work
        self._task: asyncio.Future | None = None

    def start(self) -> None:
        if self._work is not None and self._task is None:
            self._task = asyncio.ensure_future(self._work)

    async def settle(self) -> None:
        """Start it if it has not started, and wait for it (errors are kept)."""
        self.start()
        if self._task is not None and not self._task.done():
            await asyncio.wait([self._task])

    def raise_error(self) -> None:
        error = self._task.exception() if self._task is not None else None
        if error is not None:
            raise error


def request_of(order: Order) -> OrderRequest:
    """The exchange request for a stored order (exits and stops are reduce-only)."""
    return OrderRequest(
        key=SymbolKey.parse(order.symbol),
        client_order_id=order.client_order_id,
        side=order.side,
        order_type=order.order_type,
        quantity=order.quantity,
        price=order.price,
        stop_price=order.stop_price,
        reduce_only=order.purpose in ("exit", "stop"),
    )


class OrderManager:
    """Sends orders exactly once per client order id and records what the exchange says.

    Args:
        exchange: the venue (ccxt adapter or paper exchange).
        store: where orders are recorded (write-ahead before sending).
        bus: receives order events (optional).
    """

    def __init__(self, exchange: Exchange, store: PositionStore, bus: EventBus | None = None):
        self.exchange = exchange
        self.store = store
        self.bus = bus
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def _lock(self, client_order_id: str) -> asyncio.Lock:
        lock = self._locks.get(client_order_id)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[client_order_id] = lock
        return lock

    async def get(self, client_order_id: str) -> Order | None:
        """The stored order, or None."""
        return await asyncio.to_thread(self.store.get_order, client_order_id)

    async def submit(self, order: Order, *, alongside: Awaitable[Any] | None = None) -> Order:
        """Send ``order`` unless the exchange already has it; returns the stored order.

        The returned order's ``status`` tells what happened: ``open``/``partially_filled``/
        ``filled`` (accepted), ``rejected`` (refused; ``error`` says why, safe to log) or
        ``sent`` (outcome unknown — it is looked up by client order id before anything is
        sent again).

        Args:
            alongside: work to run while the request is in flight, after the write-ahead
                record (e.g. recording the position the order opens); it is awaited before
                the exchange's answer is recorded, on every path, and its exception (if
                any) is raised after the answer is recorded.
        """
        side = _SideWork(alongside)
        try:
            async with self._lock(order.client_order_id):
                result = await self._submit(order, side)
        finally:
            await side.settle()
        side.raise_error()
        return result

    async def _submit(self, order: Order, side: _SideWork) -> Order:
        cid = order.client_order_id
        try:
            order = await asyncio.to_thread(
                self.store.create_order, order.model_copy(update={"status": "sent"})
            )
        except RecordExistsError:  # known: sent before (this process or an earlier one)
            existing = await self.get(cid)
            assert existing is not None
            if existing.status not in UNACKNOWLEDGED:
                log.info("order %s already %s; not sent again", cid, existing.status)
                return existing
            try:
                found = await self.exchange.fetch_order(
                    SymbolKey.parse(existing.symbol), cid, order_type=existing.order_type
                )
            except ExecutionError as exc:
                log.warning("order %s: lookup before resend failed (%s); not sent", cid, exc)
                return existing
            if found is not None:
                log.info("order %s found on the exchange (%s); not sent again", cid, found.status)
                await side.settle()
                return await self._apply(found)
            order = existing
            if order.status == "new":
                order = await self._update(order, status="sent")
        side.start()  # the write-ahead record is durable: side work may overlap the send
        crashpoints.hit("before_send")
        try:
            update = await self.exchange.place_order(request_of(order))
        except OrderRejected as exc:
            await side.settle()
            return await self._failed(order, f"rejected: {exc}")
        except CircuitOpenError as exc:  # raised before anything was sent
            await side.settle()
            return await self._failed(order, f"not sent: {exc}")
        except OrderStatusUnknown as exc:
            log.error("order %s: outcome unknown (%s); will be looked up", cid, exc)
            await side.settle()
            order = await self._update(order, error=str(exc))
            await self._publish(
                OrderFailed(
                    key=SymbolKey.parse(order.symbol),
                    client_order_id=cid,
                    reason=f"outcome unknown: {exc}",
                )
            )
            return order
        crashpoints.hit("after_send")
        await side.settle()
        return await self._apply(update)

    async def _update(self, order: Order, **changes: Any) -> Order:
        return await asyncio.to_thread(
            self.store.update_order, order.client_order_id, expect=order.status, **changes
        )

    async def _failed(self, order: Order, reason: str) -> Order:
        log.warning("order %s %s", order.client_order_id, reason)
        order = await self._update(order, status="rejected", error=reason)
        await self._publish(
            OrderFailed(
                key=SymbolKey.parse(order.symbol),
                client_order_id=order.client_order_id,
                reason=reason,
            )
        )
        return order

    async def apply(self, update: OrderUpdate) -> Order:
        """Record the exchange's view of an order and publish what changed.

        An update for an order the store does not know (placed outside tapeflow) is
        recorded with purpose ``other``. A stale update (one that would move the order
        backwards, e.g. ``open`` after ``filled``) is ignored and the stored order returned.
        """
        async with self._lock(update.client_order_id):
            return await self._apply(update)

    async def _apply(self, update: OrderUpdate) -> Order:
        order = await self.get(update.client_order_id)
        if order is None:
            log.warning("order %s is not tapeflow's; recorded as 'other'", update.client_order_id)
            order = await asyncio.to_thread(
                self.store.create_order,
                Order(
                    client_order_id=update.client_order_id,
                    symbol=str(update.key),
                    purpose="other",
                    side=update.side,
                    order_type=update.order_type,
                    quantity=update.quantity,
                    price=update.price,
                    stop_price=update.stop_price,
                    status="sent",
                ),
            )
        changes: dict[str, Any] = {}
        if update.status != order.status:
            changes["status"] = update.status
        if update.exchange_order_id and update.exchange_order_id != order.exchange_order_id:
            changes["exchange_order_id"] = update.exchange_order_id
        if update.filled != order.filled:
            changes["filled"] = update.filled
        if update.average_price is not None and update.average_price != order.average_price:
            changes["average_price"] = update.average_price
        if update.fee is not None and update.fee != order.fee:
            changes["fee"] = update.fee
        if not changes:
            return order
        before = order
        try:
            order = await self._update(order, **changes)
        except InvalidTransitionError as exc:
            log.warning("order %s: stale update ignored (%s)", order.client_order_id, exc)
            return await self.get(update.client_order_id) or before
        key = update.key
        if update.status == "rejected":
            await self._publish(
                OrderFailed(
                    key=key, client_order_id=order.client_order_id, reason="rejected by exchange"
                )
            )
            return order
        if before.status in UNACKNOWLEDGED:
            await self._publish(
                OrderPlaced(
                    key=key,
                    client_order_id=order.client_order_id,
                    side=order.side,
                    quantity=order.quantity,
                    order_type=order.order_type,
                    price=order.price if order.price is not None else order.stop_price,
                )
            )
        if update.filled > before.filled and update.average_price is not None:
            await self._publish(
                OrderFilled(
                    key=key,
                    client_order_id=order.client_order_id,
                    side=order.side,
                    filled=update.filled,
                    average_price=update.average_price,
                    fee=order.fee,
                )
            )
        return order

    async def cancel(self, order: Order) -> Order:
        """Cancel a resting order and record the result.

        Raises:
            OrderRejected: if the exchange refuses (e.g. already filled).
        """
        update = await self.exchange.cancel_order(
            SymbolKey.parse(order.symbol), order.client_order_id, order_type=order.order_type
        )
        return await self.apply(update)

    async def resolve(self, order: Order) -> Order:
        """Look up an order whose outcome is unknown (``new``/``sent``) or that may have
        changed (``open``/``partially_filled``) by its client order id.

        An unacknowledged order the exchange has never seen is marked ``rejected`` ("never
        reached the exchange"): the decision is dropped rather than replayed late.

        Raises:
            ExecutionError: the lookup failed (the order stays as it is).
        """
        async with self._lock(order.client_order_id):
            current = await self.get(order.client_order_id) or order
            if current.status in ("filled", "canceled", "rejected"):
                return current
            found = await self.exchange.fetch_order(
                SymbolKey.parse(current.symbol),
                current.client_order_id,
                order_type=current.order_type,
            )
            if found is not None:
                return await self._apply(found)
            if current.status in UNACKNOWLEDGED:
                return await self._failed(current, "never reached the exchange")
            log.warning(
                "order %s is %s here but unknown to the exchange",
                current.client_order_id,
                current.status,
            )
            return current

    async def _publish(self, event: Any) -> None:
        if self.bus is not None:
            await self.bus.publish(event)
