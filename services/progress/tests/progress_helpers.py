"""Helpers for the progress tests: save bodies, in-process relay and consumer, polling."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

from ds_common.events.consumer import AnyHandler, ConsumerRunner
from ds_common.events.consumer import handlers as by_topic
from ds_common.events.contracts import UserRegistered
from ds_common.events.envelope import new_event
from ds_common.events.kafka import KafkaPublisher
from ds_common.events.outbox import OutboxRelay
from ds_common.runtime import Stores, open_stores
from ds_common.testing.kit import running
from ds_progress.adapters import copies
from ds_progress.adapters.catalog import CatalogView
from ds_progress.adapters.collections import OUTBOX_COLLECTIONS
from ds_progress.adapters.journal import Compactor
from ds_progress.messaging.handlers import handlers
from ds_progress.settings import Settings


def save_body(channel: str, video: str, inputs: int = 20, *, duration: float = 10, completion: float = 25.5,
              start: int = 0, **extra: Any) -> dict[str, Any]:
    return {"channelId": channel, "videoId": video,
            "userInput": {str(i): f"typed sentence number {i}" for i in range(start, start + inputs)},
            "currentTime": 1_760_000_000_000, "overallCompletion": completion, "duration": duration, **extra}


@contextlib.asynccontextmanager
async def stores_for(settings: Settings) -> AsyncIterator[Stores]:
    async with open_stores(settings) as stores:
        yield stores


async def catalogued(settings: Settings, channel: str, *videos: str, visibility: str = "public",
                     channel_visibility: str = "public", sequence: int = 1) -> None:
    """What the catalog's events would have told progress: `channel` and its `videos` exist
    (`sequence`: the catalog's, to describe them again later)."""
    async with stores_for(settings) as stores:
        view = CatalogView(stores.db, copies.catalog(stores))
        await view.record_channel(channel, sequence, name=f"Channel {channel}", visibility=channel_visibility)
        for video in videos:
            await view.record_video(channel, video, sequence, removed=False, described={
                "title": f"Video {video}", "link": f"https://youtu.be/{video}", "visibility": visibility})


async def signed_up(settings: Settings, user_id: str, at: datetime) -> None:
    """What auth's `user.registered` would have told progress: the account exists since `at`."""
    async with stores_for(settings) as stores:
        await handlers_by_topic(stores)["user.registered"](new_event(
            UserRegistered(user_id=user_id, email=f"{user_id}@example.com", username=user_id, created_at=at),
            key=user_id, sequence=1))


@contextlib.asynccontextmanager
async def relay(settings: Settings, stores: Stores) -> AsyncIterator[None]:
    """What publishes progress's events: the outbox relay (quota) and the journal compactor."""
    publisher = KafkaPublisher(settings.kafka_bootstrap, client_id="progress-test-relay")
    outbox = OutboxRelay(stores.db, OUTBOX_COLLECTIONS, publisher, service="progress-test", idle_interval=0.05)
    compactor = Compactor(stores.db, publisher, round_s=0.05)
    async with running(outbox.run), running(compactor.run):
        yield
    await publisher.close()


def handlers_by_topic(stores: Stores) -> dict[str, AnyHandler]:
    """The consumer's handlers as its runner holds them (by topic, parsing their events)."""
    return by_topic(handlers(stores))


def consumer(settings: Settings, stores: Stores, group: str,
             wrap: Callable[[str, AnyHandler], AnyHandler] | None = None) -> ConsumerRunner:
    chosen = {t: (wrap(t, h) if wrap else h) for t, h in handlers_by_topic(stores).items()}
    return ConsumerRunner(bootstrap=settings.kafka_bootstrap, group=group, handlers=chosen,
                          backoff_base=0.05, client_id=group)


