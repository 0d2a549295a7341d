"""Startup reconciliation: make the local books agree with the exchange before any trading.

    report = await reconcile(store, exchange, policy=ReconcilePolicy(unknown_orders="adopt"))
    print(report.text())          # or console.print(report.rich())
    if not report.complete: ...   # something could not be checked: do not trade

One run, in this order (``docs/state.md``, "Reconciliation", has the full table):

1. **Orders whose outcome is unknown** — every local order of the venue in ``new``, ``sent``,
   ``open`` or ``partially_filled`` is looked up by its client order id and the answer is
   applied to the order and its position. This is the execution engine's own restart logic
   (:meth:`PositionLifecycle.rebuild_pending` and :meth:`PositionLifecycle.settle`, which
   :meth:`ExecutionEngine.start` also runs), not a second copy: an entry found filled opens
   its position; one the exchange never saw is ``rejected`` ("never reached the
   exchange") and its pending position closed; a lost pending position is rebuilt first.
2. **Open orders** — the exchange's open orders against the store (:func:`plan_orders`):
   unknown ones adopted or cancelled (:class:`ReconcilePolicy`), local open orders the
   exchange no longer has looked up once more and recorded as found (or ``canceled``).
3. **Positions** — futures: the exchange's net position per symbol; spot: the base asset
   balance (floored to the market's step; below the minimum quantity counts as none) —
   against the local ``open``/``closing`` positions (:func:`plan_positions`): missing on
   the exchange → closed locally; missing locally → imported; quantity → adopted;
   direction → closed and imported. Symbols with an unresolved order are not compared.
4. **Resting stops** (with ``resting_stops``): every open position has its reduce-only stop
   order on the exchange (:mod:`tapeflow.execution.resting`): a missing one is placed at
   the position's protective stop level (the saved stop book, else the position's own
   stop) — ``stop_missing``; a stop order of tapeflow's whose position is not open is
   cancelled — ``stop_orphaned``.

Reconciliation sends no order but those resting stops (the adapter is wrapped so that
``place_order`` raises for anything else); the other exchange-side action is cancelling
unknown orders under the ``cancel`` policy. With ``dry_run=True`` nothing changes
anywhere: the same steps run against an in-memory copy of the relevant records and a
wrapper that only pretends to cancel or place, so the report says exactly what a real
run would do. A real run stores the report as the ``reconciliation`` engine-state
document and, given a bus, publishes :class:`~tapeflow.bus.ReconciliationCompleted`
(which the notifier e-mails).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Collection, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from tapeflow.bus import EventBus
from tapeflow.config.execution import RestingStopSettings
from tapeflow.execution.client_ids import parse_client_order_id
from tapeflow.execution.engine import STOPS_STATE
from tapeflow.execution.errors import ExecutionError, OrderNotFound
from tapeflow.execution.exchange import Exchange
from tapeflow.execution.lifecycle import UNSETTLED, PositionLifecycle
from tapeflow.execution.markets import MarketRules
from tapeflow.execution.orders import OrderManager
from tapeflow.execution.positions import ACTIVE, PositionBook
from tapeflow.execution.resting import stop_key
from tapeflow.execution.stops import TrailingStopBook
from tapeflow.model.orders import Balance, ExchangePosition, OrderRequest, OrderType, OrderUpdate
from tapeflow.model.records import Order, Position, utcnow
from tapeflow.model.symbols import SymbolKey
from tapeflow.reconcile.plan import (
    Holding,
    OrderFix,
    PositionFix,
    ReconcilePolicy,
    plan_orders,
    plan_positions,
)
from tapeflow.reconcile.report import (
    NONE,
    Checked,
    Discrepancy,
    DiscrepancyKind,
    ReconciliationReport,
    amount,
    describe_order,
    describe_position,
)
from tapeflow.state.embedded import EmbeddedStore
from tapeflow.state.store import PositionStore

__all__ = ["STATE_NAME", "ReconcilePolicy", "ReconciliationReport", "reconcile"]

log = logging.getLogger(__name__)

#: Engine-state document holding the last (non-dry) run's report.
STATE_NAME = "reconciliation"
#: Prefix of the ids of positions imported from the exchange.
IMPORT_PREFIX = "rc"


async def reconcile(
    store: PositionStore,
    exchange: Exchange,
    *,
    policy: ReconcilePolicy | None = None,
    dry_run: bool = False,
    symbols: Collection[SymbolKey] | None = None,
    trailing_for: Callable[[SymbolKey], Decimal | None] | None = None,
    bus: EventBus | None = None,
    clock: Callable[[], datetime] = utcnow,
    resting_stops: RestingStopSettings | None = None,
) -> ReconciliationReport:
    """Compare the store with the exchange and resolve every discrepancy (see the module
    docstring). Run it before any trading, before :meth:`ExecutionEngine.start`.

    Args:
        store: the position store (only records of this exchange's markets are touched).
        exchange: the venue (ccxt adapter or paper exchange); not closed here.
        policy: how to resolve unknown open orders (default: adopt).
        dry_run: change nothing (neither the store nor the exchange); only report.
        symbols: the configured symbols. Spot only: balances of their base assets are
            compared (and imported when no local position holds them); without it only
            the base assets of local positions are. Futures positions are always compared
            for every symbol the exchange reports.
        trailing_for: trailing-stop distance (percent) given to a position imported with an
            entry price (futures); None imports it without a trailing stop.
        bus: where to publish :class:`~tapeflow.bus.ReconciliationCompleted`.
        clock: UTC now (report times, ids of imported positions).
        resting_stops: the engine's resting-stop settings; when given and enabled, step 4
            checks every open position's stop order on the exchange; None skips it.

    Returns:
        The report. ``report.complete`` is False when something could not be checked or
        resolved (exchange unreachable, an order lookup failed); the errors say what, and
        nothing is guessed for the symbols concerned.

    Raises:
        Only programming errors; exchange failures are reported, not raised.
    """
    policy = policy or ReconcilePolicy()
    started = clock()
    work = await asyncio.to_thread(scratch_copy, store) if dry_run else store
    run = _Run(
        store=store,
        work=work,
        exchange=_Guarded(exchange, dry_run=dry_run),
        policy=policy,
        symbols=tuple(symbols) if symbols is not None else None,
        trailing_for=trailing_for,
        clock=clock,
        resting_stops=resting_stops,
    )
    try:
        await run.execute()
    finally:
        if work is not store:
            work.close()
    report = ReconciliationReport(
        venue=exchange.name,
        started_at=started,
        finished_at=clock(),
        dry_run=dry_run,
        unknown_orders=policy.unknown_orders,
        checked=run.checked,
        discrepancies=tuple(run.discrepancies),
        errors=tuple(run.errors),
    )
    log.info("%s", report.headline())
    if not dry_run:
        await asyncio.to_thread(store.put_state, STATE_NAME, report.to_state())
    if bus is not None:
        await bus.publish(report.event())
    return report


def scratch_copy(store: PositionStore) -> EmbeddedStore:
    """An in-memory store holding what reconciliation reads from ``store``: the active
    positions, the orders whose outcome may change (:data:`UNSETTLED`) and the positions
    those orders belong to. A dry run works on it."""
    scratch = EmbeddedStore(":memory:")
    positions = {p.position_id: p for p in store.list_positions(status=ACTIVE)}
    orders = store.list_orders(status=sorted(UNSETTLED))
    for order in orders:
        pid = order.position_id
        if pid is not None and pid not in positions:
            found = store.get_position(pid)
            if found is not None:
                positions[pid] = found
    for pos in positions.values():
        scratch.put_position(pos)
    for order in orders:
        scratch.put_order(order)
    return scratch


def describe_holding(holding: Holding | None) -> str:
    """``long 0.010 @ 61234.5``; a spot balance has no entry price (``none``: nothing
    held)."""
    if holding is None:
        return "none"
    at = f" @ {amount(holding.entry_price)}" if holding.entry_price is not None else " (balance)"
    return f"{holding.direction} {amount(holding.quantity)}{at}"


def describe_remote(order: OrderUpdate | None) -> str:
    """The exchange's view of an order (``none``: the exchange has no such order)."""
    if order is None:
        return "none"
    text = (
        f"{order.status} {order.side} {amount(order.quantity)} {order.order_type}, "
        f"filled {amount(order.filled)}"
    )
    if order.average_price is not None:
        text += f" @ {amount(order.average_price)}"
    return text


class _Guarded:
    """The exchange as reconciliation may use it: reads pass through; ``set_leverage`` and
    ``place_order`` raise (reconciliation never trades) — except for a reduce-only resting
    stop (``tf-...-sl<n>``); in a dry run ``cancel_order`` and that ``place_order`` only
    answer as if they had been done."""

    def __init__(self, inner: Exchange, *, dry_run: bool) -> None:
        self.inner = inner
        self.name = inner.name
        self.dry_run = dry_run
        self._open: dict[str, OrderUpdate] = {}

    async def load_markets(self) -> dict[SymbolKey, MarketRules]:
        return await self.inner.load_markets()

    def market(self, key: SymbolKey) -> MarketRules:
        return self.inner.market(key)

    async def fetch_order(
        self, key: SymbolKey, client_order_id: str, *, order_type: OrderType | None = None
    ) -> OrderUpdate | None:
        return await self.inner.fetch_order(key, client_order_id, order_type=order_type)

    async def fetch_open_orders(self, key: SymbolKey | None = None) -> list[OrderUpdate]:
        orders = await self.inner.fetch_open_orders(key)
        self._open.update((o.client_order_id, o) for o in orders)
        return orders

    async def fetch_balance(self) -> dict[str, Balance]:
        return await self.inner.fetch_balance()

    async def fetch_positions(self) -> list[ExchangePosition]:
        return await self.inner.fetch_positions()

    async def place_order(self, request: OrderRequest) -> OrderUpdate:
        parsed = parse_client_order_id(request.client_order_id)
        if parsed is None or parsed[1] != "stop" or not request.reduce_only:
            raise RuntimeError(
                f"reconciliation sends no order but resting stops ({request.client_order_id})"
            )
        if not self.dry_run:
            return await self.inner.place_order(request)
        return OrderUpdate(
            key=request.key,
            client_order_id=request.client_order_id,
            exchange_order_id=None,
            status="open",
            side=request.side,
            order_type=request.order_type,
            quantity=request.quantity,
            price=request.price,
            stop_price=request.stop_price,
            reduce_only=True,
        )

    async def set_leverage(self, key: SymbolKey, leverage: Decimal) -> None:
        raise RuntimeError("reconciliation never changes leverage")

    async def cancel_order(
        self, key: SymbolKey, client_order_id: str, *, order_type: OrderType | None = None
    ) -> OrderUpdate:
        if not self.dry_run:
            return await self.inner.cancel_order(key, client_order_id, order_type=order_type)
        seen = self._open.get(client_order_id)
        if seen is None:
            raise OrderNotFound(f"dry run: no open order {client_order_id}", kind="not_found")
        return dataclasses.replace(seen, status="canceled")

    async def close(self) -> None:
        """The caller owns the exchange."""


@dataclasses.dataclass
class _Snapshot:
    open_orders: list[OrderUpdate]
    positions: list[ExchangePosition]
    balances: dict[str, Balance]


class _Run:
    """The state of one reconciliation run (see :func:`reconcile`)."""

    def __init__(
        self,
        *,
        store: PositionStore,
        work: PositionStore,
        exchange: _Guarded,
        policy: ReconcilePolicy,
        symbols: tuple[SymbolKey, ...] | None,
        trailing_for: Callable[[SymbolKey], Decimal | None] | None,
        clock: Callable[[], datetime],
        resting_stops: RestingStopSettings | None = None,
    ) -> None:
        self.store = store
        self.work = work
        self.ex = exchange
        self.policy = policy
        self.symbols = symbols
        self.trailing_for = trailing_for
        self.clock = clock
        self.book = PositionBook(work)
        self.orders = OrderManager(exchange, work)
        self.stops = TrailingStopBook()
        self.lifecycle = PositionLifecycle(
            exchange, self.book, self.orders, self.stops, clock=clock, resting_stops=resting_stops
        )
        self.markets: dict[SymbolKey, MarketRules] = {}
        self.discrepancies: list[Discrepancy] = []
        self.errors: list[str] = []
        self.unresolved: set[SymbolKey] = set()
        self.checked = Checked()

    # -- plumbing ------------------------------------------------------------------------

    def found(self, kind: DiscrepancyKind, subject: str, **texts: str) -> None:
        self.discrepancies.append(Discrepancy(kind=kind, subject=subject, **texts))

    def ours(self, symbol: str) -> bool:
        return SymbolKey.parse(symbol) in self.markets

    async def position(self, pid: str | None) -> Position | None:
        if pid is None:
            return None
        return await asyncio.to_thread(self.work.get_position, pid)

    async def local_order(self, cid: str) -> Order | None:
        """The stored order (in a dry run, copied into the scratch store on first read)."""
        order = await asyncio.to_thread(self.work.get_order, cid)
        if order is None and self.work is not self.store:
            order = await asyncio.to_thread(self.store.get_order, cid)
            if order is not None:
                await asyncio.to_thread(self.work.put_order, order)
        return order

    @staticmethod
    def _with_position(order_text: str, before: Position | None, after: Position | None) -> str:
        if after is None or before == after:
            return order_text
        return f"{order_text}; position {describe_position(after)}"

    # -- the run -------------------------------------------------------------------------

    async def execute(self) -> None:
        try:
            self.markets = await self.ex.load_markets()
        except ExecutionError as exc:
            self.errors.append(f"markets could not be loaded: {exc}")
            return
        await asyncio.to_thread(self.book.load)
        await self.settle_orders()
        try:
            snapshot = await self.snapshot()
        except ExecutionError as exc:
            self.errors.append(f"exchange state could not be read: {exc}")
            return
        await self.fix_orders(snapshot.open_orders)
        await self.fix_positions(snapshot)
        await self.fix_stops(snapshot.open_orders)

    async def settle_orders(self) -> None:
        """Step 1: rebuild lost pending positions, look up every unsettled order."""
        for pos in await self.lifecycle.rebuild_pending(self._trailing):
            self.found(
                "position_rebuilt",
                pos.position_id,
                before=NONE,
                exchange="(its entry order is looked up next)",
                action=f"rebuilt from its entry order {pos.entry_client_order_id}",
                after=describe_position(pos),
            )
        stored = await asyncio.to_thread(self.work.list_orders, status=sorted(UNSETTLED))
        orders = [o for o in stored if self.ours(o.symbol)]
        before = {o.position_id: await self.position(o.position_id) for o in orders}
        for s in await self.lifecycle.settle(orders):
            cid = s.before.client_order_id
            if s.after is None:
                self.unresolved.add(SymbolKey.parse(s.before.symbol))
                self.errors.append(f"order {cid} ({s.before.symbol}): lookup failed: {s.error}")
                continue
            b, a = s.before, s.after
            if (b.status, b.filled, b.average_price) == (a.status, a.filled, a.average_price):
                continue
            pid = b.position_id
            pos_after = await self.position(pid)
            never = a.status == "rejected" and a.error == "never reached the exchange"
            self.found(
                "order_settled",
                cid,
                before=self._with_position(describe_order(b), None, before.get(pid)),
                exchange="no such order" if never else f"{a.status}, filled {amount(a.filled)}",
                action="recorded the exchange's answer"
                + ("; its position followed" if pos_after != before.get(pid) else ""),
                after=self._with_position(describe_order(a), before.get(pid), pos_after),
            )
        self.checked = dataclasses.replace(self.checked, orders_looked_up=len(orders))

    def _trailing(self, key: SymbolKey) -> Decimal | None:
        return self.trailing_for(key) if self.trailing_for is not None else None

    async def snapshot(self) -> _Snapshot:
        """The exchange's open orders and positions (futures) or balances (spot)."""
        contract = any(r.contract for r in self.markets.values())
        orders = [o for o in await self.ex.fetch_open_orders() if o.key in self.markets]
        positions = await self.ex.fetch_positions() if contract else []
        balances = {} if contract else await self.ex.fetch_balance()
        positions = [p for p in positions if p.key in self.markets]
        self.checked = dataclasses.replace(self.checked, exchange_open_orders=len(orders))
        return _Snapshot(orders, positions, balances)

    # -- orders --------------------------------------------------------------------------

    async def fix_orders(self, remote_open: list[OrderUpdate]) -> None:
        """Step 2: unknown and stale open orders, local open orders gone from the exchange."""
        stored = await asyncio.to_thread(self.work.list_orders, status=["open", "partially_filled"])
        local_open = [o for o in stored if self.ours(o.symbol)]
        known = {r.client_order_id: await self.local_order(r.client_order_id) for r in remote_open}
        for fix in plan_orders(local_open, remote_open, known):
            if fix.kind == "order_missing_on_exchange":
                await self._missing_order(fix)
            else:
                await self._foreign_order(fix)

    async def _foreign_order(self, fix: OrderFix) -> None:
        remote = fix.remote
        assert isinstance(remote, OrderUpdate)
        cid = fix.client_order_id
        answer = remote
        if self.policy.unknown_orders == "cancel":
            try:
                answer = await self.ex.cancel_order(remote.key, cid, order_type=remote.order_type)
            except ExecutionError as exc:
                self.unresolved.add(remote.key)
                self.errors.append(f"order {cid} ({remote.key}): cancel failed: {exc}")
                return
            action = "cancelled on the exchange and recorded"
        else:
            action = "adopted: recorded as the exchange has it, left working"
        if fix.local is None:
            after = await self.orders.apply(answer)
            action += " (purpose 'other')"
        else:
            after = _adopted(fix.local, answer, note=f"{fix.local.status} here")
            await asyncio.to_thread(self.work.put_order, after)
        self.found(
            fix.kind,
            cid,
            before=describe_order(fix.local),
            exchange=describe_remote(remote),
            action=action,
            after=describe_order(after),
        )

    async def _missing_order(self, fix: OrderFix) -> None:
        mine = fix.local
        assert mine is not None
        key = SymbolKey.parse(mine.symbol)
        pos_before = await self.position(mine.position_id)
        try:
            found = await self.ex.fetch_order(key, mine.client_order_id, order_type=mine.order_type)
        except ExecutionError as exc:
            self.unresolved.add(key)
            self.errors.append(f"order {mine.client_order_id} ({key}): lookup failed: {exc}")
            return
        if found is not None:  # it finished between the lookups: record what it did
            after = await self.lifecycle.on_update(found)
            if (after.status, after.filled) == (mine.status, mine.filled):
                return
            kind: DiscrepancyKind = "order_settled"
            action = "looked up again and recorded the exchange's answer"
        else:
            await asyncio.to_thread(
                self.work.update_order, mine.client_order_id, error="not found on the exchange"
            )
            after = await self.lifecycle.on_update(
                OrderUpdate(
                    key=key,
                    client_order_id=mine.client_order_id,
                    exchange_order_id=mine.exchange_order_id,
                    status="canceled",
                    side=mine.side,
                    order_type=mine.order_type,
                    quantity=mine.quantity,
                    filled=mine.filled,
                    average_price=mine.average_price,
                    fee=None,
                    price=mine.price,
                    stop_price=mine.stop_price,
                )
            )
            kind = "order_missing_on_exchange"
            action = "recorded as canceled (not found on the exchange)"
        pos_after = await self.position(mine.position_id)
        self.found(
            kind,
            mine.client_order_id,
            before=self._with_position(describe_order(mine), None, pos_before),
            exchange=describe_remote(found),
            action=action + ("; its position followed" if pos_after != pos_before else ""),
            after=self._with_position(describe_order(after), pos_before, pos_after),
        )

    # -- resting stops -------------------------------------------------------------------

    async def fix_stops(self, remote_open: list[OrderUpdate]) -> None:
        """Step 4: every open position has its resting stop; no stop outlives its position."""
        resting = self.lifecycle.resting
        if resting is None:
            return
        await asyncio.to_thread(self.book.load)
        open_positions = [
            p
            for p in self.book.active()
            if p.status == "open" and SymbolKey.parse(p.symbol) not in self.unresolved
        ]
        open_ids = {stop_key(p.position_id): p.position_id for p in open_positions}
        protected: set[str] = set()
        for remote in remote_open:
            parsed = parse_client_order_id(remote.client_order_id)
            if parsed is None or parsed[1] != "stop" or remote.key in self.unresolved:
                continue
            if parsed[0] in open_ids:
                protected.add(open_ids[parsed[0]])
            else:
                await self._orphan_stop(remote)
        self.stops.restore(await asyncio.to_thread(self.work.get_state, STOPS_STATE))
        for pos in open_positions:
            pid = pos.position_id
            if pid in protected:
                continue
            if pid not in self.stops:
                self.lifecycle.monitor(pos)  # arms it from the position's entry and stop
            if pid not in self.stops:
                continue  # no protective level (imported without a trailing distance)
            resting.remember(pos, await self.book.orders_of(pid))
            if resting.live(pid) is not None:
                continue  # recorded live and not seen as open: settled by the engine's start
            order = await self.lifecycle.protect(pid)
            if order is None:
                self.errors.append(f"position {pid} ({pos.symbol}): no resting stop could be made")
                continue
            self.found(
                "stop_missing",
                pid,
                before=describe_position(pos),
                exchange="no stop order",
                action=(
                    f"placed a reduce-only stop at {amount(order.stop_price)}"
                    if order.status in ("open", "sent", "new")
                    else f"stop not placed: {order.error or order.status}"
                ),
                after=describe_order(order),
            )

    async def _orphan_stop(self, remote: OrderUpdate) -> None:
        cid = remote.client_order_id
        local = await self.local_order(cid)
        try:
            answer = await self.ex.cancel_order(remote.key, cid, order_type=remote.order_type)
        except ExecutionError as exc:
            self.errors.append(f"stop {cid} ({remote.key}): cancel failed: {exc}")
            return
        after = await self.orders.apply(answer) if local is not None else None
        self.found(
            "stop_orphaned",
            cid,
            before=describe_order(local),
            exchange=describe_remote(remote),
            action="cancelled on the exchange (its position is not open)",
            after=describe_order(after) if after is not None else "canceled",
        )

    # -- positions -----------------------------------------------------------------------

    async def fix_positions(self, snapshot: _Snapshot) -> None:
        """Step 3: the exchange's positions (futures) or balances (spot) against the books."""
        stored = await asyncio.to_thread(self.work.list_positions, status=ACTIVE)
        local = [p for p in stored if self.ours(p.symbol)]
        contract = any(r.contract for r in self.markets.values())
        if contract:
            holdings = {str(p.key): _holding(p) for p in snapshot.positions}

            def slot_of(pos: Position) -> str:
                return pos.symbol

            skip = {str(k) for k in self.unresolved}
        else:
            keys = [*(self.symbols or ()), *(SymbolKey.parse(p.symbol) for p in local)]
            holdings = spot_holdings(snapshot.balances, self.markets, keys)

            def slot_of(pos: Position) -> str:
                return spot_slot(self.markets[SymbolKey.parse(pos.symbol)])

            skip = {spot_slot(self.markets[k]) for k in self.unresolved}
        self.checked = dataclasses.replace(
            self.checked, local_positions=len(local), exchange_holdings=len(holdings)
        )
        for slot in sorted(skip):
            self.errors.append(f"{slot}: positions not compared while its orders are unresolved")
        for fix in plan_positions(local, holdings, slot_of, skip=skip):
            await self._apply_position_fix(fix)

    async def _apply_position_fix(self, fix: PositionFix) -> None:
        for pid, reason in fix.close:
            pos = await self.position(pid)
            assert pos is not None
            await asyncio.to_thread(
                self.work.transition, pid, "closed", expect=pos.status, close_reason=reason
            )
        for pid, quantity in fix.resize:
            pos = await self.position(pid)
            assert pos is not None
            changes: dict[str, Any] = {"quantity": quantity}
            if fix.entry_price is not None:
                changes["entry_price"] = fix.entry_price
            await asyncio.to_thread(
                self.work.transition, pid, pos.status, expect=pos.status, **changes
            )
        imported = None
        if fix.imported is not None:
            imported = await asyncio.to_thread(
                self.work.create_position, self._import(fix.imported)
            )
        after = [await self.position(p.position_id) for p in fix.local]
        if imported is not None:
            after.append(imported)
        self.found(
            fix.kind,
            fix.slot,
            before="; ".join(describe_position(p) for p in fix.local) or NONE,
            exchange=describe_holding(fix.holding),
            action=_position_action(fix, imported),
            after="; ".join(describe_position(p) for p in after) or NONE,
        )

    def _import(self, holding: Holding) -> Position:
        key = SymbolKey.parse(holding.key)
        now = self.clock()
        pid = f"{IMPORT_PREFIX}-{key.exchange}-{key.market}-{key.symbol}-{now:%Y%m%dT%H%M%S%fZ}"
        trailing = self._trailing(key) if holding.entry_price is not None else None
        return Position(
            position_id=pid,
            symbol=holding.key,
            direction=holding.direction,
            status="open",
            quantity=holding.quantity,
            entry_price=holding.entry_price,
            trailing_distance_pct=trailing,
            opened_at=now,
            created_at=now,
            updated_at=now,
        )


def _holding(p: ExchangePosition) -> Holding:
    entry = p.entry_price if p.entry_price and p.entry_price > 0 else None
    return Holding(str(p.key), p.direction, p.quantity, entry)


def spot_slot(rules: MarketRules) -> str:
    """The slot of a spot market: its venue and base asset (``binance/spot:BTC``)."""
    return f"{rules.key.exchange}/{rules.key.market}:{rules.base}"


def spot_holdings(
    balances: Mapping[str, Balance],
    markets: Mapping[SymbolKey, MarketRules],
    keys: Collection[SymbolKey],
) -> dict[str, Holding]:
    """The exchange's spot holdings per slot, for the base assets of ``keys``.

    A base asset's ``total`` balance (free + locked) is floored to the market's amount
    step; less than the minimum order quantity (dust) counts as nothing held. An imported
    holding goes to the first of ``keys`` with that base.
    """
    out: dict[str, Holding] = {}
    for key in keys:
        rules = markets.get(key)
        if rules is None or rules.contract:
            continue
        slot = spot_slot(rules)
        if slot in out or rules.base not in balances:
            continue
        quantity = rules.floor_amount(balances[rules.base].total)
        if quantity > 0 and quantity >= rules.min_amount:
            out[slot] = Holding(str(key), "long", quantity, None)
    return out


def _adopted(local: Order, remote: OrderUpdate, *, note: str) -> Order:
    """``local`` rewritten with the exchange's status and fills (an unchecked write:
    adopting the exchange's truth may move a finished order back to open)."""
    data = local.model_dump()
    data.update(
        status=remote.status,
        filled=remote.filled,
        exchange_order_id=remote.exchange_order_id or local.exchange_order_id,
        error=f"{note}, {remote.status} on the exchange at reconciliation",
        revision=local.revision + 1,
        updated_at=utcnow(),
    )
    if remote.average_price is not None:
        data["average_price"] = remote.average_price
    return Order.model_validate(data)


def _position_action(fix: PositionFix, imported: Position | None) -> str:
    pid = imported.position_id if imported is not None else ""
    untrailed = (
        " (no entry price on a spot balance: not trailed)"
        if imported is not None and imported.entry_price is None
        else ""
    )
    if fix.kind == "position_missing_on_exchange":
        return "closed locally: missing on exchange"
    if fix.kind == "position_missing_locally":
        return f"imported as {pid}{untrailed}"
    if fix.kind == "direction_mismatch":
        return f"closed locally and imported the exchange's position as {pid}{untrailed}"
    text = "adopted the exchange's quantity"
    if fix.entry_price is not None:
        text += " and entry price"
    if fix.close:
        text += f"; closed {', '.join(pid for pid, _ in fix.close)} (reduced to zero)"
    return text
