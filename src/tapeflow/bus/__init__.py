"""The in-process event bus and the events that travel on it."""

from tapeflow.bus.bus import EventBus, Subscription
from tapeflow.bus.events import (
    CandleClosed,
    CircuitBreakerTripped,
    ConnectionLost,
    ConnectionRestored,
    Event,
    GapDetected,
    OrderFailed,
    OrderFilled,
    OrderPlaced,
    PositionClosed,
    PositionOpened,
    ReconciliationCompleted,
    SignalGenerated,
    TradeTick,
    TradeTickReceived,
)

__all__ = [
    "CandleClosed",
    "CircuitBreakerTripped",
    "ConnectionLost",
    "ConnectionRestored",
    "Event",
    "EventBus",
    "GapDetected",
    "OrderFailed",
    "OrderFilled",
    "OrderPlaced",
    "PositionClosed",
    "PositionOpened",
    "ReconciliationCompleted",
    "SignalGenerated",
    "Subscription",
    "TradeTick",
    "TradeTickReceived",
]
