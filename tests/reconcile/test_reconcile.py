"""Every reconciliation discrepancy, against both position stores (embedded SQLite and
Firestore on the real emulator) and the real ccxt adapter talking to the local
Binance-compatible server (USD-M: positions; spot: balances; both: open orders)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tapeflow.execution.client_ids import client_order_id
from tapeflow.model.orders import OrderRequest
from tapeflow.model.records import Order
from tapeflow.model.symbols import SymbolKey
from tapeflow.reconcile.reconciler import STATE_NAME, ReconcilePolicy, reconcile
from tests.reconcile.conftest import first_price
from tests.reconcile.records import T0, entry_order, position

U_BTC = SymbolKey("binance", "usdm", "BTCUSDT")
U_ETH = SymbolKey("binance", "usdm", "ETHUSDT")
S_BTC = SymbolKey("binance", "spot", "BTCUSDT")
S_ETH = SymbolKey("binance", "spot", "ETHUSDT")
TRAIL = Decimal("0.5")


async def run(store, exchange, **kw):
    """Reconcile at the fixed clock :data:`T0`, trailing imported futures positions 0.5 %."""
    kw.setdefault("trailing_for", lambda key: TRAIL)
    return await reconcile(store, exchange, clock=lambda: T0, **kw)


def kinds(report) -> list[tuple[str, str]]:
    return [(d.kind, d.subject) for d in report.discrepancies]


async def market_order(ex, key, cid, side, qty):
    return await ex.place_order(OrderRequest(key, cid, side, "market", Decimal(qty)))


async def resting_buy(ex, key, cid, qty, price):
    return await ex.place_order(
        OrderRequest(key, cid, "buy", "limit", Decimal(qty), price=Decimal(price))
    )


# -- futures positions ---------------------------------------------------------------------


async def test_position_missing_on_exchange_is_closed_locally(store, usdm, venue):
    store.put_position(position("a1a1a1a1", str(U_BTC)))
    report = await run(store, usdm)

    assert kinds(report) == [("position_missing_on_exchange", str(U_BTC))]
    [d] = report.discrepancies
    assert d.before == "open long 0.010 @ 61800.30 [a1a1a1a1]"
    assert d.exchange == "none"
    assert d.action == "closed locally: missing on exchange"
    assert d.after == "closed long 0.010 @ 61800.30 [a1a1a1a1] (missing on exchange)"
    pos = store.get_position("a1a1a1a1")
    assert (pos.status, pos.close_reason, pos.realized_pnl) == (
        "closed",
        "missing on exchange",
        None,
    )
    assert pos.closed_at is not None
    assert store.get_state(STATE_NAME)["discrepancies"][0]["kind"] == d.kind
    assert venue.writes() == []  # reconciliation never sends an order
    assert report.complete and not report.consistent


async def test_positions_missing_locally_are_imported_then_consistent(store, usdm, venue):
    await market_order(usdm, U_BTC, "manual-btc-1", "buy", "0.010")
    await market_order(usdm, U_ETH, "manual-eth-1", "sell", "0.500")
    btc, eth = first_price("usdm", "BTCUSDT"), first_price("usdm", "ETHUSDT")
    report = await run(store, usdm)

    assert kinds(report) == [
        ("position_missing_locally", str(U_BTC)),
        ("position_missing_locally", str(U_ETH)),
    ]
    pid = "rc-binance-usdm-BTCUSDT-20240809T000500000000Z"
    assert report.discrepancies[0].action == f"imported as {pid}"
    assert report.discrepancies[0].exchange == f"long 0.01 @ {btc}"
    imported = store.get_position(pid)
    assert (imported.status, imported.direction, imported.quantity, imported.entry_price) == (
        "open",
        "long",
        Decimal("0.010"),
        btc,
    )
    assert imported.trailing_distance_pct == TRAIL and imported.opened_at == T0
    short = store.get_position("rc-binance-usdm-ETHUSDT-20240809T000500000000Z")
    assert (short.direction, short.quantity, short.entry_price) == ("short", Decimal("0.5"), eth)
    # the imported books now agree with the exchange
    again = await run(store, usdm)
    assert again.consistent and again.discrepancies == ()
    assert again.text().startswith("Reconciliation binance/usdm: consistent, no discrepancies\n")


async def test_quantity_mismatch_adopts_the_exchange_quantity_and_entry(store, usdm, venue):
    await market_order(usdm, U_BTC, "manual-btc-1", "buy", "0.010")
    price = first_price("usdm", "BTCUSDT")
    store.put_position(position("a1a1a1a1", str(U_BTC), quantity="0.015", entry="61000.0"))
    report = await run(store, usdm)

    assert kinds(report) == [("quantity_mismatch", str(U_BTC))]
    [d] = report.discrepancies
    assert d.action == "adopted the exchange's quantity and entry price"
    assert d.after == f"open long 0.010 @ {price} [a1a1a1a1]"
    pos = store.get_position("a1a1a1a1")
    assert (pos.status, pos.quantity, pos.entry_price, pos.revision) == (
        "open",
        Decimal("0.010"),
        price,
        1,
    )


async def test_direction_mismatch_closes_and_imports(store, usdm):
    await market_order(usdm, U_BTC, "manual-btc-1", "sell", "0.010")
    store.put_position(position("a1a1a1a1", str(U_BTC)))
    report = await run(store, usdm)

    assert kinds(report) == [("direction_mismatch", str(U_BTC))]
    old = store.get_position("a1a1a1a1")
    assert (old.status, old.close_reason) == (
        "closed",
        "direction differs on exchange (short 0.01)",
    )
    new = store.get_position("rc-binance-usdm-BTCUSDT-20240809T000500000000Z")
    assert (new.status, new.direction, new.quantity) == ("open", "short", Decimal("0.010"))


async def test_books_equal_to_the_exchange_are_consistent(store, usdm):
    await market_order(usdm, U_BTC, client_order_id("a1a1a1a1", "entry"), "buy", "0.010")
    store.put_position(position("a1a1a1a1", str(U_BTC), entry=str(first_price("usdm", "BTCUSDT"))))
    store.put_order(entry_order("a1a1a1a1", str(U_BTC), status="filled", filled=Decimal("0.010")))
    report = await run(store, usdm)
    assert report.consistent
    assert report.checked.local_positions == report.checked.exchange_holdings == 1
    assert report.checked.orders_looked_up == 0  # the filled entry needs no lookup


# -- unsettled local orders ----------------------------------------------------------------


async def test_sent_orders_are_settled_by_client_order_id(store, usdm, venue):
    """Two entries recorded 'sent' before a crash: the exchange has one (filled) and has
    never seen the other."""
    store.put_position(position("a1a1a1a1", str(U_BTC), status="pending", entry=None))
    store.put_order(entry_order("a1a1a1a1", str(U_BTC)))
    store.put_position(
        position("b2b2b2b2", str(U_ETH), "short", "0.5", status="pending", entry=None)
    )
    store.put_order(entry_order("b2b2b2b2", str(U_ETH), "sell", "0.5"))
    filled_cid = client_order_id("a1a1a1a1", "entry")
    await market_order(usdm, U_BTC, filled_cid, "buy", "0.010")  # it reached the exchange
    price = first_price("usdm", "BTCUSDT")
    sent_before = len(venue.state.orders)

    report = await run(store, usdm)

    assert kinds(report) == [
        ("order_settled", filled_cid),
        ("order_settled", client_order_id("b2b2b2b2", "entry")),
    ]
    d1, d2 = report.discrepancies
    assert d1.exchange == "filled, filled 0.01"
    assert d1.before == "sent buy 0.010 market, filled 0 [entry of a1a1a1a1]; position " + (
        "pending long 0.010 [a1a1a1a1]"
    )
    assert d1.after == (
        f"filled buy 0.010 market, filled 0.01 @ {price} [entry of a1a1a1a1]; "
        f"position open long 0.01 @ {price} [a1a1a1a1]"
    )
    assert d2.exchange == "no such order"
    assert d2.after.startswith("rejected sell 0.5 market, filled 0 [entry of b2b2b2b2]")
    pos = store.get_position("a1a1a1a1")
    assert (pos.status, pos.quantity, pos.entry_price) == ("open", Decimal("0.010"), price)
    eth = store.get_position("b2b2b2b2")
    assert (eth.status, eth.close_reason) == (
        "closed",
        "entry rejected: never reached the exchange",
    )
    assert store.get_order(client_order_id("b2b2b2b2", "entry")).status == "rejected"
    assert len(venue.state.orders) == sent_before  # nothing resent
    assert report.checked.orders_looked_up == 2


async def test_entry_sent_without_its_position_is_rebuilt_and_opened(store, usdm):
    store.put_order(entry_order("c3c3c3c3", str(U_ETH), "sell", "0.500"))
    await market_order(usdm, U_ETH, client_order_id("c3c3c3c3", "entry"), "sell", "0.500")
    report = await run(store, usdm)

    assert kinds(report) == [
        ("position_rebuilt", "c3c3c3c3"),
        ("order_settled", client_order_id("c3c3c3c3", "entry")),
    ]
    pos = store.get_position("c3c3c3c3")
    assert (pos.status, pos.direction, pos.quantity, pos.trailing_distance_pct) == (
        "open",
        "short",
        Decimal("0.500"),
        TRAIL,
    )


async def test_open_order_missing_on_exchange_is_recorded_canceled(store, usdm):
    store.put_position(position("d4d4d4d4", str(U_BTC), status="pending", entry=None))
    store.put_order(
        entry_order("d4d4d4d4", str(U_BTC), status="open", order_type="limit", price="60000.0")
    )
    report = await run(store, usdm)

    cid = client_order_id("d4d4d4d4", "entry")
    assert kinds(report) == [("order_missing_on_exchange", cid)]
    order = store.get_order(cid)
    assert (order.status, order.error) == ("canceled", "not found on the exchange")
    pos = store.get_position("d4d4d4d4")
    assert (pos.status, pos.close_reason) == (
        "closed",
        "entry canceled: not found on the exchange",
    )


# -- open orders the store does not know ---------------------------------------------------


@pytest.mark.parametrize("policy", ["adopt", "cancel"])
async def test_unknown_open_order_is_adopted_or_cancelled(store, usdm, venue, policy):
    await resting_buy(usdm, U_BTC, "manual-limit-1", "0.005", "50000.0")
    report = await run(store, usdm, policy=ReconcilePolicy(unknown_orders=policy))

    assert kinds(report) == [("unknown_order", "manual-limit-1")]
    [server] = venue.state.orders_with("manual-limit-1")
    order = store.get_order("manual-limit-1")
    assert (order.purpose, order.side, order.order_type, order.quantity, order.price) == (
        "other",
        "buy",
        "limit",
        Decimal("0.005"),
        Decimal("50000.0"),
    )
    if policy == "adopt":
        assert server.status == "NEW" and order.status == "open"
        assert venue.writes() == [("POST", "/fapi/v1/order")]  # only the test's own order
    else:
        assert server.status == "CANCELED" and order.status == "canceled"
        assert venue.writes()[-1] == ("DELETE", "/fapi/v1/order")
    assert report.discrepancies[0].exchange == "open buy 0.005 limit, filled 0"


async def test_order_finished_locally_but_open_on_exchange_is_stale(store, usdm):
    cid = client_order_id("e5e5e5e5", "entry")
    store.put_order(
        entry_order(
            "e5e5e5e5",
            str(U_BTC),
            "buy",
            "0.005",
            status="rejected",
            order_type="limit",
            price="50000.0",
            error="never reached the exchange",
        )
    )
    await resting_buy(usdm, U_BTC, cid, "0.005", "50000.0")
    report = await run(store, usdm, policy=ReconcilePolicy(unknown_orders="adopt"))

    assert kinds(report) == [("stale_order", cid)]
    order = store.get_order(cid)
    assert order.status == "open" and order.exchange_order_id is not None
    assert order.error == "rejected here, open on the exchange at reconciliation"


# -- spot: balances ------------------------------------------------------------------------


async def test_spot_fee_paid_in_base_is_adopted_from_the_balance(store, spot, venue):
    """Binance charges a spot buyer's fee in the asset bought: 0.01000 BTC bought leaves
    0.00999 BTC held, which is what the position can sell."""
    cid = client_order_id("f6f6f6f6", "entry")
    update = await market_order(spot, S_BTC, cid, "buy", "0.01000")
    store.put_position(position("f6f6f6f6", str(S_BTC), quantity="0.01000", entry=None))
    store.put_order(entry_order("f6f6f6f6", str(S_BTC), quantity="0.01000", status="filled"))
    assert venue.state.spot_balances["BTC"] == Decimal("0.00999")
    report = await run(store, spot, symbols=[S_BTC, S_ETH])

    assert kinds(report) == [("quantity_mismatch", "binance/spot:BTC")]
    assert report.discrepancies[0].exchange == "long 0.00999 (balance)"
    pos = store.get_position("f6f6f6f6")
    assert pos.quantity == Decimal("0.00999") and pos.entry_price is None
    assert update.filled == Decimal("0.01")


async def test_spot_position_without_balance_is_closed(store, spot):
    store.put_position(position("a7a7a7a7", str(S_ETH), quantity="0.5000", entry="2600"))
    report = await run(store, spot)
    assert kinds(report) == [("position_missing_on_exchange", "binance/spot:ETH")]
    assert store.get_position("a7a7a7a7").close_reason == "missing on exchange"


async def test_spot_balances_of_configured_symbols_are_imported_dust_ignored(store, spot, venue):
    venue.state.spot_balances["ETH"] = Decimal("0.25004")  # step 0.0001: 0.2500 held
    venue.state.spot_balances["BTC"] = Decimal("0.000004")  # below the 0.00001 step: dust
    unscoped = await run(store, spot, dry_run=True)
    assert unscoped.consistent  # without configured symbols only local positions count

    report = await run(store, spot, symbols=[S_BTC, S_ETH])
    assert kinds(report) == [("position_missing_locally", "binance/spot:ETH")]
    pid = "rc-binance-spot-ETHUSDT-20240809T000500000000Z"
    assert report.discrepancies[0].action == (
        f"imported as {pid} (no entry price on a spot balance: not trailed)"
    )
    pos = store.get_position(pid)
    assert (pos.quantity, pos.entry_price, pos.trailing_distance_pct) == (
        Decimal("0.2500"),
        None,
        None,
    )
    assert report.checked.exchange_holdings == 1


async def test_spot_open_order_unknown_locally_is_adopted(store, spot):
    await resting_buy(spot, S_BTC, "manual-spot-1", "0.00100", "50000.00")
    report = await run(store, spot)
    assert kinds(report) == [("unknown_order", "manual-spot-1")]
    assert store.get_order("manual-spot-1").status == "open"


# -- dry run -------------------------------------------------------------------------------


def books(store) -> tuple:
    """Everything reconciliation could touch in ``store``."""
    return (store.list_positions(), store.list_orders(), store.get_state(STATE_NAME))


def server_books(venue) -> tuple:
    st = venue.state
    return (
        [(o.client_order_id, o.status, o.executed) for o in st.orders],
        dict(st.positions),
        dict(st.spot_balances),
    )


async def test_dry_run_changes_nothing_and_reports_what_a_run_does(store, usdm, venue):
    await market_order(usdm, U_BTC, "manual-btc-1", "buy", "0.010")
    await resting_buy(usdm, U_BTC, "manual-limit-1", "0.005", "50000.0")
    store.put_position(position("a1a1a1a1", str(U_BTC), quantity="0.015"))
    store.put_position(position("b2b2b2b2", str(U_ETH), status="pending", entry=None))
    store.put_order(entry_order("b2b2b2b2", str(U_ETH), quantity="0.5"))
    store.put_order(entry_order("c3c3c3c3", str(U_ETH), "sell", "0.5"))  # position lost
    cancel = ReconcilePolicy(unknown_orders="cancel")
    local_before, server_before, writes = books(store), server_books(venue), venue.writes()

    dry = await run(store, usdm, policy=cancel, dry_run=True)

    assert books(store) == local_before
    assert server_books(venue) == server_before and venue.writes() == writes
    assert dry.dry_run and dry.headline() == (
        "Reconciliation binance/usdm: 5 discrepancies found (dry run: nothing changed)"
    )
    real = await run(store, usdm, policy=cancel)
    assert real.discrepancies == dry.discrepancies  # the same findings, the same outcomes
    assert kinds(real) == [
        ("position_rebuilt", "c3c3c3c3"),
        ("order_settled", client_order_id("b2b2b2b2", "entry")),
        ("order_settled", client_order_id("c3c3c3c3", "entry")),
        ("unknown_order", "manual-limit-1"),
        ("quantity_mismatch", str(U_BTC)),
    ]
    assert books(store) != local_before
    assert venue.state.orders_with("manual-limit-1")[0].status == "CANCELED"


async def test_unreachable_exchange_gives_an_incomplete_report_and_changes_nothing(store, venue):
    ex = venue.adapter("usdm")
    try:
        await ex.load_markets()
        store.put_position(position("a1a1a1a1", str(U_BTC)))
        store.put_order(entry_order("a1a1a1a1", str(U_BTC), status="sent"))
        venue.state.inject("GET", "/fapi/v1/order", "status", status=503, times=10)
        report = await run(store, ex)
    finally:
        await ex.close()
    assert not report.complete
    cid = client_order_id("a1a1a1a1", "entry")
    assert report.errors[0].startswith(f"order {cid} (binance/usdm/BTCUSDT): lookup failed: ")
    assert report.errors[1] == (
        "binance/usdm/BTCUSDT: positions not compared while its orders are unresolved"
    )
    assert report.discrepancies == ()
    assert store.get_order(cid).status == "sent"
    assert store.get_position("a1a1a1a1").status == "open"
    assert report.event().discrepancies == 2
    assert "INCOMPLETE: 2 unresolved" in report.headline()


async def test_order_records_round_trip_through_the_stores(store, usdm):
    """An adopted order is a normal record in either store (exact decimals, UTC times)."""
    await resting_buy(usdm, U_BTC, "manual-limit-1", "0.005", "50000.0")
    await run(store, usdm)
    order = store.get_order("manual-limit-1")
    assert isinstance(order, Order) and order.price == Decimal("50000.0")
    assert order.created_at.tzinfo is not None
