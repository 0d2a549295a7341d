"""The paper exchange on real ticks: next-tick fills, fees, slippage, balances, positions,
stops, limits, persistence across a restart."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from tapeflow.execution.errors import DuplicateClientOrderId, OrderRejected
from tapeflow.execution.paper import PaperExchange
from tapeflow.execution.statefile import JsonStateFile
from tapeflow.model.orders import OrderRequest
from tapeflow.model.symbols import SymbolKey
from tests.execution.support import market_rules, real_ticks

USDM = SymbolKey("binance", "usdm", "BTCUSDT")
USDM_ETH = SymbolKey("binance", "usdm", "ETHUSDT")
SPOT = SymbolKey("binance", "spot", "BTCUSDT")
BPS = Decimal(10_000)


def usdm_exchange(store=None, **kw) -> PaperExchange:
    markets = {k: market_rules("usdm", k.symbol) for k in (USDM, USDM_ETH)}
    kw.setdefault("leverage_for", lambda key: Decimal(10))
    return PaperExchange("binance/usdm", markets, store=store, **kw)


def spot_exchange(store=None, **kw) -> PaperExchange:
    return PaperExchange("binance/spot", {SPOT: market_rules("spot", "BTCUSDT")}, store=store, **kw)


def req(key, cid, side, qty, order_type="market", **kw) -> OrderRequest:
    return OrderRequest(key, cid, side, order_type, Decimal(qty), **kw)


async def test_market_order_fills_at_the_next_ticks_price_with_fee_and_slippage():
    ticks = real_ticks("usdm", "BTCUSDT", "20240808")
    ex = usdm_exchange(fee_bps=Decimal(4), slippage_bps=Decimal(2))
    assert ex.on_tick(ticks[0]) == []
    placed = await ex.place_order(req(USDM, "tf-aaaaaaaaaaaaaaaaaaaa-en", "buy", "0.010"))
    assert placed.status == "open" and placed.filled == 0
    [fill] = ex.on_tick(ticks[1])
    price = ticks[1].price * (1 + Decimal(2) / BPS)  # not ticks[0], the known price
    assert fill.status == "filled" and fill.average_price == price
    assert fill.filled == Decimal("0.010")
    fee = Decimal("0.010") * price * Decimal(4) / BPS
    assert fill.fee == fee
    assert ex.on_tick(ticks[2]) == []  # fills once
    [pos] = await ex.fetch_positions()
    assert (pos.direction, pos.quantity, pos.entry_price) == ("long", Decimal("0.010"), price)
    # close at a later real price: realized P&L and fees reach the wallet exactly
    await ex.place_order(req(USDM, "tf-aaaaaaaaaaaaaaaaaaaa-ex", "sell", "0.010", reduce_only=True))
    [close] = ex.on_tick(ticks[5000])
    exit_price = ticks[5000].price * (1 - Decimal(2) / BPS)
    assert close.average_price == exit_price
    exit_fee = Decimal("0.010") * exit_price * Decimal(4) / BPS
    pnl = (exit_price - price) * Decimal("0.010")
    assert ex.balances()["USDT"] == Decimal(10_000) + pnl - fee - exit_fee
    assert await ex.fetch_positions() == []
    assert ex.realized_pnl == pnl and ex.fees_paid == fee + exit_fee


async def test_protective_exit_fills_at_the_print_that_reached_its_level():
    ticks = real_ticks("usdm", "BTCUSDT", "20240808")
    ex = usdm_exchange(fee_bps=Decimal(4), slippage_bps=Decimal(2))
    ex.on_tick(ticks[0])
    await ex.place_order(req(USDM, "tf-bbbbbbbbbbbbbbbbbbbb-en", "buy", "0.010"))
    [entry] = ex.on_tick(ticks[1])
    assert entry.status == "filled"
    # the exit the engine sends for a stop reached by ticks[5000]: filled at that print
    ex.on_tick(ticks[5000])
    await ex.place_order(req(USDM, "tf-bbbbbbbbbbbbbbbbbbbb-ex", "sell", "0.010", reduce_only=True))
    done = ex.fill_at_print("tf-bbbbbbbbbbbbbbbbbbbb-ex", ticks[5000])
    price = ticks[5000].price * (1 - Decimal(2) / BPS)
    assert done.status == "filled" and done.average_price == price
    assert done.fee == Decimal("0.010") * price * Decimal(4) / BPS
    assert await ex.fetch_positions() == []
    # only an open market order of the print's symbol: anything else is left alone
    assert ex.fill_at_print("tf-bbbbbbbbbbbbbbbbbbbb-ex", ticks[5001]) is None  # filled
    assert ex.fill_at_print("tf-unknownxxxxxxxxxxxx-ex", ticks[5001]) is None
    limit = req(USDM, "tf-cccccccccccccccccccc-en", "buy", "0.010", "limit", price=Decimal(60000))
    await ex.place_order(limit)
    assert ex.fill_at_print("tf-cccccccccccccccccccc-en", ticks[5001]) is None
    assert (await ex.fetch_order(USDM, "tf-cccccccccccccccccccc-en")).status == "open"


async def test_short_futures_position_and_margin_check():
    ticks = real_ticks("usdm", "ETHUSDT", "20240808")
    ex = usdm_exchange(starting_balance=Decimal(100), slippage_bps=Decimal(0))
    ex.on_tick(ticks[0])  # 2681.62
    # 1 ETH needs 268.16 margin at 10x: refused against the last price
    with pytest.raises(OrderRejected, match="insufficient margin"):
        await ex.place_order(req(USDM_ETH, "c1", "sell", "1.000"))
    await ex.place_order(req(USDM_ETH, "c2", "sell", "0.300"))
    [fill] = ex.on_tick(ticks[1])
    [pos] = await ex.fetch_positions()
    assert pos.direction == "short" and pos.entry_price == ticks[1].price
    later = ticks[4000]
    ex.on_tick(later)
    upnl = (ticks[1].price - later.price) * Decimal("0.300")
    assert pos.unrealized_pnl == (ticks[1].price - ticks[1].price)  # at fill time
    [pos] = await ex.fetch_positions()
    assert pos.unrealized_pnl == upnl
    bal = (await ex.fetch_balance())["USDT"]
    assert bal.total == Decimal(100) - fill.fee + upnl == ex.equity()
    assert bal.used == Decimal("0.300") * ticks[1].price / 10


async def test_reduce_only_never_flips_and_is_clamped():
    ticks = real_ticks("usdm", "BTCUSDT", "20240808")
    ex = usdm_exchange(slippage_bps=Decimal(0))
    ex.on_tick(ticks[0])
    await ex.place_order(req(USDM, "o1", "buy", "0.002"))
    ex.on_tick(ticks[1])
    await ex.place_order(req(USDM, "r1", "sell", "0.005", reduce_only=True))
    [upd] = ex.on_tick(ticks[2])
    assert upd.filled == Decimal("0.002") and await ex.fetch_positions() == []


async def test_reduce_only_without_position_is_rejected_at_fill():
    ticks = real_ticks("usdm", "BTCUSDT", "20240808")
    ex = usdm_exchange()
    ex.on_tick(ticks[0])
    await ex.place_order(req(USDM, "r0", "sell", "0.001", reduce_only=True))
    [upd] = ex.on_tick(ticks[1])
    assert upd.status == "rejected"


async def test_spot_balances_fees_and_no_short():
    ticks = real_ticks("spot", "BTCUSDT", "20240809")
    ex = spot_exchange(starting_balance=Decimal(1000), fee_bps=Decimal(10), slippage_bps=Decimal(0))
    ex.on_tick(ticks[0])
    with pytest.raises(OrderRejected, match="insufficient BTC"):
        await ex.place_order(req(SPOT, "s0", "sell", "0.001"))
    await ex.place_order(req(SPOT, "b1", "buy", "0.01"))
    [buy] = ex.on_tick(ticks[1])
    cost = Decimal("0.01") * ticks[1].price
    assert ex.balances() == {"USDT": Decimal(1000) - cost - cost / 1000, "BTC": Decimal("0.01")}
    await ex.place_order(req(SPOT, "s1", "sell", "0.01"))
    [sell] = ex.on_tick(ticks[2])
    proceeds = Decimal("0.01") * ticks[2].price
    assert ex.balances()["USDT"] == (
        Decimal(1000) - cost - cost / 1000 + proceeds - proceeds / 1000
    )
    assert ex.balances()["BTC"] == 0
    assert buy.fee == cost / 1000 and sell.fee == proceeds / 1000


async def test_stop_market_fills_at_the_trade_that_reaches_it_with_slippage():
    ticks = real_ticks("usdm", "BTCUSDT", "20240808")
    ex = usdm_exchange(slippage_bps=Decimal(2))
    ex.on_tick(ticks[0])
    await ex.place_order(req(USDM, "e", "buy", "0.003"))
    ex.on_tick(ticks[1])
    level = min(t.price for t in ticks[2:3000]) + Decimal("0.1")  # reached inside the range
    await ex.place_order(
        req(USDM, "sl", "sell", "0.003", "stop_market", stop_price=level, reduce_only=True)
    )
    trig_i = next(i for i, t in enumerate(ticks) if i > 1 and t.price <= level)
    assert ticks[trig_i - 1].price > level  # the trade before is above: not yet
    for t in ticks[2:trig_i]:
        assert ex.on_tick(t) == []
    [fill] = ex.on_tick(ticks[trig_i])
    assert fill.triggered and fill.status == "filled"
    assert fill.average_price == ticks[trig_i].price * (1 - Decimal(2) / BPS)
    assert await ex.fetch_positions() == []


async def test_stop_limit_triggers_on_its_trade_and_rests_below_its_limit():
    ticks = real_ticks("usdm", "BTCUSDT", "20240808")
    ex = usdm_exchange(slippage_bps=Decimal(0))
    ex.on_tick(ticks[0])
    await ex.place_order(req(USDM, "e", "buy", "0.003"))
    ex.on_tick(ticks[1])
    level = min(t.price for t in ticks[2:3000]) + Decimal("0.1")
    trig_i = next(i for i, t in enumerate(ticks) if i > 1 and t.price <= level)
    limit = ticks[trig_i].price + 1  # the trigger trade is below the limit: no fill there
    await ex.place_order(
        req(USDM, "sl", "sell", "0.003", "stop_limit", stop_price=level, price=limit)
    )
    for t in ticks[2:trig_i]:
        assert ex.on_tick(t) == []
    [trig] = ex.on_tick(ticks[trig_i])
    assert trig.triggered and trig.status == "open"
    fill_i = next(i for i, t in enumerate(ticks) if i > trig_i and t.price >= limit)
    for t in ticks[trig_i + 1 : fill_i]:
        assert ex.on_tick(t) == []
    [fill] = ex.on_tick(ticks[fill_i])
    assert fill.status == "filled" and fill.average_price == limit


async def test_limit_orders_fill_at_their_price():
    ticks = real_ticks("usdm", "BTCUSDT", "20240808")
    ex = usdm_exchange()
    ex.on_tick(ticks[0])
    limit = ticks[0].price - Decimal(20)
    await ex.place_order(req(USDM, "l1", "buy", "0.002", "limit", price=limit))
    i = next(i for i, t in enumerate(ticks) if i > 0 and t.price <= limit)
    for t in ticks[1:i]:
        assert ex.on_tick(t) == []
    [fill] = ex.on_tick(ticks[i])
    assert fill.average_price == limit  # resting limit: its own price, no slippage
    # a marketable limit fills at the better trade price
    await ex.place_order(
        req(USDM, "l2", "buy", "0.002", "limit", price=ticks[i + 1].price + Decimal(50))
    )
    [fill2] = ex.on_tick(ticks[i + 1])
    assert fill2.average_price == ticks[i + 1].price


async def test_validation_duplicates_cancel_and_lookup():
    ticks = real_ticks("usdm", "BTCUSDT", "20240808")
    ex = usdm_exchange()
    ex.on_tick(ticks[0])
    with pytest.raises(OrderRejected, match="not a multiple of the step"):
        await ex.place_order(req(USDM, "x", "buy", "0.0015"))
    with pytest.raises(OrderRejected, match="below the minimum 100"):
        await ex.place_order(req(USDM, "x", "buy", "0.001"))  # 61.8 USDT
    with pytest.raises(OrderRejected, match="unknown market"):
        await ex.place_order(req(SymbolKey("binance", "usdm", "XRPUSDT"), "x", "buy", "1"))
    lim = req(USDM, "keep", "buy", "0.002", "limit", price=Decimal(50_000))
    await ex.place_order(lim)
    with pytest.raises(DuplicateClientOrderId):
        await ex.place_order(lim)
    assert [o.client_order_id for o in await ex.fetch_open_orders(USDM)] == ["keep"]
    cancelled = await ex.cancel_order(USDM, "keep")
    assert cancelled.status == "canceled"
    assert (await ex.fetch_order(USDM, "keep")).status == "canceled"
    assert await ex.fetch_order(USDM, "nope") is None
    with pytest.raises(OrderRejected):
        await ex.cancel_order(USDM, "keep")


async def test_state_survives_a_restart(open_store, tmp_path):
    ticks = real_ticks("usdm", "BTCUSDT", "20240808")
    for make_store in (open_store, lambda: JsonStateFile(tmp_path / "paper.json")):
        ex = usdm_exchange(make_store(), slippage_bps=Decimal(0))
        ex.on_tick(ticks[0])
        await ex.place_order(req(USDM, "e1", "buy", "0.005"))
        ex.on_tick(ticks[1])
        await ex.set_leverage(USDM, Decimal(7))  # written with the next order
        await ex.place_order(req(USDM, "p1", "sell", "0.005", reduce_only=True))  # pending
        before = ex.state()

        again = usdm_exchange(make_store(), slippage_bps=Decimal(0))  # restarted process
        assert again.state() == before
        assert again.leverage(USDM) == 7
        assert (await again.fetch_order(USDM, "e1")).status == "filled"
        [fill] = again.on_tick(ticks[2])  # the pending order fills after the restart
        assert fill.client_order_id == "p1" and fill.average_price == ticks[2].price
        assert await again.fetch_positions() == []


def test_malformed_state_is_named(store):
    store.put_state("paper.binance.usdm", {"version": 1, "seq": "x"})
    with pytest.raises(ValueError, match="paper state 'paper.binance.usdm' is malformed"):
        usdm_exchange(store)


def test_spot_and_contract_markets_cannot_mix():
    with pytest.raises(ValueError, match="mixes spot and contract"):
        PaperExchange(
            "x",
            {USDM: market_rules("usdm", "BTCUSDT"), SPOT: replace(market_rules("spot", "BTCUSDT"))},
        )


async def test_finished_orders_are_remembered_up_to_a_limit():
    ticks = real_ticks("usdm", "BTCUSDT", "20240808")
    ex = usdm_exchange(keep_orders=3)
    ex.on_tick(ticks[0])
    for i in range(5):
        side = "buy" if i % 2 == 0 else "sell"
        await ex.place_order(req(USDM, f"o{i}", side, "0.002"))
        ex.on_tick(ticks[i + 1])
    assert [o["client_order_id"] for o in ex.state()["orders"]] == ["o2", "o3", "o4"]
    assert await ex.fetch_order(USDM, "o0") is None
    assert (await ex.fetch_order(USDM, "o4")).status == "filled"
