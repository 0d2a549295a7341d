"""A local server on its own event loop in a background thread, for tests whose code under
test runs its own loop (the CLI calls ``asyncio.run``) or none (the thread-based notifier).
The local SendGrid and data.binance.vision servers run on it too."""

from __future__ import annotations

import asyncio
import threading

from aiohttp import web


class ServerThread:
    """Serve ``app`` on 127.0.0.1 (a free port) from a daemon thread: :meth:`start` returns
    the base URL, :meth:`stop` shuts it down."""

    def __init__(self, app: web.Application, *, shutdown_timeout_s: float = 60.0) -> None:
        """``shutdown_timeout_s``: how long :meth:`stop` lets open requests finish."""
        self.app = app
        self.shutdown_timeout_s = shutdown_timeout_s
        self.port = 0
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.runner: web.AppRunner | None = None

    async def _up(self) -> int:
        self.runner = web.AppRunner(
            self.app, access_log=None, shutdown_timeout=self.shutdown_timeout_s
        )
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()
        return self.runner.addresses[0][1]

    def start(self) -> str:
        self.thread.start()
        self.port = asyncio.run_coroutine_threadsafe(self._up(), self.loop).result(30)
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.runner is not None:
            asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)
        self.loop.close()
