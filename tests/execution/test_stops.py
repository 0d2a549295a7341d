"""Trailing stops replayed over real Binance trade sequences (hftbacktest captures)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tapeflow.execution.stops import TrailingStopBook, stop_factor
from tapeflow.model.symbols import SymbolKey
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
    from tapeflow.config.execution import RiskSettings

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


@pytest.mark.parametrize(
    ("direction", "initial", "above", "at"),
    [("long", "59880", "59880.1", "59880.0"), ("short", "60120", "60119.9", "60120.0")],
)
def test_initial_stop_fires_at_its_level_not_one_tick_before(direction, initial, above, at):
    book = TrailingStopBook()
    stop = book.add(
        "p", BTC, direction, Decimal(60000), Decimal("0.5"), initial_stop=Decimal(initial)
    )
    assert stop.stop_price == Decimal(initial)  # the 0.5 % trail (59,700 / 60,300) is looser
    assert book.protective_stop("p") == Decimal(initial)
    assert not book.on_tick(BTC, Decimal(above))  # one 0.1 tick on the safe side
    [trig] = book.on_tick(BTC, Decimal(at))
    assert (trig.kind, trig.stop_price, trig.trade_price) == ("stop", Decimal(initial), Decimal(at))
    assert trig.reason == f"stop {initial} hit by trade at {at}"


@pytest.mark.parametrize(
    ("direction", "target", "before", "at"),
    [("long", "60150", "60149.9", "60150.0"), ("short", "59850", "59850.1", "59850.0")],
)
def test_target_fires_at_its_level_not_one_tick_before(direction, target, before, at):
    book = TrailingStopBook()
    stop = "59880" if direction == "long" else "60120"
    book.add(
        "p",
        BTC,
        direction,
        Decimal(60000),
        Decimal("0.5"),
        initial_stop=Decimal(stop),
        target=Decimal(target),
    )
    assert not book.on_tick(BTC, Decimal(before))  # a new extreme, one tick short of it
    [trig] = book.on_tick(BTC, Decimal(at))
    assert (trig.kind, trig.stop_price, trig.trade_price) == (
        "target",
        Decimal(target),
        Decimal(at),
    )
    assert trig.reason == f"target {target} reached by trade at {at}"


@pytest.mark.parametrize("direction", ["long", "short"])
def test_trailing_level_is_never_looser_than_the_initial_stop(direction):
    """On real BTCUSDT prints, a 0.2 % trail starts looser than a 100-point initial stop
    and later passes it: the level is max(initial, trail) (long) / min (short) at every
    trade, and the exit it fires is named ``trailing`` once the trail is the level."""
    ticks = real_ticks("usdm", "BTCUSDT", "20240808")
    entry = ticks[0].price
    sign = 1 if direction == "long" else -1
    initial = entry - sign * 100
    factor = stop_factor(direction, Decimal("0.2"))
    assert (entry * factor < initial) if direction == "long" else (entry * factor > initial)
    book = TrailingStopBook()
    stop = book.add("p", BTC, direction, entry, Decimal("0.2"), initial_stop=initial)
    best = entry
    trail_passed = False
    for t in ticks[1:]:
        fired = book.on_tick(BTC, t.price)
        best = max(best, t.price) if direction == "long" else min(best, t.price)
        trail = best * factor
        want = max(initial, trail) if direction == "long" else min(initial, trail)
        assert stop.stop_price == want
        assert (stop.stop_price >= initial) if direction == "long" else (stop.stop_price <= initial)
        trail_passed |= want != initial
        if fired:
            [trig] = fired
            assert trig.kind == ("trailing" if want != initial else "stop")
            assert trig.stop_price == want
            break
    else:
        raise AssertionError("the stop fires inside the capture")
    assert trail_passed


def test_snapshot_keeps_initial_stop_and_target_and_fills_them_in_for_old_ones():
    book = TrailingStopBook()
    book.add(
        "a",
        BTC,
        "long",
        Decimal(60000),
        Decimal("0.5"),
        initial_stop=Decimal(59880),
        target=Decimal(60180),
    )
    book.on_tick(BTC, Decimal(60100))
    snap = book.snapshot()
    again = TrailingStopBook()
    again.restore(snap)
    assert again.get("a").to_dict() == book.get("a").to_dict()
    plain = TrailingStopBook()  # the same stop as written before initial stops were kept
    plain.add("a", BTC, "long", Decimal(60000), Decimal("0.5"))
    plain.on_tick(BTC, Decimal(60100))
    old = {
        k: v for k, v in plain.snapshot()["stops"][0].items() if k not in ("initial_stop", "target")
    }
    older = TrailingStopBook()
    older.restore({"stops": [old]})
    assert older.get("a").stop_price == Decimal("59799.500")  # the trail alone, looser
    assert older.ensure_exits("a", initial_stop=Decimal(59880), target=Decimal(60180))
    assert older.get("a").to_dict() == book.get("a").to_dict()
    assert not older.ensure_exits("a", initial_stop=Decimal(1), target=Decimal(2))  # kept


def test_targets_must_lie_beyond_the_stop():
    book = TrailingStopBook()
    with pytest.raises(ValueError, match="not beyond its stop"):
        book.add(
            "x", BTC, "long", Decimal(100), Decimal(1), initial_stop=Decimal(99), target=Decimal(98)
        )
    with pytest.raises(ValueError, match="initial stop must be positive"):
        book.add("x", BTC, "short", Decimal(100), Decimal(1), initial_stop=Decimal(0))
