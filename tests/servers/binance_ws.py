"""A local Binance market-stream WebSocket server that replays real captures.

The hftbacktest captures (``shared/data/market/nkaz001_hftbacktest/examples``) hold raw
Binance combined-stream frames, one per line: ``<local receive ts> {"stream":..,"data":..}``.
They are loaded into a :class:`Tape` (messages ordered by exchange event time ``E``) and
replayed by :class:`BinanceWsServer` exactly as recorded, byte for byte.

Protocol (as Binance, and as cryptofeed 3.x uses it):

* combined streams, subscription in the URL: ``/stream?streams=btcusdt@trade/ethusdt@trade``;
  USD-M routes ``/market/stream`` and ``/public/stream`` are accepted too. An optional
  leading path segment names the market the connection reads (``/spot/stream?..``,
  ``/usdm/market/stream?..``); without it the server's ``default_market`` is used;
* live ``{"method": "SUBSCRIBE" | "UNSUBSCRIBE" | "LIST_SUBSCRIPTIONS", "params": [..],
  "id": n}`` requests are answered like Binance (``{"result": null, "id": n}``);
* every frame is a text frame ``{"stream": "<symbol>@<channel>", "data": {...}}``.

The replay has one clock (exchange time) for all connections, as a live exchange: a
connection receives the messages of its streams from the moment it subscribed. Faults for
tests: :meth:`BinanceWsServer.drop` aborts every connection and refuses new ones for a while
(HTTP 503) while the clock keeps running, so the trades of that window are lost to the
WebSocket; :class:`Tape` builds duplicated, reordered and malformed variants and returns the
exact list of what it injected.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import http
import json
import random
import re
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Self
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import State

MARKETS = ("spot", "usdm")

#: Capture files per replay session: (market, file name under examples/{market}/). The
#: files of one market and symbol within a session join without a gap in trade ids.
HFT_SESSIONS: dict[str, tuple[tuple[str, str], ...]] = {
    "2024-08-08": (
        ("spot", "btcusdt_20240808.gz"),
        ("spot", "btcusdt_20240809.gz"),
        ("spot", "ethusdt_20240808.gz"),
        ("spot", "ethusdt_20240809.gz"),
        ("usdm", "btcusdt_20240808.gz"),
        ("usdm", "ethusdt_20240808.gz"),
    ),
    "2024-07-18": (
        ("usdm", "btcusdt_20240718.gz"),
        ("usdm", "btcusdt_20240719.gz"),
        ("usdm", "ethusdt_20240718.gz"),
        ("usdm", "ethusdt_20240719.gz"),
    ),
}


@dataclass(frozen=True, slots=True)
class RecordedTrade:
    """One trade as the exchange published it (fields of the ``@trade`` payload).

    Attributes:
        market: ``"spot"`` or ``"usdm"``.
        symbol: native symbol, upper case (``"BTCUSDT"``).
        trade_id: ``t``, contiguous per market and symbol.
        price: ``p``, the exact decimal string.
        quantity: ``q``, the exact decimal string.
        time_ms: ``T``, trade time, ms since the Unix epoch (UTC).
        is_buyer_maker: ``m``; True means the aggressor (taker) sold.
        trade_type: USD-M ``X`` (``MARKET``, ``INSURANCE_FUND``, ...), None on spot.
    """

    market: str
    symbol: str
    trade_id: int
    price: str
    quantity: str
    time_ms: int
    is_buyer_maker: bool
    trade_type: str | None = None

    @property
    def side(self) -> str:
        """Aggressor (taker) side."""
        return "sell" if self.is_buyer_maker else "buy"


@dataclass(frozen=True, slots=True)
class TapeMessage:
    """One frame of the replay.

    Attributes:
        exchange_ms: position on the replay clock (the payload's event time ``E``, ms).
        market: market whose connections receive it.
        stream: combined-stream name, e.g. ``"btcusdt@trade"``.
        payload: the exact frame text (UTF-8).
        trade: the trade it carries, for original trade frames (None for injected faults
            and non-trade streams).
        fault: ``""`` for recorded frames, otherwise the injected fault kind.
    """

    exchange_ms: int
    market: str
    stream: str
    payload: bytes
    trade: RecordedTrade | None = None
    fault: str = ""


@dataclass(frozen=True, slots=True)
class Injection:
    """A fault a :class:`Tape` variant injected (ground truth for tests)."""

    kind: str
    market: str
    stream: str
    trade_id: int | None
    payload: bytes


def parse_trade_payload(market: str, data: dict) -> RecordedTrade:
    """The :class:`RecordedTrade` of an ``@trade`` payload dict (``data`` of the frame)."""
    return RecordedTrade(
        market=market,
        symbol=data["s"],
        trade_id=int(data["t"]),
        price=data["p"],
        quantity=data["q"],
        time_ms=int(data["T"]),
        is_buyer_maker=bool(data["m"]),
        trade_type=data.get("X"),
    )


@lru_cache(maxsize=32)
def _load_capture(path: Path, market: str, channels: tuple[str, ...]) -> tuple[TapeMessage, ...]:
    wanted = {c.encode() for c in channels}
    out = []
    with gzip.open(path, "rb") as fh:
        for line in fh:
            _, _, frame = line.rstrip(b"\n").partition(b" ")
            if not frame.startswith(b'{"stream":"'):
                continue  # REST depth snapshot lines
            stream = frame[11 : frame.index(b'"', 11)]
            channel = stream.partition(b"@")[2].partition(b"@")[0]
            if channel not in wanted:
                continue
            msg = json.loads(frame)
            data = msg["data"]
            trade = parse_trade_payload(market, data) if data.get("e") == "trade" else None
            out.append(
                TapeMessage(
                    exchange_ms=int(data.get("E") or data.get("T") or 0),
                    market=market,
                    stream=msg["stream"],
                    payload=frame,
                    trade=trade,
                )
            )
    return tuple(out)


def load_capture(
    path: str | Path, market: str, *, channels: Sequence[str] = ("trade",)
) -> list[TapeMessage]:
    """Frames of one capture file whose channel is one of ``channels`` (``"trade"``,
    ``"depth"``, ``"bookTicker"``), in file order. Cached per process."""
    if market not in MARKETS:
        raise ValueError(f"market must be one of {MARKETS}, got {market!r}")
    return list(_load_capture(Path(path).resolve(), market, tuple(channels)))


def session_files(hft_dir: str | Path, session: str) -> list[tuple[str, Path]]:
    """``(market, path)`` of every capture file of a :data:`HFT_SESSIONS` session."""
    return [(m, Path(hft_dir) / m / name) for m, name in HFT_SESSIONS[session]]


class Tape:
    """The replay: frames ordered by exchange time (stable for equal times).

    Args:
        messages: frames in any order; sorted by ``exchange_ms`` (ties keep input order).
    """

    def __init__(self, messages: Iterable[TapeMessage]) -> None:
        self.messages: list[TapeMessage] = sorted(messages, key=lambda m: m.exchange_ms)

    @classmethod
    def from_captures(
        cls, files: Iterable[tuple[str, str | Path]], *, channels: Sequence[str] = ("trade",)
    ) -> Tape:
        """Load ``(market, path)`` capture files into one tape."""
        msgs: list[TapeMessage] = []
        for market, path in files:
            msgs.extend(load_capture(path, market, channels=channels))
        return cls(msgs)

    @classmethod
    def from_session(cls, hft_dir: str | Path, session: str) -> Tape:
        """The trade frames of one :data:`HFT_SESSIONS` session."""
        return cls.from_captures(session_files(hft_dir, session))

    def __len__(self) -> int:
        return len(self.messages)

    def trades(self) -> dict[tuple[str, str], list[RecordedTrade]]:
        """Ground truth: the recorded trades per ``(market, SYMBOL)``, ordered by id, each
        once (duplicated and reordered frames carry the same trade; malformed ones none)."""
        out: dict[tuple[str, str], dict[int, RecordedTrade]] = defaultdict(dict)
        for m in self.messages:
            if m.trade is not None:
                out[(m.market, m.trade.symbol)][m.trade.trade_id] = m.trade
        return {k: [v[i] for i in sorted(v)] for k, v in sorted(out.items())}

    def streams(self) -> set[tuple[str, str]]:
        """Every ``(market, stream)`` on the tape."""
        return {(m.market, m.stream) for m in self.messages}

    def index_at_fraction(self, fraction: float) -> int:
        """Index of the frame ``fraction`` (0..1) of the way through the tape's time span."""
        if not self.messages:
            return 0
        t0, t1 = self.messages[0].exchange_ms, self.messages[-1].exchange_ms
        target = t0 + (t1 - t0) * fraction
        for i, m in enumerate(self.messages):
            if m.exchange_ms >= target:
                return i
        return len(self.messages)

    # -- fault variants ------------------------------------------------------------------

    def _trade_positions(self, rng: random.Random, n: int, *, lo: float, hi: float) -> list[int]:
        idx = [
            i
            for i, m in enumerate(self.messages)
            if m.trade is not None and not m.fault and lo * len(self) <= i < hi * len(self)
        ]
        return sorted(rng.sample(idx, n))

    def with_duplicates(
        self, n: int, *, seed: int = 1, max_delay: int = 20, lo: float = 0.05, hi: float = 0.95
    ) -> tuple[Tape, list[Injection]]:
        """A copy in which ``n`` trade frames are sent again, 0..``max_delay`` frames later."""
        rng = random.Random(seed)
        msgs = list(self.messages)
        injected = []
        inserts: list[tuple[int, TapeMessage]] = []
        for i in self._trade_positions(rng, n, lo=lo, hi=hi):
            m = msgs[i]
            j = min(len(msgs), i + 1 + rng.randint(0, max_delay))
            inserts.append((j, replace(m, fault="duplicate")))
            injected.append(Injection("duplicate", m.market, m.stream, m.trade.trade_id, m.payload))
        for j, m in sorted(inserts, key=lambda x: x[0], reverse=True):
            # keep the clock monotonic: the copy travels at the time of its new neighbour
            at = msgs[j - 1].exchange_ms if j else m.exchange_ms
            msgs.insert(j, replace(m, exchange_ms=max(at, m.exchange_ms)))
        return _unsorted(msgs), injected

    def with_reordering(
        self, n: int, *, seed: int = 2, max_shift: int = 8, lo: float = 0.05, hi: float = 0.95
    ) -> tuple[Tape, list[Injection]]:
        """A copy in which ``n`` trade frames arrive 1..``max_shift`` frames of their own
        stream later than recorded (out of order)."""
        rng = random.Random(seed)
        msgs = list(self.messages)
        injected = []
        for i in sorted(self._trade_positions(rng, n, lo=lo, hi=hi), reverse=True):
            m = msgs[i]
            shift = rng.randint(1, max_shift)
            j, seen = i + 1, 0
            while j < len(msgs) and seen < shift:
                if msgs[j].stream == m.stream and msgs[j].market == m.market:
                    seen += 1
                j += 1
            del msgs[i]
            moved = replace(m, exchange_ms=msgs[j - 2].exchange_ms, fault="reordered")
            msgs.insert(j - 1, moved)
            injected.append(Injection("reordered", m.market, m.stream, m.trade.trade_id, m.payload))
        return _unsorted(msgs), injected

    def with_malformed(
        self,
        kinds: dict[str, int],
        *,
        seed: int = 3,
        lo: float = 0.05,
        hi: float = 0.95,
    ) -> tuple[Tape, list[Injection]]:
        """A copy with malformed frames. ``kinds`` maps a kind to how many:

        * ``bad_json``: a recorded trade frame cut in half (the trade is lost to the stream);
        * ``missing_field``: a recorded trade frame without its price ``p`` (lost too);
        * ``negative_price``: a recorded trade frame whose price is negated (lost too);
        * ``garbage``: an extra non-JSON text frame on a trade stream.
        """
        rng = random.Random(seed)
        msgs = list(self.messages)
        injected: list[Injection] = []
        positions = self._trade_positions(rng, sum(kinds.values()), lo=lo, hi=hi)
        rng.shuffle(positions)
        plan = [k for k, v in sorted(kinds.items()) for _ in range(v)]
        # apply from the end so that inserting a garbage frame never shifts a later target
        for i, kind in sorted(zip(positions, plan, strict=True), reverse=True):
            m = msgs[i]
            if kind == "bad_json":
                payload = m.payload[: len(m.payload) // 2]
            elif kind == "missing_field":
                payload = re.sub(rb',"p":"[^"]*"', b"", m.payload, count=1)
            elif kind == "negative_price":
                payload = re.sub(rb'"p":"', b'"p":"-', m.payload, count=1)
            elif kind == "garbage":
                payload = b"<html>502 Bad Gateway</html>"
            else:
                raise ValueError(f"unknown malformed kind {kind!r}")
            bad = replace(m, payload=payload, trade=None, fault=kind)
            if kind == "garbage":
                msgs.insert(i + 1, bad)
                tid = None
            else:
                msgs[i] = bad
                tid = m.trade.trade_id
            injected.append(Injection(kind, m.market, m.stream, tid, payload))
        return _unsorted(msgs), injected


def _unsorted(msgs: list[TapeMessage]) -> Tape:
    tape = Tape([])
    tape.messages = msgs
    return tape


_STAMP = re.compile(rb'"([ET])":\d+')


def restamp(payload: bytes, now_ms: int) -> bytes:
    """The frame with its event time ``E`` and trade time ``T`` set to ``now_ms``."""
    stamp = str(now_ms).encode()
    return _STAMP.sub(lambda m: b'"' + m.group(1) + b'":' + stamp, payload)


@dataclass
class ServerStats:
    """Counters of a :class:`BinanceWsServer`."""

    connections: int = 0
    refused: int = 0
    dropped: int = 0
    frames_sent: int = 0
    frames_skipped: int = 0  # sent to nobody (no subscriber at that moment)
    subscribe_requests: int = 0
    requests: list[str] = field(default_factory=list)


class BinanceWsServer:
    """Replays a :class:`Tape` to WebSocket clients; see the module docstring.

    Args:
        tape: what to replay.
        host, port: where to listen (port 0 picks a free port).
        default_market: market for connections whose path does not name one.

    Use as ``async with BinanceWsServer(tape) as server:``; :attr:`base_url` is then
    ``ws://127.0.0.1:PORT``; :meth:`url` gives a market's base address.
    """

    def __init__(
        self,
        tape: Tape,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        default_market: str = "spot",
    ) -> None:
        self.tape = tape
        self.host = host
        self.port = port
        self.default_market = default_market
        self.stats = ServerStats()
        self._server: Server | None = None
        self._subs: dict[tuple[str, str], set[ServerConnection]] = defaultdict(set)
        self._conn_streams: dict[ServerConnection, set[tuple[str, str]]] = {}
        self._refuse_until = 0.0
        self._changed = asyncio.Event()
        self._replay: asyncio.Task | None = None
        self._position = 0
        self._clock_ms = tape.messages[0].exchange_ms - 1 if tape.messages else 0
        self._finished = False
        #: trade frames the replay sent to nobody (no subscriber at that moment, e.g. during
        #: a drop): the trades a client can only get back over REST
        self.unsent: list[TapeMessage] = []

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> Self:
        """Start listening."""
        self._server = await serve(
            self._handler,
            self.host,
            self.port,
            process_request=self._process_request,
            max_size=2**20,
            compression=None,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        """Stop the replay and close every connection."""
        if self._replay is not None:
            self._replay.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._replay
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        """``ws://host:port``."""
        return f"ws://{self.host}:{self.port}"

    def url(self, market: str) -> str:
        """Base address a client of ``market`` uses instead of Binance's (paths appended)."""
        return f"{self.base_url}/{market}"

    # -- clock ---------------------------------------------------------------------------

    @property
    def clock_ms(self) -> int:
        """Exchange time of the replay (ms): the last frame's event time passed so far."""
        return self._clock_ms

    @property
    def position(self) -> int:
        """Index of the next frame to send."""
        return self._position

    @property
    def finished(self) -> bool:
        """True once every frame was replayed."""
        return self._finished

    # -- connections ---------------------------------------------------------------------

    def _parse_path(self, path: str) -> tuple[str, set[str]] | None:
        parts = urlsplit(path)
        segments = [s for s in parts.path.split("/") if s]
        market = self.default_market
        if segments and segments[0] in MARKETS:
            market = segments.pop(0)
        if segments in (["stream"], ["market", "stream"], ["public", "stream"]):
            streams = parse_qs(parts.query).get("streams", [""])[0]
            return market, {s for s in streams.split("/") if s}
        if segments in (["ws"], ["market", "ws"], ["public", "ws"]):
            return market, set()
        return None

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        self.stats.requests.append(request.path)
        if time.monotonic() < self._refuse_until:
            self.stats.refused += 1
            return connection.respond(http.HTTPStatus.SERVICE_UNAVAILABLE, "Service Unavailable\n")
        if self._parse_path(request.path) is None:
            return connection.respond(http.HTTPStatus.NOT_FOUND, "Not Found\n")
        return None

    def _subscribe(self, conn: ServerConnection, market: str, streams: Iterable[str]) -> None:
        for s in streams:
            key = (market, s)
            self._subs[key].add(conn)
            self._conn_streams[conn].add(key)
        self._changed.set()

    def _unsubscribe(self, conn: ServerConnection, keys: Iterable[tuple[str, str]]) -> None:
        for key in list(keys):
            self._subs[key].discard(conn)
            self._conn_streams.get(conn, set()).discard(key)
        self._changed.set()

    async def _handler(self, conn: ServerConnection) -> None:
        market, streams = self._parse_path(conn.request.path)
        self.stats.connections += 1
        self._conn_streams[conn] = set()
        self._subscribe(conn, market, streams)
        try:
            async for raw in conn:
                await self._on_request(conn, market, raw)
        except ConnectionClosed:
            pass
        finally:
            self._unsubscribe(conn, list(self._conn_streams.get(conn, ())))
            self._conn_streams.pop(conn, None)

    async def _on_request(self, conn: ServerConnection, market: str, raw: str | bytes) -> None:
        """Binance live subscription requests."""
        try:
            req = json.loads(raw)
            method, rid = req["method"], req.get("id")
            params = req.get("params", [])
        except (ValueError, KeyError, TypeError):
            await conn.send(json.dumps({"error": {"code": 3, "msg": "Invalid JSON"}, "id": None}))
            return
        self.stats.subscribe_requests += 1
        if method == "SUBSCRIBE":
            self._subscribe(conn, market, params)
            await conn.send(json.dumps({"result": None, "id": rid}))
        elif method == "UNSUBSCRIBE":
            self._unsubscribe(conn, [(market, s) for s in params])
            await conn.send(json.dumps({"result": None, "id": rid}))
        elif method == "LIST_SUBSCRIPTIONS":
            names = sorted(s for m, s in self._conn_streams.get(conn, ()) if m == market)
            await conn.send(json.dumps({"result": names, "id": rid}))
        else:
            await conn.send(
                json.dumps({"error": {"code": 2, "msg": f"Invalid request: {method}"}, "id": rid})
            )

    def subscribed(self) -> set[tuple[str, str]]:
        """Every ``(market, stream)`` some connection currently reads."""
        return {k for k, conns in self._subs.items() if conns}

    async def wait_for_streams(
        self, streams: Iterable[tuple[str, str]], *, timeout: float = 10.0
    ) -> None:
        """Wait until every given ``(market, stream)`` has a subscriber.

        Raises:
            TimeoutError: not all subscribed within ``timeout`` seconds.
        """
        want = set(streams)
        async with asyncio.timeout(timeout):
            while not want <= self.subscribed():
                self._changed.clear()
                await self._changed.wait()

    # -- faults --------------------------------------------------------------------------

    def drop(self, duration_s: float) -> int:
        """Abort every connection now and refuse new ones (HTTP 503) for ``duration_s``
        seconds of wall time. The replay clock keeps running. Returns connections dropped."""
        self._refuse_until = time.monotonic() + duration_s
        conns = list(self._conn_streams)
        for conn in conns:
            self._unsubscribe(conn, list(self._conn_streams.get(conn, ())))
            conn.transport.abort()
        self.stats.dropped += len(conns)
        return len(conns)

    # -- replay --------------------------------------------------------------------------

    def start_replay(
        self,
        *,
        speed: float | None = None,
        stamp_now: bool = False,
        on_index: dict[int, Callable[[], object]] | None = None,
        coalesce: bool = False,
    ) -> asyncio.Task:
        """Start sending the tape.

        Args:
            speed: replay rate as a multiple of exchange time (``10`` = ten times faster
                than it happened); ``None`` = as fast as the clients read.
            stamp_now: rewrite every frame's ``E`` and ``T`` to the wall clock (ms) at send
                time, so a client can measure exchange-time-to-commit latency.
            on_index: callbacks run just before the frame at that index is sent (e.g.
                ``{i: lambda: server.drop(2.0)}``).
            coalesce: load-generator mode for benchmarks: frames due at the same moment are
                encoded with websockets' own frame serializer and written to each
                connection in one socket write (the wire bytes are the same; the server
                spends far less per frame). Frames stay one message each.
        """
        if self._replay is not None:
            raise RuntimeError("replay already started")
        run = self._run_coalesced if coalesce else self._run
        self._replay = asyncio.create_task(
            run(speed, stamp_now, on_index or {}), name="binance-ws-replay"
        )
        return self._replay

    async def replay_finished(self, timeout: float | None = None) -> None:
        """Wait for the end of the tape."""
        if self._replay is None:
            raise RuntimeError("replay not started")
        async with asyncio.timeout(timeout):
            await asyncio.shield(self._replay)

    async def _run(
        self, speed: float | None, stamp_now: bool, on_index: dict[int, Callable[[], object]]
    ) -> None:
        loop = asyncio.get_running_loop()
        msgs = self.tape.messages
        if not msgs:
            self._finished = True
            return
        t0 = msgs[0].exchange_ms
        wall0 = loop.time()
        subs = self._subs
        stats = self.stats
        for i, m in enumerate(msgs):
            self._position = i
            hook = on_index.get(i)
            if hook is not None:
                hook()
            if speed is not None:
                delay = wall0 + (m.exchange_ms - t0) / 1000.0 / speed - loop.time()
                if delay > 0.001:
                    await asyncio.sleep(delay)
            elif i % 512 == 0:
                await asyncio.sleep(0)
            if m.exchange_ms > self._clock_ms:
                self._clock_ms = m.exchange_ms
            conns = subs.get((m.market, m.stream))
            if not conns:
                stats.frames_skipped += 1
                if m.trade is not None:
                    self.unsent.append(m)
                continue
            payload = restamp(m.payload, time.time_ns() // 1_000_000) if stamp_now else m.payload
            delivered = False
            for conn in list(conns):
                try:
                    await conn.send(payload, text=True)
                    stats.frames_sent += 1
                    delivered = True
                except ConnectionClosed:
                    conns.discard(conn)
            if not delivered and m.trade is not None:
                self.unsent.append(m)
        self._position = len(msgs)
        self._clock_ms = max(self._clock_ms, msgs[-1].exchange_ms)
        self._finished = True

    async def _run_coalesced(
        self, speed: float | None, stamp_now: bool, on_index: dict[int, Callable[[], object]]
    ) -> None:
        loop = asyncio.get_running_loop()
        msgs = self.tape.messages
        if not msgs:
            self._finished = True
            return
        t0 = msgs[0].exchange_ms
        wall0 = loop.time()
        subs = self._subs
        stats = self.stats
        pending: dict[ServerConnection, list[bytes]] = defaultdict(list)
        queued: list[TapeMessage] = []

        async def flush() -> None:
            for conn, frames in pending.items():
                if conn.state is not State.OPEN:
                    continue
                conn.transport.write(b"".join(frames))
                stats.frames_sent += len(frames)
                with contextlib.suppress(ConnectionError):
                    await conn.drain()
            pending.clear()
            queued.clear()

        for i, m in enumerate(msgs):
            self._position = i
            hook = on_index.get(i)
            if hook is not None:
                await flush()
                hook()
            if speed is not None:
                delay = wall0 + (m.exchange_ms - t0) / 1000.0 / speed - loop.time()
                if delay > 0.001:
                    await flush()
                    await asyncio.sleep(delay)
            if m.exchange_ms > self._clock_ms:
                self._clock_ms = m.exchange_ms
            conns = subs.get((m.market, m.stream))
            if not conns:
                stats.frames_skipped += 1
                if m.trade is not None:
                    self.unsent.append(m)
                continue
            payload = restamp(m.payload, time.time_ns() // 1_000_000) if stamp_now else m.payload
            frame = Frame(Opcode.TEXT, payload).serialize(mask=False, extensions=[])
            for conn in conns:
                pending[conn].append(frame)
            queued.append(m)
            if len(queued) >= 256:
                await flush()
        await flush()
        self._position = len(msgs)
        self._clock_ms = max(self._clock_ms, msgs[-1].exchange_ms)
        self._finished = True
