"""A tiny example service on the real stores: lifespan, readiness, roles, logs, in-memory bus."""

import contextlib
import io
import json
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from asgi_lifespan import LifespanManager
from ds_common.auth import AdminUser, CurrentUser, JwksCache, TokenVerifier
from ds_common.events.envelope import Envelope
from ds_common.events.memory import InMemoryBus
from ds_common.logging import JsonFormatter, request_id_var
from ds_common.mongo import IndexSpec, asc
from ds_common.runtime import open_stores
from ds_common.settings import ServiceSettings
from ds_common.testing.infra import Endpoints
from ds_common.testing.jwks import TestIssuer
from ds_common.web import create_app
from fastapi import APIRouter, FastAPI

pytestmark = pytest.mark.integration


def example_app(endpoints: Endpoints, issuer: TestIssuer, kafka: str) -> FastAPI:
    settings = ServiceSettings(service_name="example", mongo_url=endpoints.mongo_url, mongo_db="exampleservice",
                               redis_url=endpoints.redis_url, kafka_bootstrap=kafka, jwks_url=issuer.url)
    router = APIRouter()

    @router.get("/mine")
    async def mine(user: CurrentUser) -> dict[str, str]:
        return {"user_id": user.user_id}

    @router.get("/admin-only")
    async def admin_only(admin: AdminUser) -> dict[str, str]:
        return {"admin": admin.user_id}

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_stores(settings, app, [IndexSpec("things", asc("owner", "created_at"))]) as stores:
            jwks = JwksCache(settings.jwks_url)
            app.state.verifier = TokenVerifier(jwks, issuer=settings.jwt_issuer, audience=settings.jwt_audience)
            app.state.stores = stores
            yield
            await jwks.aclose()

    return create_app(settings, title="example", routers=[router], lifespan=lifespan)


async def call(app: FastAPI, path: str, **kwargs: object) -> httpx.Response:
    async with LifespanManager(app), httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                                       base_url="http://t") as client:
        return await client.get(path, **kwargs)


async def test_readyz_checks_the_real_stores_and_kafka(endpoints: Endpoints, issuer: TestIssuer) -> None:
    r = await call(example_app(endpoints, issuer, endpoints.kafka_bootstrap), "/readyz")
    assert r.status_code == 200
    assert r.json() == {"status": "ready", "checks": {"mongo": "ok", "redis": "ok", "kafka": "ok"}}


async def test_readyz_reports_kafka_down_without_failing_the_api(endpoints: Endpoints, issuer: TestIssuer) -> None:
    r = await call(example_app(endpoints, issuer, "127.0.0.1:1"), "/readyz")
    assert r.status_code == 200 and r.json()["status"] == "degraded"


async def test_indexes_are_declared_at_start_up(endpoints: Endpoints, issuer: TestIssuer, mongo_client) -> None:
    await call(example_app(endpoints, issuer, endpoints.kafka_bootstrap), "/livez")
    names = [i["name"] async for i in await mongo_client["exampleservice"].things.list_indexes()]
    assert "owner_1_created_at_1" in names


async def test_roles_are_checked_on_the_server(endpoints: Endpoints, issuer: TestIssuer) -> None:
    app = example_app(endpoints, issuer, endpoints.kafka_bootstrap)
    assert (await call(app, "/mine")).status_code == 401
    assert (await call(app, "/mine", headers={"Authorization": "Basic abc"})).status_code == 401
    assert (await call(app, "/mine", headers=issuer.headers("u1"))).json() == {"user_id": "u1"}
    refused = await call(app, "/admin-only", headers=issuer.headers("u1"))
    assert refused.status_code == 403 and refused.json() == {"error": "Admin access required"}
    assert (await call(app, "/admin-only", headers=issuer.headers("a1", role="Admin"))).json() == {"admin": "a1"}


def test_json_logs_carry_the_request_id() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("example"))
    log = logging.getLogger("example.test")
    log.addHandler(handler)
    token = request_id_var.set("rid-42")
    try:
        log.warning("saved %s", "progress", extra={"user_id": "u1"})
    finally:
        request_id_var.reset(token)
        log.removeHandler(handler)
    entry = json.loads(stream.getvalue())
    assert entry["msg"] == "saved progress" and entry["request_id"] == "rid-42"
    assert entry["service"] == "example" and entry["user_id"] == "u1" and entry["level"] == "warning"


async def test_in_memory_bus_delivers_in_order_and_can_fail() -> None:
    bus, seen = InMemoryBus(), []

    async def handler(e: Envelope) -> None:
        seen.append(e.sequence)

    bus.subscribe("thing.changed", handler)
    events = [Envelope(type="thing.changed", occurred_at=datetime.now(UTC), producer="t", key="k", sequence=i,
                       data={}) for i in (1, 2, 3)]
    await bus.publish(events)
    assert seen == [1, 2, 3] and bus.of_type("thing.changed") == events
    bus.fail_next = 1
    with pytest.raises(ConnectionError):
        await bus.publish(events[:1])
    assert len(bus.published) == 3


def test_metrics_of_several_workers_are_reported_together() -> None:
    """An API with two worker processes: /metrics, whichever worker answers, counts every request."""
    import re
    import sys
    from pathlib import Path

    from ds_common.testing.bench import service_process
    from ds_common.testing.infra import free_port

    port = free_port()
    code = ("from ds_common.runtime import serve; "
            f"serve('example_app:app', host='127.0.0.1', port={port}, service='example', workers=2)")
    env = {"PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    with service_process("example", "api", port, env, argv=[sys.executable, "-c", code]) as url, \
            httpx.Client(base_url=url) as client:
        for _ in range(40):  # new connections, spread over both workers by the kernel
            with httpx.Client(base_url=url) as one:
                assert one.get("/hello").status_code == 200
        text = client.get("/metrics").text
    counted = sum(float(v) for v in re.findall(
        r'^http_request_duration_seconds_count\{[^}]*route="/hello"[^}]*\} (\S+)$', text, re.MULTILINE))
    assert counted == 40
