"""An in-memory bus with the publisher interface, for unit tests of handlers and relays."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from ds_common.events.consumer import Handler
from ds_common.events.envelope import Envelope


class InMemoryBus:
    """Publishes by calling subscribed handlers at once, in order; records everything published."""

    def __init__(self) -> None:
        self.published: list[Envelope] = []
        self._handlers: dict[str, list[Handler]] = defaultdict(list)
        self.fail_next = 0  # make the next N publish calls fail (relay tests)

    def subscribe(self, event_type: str, handler: Handler) -> None:
        self._handlers[event_type].append(handler)

    async def publish(self, events: Sequence[Envelope]) -> None:
        if self.fail_next:
            self.fail_next -= 1
            raise ConnectionError("in-memory bus told to fail")
        for event in events:
            self.published.append(event)
            for handler in self._handlers.get(event.type, ()):
                await handler(event)

    def of_type(self, event_type: str) -> list[Envelope]:
        return [e for e in self.published if e.type == event_type]
