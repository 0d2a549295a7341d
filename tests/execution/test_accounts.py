"""Accounts in several assets on the real XRP/ETH recording (Binance spot, 2019-10-11):
equity converted into the pair's quote asset, sizes computed by hand, the conversion
price's sources, and a refusal naming the missing price."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal
from functools import cache

import pytest

from tapeflow.app.markets import load_market_snapshot
from tapeflow.bus import EventBus
from tapeflow.config import ConfigError, load_config
from tapeflow.config.execution import ExecutionSettings, RiskSettings
from tapeflow.execution.accounts import missing_rate, rate, value
from tapeflow.execution.engine import ExecutionEngine
from tapeflow.execution.factory import create_exchange
from tapeflow.execution.paper import PaperExchange
from tapeflow.execution.refusals import RefusalLog
from tapeflow.model.signals import TradeSignal
from tapeflow.model.symbols import SymbolKey
from tapeflow.model.ticks import TradeTick
from tapeflow.sources import ImportOptions
from tapeflow.sources.parquet_trades import read
from tests.execution.engine_support import Clock
from tests.execution.support import real_ticks
from tests.support.paths import FREQTRADE_PARQUET

XRPETH = SymbolKey("binance", "spot", "XRPETH")
ETHUSDT = SymbolKey("binance", "spot", "ETHUSDT")
SPOT = load_market_snapshot("binance", "spot")
ETH_USDT_2019 = Decimal("180.50")  # reference price for the replay of 2019-10 (ETH in USDT)
BPS = Decimal(10_000)


@cache
def xrpeth_ticks() -> tuple[TradeTick, ...]:
    """The recording's trades as bus ticks (exact decimals, as `tapeflow import` reads)."""
    out = []
    for batch in read(FREQTRADE_PARQUET, ImportOptions(exchange="binance", market="spot")):
        for r in batch.table.to_pylist():
            out.append(
                TradeTick(
                    key=XRPETH,
                    trade_id=r["trade_id"],
                    ts=r["ts"],
                    price=Decimal(r["price"]),
                    quantity=Decimal(r["quantity"]),
                    side=r["side"],
                )
            )
    return tuple(out)


def settings(**kw) -> ExecutionSettings:
    kw.setdefault("risk", RiskSettings(risk_per_trade=Decimal("0.01")))  # cap 20 % of equity
    kw.setdefault("risk_check_interval_s", 0)
    return ExecutionSettings(market="spot", stop_persist_interval_s=0, **kw)


async def spot_engine(store, s: ExecutionSettings, clock: Clock):
    """A single-currency paper account built as before per-asset balances existed (so the
    defect's test also runs on that code)."""
    paper = PaperExchange(
        "binance/spot",
        SPOT,
        quote_asset=s.quote_asset,
        starting_balance=s.paper_balance,
        fee_bps=s.fee_bps,
        slippage_bps=s.slippage_bps,
        store=store,
    )
    engine = ExecutionEngine(
        s, paper, store, bus=EventBus(), refusals=RefusalLog(None), clock=clock
    )
    await engine.start()
    return engine, paper


async def multi_asset_engine(store, s: ExecutionSettings, clock: Clock):
    """The paper exchange ``tapeflow run`` builds from ``s`` (balances per asset, reference
    prices), at the shipped Binance spot rules."""
    paper = await create_exchange(s, store, markets=SPOT)
    engine = ExecutionEngine(
        s, paper, store, bus=EventBus(), refusals=RefusalLog(None), clock=clock
    )
    await engine.start()
    return engine, paper


async def feed(engine: ExecutionEngine, clock: Clock, ticks) -> None:
    for t in ticks:
        clock.now = t.ts
        await engine.on_tick(t)


def long_signal(entry: Decimal, stop: Decimal, direction: str = "long") -> TradeSignal:
    return TradeSignal(
        key=XRPETH,
        direction=direction,  # type: ignore[arg-type]
        entry_price=entry,
        stop_loss=stop,
        candle_time=datetime(2019, 10, 11, 1, 7, tzinfo=UTC),
        strategy="test",
    )


ENTRY_AT = 200  # the signal decides after the recording's first 200 trades


async def test_a_usdt_account_is_refused_at_sizing_naming_the_missing_eth_price(store):
    """The reported defect: a 10,000 USDT account sized an XRP/ETH long as if it held
    10,000 ETH, and the exchange refused the order (``insufficient ETH: need 2020.37``).
    Sizing now converts into ETH, and without an ETH/USDT price it refuses, naming it."""
    ticks = xrpeth_ticks()
    clock = Clock()
    engine, _ = await spot_engine(store, settings(), clock)
    await feed(engine, clock, ticks[:ENTRY_AT])
    entry = ticks[ENTRY_AT - 1].price
    res = await engine.on_signal(long_signal(entry, entry - Decimal("0.0001")))
    assert not res.accepted
    assert res.refused_by == "sizing"
    assert res.reason == (
        "cannot size: no price of ETH in USDT: no trade of binance/spot/ETHUSDT seen yet and "
        "no execution.reference_prices.ETH"
    )


async def test_xrp_eth_long_is_sized_in_eth_from_usdt_equity(store):
    ticks = xrpeth_ticks()
    clock = Clock()
    s = settings(
        paper_balances={"USDT": Decimal(10_000), "ETH": Decimal(50)},
        reference_prices={"ETH": ETH_USDT_2019},
    )
    engine, paper = await multi_asset_engine(store, s, clock)
    await feed(engine, clock, ticks[:ENTRY_AT])
    entry = ticks[ENTRY_AT - 1].price
    assert entry == Decimal("0.00141798")
    stop = entry - Decimal("0.0001")
    # by hand: equity 10,000 + 50 × 180.50 = 19,025 USDT = 105.4016... ETH; 1 % of it is
    # 1.054016... ETH at risk over 0.0001 ETH per XRP -> 10,540 XRP (step 1), notional
    # 14.94 ETH below the 20 % cap (21.08 ETH) and the free 50 ETH
    equity_eth = Decimal(19_025) / ETH_USDT_2019
    want = (equity_eth * Decimal("0.01") / Decimal("0.0001")).quantize(1, rounding=ROUND_DOWN)
    assert want == Decimal(10_540)
    res = await engine.on_signal(long_signal(entry, stop))
    assert res.accepted, res.reason
    assert res.entry_order.quantity == want
    # a stop-out at the stop loses no more than 1 % of equity (before fees and slippage)
    assert want * (entry - stop) * ETH_USDT_2019 <= Decimal("190.25")
    # the market entry fills at the next trade, moved by 1 bp of slippage, 4 bp fee in ETH
    await feed(engine, clock, ticks[ENTRY_AT : ENTRY_AT + 1])
    fill = ticks[ENTRY_AT].price * (1 + Decimal(1) / BPS)
    notional = want * fill
    pos = engine.book.get(res.position.position_id)
    assert pos.status == "open" and pos.quantity == want
    assert paper.balances() == {
        "USDT": Decimal(10_000),
        "ETH": Decimal(50) - notional - notional * Decimal(4) / BPS,
        "XRP": want,
    }
    # equity values XRP in two steps: XRPETH's last trade × ETH in USDT
    xrp_usdt = ticks[ENTRY_AT].price * ETH_USDT_2019
    eth_left = Decimal(50) - notional * (1 + Decimal(4) / BPS)
    assert await engine.equity() == Decimal(10_000) + eth_left * ETH_USDT_2019 + want * xrp_usdt


async def test_the_free_quote_balance_less_fee_and_slippage_caps_the_size(store):
    ticks = xrpeth_ticks()
    clock = Clock()
    s = settings(
        paper_balances={"USDT": Decimal(10_000), "ETH": Decimal(5)},
        reference_prices={"ETH": ETH_USDT_2019},
    )
    engine, paper = await multi_asset_engine(store, s, clock)
    await feed(engine, clock, ticks[:ENTRY_AT])
    entry = ticks[ENTRY_AT - 1].price
    # risk would buy 10,902.5 / 180.5 × 1 % / 0.0001 = 6,040 XRP = 8.56 ETH, the 20 % cap
    # 12.08 ETH; but only 5 ETH are free, less 5 bp for fee and slippage
    spendable = Decimal(5) * BPS / (BPS + Decimal(5))
    want = (spendable / entry).quantize(1, rounding=ROUND_DOWN)
    assert want == Decimal(3524)
    res = await engine.on_signal(long_signal(entry, entry - Decimal("0.0001")))
    assert res.accepted, res.reason
    assert res.entry_order.quantity == want
    await feed(engine, clock, ticks[ENTRY_AT : ENTRY_AT + 1])
    assert engine.book.get(res.position.position_id).status == "open"
    assert paper.balances()["XRP"] == want
    assert Decimal(0) < paper.balances()["ETH"] < Decimal("0.02")


async def test_a_trade_of_the_pairing_market_wins_over_the_reference_price(store):
    """Conversion at the last ETHUSDT trade seen on the venue (here a real 2024 spot trade)
    rather than the configured reference price."""
    ticks = xrpeth_ticks()
    eth = real_ticks("spot", "ETHUSDT", "20240809")[0]
    clock = Clock()
    s = settings(
        paper_balances={"USDT": Decimal(10_000), "ETH": Decimal(50)},
        reference_prices={"ETH": ETH_USDT_2019},
    )
    engine, _ = await multi_asset_engine(store, s, clock)
    assert engine.rate("ETH", "USDT").price == ETH_USDT_2019
    await feed(engine, clock, [eth, *ticks[:ENTRY_AT]])
    got = engine.rate("ETH", "USDT")
    assert (got.price, got.source) == (
        eth.price,
        f"last trade of binance/spot/ETHUSDT ({eth.price})",
    )
    entry = ticks[ENTRY_AT - 1].price
    res = await engine.on_signal(long_signal(entry, entry - Decimal("0.0001")))
    equity_eth = (Decimal(10_000) + 50 * eth.price) / eth.price
    want = (equity_eth * Decimal("0.01") / Decimal("0.0001")).quantize(1, rounding=ROUND_DOWN)
    assert res.accepted and res.entry_order.quantity == want


async def test_spot_shorts_stay_refused(store):
    ticks = xrpeth_ticks()
    clock = Clock()
    s = settings(
        paper_balances={"USDT": Decimal(10_000), "ETH": Decimal(5)},
        reference_prices={"ETH": ETH_USDT_2019},
    )
    engine, _ = await multi_asset_engine(store, s, clock)
    await feed(engine, clock, ticks[:ENTRY_AT])
    entry = ticks[ENTRY_AT - 1].price
    res = await engine.on_signal(long_signal(entry, entry + Decimal("0.0001"), "short"))
    assert not res.accepted
    assert res.reason == "size refused: binance/spot/XRPETH is a spot market: cannot open a short"


def test_rate_sources_in_order():
    markets = SPOT.values()
    last = {XRPETH: Decimal("0.0014"), ETHUSDT: Decimal("2000")}.get
    assert rate("ETH", "USDT", markets, last).price == Decimal(2000)
    assert rate("USDT", "ETH", markets, last).price == Decimal(1) / Decimal(2000)
    assert rate("XRP", "USDT", markets, last).price == Decimal("2.8")  # 0.0014 × 2000
    nothing = {}.get
    ref = {"ETH": ETH_USDT_2019}
    assert rate("ETH", "USDT", markets, nothing) is None
    assert rate("ETH", "USDT", markets, nothing, ref, "USDT").price == ETH_USDT_2019
    assert rate("USDT", "ETH", markets, nothing, ref, "USDT").price == 1 / ETH_USDT_2019
    assert rate("XRP", "USDT", markets, {XRPETH: Decimal("0.0014")}.get, ref, "USDT").price == (
        Decimal("0.0014") * ETH_USDT_2019
    )
    assert missing_rate("BTC", "ETH", markets) == (
        "no price of BTC in ETH: the venue has no BTC/ETH market and no "
        "execution.reference_prices.BTC"
    )
    v = value({"USDT": Decimal(1), "BTC": Decimal(2), "ETH": Decimal(0)}, "USDT", lambda a: None)
    assert (v.total, v.unpriced) == (Decimal(0), ("BTC", "USDT"))


def problems_of(tmp_path, text: str) -> str:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    return str(err.value)


@pytest.mark.parametrize(
    ("execution", "message"),
    [
        (
            "{paper_balance: 100, paper_balances: {USDT: 100}}",
            "paper_balance and paper_balances are exclusive",
        ),
        ("{paper_balances: {usdt: 100}}", "paper_balances.usdt: an asset code is 1-20"),
        ("{paper_balances: {ETH: -1}}", "paper_balances.ETH: must be ≥ 0 (got -1)"),
        ("{paper_balances: {ETH: 0}}", "paper_balances: at least one balance must be > 0"),
        ("{reference_prices: {ETH: 0}}", "reference_prices.ETH: must be > 0 (got 0)"),
        ("{reference_prices: {USDT: 1}}", "reference_prices.USDT: the account currency"),
        ("{mode: live, reference_prices: {ETH: 180}}", "reference_prices: paper mode only"),
    ],
)
def test_bad_accounts_fail_at_startup_naming_the_key(tmp_path, execution, message):
    assert message in problems_of(tmp_path, f"execution: {execution}\n")


def test_starting_balances_single_currency_and_per_asset(tmp_path):
    assert ExecutionSettings().starting_balances == {"USDT": Decimal(10_000)}
    assert ExecutionSettings(paper_balance=Decimal(250)).starting_balances == {"USDT": Decimal(250)}
    path = tmp_path / "c.yaml"
    path.write_text("execution: {paper_balances: {USDT: 10000, ETH: 5}}\n")
    got = load_config(path).execution.starting_balances
    assert got == {"USDT": Decimal(10_000), "ETH": Decimal(5)}


async def test_spot_cap_buys_at_the_last_trade_when_the_market_ran_above_the_signal(store):
    """A replay at full speed (or a slow chain) lets trades run ahead of the signal: the
    free ETH must pay for the quantity at the last trade price, or the exchange refuses."""
    ticks = xrpeth_ticks()
    clock = Clock()
    s = settings(
        paper_balances={"USDT": Decimal(10_000), "ETH": Decimal(5)},
        reference_prices={"ETH": ETH_USDT_2019},
    )
    engine, paper = await multi_asset_engine(store, s, clock)
    await feed(engine, clock, ticks[:ENTRY_AT])
    last = ticks[ENTRY_AT - 1].price
    entry = last - Decimal("0.0001")  # the signal's close, 7 % below the market now
    spendable = Decimal(5) * BPS / (BPS + Decimal(5))
    want = (spendable * entry / last / entry).quantize(1, rounding=ROUND_DOWN)
    # floor(spendable / last); at the signal's price it would be 3,791 XRP, 5.38 ETH
    assert want == Decimal(3524)
    res = await engine.on_signal(long_signal(entry, entry - Decimal("0.0001")))
    assert res.accepted, res.reason
    assert res.entry_order.quantity == want
    await feed(engine, clock, ticks[ENTRY_AT : ENTRY_AT + 1])
    assert engine.book.get(res.position.position_id).status == "open"
    assert paper.balances()["XRP"] == want


async def test_live_xrp_eth_is_sized_at_the_ethusdt_trade_the_engine_saw(store):
    """Live (ccxt against the local Binance server, holding 10,000 USDT and 50 ETH): the
    conversion price is the last ETHUSDT trade on the venue's stream; before one arrives,
    sizing refuses naming it."""
    from tapeflow.execution.ccxt_adapter import CcxtExchange, Credentials
    from tests.servers.binance_rest import make_app, running_server
    from tests.servers.binance_trading import TradingState, add_trading_routes

    ticks = xrpeth_ticks()
    eth = real_ticks("spot", "ETHUSDT", "20240809")[0]
    eth_tick = TradeTick(
        key=ETHUSDT, trade_id=eth.trade_id, ts=ticks[0].ts, price=eth.price,
        quantity=eth.quantity, side=eth.side,
    )  # fmt: skip
    state = TradingState()
    state.spot_balances = {"USDT": Decimal(10_000), "ETH": Decimal(50), "XRP": Decimal(0)}
    state.set_price("spot", "XRPETH", ticks[ENTRY_AT].price)
    app = make_app(symbols={"spot": ["XRPETH", "ETHUSDT"]})
    add_trading_routes(app, state)
    async with running_server(app) as url:
        ex = CcxtExchange.create(
            "binance",
            "spot",
            credentials=Credentials(state.api_key, state.secret),
            api_base_url=url,
        )
        clock = Clock()
        s = settings(mode="live", risk_check_interval_s=3600)  # no balance call per tick
        engine = ExecutionEngine(
            s, ex, store, bus=EventBus(), refusals=RefusalLog(None), clock=clock
        )
        await engine.start()
        try:
            await feed(engine, clock, ticks[:ENTRY_AT])
            entry = ticks[ENTRY_AT - 1].price
            early = await engine.on_signal(long_signal(entry, entry - Decimal("0.0001")))
            assert (early.refused_by, early.reason) == (
                "sizing",
                "cannot size: no price of ETH in USDT: no trade of binance/spot/ETHUSDT seen "
                "yet and no execution.reference_prices.ETH",
            )
            await feed(engine, clock, [eth_tick])
            sig = long_signal(entry, entry - Decimal("0.0001"))
            sig = TradeSignal(
                sig.key, sig.direction, sig.entry_price, sig.stop_loss,
                datetime(2019, 10, 11, 1, 8, tzinfo=UTC), sig.strategy,
            )  # fmt: skip
            res = await engine.on_signal(sig)
        finally:
            await engine.stop()
    # by hand: (10,000 + 50 × P) USDT / P = 10,000 / P + 50 ETH; 1 % over 0.0001 ETH/XRP
    equity_eth = (Decimal(10_000) + 50 * eth.price) / eth.price
    want = (equity_eth * Decimal("0.01") / Decimal("0.0001")).quantize(1, rounding=ROUND_DOWN)
    assert res.accepted, res.reason
    assert res.entry_order.quantity == want == Decimal(5372)
    fill = ticks[ENTRY_AT].price
    assert state.spot_balances["ETH"] == Decimal(50) - want * fill
    assert state.spot_balances["XRP"] == want * (1 - Decimal("0.001"))  # fee in XRP
