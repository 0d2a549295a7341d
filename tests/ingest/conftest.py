"""Ingest fixtures: the real recordings as replay tapes, and a harness that runs the real
ingest service (cryptofeed + ccxt) against the local Binance WebSocket and REST servers."""

from __future__ import annotations

import asyncio
import os
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from tapeflow.bus import EventBus
from tapeflow.ingest import FeedSpec, IngestService, IngestSettings
from tapeflow.model.events import ConnectionLost, ConnectionRestored, GapDetected, TradeTickReceived
from tapeflow.model.symbols import SymbolKey
from tapeflow.store import TickStore
from tests.servers.binance_rest import STATS_KEY, make_app, running_server
from tests.servers.binance_ws import BinanceWsServer, RecordedTrade, Tape
from tests.support.reference import Trade, ms_time, reference_candles

API_KEY_ENV = "TAPEFLOW_TEST_BINANCE_KEY"
API_KEY = "test-market-data-key"


@pytest.fixture(scope="session")
def hft_dir(market_dir: Path) -> Path:
    """The hftbacktest Binance captures."""
    return market_dir / "nkaz001_hftbacktest" / "examples"


@pytest.fixture(scope="session")
def tape_aug(hft_dir: Path) -> Tape:
    """Spot + USD-M BTCUSDT/ETHUSDT trades, 2024-08-08 23:54 -> 08-09 00:05 UTC."""
    return Tape.from_session(hft_dir, "2024-08-08")


@pytest.fixture(scope="session")
def tape_jul(hft_dir: Path) -> Tape:
    """USD-M BTCUSDT/ETHUSDT trades, 2024-07-18 23:57 -> 07-19 00:05 UTC."""
    return Tape.from_session(hft_dir, "2024-07-18")


@pytest.fixture
def api_key_env(monkeypatch: pytest.MonkeyPatch) -> str:
    """A MARKET_DATA API key in the environment (the local REST server wants one)."""
    monkeypatch.setenv(API_KEY_ENV, API_KEY)
    return API_KEY_ENV


def feeds_for(tape: Tape) -> list[FeedSpec]:
    """One feed per market on the tape, with every symbol of that market."""
    by_market: dict[str, list[str]] = defaultdict(list)
    for market, symbol in tape.trades():
        by_market[market].append(symbol)
    return [FeedSpec(market=m, symbols=tuple(sorted(s))) for m, s in sorted(by_market.items())]


Candle = tuple[datetime, Decimal, Decimal, Decimal, Decimal, Decimal, int]


def source_candles(trades: list[RecordedTrade]) -> list[Candle]:
    """1-minute OHLCV (open, high, low, close, base volume, trade count) of the source
    trades by :func:`tests.support.reference.reference_candles`: the reference for the
    store's candles. USD-M klines count ``MARKET`` trades only (as Binance builds them)."""
    reference = [
        Trade(
            trade_id=t.trade_id,
            ts=ms_time(t.time_ms),
            price=Decimal(t.price),
            quantity=Decimal(t.quantity),
            side="sell" if t.is_buyer_maker else "buy",
            trade_type=t.trade_type,
        )
        for t in trades
    ]
    candles = reference_candles(reference, timedelta(minutes=1)) if reference else []
    return [
        (
            c["open_time"].replace(tzinfo=None),
            c["open"],
            c["high"],
            c["low"],
            c["close"],
            c["volume"],
            c["trades"],
        )
        for c in candles
    ]


STORE_CANDLES_SQL = """
SELECT time_bucket(INTERVAL 1 MINUTE, ts) AS minute,
       arg_min(price, trade_id), max(price), min(price), arg_max(price, trade_id),
       sum(quantity), count(*)
FROM ticks WHERE trade_type IS NULL OR trade_type = 'MARKET'
GROUP BY 1 ORDER BY 1
"""


@dataclass
class StoredSymbol:
    """What the store holds for one symbol after a run."""

    ids: list[int]
    distinct: int
    candles: list[Candle]
    ledger: list[tuple[int, int, str, str | None]]
    quarantine: list[tuple[str, str, str | None]]


def read_symbol(store: TickStore, key: SymbolKey) -> StoredSymbol:
    """Ids, candles, ledger and quarantine of ``key``."""
    with store.connection(key) as con:
        ids = [r[0] for r in con.execute("SELECT trade_id FROM ticks ORDER BY 1").fetchall()]
        distinct = con.execute("SELECT count(DISTINCT trade_id) FROM ticks").fetchall()[0][0]
        candles = [tuple(r) for r in con.execute(STORE_CANDLES_SQL).fetchall()]
        ledger = [
            tuple(r)
            for r in con.execute(
                "SELECT first_missing_id, last_missing_id, status, reason FROM gap_ledger "
                "ORDER BY 1"
            ).fetchall()
        ]
        quarantine = [
            tuple(r) for r in con.execute("SELECT raw, reason, source FROM quarantine").fetchall()
        ]
    return StoredSymbol(ids, distinct, candles, ledger, quarantine)


def assert_exact(store: TickStore, truth: dict[tuple[str, str], list[RecordedTrade]]) -> dict:
    """Every symbol's stored ids equal the source ids (none missing, none doubled) and its
    1-minute candles equal the source's. Returns ``{key: StoredSymbol}``."""
    out = {}
    for (market, symbol), trades in truth.items():
        key = SymbolKey("binance", market, symbol)
        got = read_symbol(store, key)
        want = [t.trade_id for t in trades]
        missing = sorted(set(want) - set(got.ids))
        extra = sorted(set(got.ids) - set(want))
        assert not missing, f"{key}: {len(missing)} ids missing, first {missing[:10]}"
        assert not extra, f"{key}: {len(extra)} unexpected ids, first {extra[:10]}"
        assert got.distinct == len(got.ids) == len(want), f"{key}: doubled ids"
        assert got.ids == want
        assert got.candles == source_candles(trades), f"{key}: candles differ"
        out[key] = got
    return out


@dataclass
class Harness:
    """A running ingest service wired to local Binance WS + REST servers."""

    tape: Tape
    ws: BinanceWsServer
    rest_url: str
    rest_app: object
    store: TickStore
    bus: EventBus
    service: IngestService
    stop: asyncio.Event
    task: asyncio.Task
    events: dict[type, list] = field(default_factory=lambda: defaultdict(list))
    ticks_published: Counter = field(default_factory=Counter)
    status_lines: list[str] = field(default_factory=list)

    @property
    def rest_calls(self) -> Counter:
        """Requests per REST route."""
        return self.rest_app[STATS_KEY]

    async def replay(self, *, speed: float | None = None, on_index=None, timeout: float = 120):
        """Replay the whole tape once every stream is subscribed."""
        await self.ws.wait_for_streams(self.tape.streams(), timeout=30)
        self.ws.start_replay(speed=speed, on_index=on_index)
        await self.ws.replay_finished(timeout=timeout)

    async def settle(self, *, quiet_s: float = 0.5, timeout: float = 60) -> None:
        """Wait until the queue, the batches and the repairs are idle."""
        svc = self.service
        async with asyncio.timeout(timeout):
            while True:
                busy = (
                    svc.queue.qsize()
                    or svc.writer.pending()
                    or svc.recovery.active()
                    or svc.tracker.probing()
                )
                if not busy:
                    await asyncio.sleep(quiet_s)
                    if not (svc.queue.qsize() or svc.writer.pending() or svc.recovery.active()):
                        return
                await asyncio.sleep(0.05)

    async def finish(self) -> None:
        """Stop ingest (flush, close) and the bus."""
        self.stop.set()
        await asyncio.wait_for(self.task, 60)
        await self.bus.stop()


@asynccontextmanager
async def ingest_harness(
    tape: Tape,
    root: Path,
    *,
    api_key_env: str | None,
    settings: dict | None = None,
    count_ticks: bool = True,
    truth: dict[tuple[str, str], list[RecordedTrade]] | None = None,
) -> AsyncIterator[Harness]:
    """Start the servers and the ingest service for ``tape`` (store under ``root``). The REST
    server serves ``truth`` (default: the tape's trades; pass the original recording's when
    the tape has corrupted frames)."""
    truth = truth if truth is not None else tape.trades()
    async with BinanceWsServer(tape) as ws:
        app = make_app(trades_by_symbol=truth, clock_ms=lambda: ws.clock_ms, api_keys={API_KEY})
        async with running_server(app) as rest_url:
            store = TickStore(root)
            bus = EventBus(queue_size=200_000)
            events: dict[type, list] = defaultdict(list)
            ticks: Counter = Counter()
            for etype in (ConnectionLost, ConnectionRestored, GapDetected):
                bus.subscribe(etype, events[etype].append, name=etype.__name__)
            if count_ticks:
                bus.subscribe(
                    TradeTickReceived,
                    lambda e: ticks.update([e.tick.key]),
                    name="tick-counter",
                    overflow="block",
                )
            await bus.start()
            conf = {
                "ws_url": ws.base_url + "/{market}",
                "rest_base_url": rest_url,
                "rest_rate_limit": False,
                "status_interval_s": 1.0,
                "gap_grace_s": 0.3,
                "probe_timeout_s": 2.0,
                "reconnect_restored_timeout_s": 30.0,
            }
            if api_key_env:
                conf["rest_api_key_env"] = api_key_env
            else:
                conf["rest_api_key_env"] = "TAPEFLOW_TEST_NO_SUCH_KEY"
                os.environ.pop("TAPEFLOW_TEST_NO_SUCH_KEY", None)
            conf.update(settings or {})
            lines: list[str] = []
            service = IngestService(
                feeds_for(tape), IngestSettings(**conf), store, bus, status=lines.append
            )
            stop = asyncio.Event()
            task = asyncio.create_task(service.run(stop))
            h = Harness(
                tape, ws, rest_url, app, store, bus, service, stop, task, events, ticks, lines
            )
            try:
                yield h
            finally:
                if not task.done():
                    stop.set()
                    await asyncio.wait_for(task, 60)
                await bus.stop()
                store.close()
