"""Fixtures for the operator-control tests: the local Binance server on its own thread
(shared with the reconciliation tests), priced at the replayed recordings' first trades,
and the stored books of two open longs the exchange also holds."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from tests.reconcile.conftest import (  # noqa: F401  (fixtures)
    first_prices,
    priced_venue,
    threaded_venue,
)
from tests.reconcile.records import position
from tests.reconcile.run_process import local

BTC, ETH = "binance/usdm/BTCUSDT", "binance/usdm/ETHUSDT"
#: The stored longs: (position id, symbol, quantity); entries 2 % below the first trade,
#: trailing 5 %, initial stop 10 % below and target 10 % above the entry (the replay reaches
#: none of them).
LONGS = (("b1b1b1b1", BTC, "0.010"), ("e3e3e3e3", ETH, "0.100"))


@pytest.fixture
def venue(priced_venue):  # noqa: F811
    """The local exchange priced at the replay's first trades (tests/reconcile/conftest.py)."""
    return priced_venue


@pytest.fixture
def books(tmp_path: Path, venue, first_prices) -> dict[str, Decimal]:  # noqa: F811
    """Two open longs, held both locally and on the exchange; returns their entries."""
    entries = {}
    for pid, symbol, qty in LONGS:
        name = symbol.rsplit("/", 1)[1]
        entry = (first_prices[name] * Decimal("0.98")).quantize(Decimal("0.01"))
        entries[symbol] = entry
        venue.state.positions[name] = (Decimal(qty), entry)
        stop, target = ((entry * Decimal(f)).quantize(Decimal("0.01")) for f in ("0.9", "1.1"))
        local(tmp_path, position(pid, symbol, quantity=qty, entry=str(entry),
                                 trailing_distance_pct=Decimal(5), stop_price=stop,
                                 target_price=target))  # fmt: skip
    return entries
