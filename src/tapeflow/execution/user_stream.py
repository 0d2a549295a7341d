"""The user-data stream: how a live engine learns at once that a resting order changed
(seed 001 §7.2: "fills from the user-data stream").

* **listen key**: created through the exchange adapter (Binance spot ``POST
  /api/v3/userDataStream``, USD-M ``POST /fapi/v1/listenKey``) and kept alive with a
  ``PUT`` every ``keepalive_interval_s`` (Binance: a key lives 60 minutes). It is a
  secret-like value: logs show only its first and last 4 characters (:func:`mask`).
* **websocket**: ``<base>/ws/<listenKey>`` (the venue's ``ws_base``, or the configured base).
* **events**: the venue's ``settling_order`` reads a message (Binance:
  :mod:`tapeflow.venues.binance.user_stream`); an event that ends or fills an order calls
  ``on_order(client order id)`` — the engine looks that order up and books it through the
  same path as a poll.
* **reconnect**: a dropped or failed connection is one warning line and a new attempt on
  a tenacity exponential backoff (new listen key, new socket); after every (re)connect
  ``resync()`` runs once (the poll), so a fill that happened while disconnected is booked.
  :attr:`UserStream.connected` tells the engine whether to poll fast (stream down) or
  slowly (stream up).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import aiohttp
import msgspec
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential

from tapeflow.execution.errors import ExecutionError
from tapeflow.model.errors import TapeflowError

log = logging.getLogger(__name__)


class ListenKeys(Protocol):
    """What the stream needs of the exchange adapter
    (:class:`~tapeflow.execution.ccxt_adapter.CcxtExchange`)."""

    name: str

    async def create_listen_key(self) -> str: ...

    async def keep_alive_listen_key(self, listen_key: str) -> None: ...


class StreamClosed(TapeflowError):
    """The websocket ended (closed by the server, dropped, or an error frame)."""


def mask(listen_key: str) -> str:
    """``abcd…wxyz``: enough to tell keys apart in a log, never the key."""
    return f"{listen_key[:4]}…{listen_key[-4:]}" if len(listen_key) > 12 else "…"


class UserStream:
    """One venue's user-data stream, run as a task by :meth:`start` until :meth:`stop`.

    Args:
        exchange: creates and keeps alive the listen key.
        url: websocket base (the venue's ``ws_base``).
        on_order: called with the client order id of every event that settles an order.
        resync: called once after every (re)connect (the poll of the resting stops).
        settling_order: the venue's reading of a message: the client order id of an event
            that ends or fills an order, else None (raises ``msgspec.DecodeError`` on a
            message that is not JSON); :class:`tapeflow.venues.streams.UserStreamEvents`.
        keepalive_interval_s: seconds between keepalive ``PUT``s.
        retry_initial_s, retry_max_s: reconnect backoff (exponential, doubling).
    """

    def __init__(
        self,
        exchange: ListenKeys,
        url: str,
        on_order: Callable[[str], Awaitable[Any]],
        resync: Callable[[], Awaitable[Any]],
        *,
        settling_order: Callable[[str], str | None],
        keepalive_interval_s: float = 1800.0,
        retry_initial_s: float = 1.0,
        retry_max_s: float = 60.0,
    ) -> None:
        self.exchange = exchange
        self.url = url.rstrip("/")
        self.on_order = on_order
        self.resync = resync
        self.settling_order = settling_order
        self.keepalive_interval_s = keepalive_interval_s
        self.retry_initial_s = retry_initial_s
        self.retry_max_s = retry_max_s
        self.connected = False
        self.connects = 0  # successful connections (status and tests)
        self.events = 0  # settling order events handled
        self._task: asyncio.Task | None = None

    def start(self) -> asyncio.Task:
        """Run the stream in a task (idempotent)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=f"user-stream {self.exchange.name}")
        return self._task

    async def stop(self) -> None:
        """Cancel the task and close the socket."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.connected = False

    async def _run(self) -> None:
        retrying = AsyncRetrying(
            wait=wait_exponential(multiplier=self.retry_initial_s, max=self.retry_max_s),
            retry=retry_if_exception_type(
                (StreamClosed, ExecutionError, aiohttp.ClientError, OSError, TimeoutError)
            ),
            before_sleep=self._log_retry,
        )
        async with aiohttp.ClientSession() as session:
            async for attempt in retrying:
                with attempt:
                    await self._connect_once(session)

    def _log_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        log.warning(
            "%s user-data stream down (%s: %s); reconnecting in %.1fs, polling meanwhile",
            self.exchange.name,
            type(exc).__name__,
            exc,
            state.upcoming_sleep,
        )

    async def _connect_once(self, session: aiohttp.ClientSession) -> None:
        key = await self.exchange.create_listen_key()
        try:
            ws = await session.ws_connect(f"{self.url}/ws/{key}", heartbeat=30)
        except aiohttp.ClientError as exc:  # the URL holds the key: never in the message
            raise StreamClosed(f"connect failed: {type(exc).__name__}") from None
        keepalive = asyncio.create_task(self._keep_alive(key, ws))
        try:
            self.connected = True
            self.connects += 1
            log.info("%s user-data stream connected (listen key %s)", self.exchange.name, mask(key))
            await self.resync()
            async for msg in ws:
                if msg.type is aiohttp.WSMsgType.TEXT:
                    await self._handle(msg.data)
                elif msg.type is aiohttp.WSMsgType.ERROR:
                    break
            raise StreamClosed(f"closed (code {ws.close_code})")
        finally:
            self.connected = False
            keepalive.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keepalive
            await ws.close()

    async def _keep_alive(self, key: str, ws: aiohttp.ClientWebSocketResponse) -> None:
        while True:
            await asyncio.sleep(self.keepalive_interval_s)
            try:
                await self.exchange.keep_alive_listen_key(key)
            except ExecutionError as exc:  # an expired key: reconnect with a new one
                log.warning("%s listen key keepalive failed: %s", self.exchange.name, exc)
                await ws.close()
                return

    async def _handle(self, data: str) -> None:
        try:
            client_id = self.settling_order(data)
        except msgspec.DecodeError:
            log.warning(
                "%s user-data stream: a message that is not JSON skipped", self.exchange.name
            )
            return
        if client_id is None:
            return
        self.events += 1
        try:
            await self.on_order(client_id)
        except Exception:  # the stream outlives one failed booking; the poll retries it
            log.exception(
                "%s: booking order %s from the stream failed", self.exchange.name, client_id
            )
