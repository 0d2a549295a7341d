"""Reconciliation of resting stops (step 4), against both position stores and the real ccxt
adapter talking to the local Binance server: a missing stop is placed, an orphan cancelled,
a dry run only reports."""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal

from tapeflow.config.execution import RestingStopSettings
from tapeflow.execution.client_ids import client_order_id
from tapeflow.model.orders import OrderRequest
from tapeflow.model.symbols import SymbolKey
from tapeflow.reconcile.reconciler import reconcile
from tests.reconcile.records import T0, position

U_BTC = SymbolKey("binance", "usdm", "BTCUSDT")
TRAIL = Decimal("0.5")
PID = "0a1b2c3d4e5f60718293"


async def run(store, exchange, **kw):
    return await reconcile(
        store,
        exchange,
        clock=lambda: T0,
        trailing_for=lambda key: TRAIL,
        resting_stops=RestingStopSettings(),
        **kw,
    )


def kinds(report) -> list[tuple[str, str]]:
    return [(d.kind, d.subject) for d in report.discrepancies]


async def held_long(store, usdm, venue) -> Decimal:
    """A long of 0.010 BTC held on the exchange and in the books (opened by tapeflow's
    entry order); returns its entry price."""
    entry = client_order_id(PID, "entry")
    fill = await usdm.place_order(OrderRequest(U_BTC, entry, "buy", "market", Decimal("0.010")))
    store.put_position(
        position(
            PID,
            str(U_BTC),
            entry=str(fill.average_price),
            trailing_distance_pct=TRAIL,
            entry_client_order_id=entry,
        )
    )
    venue.state.requests.clear()
    return fill.average_price


async def test_missing_stop_is_placed_and_a_second_run_is_consistent(store, usdm, venue):
    entry = await held_long(store, usdm, venue)
    report = await run(store, usdm)

    assert kinds(report) == [("stop_missing", PID)]
    level = (entry * (1 - TRAIL / 100)).quantize(Decimal("0.1"), rounding=ROUND_CEILING)
    [d] = report.discrepancies
    assert d.exchange == "no stop order"
    assert d.action == f"placed a reduce-only stop at {level}"
    [held] = venue.state.orders_with(client_order_id(PID, "stop"))
    assert (held.type, held.side, held.status, held.algo) == ("STOP_MARKET", "SELL", "NEW", True)
    assert (held.stop_price, held.quantity, held.reduce_only) == (level, Decimal("0.010"), True)
    stored = store.get_order(client_order_id(PID, "stop"))
    assert (stored.purpose, stored.position_id, stored.status) == ("stop", PID, "open")
    assert report.complete and not report.consistent

    venue.state.requests.clear()
    again = await run(store, usdm)
    assert again.consistent, again.text()
    assert venue.writes() == []  # nothing placed twice


async def test_orphan_stop_is_cancelled_other_orders_are_left(store, usdm, venue):
    gone = "9f8e7d6c5b4a39281706"
    store.put_position(position(gone, str(U_BTC), status="closed"))
    cid = client_order_id(gone, "stop")
    level = venue.state.prices[("usdm", "BTCUSDT")] - 500
    await usdm.place_order(
        OrderRequest(
            U_BTC, cid, "buy", "stop_market", Decimal("0.010"), stop_price=level, reduce_only=True
        )
    )
    report = await run(store, usdm, policy=None)

    assert ("stop_orphaned", cid) in kinds(report)
    [d] = [d for d in report.discrepancies if d.kind == "stop_orphaned"]
    assert d.action == "cancelled on the exchange (its position is not open)"
    assert [o.status for o in venue.state.orders_with(cid)] == ["CANCELED"]
    assert store.get_order(cid).status == "canceled"  # recorded as the exchange has it


async def test_dry_run_reports_the_missing_stop_and_sends_nothing(store, usdm, venue):
    await held_long(store, usdm, venue)
    report = await run(store, usdm, dry_run=True)

    assert kinds(report) == [("stop_missing", PID)]
    assert venue.writes() == []
    assert venue.state.orders_with(client_order_id(PID, "stop")) == []
    assert store.get_order(client_order_id(PID, "stop")) is None
