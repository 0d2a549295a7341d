"""Stopping the bus drains events that handlers publish while it drains."""

import asyncio
from dataclasses import dataclass

from tapeflow.bus import EventBus
from tapeflow.model.events import Event


@dataclass(frozen=True)
class Stage(Event):
    n: int


@dataclass(frozen=True)
class Done(Event):
    n: int


def test_stop_drains_events_published_by_handlers_during_the_drain():
    async def scenario() -> list[int]:
        bus = EventBus()
        seen: list[int] = []

        async def relay(event: Stage) -> None:
            await asyncio.sleep(0.01)  # the Done queue is joined (empty) before this publishes
            await bus.publish(Done(event.n))

        async def record(event: Done) -> None:
            await asyncio.sleep(0.005)
            seen.append(event.n)

        bus.subscribe(Stage, relay, name="relay")
        bus.subscribe(Done, record, name="record")
        await bus.start()
        for n in range(3):
            await bus.publish(Stage(n))
        await bus.stop(drain_timeout_s=5)
        return seen

    assert asyncio.run(scenario()) == [0, 1, 2]
