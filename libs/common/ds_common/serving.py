"""Serving an app with uvicorn at no cost while it is idle.

uvicorn's server wakes ten times a second to do its once-a-second duties, and its multi-worker
supervisor pings every worker twice a second: measured here, an idle uvicorn process costs 0.006
cores, which across the system's twenty server processes was most of its idle CPU (bench-scale).
`CalmServer` wakes every `TICK_S` instead, or at once on a stop signal; `serve_workers` runs
several worker processes on one port (SO_REUSEPORT: the kernel spreads the connections) and
waits for them without polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import multiprocessing.connection
import signal
import socket
from types import FrameType
from typing import Any

import uvicorn

logger = logging.getLogger("ds.serving")

TICK_S = 5.0


class CalmServer(uvicorn.Server):
    """uvicorn's server with a main loop that sleeps between ticks, woken by a stop signal. A tick
    still does what uvicorn's does: the Date header (behind the gateway browsers get nginx's), the
    request limit, the exit check."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None

    async def main_loop(self) -> None:
        self._loop, self._wake = asyncio.get_running_loop(), asyncio.Event()
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter += 10  # uvicorn refreshes the Date header every ten counts: every tick here
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), TICK_S)
            should_exit = await self.on_tick(counter)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        if self._loop is not None and self._wake is not None:
            self._loop.call_soon_threadsafe(self._wake.set)


def serve_workers(app: str, workers: int, *, host: str, port: int, options: dict[str, Any]) -> None:
    """`workers` processes serving the app factory `app` ("module:function") on one port; one that
    dies is started again; SIGTERM or SIGINT stops them all."""
    context = multiprocessing.get_context("spawn")

    def start() -> multiprocessing.process.BaseProcess:
        process = context.Process(target=_serve_worker, args=(app, host, port, options), daemon=False)
        process.start()
        return process

    stopping = False
    processes = [start() for _ in range(workers)]

    def stop(sig: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for process in processes:
            process.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while True:
        multiprocessing.connection.wait([p.sentinel for p in processes])  # blocks: no polling
        if stopping:
            for process in processes:
                process.join()
            return
        for n, process in enumerate(processes):
            if not process.is_alive():
                logger.warning("worker %s exited with %s; starting another", process.pid, process.exitcode)
                processes[n] = start()


def _serve_worker(app: str, host: str, port: int, options: dict[str, Any]) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    CalmServer(uvicorn.Config(app, factory=True, **options)).run(sockets=[sock])
