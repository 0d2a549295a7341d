"""Binance: spot, USD-M and COIN-M, everything tapeflow knows that is Binance-specific.

The descriptor :data:`BINANCE` is plain data; the implementations are modules of this
package, imported when used (:meth:`tapeflow.venues.venue.Venue.implementation`):

* ``messages``: strict decoding of ``@trade`` WebSocket frames;
* ``feeds``: cryptofeed feeds on raw ``@trade`` streams (``build_feed``, ``normalized_symbol``;
  :mod:`tapeflow.venues.feeds`);
* ``rest``: ``historicalTrades`` by id for gap recovery (:mod:`tapeflow.venues.recovery`);
* ``user_stream``: the user-data stream's address, listen-key calls and order events
  (:mod:`tapeflow.venues.streams`);
* ``archive``: where the daily public trade archives are (``ArchiveRef``, ``archive_refs``;
  downloaded by :mod:`tapeflow.sources.download`, read by
  :mod:`tapeflow.sources.binance_archive`);
* ``errors``: the error codes execution reads.
"""

from __future__ import annotations

from tapeflow.venues.binance.errors import BINANCE_ERRORS
from tapeflow.venues.venue import Capability, IdModel, MarketSpec, Venue

_C = Capability

#: What a market tapeflow trades on supports (spot and USD-M): every capability.
_TRADED = frozenset(
    {_C.STORE, _C.LIVE_FEED, _C.REST_RECOVERY, _C.ARCHIVE, _C.TRADING, _C.USER_STREAM}
)

BINANCE = Venue(
    name="binance",
    markets={
        "spot": MarketSpec(
            "spot",
            _TRADED,
            ccxt_types=("spot",),
            ccxt_default_type="spot",
        ),
        "usdm": MarketSpec(
            "usdm",
            _TRADED,
            ccxt_types=("linear",),
            ccxt_default_type="swap",
            contract=True,
        ),
        "coinm": MarketSpec("coinm", frozenset({_C.STORE, _C.ARCHIVE}), contract=True),
    },
    id_models={"trade": IdModel.CONTIGUOUS, "agg_trade": IdModel.AGGREGATE_RANGES},
    ccxt_id="binance",
    errors=BINANCE_ERRORS,
    package="tapeflow.venues.binance",
)
