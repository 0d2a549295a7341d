"""The venue registry: one description of each exchange that the store, ingest and
execution all read, and errors that name a missing capability."""

from __future__ import annotations

import pytest

from tapeflow.config.ingest import SUPPORTED_FEEDS, FeedSpec
from tapeflow.execution.ccxt_adapter import CcxtExchange
from tapeflow.model.symbols import MARKETS
from tapeflow.venues import (
    VENUES,
    Capability,
    IdModel,
    MarketSpec,
    Venue,
    VenueCapabilityError,
    get_venue,
    markets_with,
    require,
)
from tapeflow.venues.binance.errors import BINANCE_ERRORS
from tapeflow.venues.errors import ErrorKind


def test_the_registry_names_exactly_the_store_markets():
    assert {name: frozenset(v.markets) for name, v in VENUES.items()} == MARKETS
    for v in VENUES.values():
        assert all(Capability.STORE in s.capabilities for s in v.markets.values())
        assert all(name == spec.name for name, spec in v.markets.items())


def test_capabilities_are_read_by_ingest_and_execution():
    assert SUPPORTED_FEEDS == (("binance", "spot"), ("binance", "usdm"))
    assert markets_with(Capability.TRADING) == [
        ("binance", "spot"),
        ("binance", "usdm"),
        ("bybit", "spot"),
        ("bybit", "linear"),
        ("hyperliquid", "perp"),
    ]
    assert markets_with(Capability.ARCHIVE) == [
        ("binance", "spot"),
        ("binance", "usdm"),
        ("binance", "coinm"),
    ]


def test_a_missing_capability_is_named():
    with pytest.raises(VenueCapabilityError) as err:
        require("bybit", "linear", Capability.LIVE_FEED)
    assert str(err.value) == (
        "bybit/linear has no live feed in tapeflow (bybit has it on no market); "
        "available on: binance/spot, binance/usdm"
    )
    with pytest.raises(VenueCapabilityError) as err:
        require("binance", "coinm", Capability.TRADING)
    assert str(err.value).startswith(
        "binance/coinm has no trading in tapeflow (binance has it on: spot, usdm)"
    )
    with pytest.raises(VenueCapabilityError, match="unknown venue kraken/spot; known: binance/"):
        require("kraken", "spot", Capability.STORE)
    with pytest.raises(VenueCapabilityError, match="unknown exchange 'kraken'"):
        get_venue("kraken")


def test_feed_and_adapter_refuse_a_venue_market_without_the_capability():
    with pytest.raises(ValueError, match="bybit/linear has no live feed in tapeflow"):
        FeedSpec(exchange="bybit", market="linear", symbols=("BTCUSDT",))
    with pytest.raises(VenueCapabilityError, match="bybit/inverse has no trading"):
        CcxtExchange.create("bybit", "inverse", require_credentials=False)


def test_id_models_per_id_space():
    binance = get_venue("binance")
    assert binance.id_model("trade") is IdModel.CONTIGUOUS
    assert binance.id_model("agg_trade") is IdModel.AGGREGATE_RANGES
    assert get_venue("hyperliquid").id_model("trade") is IdModel.OPAQUE
    assert not IdModel.OPAQUE.contiguous and IdModel.AGGREGATE_RANGES.contiguous
    with pytest.raises(VenueCapabilityError, match="bybit trades have no 'agg_trade' ids"):
        get_venue("bybit").id_model("agg_trade")


@pytest.mark.parametrize(
    ("code", "text", "kind"),
    [
        (-2013, '{"code":-2013,"msg":"Order does not exist."}', ErrorKind.NOT_FOUND),
        (-4116, '{"code":-4116,"msg":"ClientOrderId is duplicated."}', ErrorKind.DUPLICATE),
        (-2010, '{"code":-2010,"msg":"Duplicate order sent."}', ErrorKind.DUPLICATE),
        (-1003, '{"code":-1003,"msg":"Too many requests"}', ErrorKind.RATE_LIMIT),
        (-1007, '{"code":-1007,"msg":"Timeout"}', ErrorKind.STATUS_UNKNOWN),
        (-2019, '{"code":-2019,"msg":"Margin is insufficient."}', ErrorKind.INSUFFICIENT_FUNDS),
        (-2010, '{"code":-2010,"msg":"Account has insufficient balance"}', None),
        (-1013, '{"code":-1013,"msg":"Filter failure: LOT_SIZE"}', None),
        (None, "connection reset", None),
    ],
)
def test_binance_error_codes_classify(code, text, kind):
    assert BINANCE_ERRORS.classify(code, text) is kind
    assert get_venue("bybit").errors.classify(code, text) is None  # ccxt classes only


def test_a_live_feed_needs_contiguous_trade_ids():
    feed = MarketSpec("perp", frozenset({Capability.STORE, Capability.LIVE_FEED}))
    with pytest.raises(VenueCapabilityError) as err:
        Venue("dex", {"perp": feed}, {"trade": IdModel.OPAQUE}, ccxt_id="dex")
    assert str(err.value) == (
        "dex/perp: live feed need contiguous trade ids (gaps are found and repaired by id); "
        "the venue's 'trade' ids are opaque"
    )
    assert Venue("dex", {"perp": feed}, {"trade": IdModel.CONTIGUOUS}, ccxt_id="dex").supports(
        "perp", Capability.LIVE_FEED
    )
