"""A local HTTP server standing in for SendGrid's v3 API: records every request and answers
with scripted responses (default ``202 Accepted``, empty body, as SendGrid does).

It runs on a :class:`~tests.servers.thread.ServerThread` (its own asyncio loop in a
thread), so tests can drive the (thread-based) notifier
synchronously or from their own event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.servers.thread import ServerThread


@dataclass(frozen=True)
class Recorded:
    """One request as received."""

    method: str
    path: str
    headers: dict[str, str]
    raw: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.raw)


@dataclass(frozen=True)
class Reply:
    """A scripted answer; ``hang_s`` > 0 holds it back that long or until
    :meth:`MailServer.release` (a stuck server)."""

    status: int = 202
    body: str = ""
    hang_s: float = 0.0


class MailServer:
    """Start with :meth:`start`, stop with :meth:`stop`; ``host`` is the base URL."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._replies: deque[Reply] = deque()
        self._cond = threading.Condition()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._server = ServerThread(app, shutdown_timeout_s=0.5)
        self._released = asyncio.Event()  # bound to the server's loop at its first wait
        self._stopped = False

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def host(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def script(self, *replies: Reply) -> None:
        """Answer the next requests with ``replies``, in order, then 202 again."""
        with self._cond:
            self._replies.extend(replies)

    def wait_for(self, count: int, timeout_s: float = 30.0) -> bool:
        """Wait until at least ``count`` requests arrived."""
        with self._cond:
            return self._cond.wait_for(lambda: len(self.requests) >= count, timeout_s)

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        with self._cond:
            self.requests.append(Recorded(request.method, request.path, dict(request.headers), raw))
            reply = self._replies.popleft() if self._replies else Reply()
            self._cond.notify_all()
        if reply.hang_s:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._released.wait(), reply.hang_s)
        return web.Response(status=reply.status, text=reply.body, content_type="application/json")

    def release(self) -> None:
        """Let every held (``hang_s``) reply go now."""
        self._server.loop.call_soon_threadsafe(self._released.set)

    def start(self) -> MailServer:
        self._server.start()
        return self

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self.release()
        self._server.stop()
