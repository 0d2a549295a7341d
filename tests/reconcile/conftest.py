"""Fixtures for the reconciliation tests: the local Binance-compatible server (signed
trading routes, real ccxt through :class:`CcxtExchange`), both position stores (the
Firestore one on the real emulator, fixtures shared with ``tests/state``) and a fixed
clock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from decimal import Decimal

import pytest
from aiohttp import web

from tapeflow.config.execution import RetrySettings
from tapeflow.execution.ccxt_adapter import CcxtExchange, Credentials
from tests.execution.support import real_ticks
from tests.servers.binance_rest import make_app, running_server
from tests.servers.binance_trading import TradingState, add_trading_routes
from tests.servers.binance_user_stream import add_user_stream
from tests.servers.sendgrid import MailServer
from tests.servers.thread import ServerThread
from tests.state.conftest import (  # noqa: F401  (fixtures: both stores, the real emulator)
    firestore_emulator,
    firestore_env,
    open_store,
    store,
)

FAST_RETRY = RetrySettings(attempts=3, initial_wait_s=0.01, max_wait_s=0.05)

#: Current prices on the local exchange: the first trade of each real recording.
RECORDINGS = {
    ("spot", "BTCUSDT"): "20240809",
    ("spot", "ETHUSDT"): "20240809",
    ("usdm", "BTCUSDT"): "20240808",
    ("usdm", "ETHUSDT"): "20240808",
}


def first_price(market: str, symbol: str) -> Decimal:
    """The first trade price of the real recording of ``market``/``symbol``."""
    return real_ticks(market, symbol, RECORDINGS[(market, symbol)])[0].price


@dataclass
class Venue:
    """The local exchange: its base URL and its state (accounts, orders, requests)."""

    url: str
    state: TradingState

    def adapter(self, market: str) -> CcxtExchange:
        """A real ccxt adapter for ``market`` signing with the server's key pair. ccxt's
        client-side rate limiter is off: it would wait out Binance's request weights (2 s
        for an ``openOrders`` call without a symbol) against a local server."""
        ex = CcxtExchange.create(
            "binance",
            market,
            credentials=Credentials(self.state.api_key, self.state.secret),
            api_base_url=self.url,
            timeout_ms=3000,
            retry=FAST_RETRY,
        )
        ex.client.enableRateLimit = False
        return ex

    def writes(self) -> list[tuple[str, str]]:
        """Every order-changing request received (POST/DELETE), as ``(method, path)``."""
        return [(m, p) for m, p, _ in self.state.requests if m in ("POST", "DELETE")]


def trading_app() -> tuple[web.Application, TradingState]:
    """The local Binance app (spot and USD-M, BTCUSDT and ETHUSDT) priced at real trades,
    with the user-data stream (a live ``tapeflow run`` connects to it)."""
    state = TradingState()
    for market, symbol in RECORDINGS:
        state.set_price(market, symbol, first_price(market, symbol))
    app = make_app(symbols={"spot": ["BTCUSDT", "ETHUSDT"], "usdm": ["BTCUSDT", "ETHUSDT"]})
    add_trading_routes(app, state)
    add_user_stream(app, state)
    return app, state


@pytest.fixture
async def venue() -> AsyncIterator[Venue]:
    """The local Binance server on the test's event loop."""
    app, state = trading_app()
    async with running_server(app) as url:
        yield Venue(url, state)


@pytest.fixture
def threaded_venue() -> Iterator[Venue]:
    """The local Binance server on a thread of its own (for code that runs its own loop,
    like the CLI)."""
    app, state = trading_app()
    server = ServerThread(app)
    url = server.start()
    yield Venue(url, state)
    server.stop()


@pytest.fixture(scope="session")
def first_prices() -> dict[str, Decimal]:
    """The first trade price of each USD-M recording the subprocess runs replay (2024-07-18),
    by bare symbol (``BTCUSDT``, ``ETHUSDT``)."""
    return {s: real_ticks("usdm", s, "20240718")[0].price for s in ("BTCUSDT", "ETHUSDT")}


@pytest.fixture
def priced_venue(threaded_venue: Venue, first_prices: dict[str, Decimal]) -> Venue:
    """The threaded local exchange, its market orders filling at the replay's first prices."""
    for symbol, price in first_prices.items():
        threaded_venue.state.set_price("usdm", symbol, price)
    return threaded_venue


@pytest.fixture
async def usdm(venue: Venue) -> AsyncIterator[CcxtExchange]:
    """A started USD-M adapter (markets loaded)."""
    ex = venue.adapter("usdm")
    await ex.load_markets()
    yield ex
    await ex.close()


@pytest.fixture
async def spot(venue: Venue) -> AsyncIterator[CcxtExchange]:
    """A started spot adapter (markets loaded)."""
    ex = venue.adapter("spot")
    await ex.load_markets()
    yield ex
    await ex.close()


@pytest.fixture
def mail_server() -> Iterator[MailServer]:
    """The local SendGrid stand-in (its own thread)."""
    server = MailServer().start()
    yield server
    server.stop()
