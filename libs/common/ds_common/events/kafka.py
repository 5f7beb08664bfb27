"""Kafka plumbing: the publisher used by relays, and topic administration."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from opentelemetry.trace import SpanKind

from ds_common.events.envelope import Envelope
from ds_common.tracing import context_of, span_in

logger = logging.getLogger("ds.events.kafka")


class EventPublisher(Protocol):
    async def publish(self, events: Sequence[Envelope]) -> None:
        """Return only when every event is acknowledged; raise if any is not."""


def topic_of(event: Envelope) -> str:
    return event.type


class KafkaPublisher:
    """acks=all with idempotence, so a retry inside the client cannot duplicate or reorder."""

    def __init__(self, bootstrap: str, *, client_id: str) -> None:
        self.bootstrap = bootstrap
        self.client_id = client_id
        self._producer: AIOKafkaProducer | None = None
        self._starting = asyncio.Lock()  # concurrent publishers (an API's requests) share one producer

    async def _ensure(self) -> AIOKafkaProducer:
        if self._producer is not None:
            return self._producer
        async with self._starting:
            if self._producer is not None:
                return self._producer
            producer = AIOKafkaProducer(
                bootstrap_servers=self.bootstrap, client_id=self.client_id, acks="all",
                enable_idempotence=True, linger_ms=2, request_timeout_ms=10_000,
                retry_backoff_ms=200, metadata_max_age_ms=30_000,
            )
            try:
                await producer.start()
            except Exception:
                await producer.stop()
                raise
            self._producer = producer
            return producer

    async def publish(self, events: Sequence[Envelope]) -> None:
        if not events:
            return
        producer = await self._ensure()
        try:
            # send() enqueues in call order; per partition the idempotent producer keeps that order.
            pending = [await self._send(producer, e) for e in events]
            await asyncio.gather(*pending)
        except Exception:
            await self._discard(producer)  # a fresh producer after a failure: clean sequence numbers
            raise

    @staticmethod
    async def _send(producer: AIOKafkaProducer, event: Envelope) -> asyncio.Future[Any]:
        """Enqueue one event inside a publish span continuing the trace it was written in (the
        aiokafka instrumentation, when tracing is on, adds that context to the record's headers)."""
        topic = topic_of(event)
        with span_in(f"{topic} publish", context_of(event.traceparent), kind=SpanKind.PRODUCER,
                     attributes={"messaging.system": "kafka", "messaging.destination.name": topic,
                                 "messaging.message.id": event.id}):
            sent: asyncio.Future[Any] = await producer.send(topic, event.to_bytes(), key=event.key.encode(),
                                                            headers=event.kafka_headers())
            return sent

    async def close(self) -> None:
        if (producer := self._producer) is not None:
            await self._discard(producer)

    async def _discard(self, producer: AIOKafkaProducer) -> None:
        current = self._producer is producer
        if not current:
            return  # another publisher already replaced it
        self._producer = None
        try:
            await producer.stop()
        except Exception:  # closing a broken producer must not mask the original error
            logger.warning("producer stop failed", exc_info=True)


async def ensure_topics(bootstrap: str, topics: Iterable[str], *, partitions: int = 3,
                        replication: int = 1) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [NewTopic(t, partitions, replication) for t in topics if t not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # a concurrent creator won
                await admin.create_topics(missing)
    finally:
        await admin.close()
