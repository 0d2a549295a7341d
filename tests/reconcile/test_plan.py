"""The pure comparison functions: every position case, allocation over several positions,
and the order cases (plain in-memory records; no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from tapeflow.reconcile.plan import Holding, plan_orders, plan_positions
from tests.reconcile.records import entry_order, position

BTC = "binance/usdm/BTCUSDT"
ETH = "binance/usdm/ETHUSDT"


def by_symbol(p):
    return p.symbol


def test_equal_books_need_no_fix_and_pending_positions_hold_nothing():
    local = [
        position("a1a1a1a1", BTC, quantity="0.010"),
        position("b2b2b2b2", ETH, "short", "0.5", status="closing"),
        position("c3c3c3c3", BTC, status="pending", age_s=10),  # holds nothing yet
        position("d4d4d4d4", ETH, status="closed"),
    ]
    held = {
        BTC: Holding(BTC, "long", Decimal("0.010"), Decimal("61800.30")),
        ETH: Holding(ETH, "short", Decimal("0.500"), Decimal("2681.62")),
    }
    assert plan_positions(local, held, by_symbol) == []


def test_each_position_case():
    local = [
        position("a1a1a1a1", BTC, quantity="0.010"),
        position("b2b2b2b2", ETH, "long", "0.5"),
    ]
    eth_short = Holding(ETH, "short", Decimal("0.3"), Decimal("2681.62"))
    # exchange has nothing: both closed locally
    [f1, f2] = plan_positions(local, {}, by_symbol)
    assert (f1.kind, f1.slot, f1.close) == (
        "position_missing_on_exchange",
        BTC,
        (("a1a1a1a1", "missing on exchange"),),
    )
    assert f2.close == (("b2b2b2b2", "missing on exchange"),)
    # nothing local: imported
    [f] = plan_positions([], {ETH: eth_short}, by_symbol)
    assert (f.kind, f.imported, f.close, f.resize) == (
        "position_missing_locally",
        eth_short,
        (),
        (),
    )
    # opposite direction: closed and imported
    [f] = plan_positions(local[1:], {ETH: eth_short}, by_symbol)
    assert f.kind == "direction_mismatch"
    assert f.close == (("b2b2b2b2", "direction differs on exchange (short 0.3)"),)
    assert f.imported == eth_short
    # quantity: adopted with the exchange's entry price (one position in the slot)
    held = Holding(BTC, "long", Decimal("0.007"), Decimal("61790.1"))
    [f] = plan_positions(local[:1], {BTC: held}, by_symbol)
    assert (f.kind, f.resize, f.entry_price, f.close) == (
        "quantity_mismatch",
        (("a1a1a1a1", Decimal("0.007")),),
        Decimal("61790.1"),
        (),
    )


def test_quantity_difference_over_several_positions_newest_first():
    old = position("a1a1a1a1", BTC, quantity="0.010", age_s=900)
    mid = position("b2b2b2b2", BTC, quantity="0.004", age_s=600)
    new = position("c3c3c3c3", BTC, quantity="0.003", age_s=300)
    local = [old, mid, new]  # 0.017 held locally
    grow = plan_positions(local, {BTC: Holding(BTC, "long", Decimal("0.020"))}, by_symbol)
    assert grow[0].resize == (("c3c3c3c3", Decimal("0.006")),)
    assert grow[0].entry_price is None  # several positions: their own prices stay
    shrink = plan_positions(local, {BTC: Holding(BTC, "long", Decimal("0.012"))}, by_symbol)
    # 0.005 less: the newest (0.003) is emptied and closed, the middle one gives 0.002
    assert shrink[0].close == (("c3c3c3c3", "reduced to zero on exchange"),)
    assert shrink[0].resize == (("b2b2b2b2", Decimal("0.002")),)


def test_skipped_slots_are_not_compared():
    local = [position("a1a1a1a1", BTC), position("b2b2b2b2", ETH)]
    fixes = plan_positions(local, {}, by_symbol, skip={BTC})
    assert [f.slot for f in fixes] == [ETH]


@dataclass
class Remote:
    client_order_id: str
    status: str = "open"


def test_order_cases():
    resting = entry_order("a1a1a1a1", BTC, status="open", order_type="limit", price="60000")
    gone = entry_order("b2b2b2b2", BTC, status="partially_filled", order_type="limit", price="1")
    rejected = entry_order("c3c3c3c3", BTC, status="rejected")
    remote = [Remote("manual-1"), Remote(rejected.client_order_id), Remote(resting.client_order_id)]
    known = {
        "manual-1": None,
        rejected.client_order_id: rejected,
        resting.client_order_id: resting,
    }
    fixes = plan_orders([resting, gone], remote, known)
    assert [(f.kind, f.client_order_id) for f in fixes] == [
        ("unknown_order", "manual-1"),
        ("stale_order", rejected.client_order_id),
        ("order_missing_on_exchange", gone.client_order_id),
    ]
    assert fixes[1].local == rejected and fixes[2].remote is None
