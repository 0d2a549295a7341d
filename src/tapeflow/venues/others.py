"""Venues tapeflow stores and trades (through ccxt) but does not stream or repair.

Bybit and Hyperliquid ticks can be imported (Tardis CSV, ccxt JSON) and stored; orders go
through ccxt's classes. Neither has a live feed, REST recovery, an archive source or a
user-data stream in tapeflow: asking for one fails naming the missing capability
(:meth:`~tapeflow.venues.venue.Venue.require`). Their trade ids are opaque (Bybit
derivatives: UUIDs, which the store refuses; spot: integers without per-symbol contiguity;
Hyperliquid ``tid``: a hash), so the store reports no id gaps for them.
"""

from __future__ import annotations

from tapeflow.venues.venue import Capability, IdModel, MarketSpec, Venue

_STORE_TRADE = frozenset({Capability.STORE, Capability.TRADING})

BYBIT = Venue(
    name="bybit",
    markets={
        "spot": MarketSpec("spot", _STORE_TRADE, ccxt_types=("spot",), ccxt_default_type="spot"),
        "linear": MarketSpec(
            "linear", _STORE_TRADE, ccxt_types=("linear",), ccxt_default_type="swap", contract=True
        ),
        "inverse": MarketSpec("inverse", frozenset({Capability.STORE}), contract=True),
    },
    id_models={"trade": IdModel.OPAQUE},
    ccxt_id="bybit",
)

HYPERLIQUID = Venue(
    name="hyperliquid",
    markets={
        "perp": MarketSpec(
            "perp", _STORE_TRADE, ccxt_types=("swap",), ccxt_default_type="swap", contract=True
        ),
    },
    id_models={"trade": IdModel.OPAQUE},
    ccxt_id="hyperliquid",
)
