"""Wiring the notifier to the event bus."""

from __future__ import annotations

from tapeflow.bus.bus import EventBus, Subscription
from tapeflow.notify.messages import NOTIFIED_EVENTS
from tapeflow.notify.notifier import Notifier


def subscribe(bus: EventBus, notifier: Notifier, *, queue_size: int = 1000) -> list[Subscription]:
    """Subscribe ``notifier`` to every event type that produces mail
    (:data:`~tapeflow.notify.messages.NOTIFIED_EVENTS`).

    Each subscription uses ``overflow="drop"``: if e-mail falls behind, its own events are
    dropped (and counted by the bus); a publisher never waits for it. The handler,
    :meth:`Notifier.notify`, only renders and enqueues, so the bus worker is never blocked
    by SendGrid either.

    Returns:
        The subscriptions, one per event type (for metrics).
    """
    return [
        bus.subscribe(
            event_type,
            notifier.notify,
            name=f"notify:{event_type.__name__}",
            queue_size=queue_size,
            overflow="drop",
        )
        for event_type in NOTIFIED_EVENTS
    ]
