"""Process plumbing shared by the services: stores for a lifespan, background workers, serving.

Every service runs as separate processes: `api` (HTTP), `relay` (outbox → Kafka) and `consumer`
(Kafka → effects). Workers are small FastAPI apps too, so they expose the same `/livez`,
`/readyz` and `/metrics` probes while their loops run in the background of the lifespan.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import uvicorn
from fastapi import FastAPI
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from redis.asyncio import Redis

from ds_common.logging import configure_logging
from ds_common.mongo import Document, IndexSpec, ensure_indexes, make_mongo_client
from ds_common.redis import make_redis
from ds_common.serving import CalmServer, serve_workers
from ds_common.settings import ServiceSettings
from ds_common.web import Check

logger = logging.getLogger("ds.runtime")

Worker = Callable[[asyncio.Event], Awaitable[None]]


@dataclass
class Stores:
    mongo: AsyncMongoClient[Document]
    db: AsyncDatabase[Document]
    redis: Redis


@contextlib.asynccontextmanager
async def open_stores(settings: ServiceSettings, app: FastAPI | None = None,
                      indexes: Iterable[IndexSpec] = ()) -> AsyncIterator[Stores]:
    mongo = make_mongo_client(settings.mongo_url)
    db = mongo[settings.mongo_db]
    redis = make_redis(settings.redis_url)
    try:
        await ensure_indexes(db, indexes)
        if app is not None:
            app.state.ready_checks.update({
                "mongo": Check(lambda: db.command("ping")),
                "redis": Check(redis.ping),
                "kafka": Check(lambda: kafka_reachable(settings.kafka_bootstrap), critical=False),
            })
        yield Stores(mongo, db, redis)
    finally:
        await mongo.close()
        await redis.aclose()


async def kafka_reachable(bootstrap: str) -> None:
    host, _, port = bootstrap.split(",")[0].rpartition(":")
    _, writer = await asyncio.open_connection(host or "127.0.0.1", int(port))
    writer.close()
    await writer.wait_closed()


@contextlib.asynccontextmanager
async def background(workers: Sequence[Worker]) -> AsyncIterator[asyncio.Event]:
    """Run `workers` until the block exits; a worker that crashes is logged and restarted."""
    stop = asyncio.Event()

    async def supervise(worker: Worker) -> None:
        while not stop.is_set():
            try:
                await worker(stop)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("worker crashed; restarting in 1s")
                await asyncio.sleep(1)

    tasks = [asyncio.create_task(supervise(w)) for w in workers]
    try:
        yield stop
    finally:
        stop.set()
        _, still_running = await asyncio.wait(tasks, timeout=10) if tasks else (set(), set())
        for task in still_running:
            task.cancel()
        await asyncio.gather(*still_running, return_exceptions=True)


def serve(app: FastAPI | str, *, host: str, port: int, service: str, log_level: str = "INFO",
          workers: int = 1) -> None:
    """Serve an app, or with `workers` > 1 an app factory's import string (one process each).

    Several workers keep their metrics in files of a fresh directory (prometheus_client's
    multiprocess mode), so `/metrics`, whichever worker answers it, reports all of them."""
    configure_logging(service, log_level)
    metrics_dir = None
    if workers > 1:
        metrics_dir = tempfile.mkdtemp(prefix=f"ds-metrics-{service}-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir  # inherited by the workers
    options: dict[str, Any] = {
        "log_config": None, "access_log": False, "loop": "uvloop", "http": "httptools", "timeout_keep_alive": 75,
        "server_header": False,
        # Forwarded headers are believed from the configured gateway only (create_app), not from
        # uvicorn's default of any loopback peer.
        "proxy_headers": False}
    try:
        if workers > 1:
            assert isinstance(app, str), "several workers need the app factory's import string"
            serve_workers(app, workers, host=host, port=port, options=options)
            return
        server = CalmServer(uvicorn.Config(app, host=host, port=port, factory=isinstance(app, str), **options))
        server.run()
        if not server.started:
            raise SystemExit(3)  # as uvicorn.run: the app did not start
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
