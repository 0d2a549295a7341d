"""A local data.binance.vision stand-in: aiohttp on 127.0.0.1, serving files from a folder.

Runs on a :class:`~tests.servers.thread.ServerThread` (its own event loop on a thread) so
synchronous code (the downloader's
``asyncio.run``, the CLI) can talk to it. Range requests are served by aiohttp's
``FileResponse``; paths listed in ``cut_once`` get their first full-body request cut after
half the bytes (the connection is dropped mid-transfer).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp import web

from tests.servers.thread import ServerThread


class ArchiveServer:
    """``with ArchiveServer(folder) as srv: srv.base_url`` — files under ``folder/data/...``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.cut_once: set[str] = set()
        self.requests: list[tuple[str, str | None]] = []  # (path, Range header)
        app = web.Application()
        app.router.add_get("/data/{tail:.*}", self._handle)
        self._server = ServerThread(app)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        rel = request.match_info["tail"]
        self.requests.append((rel, request.headers.get("Range")))
        path = (self.folder / "data" / rel).resolve()
        if not path.is_relative_to(self.folder.resolve()) or not path.is_file():
            raise web.HTTPNotFound()
        if rel in self.cut_once and "Range" not in request.headers:
            self.cut_once.discard(rel)
            data = path.read_bytes()
            resp = web.StreamResponse(headers={"Content-Length": str(len(data))})
            await resp.prepare(request)
            await resp.write(data[: len(data) // 2])
            await asyncio.sleep(0.05)
            request.transport.close()  # drop the connection mid-body
            return resp
        return web.FileResponse(path)

    def __enter__(self) -> ArchiveServer:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def zip_requests(self, name: str) -> list[str | None]:
        """Range headers of the requests for archive ``name`` (None = whole file)."""
        return [rng for rel, rng in self.requests if rel.endswith("/" + name)]
