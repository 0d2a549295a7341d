"""The running process's control endpoint: operator actions over HTTP on loopback.

``tapeflow run`` serves :class:`~tapeflow.execution.controls.OperatorControls` here, on
``127.0.0.1`` and a free port, and writes ``{root}/.tapeflow/control.json`` (mode 0600:
host, port, process id, a random bearer token) — the query endpoint's rules
(:func:`tapeflow.analytics.endpoint.publish_endpoint`), in a file of its own. Every request
must carry ``Authorization: Bearer <token>``; anything else is answered ``401``.

Routes (JSON in and out):

* ``GET /positions`` → ``{"positions": [...]}`` (:meth:`OperatorControls.positions`);
* ``POST /close`` ``{"symbol": "BTCUSDT" | null}`` (null: every position);
* ``POST /pause`` / ``POST /resume`` ``{"symbol": ...}``;
* ``POST /risk/reset``.

Actions answer ``{"changed": bool, "messages": [...]}`` and log each message as a warning
(``operator close: ...``) in the process's log; an unknown symbol ``404``, a
failed exchange request ``502``, both with ``{"error": ...}``.

:class:`ControlClient` is the other side (the CLI): it finds the file
(:func:`find_control`) and sends one request.
"""

from __future__ import annotations

import json
import logging
import secrets
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from aiohttp import web

from tapeflow.analytics.endpoint import EndpointInfo, publish_endpoint, read_endpoint
from tapeflow.execution.controls import ControlResult, OperatorControls, UnknownSymbol
from tapeflow.execution.errors import ExecutionError
from tapeflow.model.errors import TapeflowError

log = logging.getLogger(__name__)

CONTROL_FILE = Path(".tapeflow") / "control.json"
LOOPBACK = ("127.0.0.1", "localhost", "::1")


class ControlEndpoint:
    """Serve ``controls`` on loopback for the store root ``root`` (see the module
    docstring). ``await start()`` / ``await stop()``; stop is idempotent.

    Raises:
        ValueError: a host that is not loopback.
    """

    def __init__(self, controls: OperatorControls, root: Path, *, host: str = "127.0.0.1"):
        if host not in LOOPBACK:
            raise ValueError("the control endpoint listens on loopback only")
        self.controls = controls
        self.host = host
        self.path = Path(root) / CONTROL_FILE
        self.port = 0
        self._token = secrets.token_urlsafe(32)
        self._runner: web.AppRunner | None = None

    def _app(self) -> web.Application:
        @web.middleware
        async def auth(request: web.Request, handler):
            given = request.headers.get("Authorization", "")
            if not secrets.compare_digest(given, f"Bearer {self._token}"):
                return web.json_response({"error": "missing or wrong control token"}, status=401)
            try:
                return await handler(request)
            except UnknownSymbol as exc:
                return web.json_response({"error": str(exc)}, status=404)
            except ExecutionError as exc:
                return web.json_response({"error": str(exc)}, status=502)

        c = self.controls

        async def positions(request: web.Request) -> web.Response:
            return web.json_response({"positions": c.positions()})

        async def symbol_of(request: web.Request) -> str | None:
            body = await request.json() if request.can_read_body else {}
            return body.get("symbol")

        def answer(action: str, result: ControlResult) -> web.Response:
            for line in result.messages:  # the process's own record of operator actions
                log.warning("operator %s: %s", action, line)
            return web.json_response(result.to_dict())

        async def close(request: web.Request) -> web.Response:
            return answer("close", await c.close(await symbol_of(request)))

        async def pause(request: web.Request) -> web.Response:
            return answer("pause", c.pause(str(await symbol_of(request)), True))

        async def resume(request: web.Request) -> web.Response:
            return answer("resume", c.pause(str(await symbol_of(request)), False))

        async def risk_reset(request: web.Request) -> web.Response:
            return answer("risk reset", await c.risk_reset())

        app = web.Application(middlewares=[auth])
        app.add_routes(
            [
                web.get("/positions", positions),
                web.post("/close", close),
                web.post("/pause", pause),
                web.post("/resume", resume),
                web.post("/risk/reset", risk_reset),
            ]
        )
        return app

    async def start(self) -> ControlEndpoint:
        """Listen, then publish the control file."""
        self._runner = web.AppRunner(self._app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        publish_endpoint(self.path, self.host, self.port, self._token)
        log.info("control endpoint on %s:%d", self.host, self.port)
        return self

    async def stop(self) -> None:
        """Remove the control file and stop serving."""
        self.path.unlink(missing_ok=True)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


def find_control(root: str | Path) -> EndpointInfo | None:
    """The control endpoint of a live ``tapeflow run`` on ``root``, or None."""
    return read_endpoint(Path(root) / CONTROL_FILE)


class ControlRefused(TapeflowError, RuntimeError):
    """The endpoint refused the request (``status``: 401 token, 404 symbol, 502 exchange)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class ControlClient:
    """Send one operator action to a running process (a blocking HTTP request)."""

    def __init__(self, info: EndpointInfo, *, timeout_s: float = 60.0) -> None:
        self._base = f"http://{info.host}:{info.port}"
        self._token = info.token
        self._timeout = timeout_s

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """The JSON answer.

        Raises:
            ControlRefused: a non-2xx answer (its ``error`` text).
            OSError: the process could not be reached.
        """
        data = json.dumps(body).encode() if body is not None else None
        url = f"{self._base}{path}"  # always http://loopback:port, never a user scheme
        req = urllib.request.Request(url, data=data, method=method)  # noqa: S310
        req.add_header("Authorization", f"Bearer {self._token}")
        req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=self._timeout) as resp:  # noqa: S310
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            try:
                message = json.loads(exc.read()).get("error", exc.reason)
            except ValueError:
                message = str(exc.reason)
            raise ControlRefused(exc.code, message) from None
