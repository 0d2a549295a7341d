"""Wiring the notifier to the event bus."""

from __future__ import annotations

from tapeflow.bus.bus import EventBus, Subscription
from tapeflow.model.events import Event
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

    def handle(event: Event) -> None:
        notifier.notify(event)  # the bus takes no result; queued-or-not is for direct callers

    return [
        bus.subscribe(
            event_type,
            handle,
            name=f"notify:{event_type.__name__}",
            queue_size=queue_size,
            overflow="drop",
        )
        for event_type in NOTIFIED_EVENTS
    ]
