"""The exchange interface every adapter implements (ccxt live, paper); its records are
:mod:`tapeflow.model.orders`.

All prices and quantities are exact :class:`~decimal.Decimal`; times are UTC. Orders are
addressed by their deterministic client order id (see :mod:`tapeflow.execution.client_ids`),
never by the exchange's own id, so a restarted engine can find them.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Protocol, runtime_checkable

from tapeflow.execution.markets import MarketRules
from tapeflow.model.orders import Balance, ExchangePosition, OrderRequest, OrderType, OrderUpdate
from tapeflow.model.symbols import SymbolKey


@runtime_checkable
class Exchange(Protocol):
    """What the execution engine needs from a venue (ccxt live or paper).

    Errors: :class:`~tapeflow.execution.errors.OrderRejected` (permanent),
    :class:`~tapeflow.execution.errors.TransientExchangeError` (after retries),
    :class:`~tapeflow.execution.errors.OrderStatusUnknown` (order may exist),
    :class:`~tapeflow.execution.errors.CircuitOpenError` (nothing sent).
    """

    name: str

    async def load_markets(self) -> dict[SymbolKey, MarketRules]: ...
    def market(self, key: SymbolKey) -> MarketRules: ...
    async def place_order(self, request: OrderRequest) -> OrderUpdate: ...
    async def cancel_order(
        self, key: SymbolKey, client_order_id: str, *, order_type: OrderType | None = None
    ) -> OrderUpdate: ...
    async def fetch_order(
        self, key: SymbolKey, client_order_id: str, *, order_type: OrderType | None = None
    ) -> OrderUpdate | None: ...
    async def fetch_open_orders(self, key: SymbolKey | None = None) -> list[OrderUpdate]: ...
    async def fetch_balance(self) -> dict[str, Balance]: ...
    async def fetch_positions(self) -> list[ExchangePosition]: ...
    async def set_leverage(self, key: SymbolKey, leverage: Decimal) -> None: ...
    async def close(self) -> None: ...
