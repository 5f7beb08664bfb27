"""The consumer runner and the idempotency guards its handlers use.

- Offsets are committed manually, only after the effect of every earlier record of that partition
  is stored. A crash replays from the last commit, so every effect must be idempotent: guard it
  with `apply_once_by_sequence` (full-state events), `apply_once_by_event_id` or a
  `DeltaApplier` (deltas, ds_common.events.deltas).
- Records of one partition are handled one after another (order kept); partitions in parallel.
  A `Batched` handler gets all of a partition batch's records at once instead (to sum many deltas
  into one store write); if that fails, the records are handled one at a time as usual.
- A failing record is retried with exponential backoff, `max_attempts` times in all, then parked
  in the dead-letter topic `<group>.<topic>.dlt` with the error in its headers, and the partition
  moves on. `ds-events replay-dlt` sends parked records back once the cause is fixed.
- Handlers must be quick: slow work (a YouTube fetch) is queued by the handler and done elsewhere,
  so the poll loop never stalls past `max.poll.interval.ms`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from opentelemetry.trace import SpanKind
from prometheus_client import Counter
from pydantic import ValidationError
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from ds_common import tracing
from ds_common.events.envelope import Envelope, EventData
from ds_common.events.kafka import KafkaPublisher
from ds_common.mongo import Document
from ds_common.tracing import context_of, span_in

logger = logging.getLogger("ds.events.consumer")

Handler = Callable[[Envelope], Awaitable[None]]


@dataclass(frozen=True)
class Delivery:
    """An event as a batched handler gets it: with where it sits in its topic, and its payload
    parsed as the contract the handler was registered for (`handlers`)."""

    event: Envelope
    partition: int
    offset: int
    data: Any = None


@dataclass(frozen=True)
class Batched:
    """A handler for many events of its type at once, e.g. deltas summed into one write per document
    (ds_common.events.deltas). After a failed batch, and for retries and dead-lettering, records go
    through it one at a time. Like any handler it must be idempotent per event."""

    handle: Callable[[list[Delivery]], Awaitable[object]]
    # At most one batch per partition this often once caught up: larger batches, fewer store
    # writes, for a projection that can trail its events by that much (the partition is paused
    # in between; not while the consumer is behind, so throughput is not capped).
    every_s: float = 0.0


AnyHandler = Handler | Batched
# A handler as a service registers it: the event's payload, parsed as its contract, and the envelope.
EventHandler = Callable[[Any, Envelope], Awaitable[None]]
Handlers = Mapping[type[EventData], EventHandler | Batched]


def handlers(registered: Handlers) -> dict[str, AnyHandler]:
    """Handlers keyed by contract (`{UserRegistered: on_registered}`) as the runner takes them: by
    topic, each parsing its events as its contract (a payload that does not parse is poison)."""
    return {model.event_type: _parsing(model, handler) for model, handler in registered.items()}


def _parsing(model: type[EventData], handler: EventHandler | Batched) -> AnyHandler:
    def parse(event: Envelope) -> Any:
        try:
            return model.model_validate(event.data)
        except ValidationError as exc:
            raise PoisonMessage(f"not a {model.event_type} payload: {exc.error_count()} errors") from exc

    if isinstance(handler, Batched):
        async def handle_batch(deliveries: list[Delivery]) -> object:
            return await handler.handle([dataclasses.replace(d, data=parse(d.event)) for d in deliveries])
        return Batched(handle_batch, every_s=handler.every_s)

    async def handle(event: Envelope) -> None:
        await handler(parse(event), event)
    return handle

HANDLED = Counter("consumer_events_handled_total", "Events handled", ["group", "type"])
RETRIES = Counter("consumer_event_retries_total", "Handler retries", ["group", "type"])
DEAD_LETTERED = Counter("consumer_events_dead_lettered_total", "Events parked in a DLT", ["group", "topic"])


def dlt_topic(group: str, topic: str) -> str:
    return f"{group}.{topic}.dlt"


class PoisonMessage(Exception):
    """A record that can never succeed (unparsable); it goes to the DLT without retries."""


class ConsumerRunner:
    def __init__(self, *, bootstrap: str, group: str, handlers: Mapping[str, AnyHandler],
                 max_attempts: int = 5, backoff_base: float = 0.2, backoff_max: float = 5.0,
                 max_batch: int = 1000, auto_offset_reset: str = "earliest",
                 client_id: str | None = None) -> None:
        self.bootstrap = bootstrap
        self.group = group
        self.handlers = dict(handlers)
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.max_batch = max_batch
        self.auto_offset_reset = auto_offset_reset
        self.client_id = client_id or group
        self.dead_letters = KafkaPublisher(bootstrap, client_id=f"{self.client_id}-dlt")
        self.started = asyncio.Event()
        self._consumer_in_use: AIOKafkaConsumer | None = None

    @property
    def topics(self) -> list[str]:
        return sorted(self.handlers)  # one topic per event type

    def _consumer(self) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            *self.topics, bootstrap_servers=self.bootstrap, group_id=self.group,
            client_id=self.client_id, enable_auto_commit=False,
            auto_offset_reset=self.auto_offset_reset, max_poll_interval_ms=300_000,
            session_timeout_ms=15_000, heartbeat_interval_ms=5_000,
            # An idle consumer's requests to the broker are its idle cost: fetches long-poll (they
            # return as soon as a record arrives) and metadata is refreshed twice a minute.
            fetch_max_wait_ms=5_000, metadata_max_age_ms=30_000,
            consumer_timeout_ms=1_000,  # the fetch routine's own wake-up (default: five a second)
        )

    async def check_assigned(self) -> None:
        """Readiness: the group has given this member its partitions (so it sees new events)."""
        consumer = self._consumer_in_use
        if consumer is None or not consumer.assignment():
            raise RuntimeError("no partitions assigned yet")

    async def run(self, stop: asyncio.Event) -> None:
        consumer = self._consumer()
        await consumer.start()
        self._consumer_in_use = consumer
        self.started.set()
        logger.info("consumer started", extra={"group": self.group, "topics": self.topics})
        try:
            while not stop.is_set():
                # Returns as soon as records arrive; the timeout only bounds a stop's wait.
                batches = await consumer.getmany(timeout_ms=1_000, max_records=self.max_batch)
                if batches:
                    behind = sum(len(records) for records in batches.values()) >= self.max_batch
                    await asyncio.gather(*(self._handle_partition(consumer, tp, records, pace=not behind)
                                           for tp, records in batches.items()))
        finally:
            await consumer.stop()
            await self.dead_letters.close()

    async def _handle_partition(self, consumer: AIOKafkaConsumer, tp: TopicPartition,
                                records: list[ConsumerRecord[bytes, bytes]], *, pace: bool = True) -> None:
        handler = self.handlers.get(tp.topic)  # one topic per event type
        if not (isinstance(handler, Batched) and len(records) > 1 and await self._handle_batch(handler, records)):
            for record in records:
                await self._handle_record(record)
        # One commit per partition batch: a crash replays at most this batch, idempotently.
        await consumer.commit({tp: records[-1].offset + 1})
        if isinstance(handler, Batched) and handler.every_s > 0 and pace:  # not while catching up
            consumer.pause(tp)
            asyncio.get_running_loop().call_later(handler.every_s, self._resume, consumer, tp)

    @staticmethod
    def _resume(consumer: AIOKafkaConsumer, tp: TopicPartition) -> None:
        if tp in consumer.assignment():  # not revoked meanwhile (a new assignment starts unpaused)
            consumer.resume(tp)

    async def _handle_batch(self, handler: Batched, records: list[ConsumerRecord[bytes, bytes]]) -> bool:
        """Whether the whole batch was handled in one call (if not, nothing is assumed applied)."""
        try:
            events = [Delivery(_parse(record), record.partition, record.offset) for record in records]
            if any(d.event.type != records[0].topic for d in events):
                return False
            await self._traced_batch(handler, events, records)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.warning("batch of %d failed; handling its records one by one", len(records), exc_info=True,
                           extra={"topic": records[0].topic, "offset": records[0].offset})
            return False
        HANDLED.labels(self.group, records[0].topic).inc(len(events))
        return True

    @staticmethod
    async def _traced_batch(handler: Batched, events: list[Delivery],
                            records: list[ConsumerRecord[bytes, bytes]]) -> None:
        """One span for the batch (its store writes nest under it, linked to every record's
        trace) and one `process` span in each record's own trace, covering the batch."""
        topic = records[0].topic
        contexts = [context_of(None, record.headers) for record in records]
        spans = [tracing.tracer.start_span(f"{topic} process", context=c, kind=SpanKind.CONSUMER,
                                   attributes=_messaging(record)) for c, record in zip(contexts, records, strict=True)]
        try:
            with span_in(f"{topic} process batch", None, kind=SpanKind.CONSUMER, links=contexts,
                         attributes={"messaging.system": "kafka", "messaging.batch.message_count": len(records)}):
                await handler.handle(events)
        finally:
            for span in spans:
                span.end()

    async def _handle_record(self, record: ConsumerRecord[bytes, bytes]) -> None:
        with span_in(f"{record.topic} process", context_of(None, record.headers), kind=SpanKind.CONSUMER,
                     attributes=_messaging(record)):
            await self._handle_record_with_retries(record)

    async def _handle_record_with_retries(self, record: ConsumerRecord[bytes, bytes]) -> None:
        attempt = 0
        while True:
            attempt += 1
            try:
                envelope = _parse(record)
                handler = self.handlers.get(envelope.type)
                if isinstance(handler, Batched):
                    await handler.handle([Delivery(envelope, record.partition, record.offset)])
                elif handler is not None:
                    await handler(envelope)
                if handler is not None:
                    HANDLED.labels(self.group, envelope.type).inc()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if isinstance(exc, PoisonMessage) or attempt >= self.max_attempts:
                    await self._dead_letter(record, exc, attempt)
                    return
                RETRIES.labels(self.group, record.topic).inc()
                delay = min(self.backoff_base * 2 ** (attempt - 1), self.backoff_max)
                logger.warning("handler failed (attempt %d/%d), retrying in %.1fs",
                               attempt, self.max_attempts, delay, exc_info=True,
                               extra={"topic": record.topic, "offset": record.offset})
                await asyncio.sleep(delay)

    async def _dead_letter(self, record: ConsumerRecord[bytes, bytes], exc: Exception,
                           attempts: int) -> None:
        topic = dlt_topic(self.group, record.topic)
        headers = [*(record.headers or ()),
                   ("dlt.error", f"{type(exc).__name__}: {exc}"[:500].encode()),
                   ("dlt.attempts", str(attempts).encode()),
                   ("dlt.source", f"{record.topic}/{record.partition}/{record.offset}".encode())]
        producer = await self.dead_letters._ensure()
        await (await producer.send(topic, record.value, key=record.key, headers=headers))
        DEAD_LETTERED.labels(self.group, record.topic).inc()
        logger.error("event parked in %s after %d attempts: %s", topic, attempts, exc,
                     extra={"offset": record.offset})


def _messaging(record: ConsumerRecord[bytes, bytes]) -> dict[str, Any]:
    return {"messaging.system": "kafka", "messaging.destination.name": record.topic,
            "messaging.destination.partition.id": str(record.partition), "messaging.kafka.offset": record.offset}


def _parse(record: ConsumerRecord[bytes, bytes]) -> Envelope:
    try:
        return Envelope.from_bytes(record.value or b"")
    except ValidationError as exc:
        raise PoisonMessage(f"not an event envelope: {exc.error_count()} errors") from exc


# --- idempotency guards -------------------------------------------------------------------------
def _merge(update: Mapping[str, Any], extra_set: Mapping[str, Any]) -> dict[str, Any]:
    merged = {op: dict(fields) for op, fields in update.items()}
    merged.setdefault("$set", {}).update(extra_set)
    return merged


async def apply_once_by_sequence(collection: AsyncCollection[Document], doc_id: Any,
                                 sequence: int, update: Mapping[str, Any]) -> bool:
    """Apply `update` unless the document already reflects this sequence or a later one.

    For full-state events: the newest state wins, an older or repeated event is a no-op.
    Returns whether the update was applied.
    """
    # A document written by other means first (no `_seq` yet) takes the event too.
    older = {"$or": [{"_seq": {"$lt": sequence}}, {"_seq": {"$exists": False}}]}
    try:
        await collection.update_one({"_id": doc_id, **older}, _merge(update, {"_seq": sequence}), upsert=True)
        return True
    except DuplicateKeyError:  # the document exists with _seq >= sequence
        return False


async def apply_once_by_event_id(collection: AsyncCollection[Document], doc_id: Any,
                                 event_id: str, update: Mapping[str, Any]) -> bool:
    """Apply a delta `update` (e.g. `$inc`) at most once per event id, in the same write.

    The ids applied are kept in the document itself (`_applied`), so keep such documents scoped
    (per user and day, say) to bound that list.
    """
    merged = {op: dict(fields) for op, fields in update.items()}
    merged.setdefault("$addToSet", {})["_applied"] = event_id
    try:
        await collection.update_one({"_id": doc_id, "_applied": {"$ne": event_id}}, merged, upsert=True)
        return True
    except DuplicateKeyError:  # the document exists and already holds this event id
        return False
