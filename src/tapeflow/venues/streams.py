"""User-data streams: what a venue's ``user_stream`` module provides to execution's
:class:`~tapeflow.execution.user_stream.UserStream`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol


class UserStreamEvents(Protocol):
    """A venue's ``user_stream`` module (Binance: :mod:`tapeflow.venues.binance.user_stream`)."""

    def ws_base(self, market: str, configured: str | None, api_url: str | None) -> str:
        """The websocket base: ``configured``, else the ``api_url`` host (a local server),
        else the venue's own for ``market``."""
        ...

    def settling_order(self, raw: bytes | str) -> str | None:
        """The client order id of an event that ends or fills an order, else None
        (raises ``msgspec.DecodeError`` on a message that is not JSON)."""
        ...

    def listen_key_methods(
        self, client: Any, market: str
    ) -> tuple[Callable[..., Awaitable[Any]], Callable[..., Awaitable[Any]]]:
        """``(create, keep_alive)`` of a stream key, as methods of the venue's ccxt client."""
        ...

    def keep_alive_params(self, market: str, listen_key: str) -> dict[str, str]:
        """The parameters of the keep-alive call for ``listen_key``."""
        ...
