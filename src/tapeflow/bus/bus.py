"""A bounded, in-process, asyncio event bus with isolated subscribers.

Every subscription owns a bounded queue and one worker task. ``publish`` puts the event on
the queue of each subscription whose event type matches (``isinstance``), so a slow or
failing subscriber only ever delays itself:

* each handler call runs under a timeout; a timeout or an exception is logged and counted,
  and the worker goes on with the next event;
* when a subscription's queue is full, ``overflow="block"`` makes ``publish`` wait (back-
  pressure, for subscribers that must see every event, such as trailing stops) and
  ``overflow="drop"`` drops the event for that subscriber only and counts it (for
  best-effort subscribers such as e-mail).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from tapeflow.model.events import Event

log = logging.getLogger(__name__)

Handler = Callable[[Any], Awaitable[None] | None]


@dataclass
class Subscription:
    """One subscriber: its handler, queue and counters."""

    name: str
    event_type: type
    handler: Handler
    queue: asyncio.Queue
    overflow: Literal["block", "drop"]
    timeout_s: float
    handled: int = 0
    failed: int = 0
    timed_out: int = 0
    dropped: int = 0
    slow: int = 0
    task: asyncio.Task | None = field(default=None, repr=False)


class EventBus:
    """Bounded publish/subscribe bus; see the module docstring for the guarantees.

    Args:
        queue_size: default per-subscription queue capacity (events).
        handler_timeout_s: default time a handler may take per event before it is
            abandoned and counted as timed out.
        slow_handler_s: a handler call longer than this is counted as slow.
    """

    def __init__(
        self,
        *,
        queue_size: int = 10_000,
        handler_timeout_s: float = 5.0,
        slow_handler_s: float = 0.1,
    ) -> None:
        self._queue_size = queue_size
        self._timeout_s = handler_timeout_s
        self._slow_s = slow_handler_s
        self._subs: list[Subscription] = []
        self._routes: dict[type, list[Subscription]] = {}
        self._published = 0
        self._delivered = 0  # events put into a subscription's queue
        self._started_at = time.monotonic()
        self._running = False

    def subscribe(
        self,
        event_type: type,
        handler: Handler,
        *,
        name: str | None = None,
        queue_size: int | None = None,
        overflow: Literal["block", "drop"] = "block",
        timeout_s: float | None = None,
    ) -> Subscription:
        """Register ``handler`` (sync or async) for events that are ``event_type`` instances."""
        sub = Subscription(
            name=name or str(getattr(handler, "__qualname__", repr(handler))),
            event_type=event_type,
            handler=handler,
            queue=asyncio.Queue(maxsize=queue_size or self._queue_size),
            overflow=overflow,
            timeout_s=self._timeout_s if timeout_s is None else timeout_s,
        )
        self._subs.append(sub)
        self._routes.clear()
        if self._running:
            sub.task = asyncio.create_task(self._worker(sub), name=f"bus:{sub.name}")
        return sub

    def _targets(self, event: Event) -> list[Subscription]:
        cls = type(event)
        subs = self._routes.get(cls)
        if subs is None:
            subs = [s for s in self._subs if issubclass(cls, s.event_type)]
            self._routes[cls] = subs
        return subs

    async def publish(self, event: Event) -> None:
        """Deliver ``event`` to every matching subscription (waits on full ``block`` queues)."""
        self._published += 1
        for sub in self._targets(event):
            if sub.overflow == "block":
                await sub.queue.put(event)
                self._delivered += 1
            else:
                try:
                    sub.queue.put_nowait(event)
                    self._delivered += 1
                except asyncio.QueueFull:
                    sub.dropped += 1

    def publish_nowait(self, event: Event) -> None:
        """Deliver without waiting; on a full queue the event is dropped for that subscriber
        and counted (use :meth:`publish` where back-pressure is wanted)."""
        self._published += 1
        for sub in self._targets(event):
            try:
                sub.queue.put_nowait(event)
                self._delivered += 1
            except asyncio.QueueFull:
                sub.dropped += 1

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`stop` (events published now are
        delivered)."""
        return self._running

    async def start(self) -> None:
        """Start one worker task per subscription (call inside the running loop)."""
        self._running = True
        self._started_at = time.monotonic()
        for sub in self._subs:
            if sub.task is None:
                sub.task = asyncio.create_task(self._worker(sub), name=f"bus:{sub.name}")

    async def stop(self, *, drain_timeout_s: float = 10.0) -> None:
        """Let the workers finish queued events (up to ``drain_timeout_s``), then stop them.

        Events that handlers publish while the bus drains are drained too (a tick's handler
        announcing a candle close whose handler places an order): the queues are joined
        again until a pass delivers nothing new. Idempotent."""
        if not self._running:
            return
        try:
            async with asyncio.timeout(drain_timeout_s):
                while True:
                    delivered = self._delivered
                    await asyncio.gather(*(s.queue.join() for s in self._subs))
                    if self._delivered == delivered:
                        break
        except TimeoutError:
            log.warning("event bus: queues not drained within %.1fs", drain_timeout_s)
        for sub in self._subs:
            if sub.task is not None:
                sub.task.cancel()
        await asyncio.gather(*(s.task for s in self._subs if s.task), return_exceptions=True)
        for sub in self._subs:
            sub.task = None
        self._running = False

    async def _worker(self, sub: Subscription) -> None:
        while True:
            event = await sub.queue.get()
            started = time.monotonic()
            try:
                result = sub.handler(event)
                if inspect.isawaitable(result):
                    await asyncio.wait_for(result, sub.timeout_s)
                sub.handled += 1
            except TimeoutError:
                sub.timed_out += 1
                log.warning("bus subscriber %s timed out after %.1fs", sub.name, sub.timeout_s)
            except asyncio.CancelledError:
                sub.queue.task_done()
                raise
            except Exception:
                sub.failed += 1
                log.exception("bus subscriber %s failed on %s", sub.name, type(event).__name__)
            finally:
                if time.monotonic() - started > self._slow_s:
                    sub.slow += 1
            sub.queue.task_done()

    def metrics(self) -> dict[str, Any]:
        """Queue depths and counters: ``{"published", "events_per_s", "depth", "subscribers"}``."""
        elapsed = max(time.monotonic() - self._started_at, 1e-9)
        return {
            "published": self._published,
            "events_per_s": self._published / elapsed,
            "depth": sum(s.queue.qsize() for s in self._subs),
            "subscribers": {
                s.name: {
                    "depth": s.queue.qsize(),
                    "handled": s.handled,
                    "failed": s.failed,
                    "timed_out": s.timed_out,
                    "dropped": s.dropped,
                    "slow": s.slow,
                }
                for s in self._subs
            },
        }
