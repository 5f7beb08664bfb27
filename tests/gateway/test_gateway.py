"""The nginx gateway, for real: routing table, prefix rewrite, CORS, limits and JSON errors.

Each service is stood in for by a loopback HTTP server that echoes what it received, so these
tests check exactly what the gateway forwards (method, path, headers, raw body bytes).
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from ds_common.testing.infra import free_port

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "deploy" / "local"))
import system  # deploy/local is scripts, not a package

SERVICES = ["auth", "catalog", "transcripts", "progress", "billing"]


def echo_server(service: str) -> ThreadingHTTPServer:
    class Echo(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _echo(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            payload = json.dumps({"service": service, "method": self.command, "path": self.path,
                                  "peer": self.client_address[0],
                                  "headers": {k.lower(): v for k, v in self.headers.items()},
                                  "body_hex": body.hex()}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Access-Control-Allow-Origin", "*")  # must not reach the browser
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = _echo

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    echoes = {name: echo_server(name) for name in SERVICES if name != "billing"}
    upstreams = {name: [server.server_address[1]] for name, server in echoes.items()}
    upstreams["billing"] = [free_port()]  # nothing listens: the gateway must answer 502 JSON
    gw = system.Gateway("gateway", free_port(), tmp_path_factory.mktemp("gw"), upstreams=upstreams,
                        rate="1000", auth_rate="60")
    proc = gw.spawn()
    assert proc is not None
    gw.wait_healthy(proc)
    yield f"http://127.0.0.1:{gw.port}"
    gw.stop()
    assert not system.infra.port_open(gw.port), "the runner must stop the nginx it started"
    for server in echoes.values():
        server.shutdown()


ROUTES = [
    ("POST", "/auth/login", "auth"),
    ("GET", "/auth/userinfo/a@b.c", "auth"),
    ("PUT", "/auth/user/role", "auth"),
    ("GET", "/user/config", "auth"),
    ("POST", "/user/feedback", "auth"),
    ("GET", "/user/feedback/admin/list", "auth"),
    ("GET", "/user/all", "auth"),
    ("GET", "/service/channel", "catalog"),
    ("PUT", "/service/channel/ch1", "catalog"),
    ("GET", "/service/video-list/ch1", "catalog"),
    ("DELETE", "/service/video-list/ch1/v1", "catalog"),
    ("GET", "/service/random-video", "catalog"),
    ("PUT", "/service/ch1/batch-visibility-update", "catalog"),
    ("GET", "/service/admin/analytics/videos", "catalog"),
    ("GET", "/user/channel-recommendations/admin", "catalog"),
    ("PUT", "/user/video-error-reports/r1", "catalog"),
    ("GET", "/service/video-transcript/ch1/v1", "transcripts"),
    ("PUT", "/service/ch1/v1/full-transcript", "transcripts"),
    ("GET", "/service/ch1/transcript-summary", "transcripts"),
    ("POST", "/service/ch1/v1/mark-refined", "transcripts"),
    ("POST", "/user/progress", "progress"),
    ("GET", "/user/all-progress", "progress"),
    ("GET", "/user/dictation_quota", "progress"),
    ("POST", "/user/register_dictation", "progress"),
    ("DELETE", "/user/missed-words", "progress"),
    ("GET", "/user/usage-stats", "progress"),
]


@pytest.mark.parametrize("prefix", ["/dictation-studio", "/ds"])
@pytest.mark.parametrize(("method", "path", "service"), ROUTES)
def test_routes_each_legacy_path_to_its_owner_without_the_prefix(gateway: str, prefix: str, method: str,
                                                                  path: str, service: str) -> None:
    r = httpx.request(method, f"{gateway}{prefix}{path}?x=1", json={} if method != "GET" else None)
    assert r.status_code == 200, r.text
    assert r.json()["service"] == service
    assert r.json()["path"] == f"{path}?x=1"


@pytest.mark.parametrize(("method", "path"), [("PUT", "/auth/user/plan"), ("POST", "/user/update-duration")])
def test_admin_plan_changes_go_to_billing_and_a_dead_upstream_is_a_json_502(gateway: str, method: str,
                                                                            path: str) -> None:
    r = httpx.request(method, f"{gateway}/dictation-studio{path}", json={})
    assert r.status_code == 502
    assert r.json() == {"error": "Service unavailable"}


@pytest.mark.parametrize("path", ["/internal/access/c/v", "/dictation-studio/internal/x", "/readyz",
                                  "/dictation-studio/nothing/here", "/"])
def test_unknown_and_internal_paths_are_a_json_404(gateway: str, path: str) -> None:
    r = httpx.get(f"{gateway}{path}")
    assert r.status_code == 404
    assert r.json() == {"error": "Not found"}


def test_cors_preflight_and_exposed_token_headers_for_allowed_origins_only(gateway: str) -> None:
    origin = "http://localhost:5173"
    pre = httpx.options(f"{gateway}/dictation-studio/auth/login",
                        headers={"Origin": origin, "Access-Control-Request-Method": "POST",
                                 "Access-Control-Request-Headers": "authorization,content-type"})
    assert pre.status_code == 204
    assert pre.headers["access-control-allow-origin"] == origin
    assert "POST" in pre.headers["access-control-allow-methods"]
    assert "Authorization" in pre.headers["access-control-allow-headers"]

    r = httpx.get(f"{gateway}/dictation-studio/service/channel", headers={"Origin": origin})
    assert r.headers.get_list("access-control-allow-origin") == [origin]  # the upstream's "*" is hidden
    assert "x-ds-access-token" in r.headers["access-control-expose-headers"]
    assert "x-ds-refresh-token" in r.headers["access-control-expose-headers"]

    evil = httpx.get(f"{gateway}/dictation-studio/service/channel", headers={"Origin": "https://evil.example"})
    assert evil.headers.get("access-control-allow-origin", "") == ""


def test_security_headers_and_request_id_are_set_and_propagated(gateway: str) -> None:
    r = httpx.get(f"{gateway}/dictation-studio/service/channel")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert "server" not in r.headers or "nginx/" not in r.headers["server"]
    generated = r.headers["x-request-id"]
    assert generated and r.json()["headers"]["x-request-id"] == generated

    given = httpx.get(f"{gateway}/dictation-studio/service/channel", headers={"X-Request-ID": "abcdef123456"})
    assert given.headers["x-request-id"] == "abcdef123456"
    assert given.json()["headers"]["x-request-id"] == "abcdef123456"


def test_services_get_the_client_address_and_a_spoofed_forwarded_for_is_dropped(gateway: str) -> None:
    # No proxy is trusted in front of this gateway: the client's own X-Forwarded-For is a lie.
    r = httpx.get(f"{gateway}/dictation-studio/service/channel", headers={"X-Forwarded-For": "203.0.113.9"})
    assert r.json()["headers"]["x-forwarded-for"] == "127.0.0.1"
    # ...and it comes from the one loopback address the services believe it from (DS_TRUSTED_PROXIES).
    assert r.json()["peer"] == system.GATEWAY_SOURCE_ADDRESS != "127.0.0.1"


def test_json_bodies_are_small_and_uploads_larger(gateway: str) -> None:
    big_json = b"{" + b" " * 70_000 + b"}"
    r = httpx.post(f"{gateway}/dictation-studio/user/progress", content=big_json,
                   headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and r.json() == {"error": "Request body too large"}

    upload = httpx.post(f"{gateway}/dictation-studio/service/video-list", files={"f": ("a.srt", b"1" * 2_000_000)})
    assert upload.status_code == 200 and upload.json()["service"] == "catalog"
    too_big = httpx.post(f"{gateway}/dictation-studio/user/feedback", files={"f": ("a.png", b"1" * 9_000_000)})
    assert too_big.status_code == 413


def test_stripe_webhook_body_reaches_billing_byte_for_byte(gateway: str, tmp_path_factory) -> None:
    raw = b'{"id": "evt_1",\n  "type":"checkout.session.completed",  "x": "\xc3\xa9"}  \r\n'
    r = httpx.post(f"{gateway}/dictation-studio/payment/webhook", content=raw,
                   headers={"Stripe-Signature": "t=1,v1=abc", "Content-Type": "application/json"})
    # billing is down in this fixture, so check the pass-through on a live echo of the same location kind
    assert r.status_code == 502
    echo = echo_server("billing")
    gw = system.Gateway("gateway", free_port(), tmp_path_factory.mktemp("gw2"),
                        upstreams={s: [echo.server_address[1]] for s in SERVICES}, rate="1000", auth_rate="60")
    proc = gw.spawn()
    assert proc is not None
    gw.wait_healthy(proc)
    try:
        r = httpx.post(f"http://127.0.0.1:{gw.port}/ds/payment/webhook", content=raw,
                       headers={"Stripe-Signature": "t=1,v1=abc", "Content-Type": "application/json"})
        assert r.json()["path"] == "/payment/webhook"
        assert bytes.fromhex(r.json()["body_hex"]) == raw
        assert r.json()["headers"]["stripe-signature"] == "t=1,v1=abc"
    finally:
        gw.stop()
        echo.shutdown()


def test_sign_in_is_rate_limited_per_ip_with_a_json_429(gateway: str) -> None:
    statuses = []
    with httpx.Client() as client:
        for _ in range(60):  # bounded: burst 30 at 60/min
            r = client.post(f"{gateway}/dictation-studio/auth/login", json={})
            statuses.append(r.status_code)
            if r.status_code == 429:
                assert r.json() == {"error": "Too many requests"}
                assert r.headers["retry-after"] == "1"
                break
    assert 429 in statuses


SECURITY_HEADERS = {"x-content-type-options": "nosniff", "x-frame-options": "DENY", "referrer-policy": "no-referrer",
                    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
                    "cross-origin-resource-policy": "same-site"}


def raw_request(gateway: str, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """A request sent as bytes (what no well-behaved client would send); (status, headers, body)."""
    import socket

    host, port = gateway.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as conn:
        conn.sendall(request)
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


@pytest.mark.parametrize(("request_bytes", "status"), [
    (b"GET /dictation-studio/nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 404),
    (b"NOT A REQUEST\r\n\r\n", 400),
    (b"GET /dictation-studio/service/channel?" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
     414),
    (b"POST /dictation-studio/service/channel HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n"
     b"Connection: close\r\n\r\n", 501),
    (b"PUT /dictation-studio/auth/user/plan HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
     502),
])
def test_the_gateways_own_answers_are_json_with_the_security_headers(gateway: str, request_bytes: bytes,
                                                                      status: int) -> None:
    got, headers, body = raw_request(gateway, request_bytes)
    assert got == status
    assert headers["content-type"].startswith("application/json") and "error" in json.loads(body), body
    assert {name: headers.get(name) for name in SECURITY_HEADERS} == SECURITY_HEADERS


def test_the_gateways_429_carries_the_security_headers(gateway: str) -> None:
    with httpx.Client() as client:
        for _ in range(60):  # bounded: burst 30 at 60/min
            r = client.post(f"{gateway}/dictation-studio/auth/register", json={})
            if r.status_code == 429:
                break
    assert r.status_code == 429 and r.json() == {"error": "Too many requests"}
    assert {name: r.headers.get(name) for name in SECURITY_HEADERS} == SECURITY_HEADERS
