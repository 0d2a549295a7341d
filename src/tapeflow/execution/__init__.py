"""Order execution: signals become orders on a paper or live (ccxt) exchange.

    from tapeflow.config.execution import ExecutionSettings
    from tapeflow.execution import ExecutionEngine, PaperExchange
    engine = ExecutionEngine(settings, exchange, store, bus=bus)

Modules, one concept each:

* :mod:`~tapeflow.config.execution` — ``RiskSettings``, ``ExecutionSettings``;
* :mod:`~tapeflow.execution.exchange` — the ``Exchange`` interface (its records are
  :mod:`tapeflow.model.orders`);
* :mod:`~tapeflow.execution.paper` — the paper exchange (next-trade fills; protective exits
  at the trade that reached their level);
* :mod:`~tapeflow.execution.ccxt_adapter` — the live adapter (imported on demand: ccxt
  takes seconds to import, paper trading never needs it);
* :mod:`~tapeflow.execution.orders` — idempotent order submission;
* :mod:`~tapeflow.execution.chain`, :mod:`~tapeflow.execution.handlers` — the chain;
* :mod:`~tapeflow.execution.sizing`, :mod:`~tapeflow.execution.stops`,
  :mod:`~tapeflow.execution.targets`, :mod:`~tapeflow.execution.risk` — sizing, protective
  exits (initial and trailing stops, take-profit targets), portfolio risk;
* :mod:`~tapeflow.execution.lifecycle`, :mod:`~tapeflow.execution.positions` — positions;
* :mod:`~tapeflow.execution.engine` — all of it composed.
"""

from tapeflow.execution.breaker import CircuitBreaker
from tapeflow.execution.chain import ChainResult, ExecutionChain, Verdict
from tapeflow.execution.client_ids import client_order_id, parse_client_order_id
from tapeflow.execution.context import SignalContext
from tapeflow.execution.engine import ExecutionEngine
from tapeflow.execution.errors import (
    CircuitOpenError,
    CredentialsMissing,
    DuplicateClientOrderId,
    ExchangeRequestError,
    ExecutionError,
    OrderNotFound,
    OrderRejected,
    OrderStatusUnknown,
    TransientExchangeError,
)
from tapeflow.execution.exchange import Exchange
from tapeflow.execution.handlers import build_chain
from tapeflow.execution.markets import MarketRules
from tapeflow.execution.orders import OrderManager
from tapeflow.execution.paper import PaperExchange
from tapeflow.execution.refusals import Refusal, RefusalLog
from tapeflow.execution.risk import PortfolioRisk, RiskAssessment, RiskLevel
from tapeflow.execution.sizing import SizeDecision, position_size
from tapeflow.execution.statefile import JsonStateFile, StateStore
from tapeflow.execution.stops import ExitKind, StopTrigger, TrailingStop, TrailingStopBook
from tapeflow.execution.targets import take_profit_price

__all__ = [
    "ChainResult",
    "CircuitBreaker",
    "CircuitOpenError",
    "CredentialsMissing",
    "DuplicateClientOrderId",
    "Exchange",
    "ExchangeRequestError",
    "ExecutionChain",
    "ExecutionEngine",
    "ExecutionError",
    "ExitKind",
    "JsonStateFile",
    "MarketRules",
    "OrderManager",
    "OrderNotFound",
    "OrderRejected",
    "OrderStatusUnknown",
    "PaperExchange",
    "PortfolioRisk",
    "Refusal",
    "RefusalLog",
    "RiskAssessment",
    "RiskLevel",
    "SignalContext",
    "SizeDecision",
    "StateStore",
    "StopTrigger",
    "TrailingStop",
    "TrailingStopBook",
    "TransientExchangeError",
    "Verdict",
    "build_chain",
    "client_order_id",
    "parse_client_order_id",
    "position_size",
    "take_profit_price",
]
