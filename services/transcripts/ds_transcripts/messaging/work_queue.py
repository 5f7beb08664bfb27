"""A consumer's background work: a bounded in-memory queue, `concurrency` loops working it, and a
sweep that finds again what the queue could not hold or a restart lost.

`enqueue` never waits (an event handler calls it, and the Kafka poll loop must not be held up by
slow work); an item already queued or being worked is not queued twice; a full queue drops the
item, which the next sweep finds in the store again. The sweep first runs the store's paced
start-up check (`reconcile`), then asks `due()` every `sweep_interval_s`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Hashable, Iterable
from typing import Generic, TypeVar

Item = TypeVar("Item", bound=Hashable)
logger = logging.getLogger("ds.transcripts.work")


class WorkQueue(Generic[Item]):
    def __init__(self, name: str, work: Callable[[Item], Awaitable[None]],
                 due: Callable[[], Awaitable[Iterable[Item]]], *, reconcile: Callable[[], Awaitable[int]],
                 concurrency: int = 1, queue_size: int = 1_000, sweep_interval_s: float = 60.0) -> None:
        self.name = name
        self.work = work
        self.due = due
        self.reconcile = reconcile
        self.concurrency = concurrency
        self.sweep_interval_s = sweep_interval_s
        self.queue: asyncio.Queue[Item] = asyncio.Queue(maxsize=queue_size)
        self._queued: set[Item] = set()

    def enqueue(self, item: Item) -> None:
        if item in self._queued:
            return
        try:
            self.queue.put_nowait(item)
            self._queued.add(item)
        except asyncio.QueueFull:
            logger.warning("%s queue full; %s waits for the sweep", self.name, item)

    async def run(self, stop: asyncio.Event) -> None:
        """The loops and the sweep, until `stop`."""
        loops = [asyncio.create_task(self._work_loop(stop)) for _ in range(self.concurrency)]
        loops.append(asyncio.create_task(self._sweep_loop(stop)))
        try:
            await stop.wait()
        finally:
            for task in loops:
                task.cancel()
            await asyncio.gather(*loops, return_exceptions=True)

    async def _work_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            item = await self.queue.get()
            try:
                await self.work(item)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("%s of %s failed", self.name, item)
            finally:
                self._queued.discard(item)

    async def _sweep_loop(self, stop: asyncio.Event) -> None:
        started = time.monotonic()
        try:
            found = await self.reconcile()
            logger.info("%s: start-up check found %d in %.1f s", self.name, found, time.monotonic() - started)
        except Exception:
            logger.warning("%s: start-up check failed", self.name, exc_info=True)
        while not stop.is_set():
            try:
                for item in await self.due():
                    self.enqueue(item)
            except Exception:
                logger.warning("%s sweep failed", self.name, exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.sweep_interval_s)
