import httpx
import pytest
from ds_common.errors import Forbidden, NotFound
from ds_common.redis import make_redis
from ds_common.settings import ServiceSettings
from ds_common.web import Check, create_app, json_body, json_body_schema
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict
from pymongo.errors import ServerSelectionTimeoutError


class Item(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    count: int


def build_app() -> httpx.AsyncClient:
    router = APIRouter()

    @router.get("/missing")
    async def missing() -> None:
        raise NotFound("Video not found")

    @router.get("/forbidden")
    async def forbidden() -> None:
        raise Forbidden()

    @router.post("/items")
    async def create(item: Item) -> Item:
        return item

    @router.post("/items-parsed-by-the-route", openapi_extra=json_body_schema(Item))
    async def create_parsed(request: Request) -> Item:
        return await json_body(request, Item)

    @router.get("/redis-down")
    async def redis_down() -> None:
        await make_redis("redis://127.0.0.1:1/0").get("k")  # nothing listens on port 1

    @router.get("/mongo-down")
    async def mongo_down() -> None:
        raise ServerSelectionTimeoutError("127.0.0.1:1: connection refused")

    @router.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals: password=hunter2")

    settings = ServiceSettings(service_name="example", cors_origins=["http://localhost:5173"])
    app = create_app(settings, title="example", routers=[router], expose_headers=["x-ds-access-token"])

    async def ok() -> None:
        return None

    async def broken() -> None:
        raise ConnectionError("down")

    app.state.ready_checks = {"mongo": Check(ok), "kafka": Check(broken, critical=False)}
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


@pytest.fixture
async def client() -> httpx.AsyncClient:
    async with build_app() as c:
        yield c


async def test_typed_errors_are_json(client: httpx.AsyncClient) -> None:
    r = await client.get("/missing")
    assert r.status_code == 404 and r.json() == {"error": "Video not found"}
    r = await client.get("/forbidden")
    assert r.status_code == 403 and r.json() == {"error": "Forbidden"}


async def test_unknown_route_and_wrong_method_are_json(client: httpx.AsyncClient) -> None:
    r = await client.get("/nope")
    assert r.status_code == 404 and r.json() == {"error": "Not found"}
    r = await client.delete("/items")
    assert r.status_code == 405 and "error" in r.json()


@pytest.mark.parametrize("body,content_type", [
    (b'{"name": "a"}', "application/json"),
    (b'{"name": "a", "count": "many"}', "application/json"),
    (b'{"name": "a", "count": 1, "role": "Admin"}', "application/json"),
    (b"not json at all", "application/json"),
    (b"name=a", "application/x-www-form-urlencoded"),
])
@pytest.mark.parametrize("path", ["/items", "/items-parsed-by-the-route"])
async def test_bad_input_is_a_400_with_a_message(client: httpx.AsyncClient, body: bytes,
                                                 content_type: str, path: str) -> None:
    r = await client.post(path, content=body, headers={"content-type": content_type})
    if body == b'{"name": "a"}':  # the one valid body... without `count`
        assert r.json() == {"error": "Invalid request: count: Field required"}
    assert r.status_code == 400
    assert r.json()["error"].startswith("Invalid request")


async def test_a_route_that_parses_its_body_reports_the_same_errors_and_documents_it(
        client: httpx.AsyncClient) -> None:
    for body in (b'{"name": "a", "count": "many"}', b'{"name": "a", "count": 1, "role": "Admin"}'):
        declared = await client.post("/items", content=body, headers={"content-type": "application/json"})
        parsed = await client.post("/items-parsed-by-the-route", content=body,
                                   headers={"content-type": "application/json"})
        assert parsed.status_code == declared.status_code == 400
        assert parsed.json() == declared.json()
    not_an_object = await client.post("/items-parsed-by-the-route", content=b"[1]",
                                      headers={"content-type": "application/json"})
    assert not_an_object.json() == {"error": "Invalid request: Input should be an object"}
    ok = await client.post("/items-parsed-by-the-route", json={"name": "a", "count": 2})
    assert ok.status_code == 200 and ok.json() == {"name": "a", "count": 2}
    spec = (await client.get("/openapi.json")).json()
    body_spec = spec["paths"]["/items-parsed-by-the-route"]["post"]["requestBody"]
    assert body_spec["content"]["application/json"]["schema"]["required"] == ["name", "count"]


async def test_unexpected_error_is_a_generic_500(client: httpx.AsyncClient) -> None:
    r = await client.get("/boom")
    assert r.status_code == 500
    assert r.json() == {"error": "Internal Server Error"}
    assert "hunter2" not in r.text


async def test_an_unreachable_store_is_a_503_to_retry(client: httpx.AsyncClient) -> None:
    for path in ("/redis-down", "/mongo-down"):
        r = await client.get(path)
        assert r.status_code == 503 and r.headers["retry-after"] == "1"
        assert r.json() == {"error": "A data store is temporarily unavailable, please retry"}


async def test_request_id_is_propagated_or_generated(client: httpx.AsyncClient) -> None:
    r = await client.get("/livez", headers={"x-request-id": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    r = await client.get("/livez", headers={"x-request-id": "bad id with spaces"})
    assert r.headers["x-request-id"] != "bad id with spaces" and len(r.headers["x-request-id"]) == 32


async def test_cors_allows_only_listed_origins_and_exposes_token_headers(client: httpx.AsyncClient) -> None:
    preflight = {"origin": "http://localhost:5173", "access-control-request-method": "POST",
                 "access-control-request-headers": "authorization,content-type"}
    r = await client.options("/items", headers=preflight)
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == "http://localhost:5173"
    r = await client.options("/items", headers={**preflight, "origin": "https://evil.example"})
    assert "access-control-allow-origin" not in r.headers
    r = await client.get("/livez", headers={"origin": "http://localhost:5173"})
    assert "x-ds-access-token" in r.headers["access-control-expose-headers"]


async def test_probes_and_metrics(client: httpx.AsyncClient) -> None:
    assert (await client.get("/livez")).json() == {"status": "alive"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "degraded", "checks": {"mongo": "ok", "kafka": "failed: ConnectionError"}}
    await client.get("/missing")
    metrics = (await client.get("/metrics")).text
    assert 'http_request_duration_seconds_count{method="GET",route="/missing",service="example",status="404"}' \
        in metrics


@pytest.mark.parametrize(("trusted", "peer", "seen"), [
    ([], "127.0.0.1", "127.0.0.1"),  # nobody trusted: the peer, whatever the header says
    (["127.0.0.2"], "127.0.0.1", "127.0.0.1"),  # a direct caller on loopback cannot pose as a client
    (["127.0.0.2"], "127.0.0.2", "203.0.113.9"),  # the gateway's address: its header is believed
    (["10.0.0.0/8"], "10.1.2.3", "203.0.113.9"),  # a network, as in Kubernetes
])
async def test_forwarded_for_is_believed_from_the_gateways_address_only(trusted: list[str], peer: str,
                                                                        seen: str) -> None:
    router = APIRouter()

    @router.get("/who")
    async def who(request: Request) -> dict[str, str]:
        return {"client": request.client.host if request.client else ""}

    app = create_app(ServiceSettings(trusted_proxies=trusted), title="example", routers=[router])
    transport = httpx.ASGITransport(app=app, client=(peer, 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        answer = await c.get("/who", headers={"X-Forwarded-For": "203.0.113.9"})
    assert answer.json() == {"client": seen}


def test_trusted_proxies_must_be_addresses() -> None:
    with pytest.raises(ValueError, match="does not appear to be an IPv4 or IPv6 network"):
        ServiceSettings(trusted_proxies=["gateway"])
