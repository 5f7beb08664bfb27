"""Waiting for something unless a process is stopping: the idle loops block for seconds (on Redis,
with nothing to do), and a stop must not wait for them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import Any


async def unless_stopped(stop: asyncio.Event, waiting: Awaitable[Any]) -> Any:
    """The result of `waiting`, or None once `stop` is set first (`waiting` is then cancelled)."""
    task = asyncio.ensure_future(waiting)
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait([task, stopped], return_when=asyncio.FIRST_COMPLETED)
        return task.result() if task.done() else None
    finally:
        for pending in (task, stopped):
            if not pending.done():
                pending.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pending
