"""Trailing stops replayed over real Binance trade sequences (hftbacktest captures)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tapeflow.execution.stops import TrailingStopBook, stop_factor
from tapeflow.store.symbols import SymbolKey
from tests.execution.support import real_ticks

BTC = SymbolKey("binance", "usdm", "BTCUSDT")
ETH = SymbolKey("binance", "usdm", "ETHUSDT")


def expected_trigger(prices, direction: str, distance_pct: str):
    """Independent reference: walk the prices with a plain loop, returning
    (index of the trigger trade or None, trigger stop price, extreme at trigger)."""
    d = Decimal(distance_pct) / 100
    entry = prices[0]
    best = entry
    for i, p in enumerate(prices[1:], start=1):
        if direction == "long":
            best = max(best, p)
            stop = best - best * d
            if p <= stop:
                return i, stop, best
        else:
            best = min(best, p)
            stop = best + best * d
            if p >= stop:
                return i, stop, best
    return None, None, best


@pytest.mark.parametrize(
    ("market", "symbol", "day", "direction", "distance"),
    [
        ("usdm", "BTCUSDT", "20240808", "long", "0.05"),
        ("usdm", "BTCUSDT", "20240808", "short", "0.05"),
        ("usdm", "ETHUSDT", "20240808", "long", "0.1"),
        ("usdm", "ETHUSDT", "20240719", "short", "0.1"),
        ("spot", "BTCUSDT", "20240809", "long", "0.05"),
        ("spot", "ETHUSDT", "20240809", "short", "0.05"),
    ],
)
def test_trigger_matches_a_plain_loop_on_real_ticks(market, symbol, day, direction, distance):
    ticks = real_ticks(market, symbol, day)
    key = ticks[0].key
    prices = [t.price for t in ticks]
    want_index, want_stop, want_best = expected_trigger(prices, direction, distance)
    assert want_index is not None, "distance chosen so that the stop fires inside the capture"

    book = TrailingStopBook()
    book.add("p1", key, direction, prices[0], Decimal(distance))
    fired_at = None
    for i, t in enumerate(ticks[1:], start=1):
        fired = book.on_tick(key, t.price)
        if fired:
            fired_at = i
            trig = fired[0]
            break
    assert fired_at == want_index
    assert trig.stop_price == want_stop  # exact Decimal equality
    assert trig.extreme == want_best
    assert trig.trade_price == prices[want_index]
    if direction == "long":
        assert trig.trade_price <= trig.stop_price
    else:
        assert trig.trade_price >= trig.stop_price
    # fires once: later ticks leave a triggered stop alone
    assert all(not book.on_tick(key, t.price) for t in ticks[fired_at + 1 : fired_at + 500])


@pytest.mark.parametrize("direction", ["long", "short"])
def test_stop_only_ratchets_in_the_positions_favour(direction):
    ticks = real_ticks("usdm", "BTCUSDT", "20240808")
    book = TrailingStopBook()
    # 5 % never triggers in a six-minute capture, so the whole path is watched
    stop = book.add("p", BTC, direction, ticks[0].price, Decimal(5))
    previous = stop.stop_price
    moves = 0
    for t in ticks:
        assert not book.on_tick(BTC, t.price)
        if direction == "long":
            assert stop.stop_price >= previous
        else:
            assert stop.stop_price <= previous
        moves += stop.stop_price != previous
        previous = stop.stop_price
    prices = [t.price for t in ticks]
    best = max(prices) if direction == "long" else min(prices)
    assert stop.extreme == best
    assert stop.stop_price == best * stop_factor(direction, Decimal(5))
    assert moves > 10  # it really trailed


def test_default_distances_and_exact_initial_stop():
    from tapeflow.execution.settings import RiskSettings

    assert RiskSettings().trailing_pct == Decimal("0.5")
    assert RiskSettings(asset_class="meme").trailing_pct == Decimal("17.5")
    assert RiskSettings(asset_class="meme", trailing_distance_pct=Decimal(9)).trailing_pct == 9
    book = TrailingStopBook()
    long = book.add("a", BTC, "long", Decimal("61800.30"), Decimal("0.5"))
    short = book.add("b", BTC, "short", Decimal("61800.30"), Decimal("17.5"))
    assert long.stop_price == Decimal("61491.29850")
    assert short.stop_price == Decimal("72615.35250")


def test_tighten_never_loosens():
    book = TrailingStopBook()
    stop = book.add("a", BTC, "long", Decimal(100), Decimal(2))
    book.on_tick(BTC, Decimal(110))  # extreme 110, stop 107.8
    assert stop.stop_price == Decimal("107.80")
    assert not book.tighten("a", Decimal(3))  # wider: ignored
    assert book.tighten("a", Decimal(1))
    assert stop.stop_price == Decimal("108.90")
    assert stop.distance_pct == 1
    book.on_tick(BTC, Decimal(120))  # ratchets at the tightened distance
    assert stop.stop_price == Decimal("118.80")
    short = book.add("s", BTC, "short", Decimal(100), Decimal(2))
    book.on_tick(BTC, Decimal(90))
    assert book.tighten(short, Decimal("0.5"))  # accepts a position-like object too
    assert short.stop_price == Decimal("90.450")


def test_ticks_touch_only_their_own_symbol():
    book = TrailingStopBook()
    eth = book.add("e", ETH, "long", Decimal(2500), Decimal(1))
    btc = book.add("b", BTC, "long", Decimal(60000), Decimal(1))
    assert book.on_tick(BTC, Decimal(1)) and btc.triggered  # far below: BTC stop fires
    assert not eth.triggered and eth.extreme == 2500
    assert book.for_symbol(ETH) == [eth]
    book.remove("b")
    assert len(book) == 1 and "b" not in book
    assert not book.on_tick(BTC, Decimal(1))


def test_snapshot_restores_exact_state_and_rearm():
    book = TrailingStopBook()
    book.add("a", BTC, "long", Decimal("61800.30"), Decimal("0.5"))
    book.on_tick(BTC, Decimal("61900.1"))
    book.on_tick(BTC, Decimal("61000"))  # triggers
    snap = book.snapshot()
    again = TrailingStopBook()
    assert again.restore(snap) == 1
    a = again.get("a")
    assert a.extreme == Decimal("61900.1")
    assert a.stop_price == Decimal("61900.1") * Decimal("0.995")
    assert a.triggered
    again.rearm("a")
    assert again.on_tick(BTC, Decimal("61000"))[0].position_id == "a"
    with pytest.raises(ValueError, match="bad trailing-stop entry"):
        again.restore({"stops": [{"position_id": "x"}]})


def test_invalid_distances_are_refused():
    book = TrailingStopBook()
    for bad in (Decimal(0), Decimal(100), Decimal(-1)):
        with pytest.raises(ValueError, match="trailing distance"):
            book.add("x", BTC, "long", Decimal(1), bad)
    with pytest.raises(ValueError, match="direction"):
        book.add("x", BTC, "up", Decimal(1), Decimal(1))
