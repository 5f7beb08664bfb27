"""The consumer and the relay against real Kafka: events in (video.*, video.started, plan.changed),
background prefetch that never holds up the poll loop, and transcript.* events out."""

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaConsumer
from asgi_lifespan import LifespanManager
from ds_common.events.contracts import (
    ChannelUpdated,
    Entitlement,
    PlanChanged,
    VideoRemoved,
    VideoStarted,
    VideoUpdated,
)
from ds_common.events.envelope import Envelope
from ds_common.events.kafka import KafkaPublisher, ensure_topics
from ds_common.events.outbox import PENDING
from ds_common.events.registry import REGISTRY
from ds_common.testing.fixtures import unique
from ds_common.testing.infra import Endpoints
from ds_common.testing.jwks import TestIssuer
from ds_common.testing.kafka import partitions_of, start_group_at_end
from ds_common.testing.kit import eventually
from ds_transcripts.main import consumer_app, relay_app
from ds_transcripts.settings import Settings
from transcripts_helpers import (
    PRIMARY_LINES,
    RecordedYouTube,
    consumer_handlers,
    envelope,
    harness,
    published,
    recorded_fetcher,
)

pytestmark = pytest.mark.integration


def video_id() -> str:
    return "v" + uuid.uuid4().hex[:10]


async def read_keyed(bootstrap: str, topic: str, keys: set[str], timeout: float = 30.0) -> list:
    """Records of `topic` whose key is one of ours (the topic is shared with other tests)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = await partitions_of(consumer, topic)
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        found: list = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and {e.key for e in found} != keys:
            for batch in (await consumer.getmany(timeout_ms=300)).values():
                found += [e for e in (Envelope.from_bytes(r.value) for r in batch) if e.key in keys]
        return found
    finally:
        await consumer.stop()


async def test_consumer_and_relay_on_kafka(settings: Settings, endpoints: Endpoints, issuer: TestIssuer) -> None:
    await ensure_topics(endpoints.kafka_bootstrap, [c.topic for c in REGISTRY])
    await start_group_at_end(endpoints.kafka_bootstrap, settings.consumer_group,
                       ["channel.updated", "video.published", "video.updated", "video.removed", "video.started",
                        "plan.changed", "session.revoked"])
    ch, slow, uploaded, learner, payer = unique("UCev"), video_id(), video_id(), unique("u"), unique("p")
    now = datetime.now(UTC)
    publisher = KafkaPublisher(endpoints.kafka_bootstrap, client_id="transcripts-test")
    consumer, relay = consumer_app(settings, fetcher=recorded_fetcher()), relay_app(settings)
    with RecordedYouTube(slow={slow: 3.0}) as youtube:
        async with LifespanManager(consumer), LifespanManager(relay), harness(settings) as h:
            await publisher.publish([
                envelope(ChannelUpdated(channel_id=ch, name="Events"), key=ch),
                envelope(published(ch, slow, title="Slow"), key=f"{ch}:{slow}"),
                envelope(published(ch, uploaded, lines=[{"start": 0, "end": 1, "transcript": "hi"}]),
                         key=f"{ch}:{uploaded}"),
                envelope(VideoStarted(user_id=learner, channel_id=ch, video_id=slow, cycle_start=now,
                                      cycle_end=now + timedelta(days=30)), key=learner),
                envelope(PlanChanged(user_id=payer, entitlement=Entitlement(plan="Premium"), source="code"),
                         key=payer, sequence=3),
            ])

            async def status(video: str) -> str | None:
                doc = await h.doc(ch, video)
                return doc and doc["status"]

            # the upload is stored while the slow YouTube fetch of the video before it still runs
            await eventually(lambda: _equals(status(uploaded), "ready"), within_s=30, what="uploaded transcript")
            assert await status(slow) == "pending"
            await eventually(lambda: _equals(status(slow), "ready"), within_s=30, what="prefetched transcript")
            r = await h.client.get(f"/service/video-transcript/{ch}/{slow}", headers=issuer.headers(learner))
            assert r.status_code == 200 and r.json()["transcript"] == PRIMARY_LINES and r.json()["title"] == "Slow"
            paid = await h.client.get(f"/service/video-transcript/{ch}/{uploaded}", headers=issuer.headers(payer))
            assert paid.status_code == 200  # plan.changed reached the entitlements projection

            await publisher.publish([
                envelope(VideoUpdated(channel_id=ch, video_id=slow, title="Renamed", link="x"), key=f"{ch}:{slow}"),
                envelope(VideoRemoved(channel_id=ch, video_id=uploaded), key=f"{ch}:{uploaded}")])
            await eventually(lambda: _equals(status(uploaded), "removed"), within_s=30, what="removal")

            async def renamed() -> bool:
                got = await h.client.get(f"/service/video-transcript/{ch}/{slow}", headers=issuer.headers(learner))
                return got.json()["title"] == "Renamed"

            await eventually(renamed, within_s=10, what="title update through the cache")
            gone = await h.client.get(f"/service/video-transcript/{ch}/{uploaded}", headers=issuer.headers(payer))
            assert gone.status_code == 404
            await eventually(lambda: _none_pending(h), within_s=30, what="outbox drained by the relay")
    await publisher.close()
    assert youtube.watch_calls[slow] == 1

    ready = await read_keyed(endpoints.kafka_bootstrap, "transcript.ready", {f"{ch}:{slow}", f"{ch}:{uploaded}"})
    by_key = {e.key: e for e in ready}
    assert by_key[f"{ch}:{slow}"].data["source"] == "youtube" and by_key[f"{ch}:{slow}"].data["line_count"] == 3
    assert by_key[f"{ch}:{uploaded}"].data["source"] == "uploaded_srt"
    assert all(e.producer == "transcripts" and e.causation_id for e in ready if e.key == f"{ch}:{uploaded}")


async def _equals(value, expected) -> bool:
    return (await value) == expected


async def _none_pending(h) -> bool:
    return await h.db.transcripts.count_documents({PENDING: True}) == 0


async def test_published_handler_returns_before_a_slow_fetch(settings: Settings) -> None:
    """The handler only records and enqueues; the fetch happens in the prefetch worker."""
    from ds_transcripts.messaging.prefetch import Prefetcher

    ch, slow = unique("UCq"), video_id()
    with RecordedYouTube(slow={slow: 2.0}) as youtube:
        async with harness(settings) as h:
            prefetcher = Prefetcher(h.transcripts, concurrency=1)
            handlers = consumer_handlers(h.stores, prefetcher.enqueue, h.transcripts)
            started = time.monotonic()
            await handlers["video.published"](envelope(published(ch, slow), key=f"{ch}:{slow}"))
            assert time.monotonic() - started < 0.5 and prefetcher.queue.qsize() == 1
            stop = asyncio.Event()
            worker = asyncio.create_task(prefetcher.run(stop))
            try:
                await eventually(lambda: _equals(_status(h, ch, slow), "ready"), within_s=30,
                                 what="background fetch")
            finally:
                stop.set()
                await worker
    assert youtube.watch_calls[slow] == 1


async def _status(h, ch: str, video: str):
    doc = await h.doc(ch, video)
    return doc and doc["status"]
