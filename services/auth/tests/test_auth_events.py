"""Auth's events on real Kafka: user.registered once, user.updated, session.revoked reaching another
service within 2 s, and plan.changed mirrored into the user object (newest sequence wins, expiry at read)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from auth_helpers import IdentityProvider, bearer, letters_only, sign_in, unique_email
from ds_auth.main import consumer_app, relay_app
from ds_auth.messaging.handlers import handlers
from ds_auth.settings import Settings
from ds_common import service
from ds_common.auth import JwksCache, SessionRevocations, TokenVerifier
from ds_common.errors import Unauthorized
from ds_common.events.consumer import Batched, Delivery
from ds_common.events.consumer import handlers as by_topic
from ds_common.events.contracts import Entitlement, PlanChanged, PracticeRecorded
from ds_common.events.envelope import Envelope, new_event
from ds_common.events.kafka import KafkaPublisher, ensure_topics
from ds_common.events.outbox import PENDING
from ds_common.redis import KeySpace
from ds_common.settings import ServiceSettings
from ds_common.testing.infra import Endpoints
from ds_common.testing.kafka import start_group_at_end
from ds_common.testing.kit import eventually, in_process
from fastapi import FastAPI

pytestmark = pytest.mark.integration
TOPICS = ["user.registered", "user.updated", "session.revoked", "plan.changed", "practice.recorded"]


@pytest.fixture(scope="module", autouse=True)
async def topics(endpoints: Endpoints) -> None:
    await ensure_topics(endpoints.kafka_bootstrap, TOPICS)


async def events_for(bootstrap: str, topic: str, key: str) -> list[Envelope]:
    """Every event of `topic` with this key, reading each partition up to its current end."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions: set[int] = set()
        while not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        found = []
        while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                found += [Envelope.from_bytes(r.value) for r in records if r.key == key.encode()]
        return found
    finally:
        await consumer.stop()


async def drained(app: FastAPI, timeout: float = 30) -> None:
    db = app.state.stores.db

    async def empty() -> bool:
        return not (await db.users.count_documents({PENDING: True})
                    or await db.sessions.count_documents({PENDING: True}))

    await eventually(empty, within_s=timeout, interval=0.1, what="outbox drained")


async def test_registered_once_and_updated_through_the_relay(
        client: httpx.AsyncClient, app: FastAPI, settings: Settings, idp: IdentityProvider,
        endpoints: Endpoints) -> None:
    email = unique_email("evt")
    async with in_process(relay_app(settings)):
        replies = await asyncio.gather(*(client.post("/auth/login", headers={"X-Identity-Token": idp.supabase(
            email, name="Eve")}) for _ in range(6)))
        user_id = replies[0].json()["user"]["user_id"]
        token = replies[0].headers["x-ds-access-token"]
        await client.post("/user/config", json={"language": "ko"}, headers=bearer(token))
        await drained(app)
    registered = await events_for(endpoints.kafka_bootstrap, "user.registered", user_id)
    assert len(registered) == 1 and registered[0].data["email"] == email and registered[0].sequence == 1
    assert registered[0].producer == "auth" and registered[0].data["username"] == "Eve"
    updated = await events_for(endpoints.kafka_bootstrap, "user.updated", user_id)
    assert [(e.sequence, e.data["language"]) for e in updated] == [(2, "ko")]


async def test_logout_is_refused_by_another_service_within_two_seconds(
        client: httpx.AsyncClient, app: FastAPI, settings: Settings, idp: IdentityProvider,
        endpoints: Endpoints) -> None:
    other = ServiceSettings(service_name=letters_only("othersvc"), mongo_url=endpoints.mongo_url,
                            mongo_db=letters_only("othersvc"), redis_url=endpoints.redis_url,
                            kafka_bootstrap=endpoints.kafka_bootstrap)
    other_consumer = service.consumer_app(other, group=other.service_name, handlers_of=lambda stores: {})
    jwks_http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://auth")
    verifier = TokenVerifier(JwksCache("http://auth/.well-known/jwks.json", http=jwks_http),
                             issuer="dictation-studio", audience="dictation-studio",
                             revocations=SessionRevocations(app.state.stores.redis, KeySpace(other.service_name)))

    async def refused_after_logout(timeout: float) -> float:
        signed = await sign_in(client, idp, unique_email("out"))
        access = signed.headers["x-ds-access-token"]
        await verifier.verify(access)  # accepted before
        assert (await client.post("/auth/logout", headers=bearer(access))).status_code == 200
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            try:
                await verifier.verify(access)
            except Unauthorized:
                return time.monotonic() - started
            await asyncio.sleep(0.05)
        raise AssertionError("session.revoked never reached the other service")

    try:
        async with in_process(relay_app(settings)), in_process(other_consumer):
            await refused_after_logout(timeout=60)  # warm-up: consumer group join, producer start
            assert await refused_after_logout(timeout=10) < 2.0
    finally:
        await jwks_http.aclose()
        await app.state.stores.mongo.drop_database(other.mongo_db)


async def publish_plan(bootstrap: str, user_id: str, sequence: int, entitlement: Entitlement) -> None:
    publisher = KafkaPublisher(bootstrap, client_id="auth-test-billing")
    try:
        await publisher.publish([new_event(PlanChanged(user_id=user_id, entitlement=entitlement, source="code"),
                                           key=user_id, sequence=sequence)])
    finally:
        await publisher.close()


async def wait_for_plan(client: httpx.AsyncClient, email: str, token: str, name: str) -> dict:
    async def plan_named() -> dict | None:
        plan = (await client.get(f"/auth/userinfo/{email}", headers=bearer(token))).json()["plan"]
        return plan if plan["name"] == name else None

    return await eventually(plan_named, within_s=60, interval=0.1, what=f"plan became {name}")


async def test_plan_changed_is_mirrored_newest_first_and_expires_at_read_time(
        client: httpx.AsyncClient, app: FastAPI, settings: Settings, idp: IdentityProvider,
        endpoints: Endpoints) -> None:
    email = unique_email("plan")
    signed = await sign_in(client, idp, email)
    user_id, token = signed.json()["user"]["user_id"], signed.headers["x-ds-access-token"]
    soon = datetime.now(UTC) + timedelta(hours=1)
    later = datetime.now(UTC) + timedelta(days=30)
    await start_group_at_end(endpoints.kafka_bootstrap, settings.service_name,
                             ["plan.changed", "session.revoked", "practice.recorded"])
    async with in_process(consumer_app(settings)):
        await publish_plan(endpoints.kafka_bootstrap, user_id, 2,
                           Entitlement(plan="Pro", expires_at=later, is_recurring=True, next_payment_at=later))
        plan = await wait_for_plan(client, email, token, "Pro")
        assert plan == {"name": "Pro", "expireTime": int(later.timestamp() * 1000), "isRecurring": True,
                        "status": "active", "nextPaymentTime": int(later.timestamp() * 1000)}
        # An older (or replayed) version changes nothing; a newer one wins.
        await publish_plan(endpoints.kafka_bootstrap, user_id, 1, Entitlement(plan="Premium", expires_at=later))
        await publish_plan(endpoints.kafka_bootstrap, user_id, 3, Entitlement(plan="Basic", expires_at=soon))
        await wait_for_plan(client, email, token, "Basic")
        stored = await app.state.stores.db.plans.find_one({"_id": user_id})
        assert stored["_seq"] == 3 and stored["entitlement"]["plan"] == "Basic"
    # No event says "expired": the user object turns Free once expires_at is past.
    with app.state.ctx.clock.moved(timedelta(hours=2)):
        expired = (await client.get(f"/auth/userinfo/{email}", headers=bearer(token))).json()["plan"]
        assert expired == {"name": "Free", "expireTime": None, "isRecurring": False, "status": "active"}


async def test_the_admin_user_table_shows_each_learners_latest_typed_practice(
        client: httpx.AsyncClient, app: FastAPI, idp: IdentityProvider) -> None:
    """`GET /user/all` carries `dictation_progress` as the admin table reads it: "Active" (a typed
    sentence) and "Last active" (the newest `currentTime`), from progress's `practice.recorded`."""
    learner = await sign_in(client, idp, unique_email("active"))
    idle = await sign_in(client, idp, unique_email("idle"))
    user_id = learner.json()["user"]["user_id"]
    admin = await sign_in(client, idp, unique_email("boss"))
    await app.state.ctx.users.update(admin.json()["user"]["user_id"], {"role": "Admin"})
    admin_token = (await sign_in(client, idp, admin.json()["user"]["email"])).headers["x-ds-access-token"]
    t0 = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)

    def practice(offset_s: int, video: str, text: str, offset: int) -> Delivery:
        data = PracticeRecorded(user_id=user_id, channel_id="ch", video_id=video, duration_s=30,
                                recorded_at=t0 + timedelta(seconds=offset_s), completion=12.5,
                                last_input_index=3, last_input=text)
        return Delivery(new_event(data, key=user_id, sequence=offset_s), 0, offset)

    record = by_topic(handlers(app.state.stores))["practice.recorded"]
    assert isinstance(record, Batched)
    await record.handle([practice(60, "v2", "the newest sentence", 2), practice(30, "v1", "older", 1),
                         practice(90, "v3", "", 3)])  # a save without text is not activity
    await record.handle([practice(0, "v0", "a replayed old one", 0)])
    page = await client.get("/user/all", params={"limit": 500}, headers=bearer(admin_token))
    assert page.status_code == 200, page.text
    users = {u["user_id"]: u for u in page.json()["users"]}
    assert users[user_id]["dictation_progress"] == {"ch:v2": {
        "userInput": {"3": "the newest sentence"}, "currentTime": int((t0 + timedelta(seconds=60)).timestamp() * 1000),
        "overallCompletion": 12.5}}
    assert users[idle.json()["user"]["user_id"]]["dictation_progress"] == {}
