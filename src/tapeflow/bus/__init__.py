"""The in-process event bus; the events that travel on it are :mod:`tapeflow.model.events`."""

from tapeflow.bus.bus import EventBus, Subscription

__all__ = ["EventBus", "Subscription"]
