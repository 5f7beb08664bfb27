"""A caller that reaches a service's port directly cannot pose as many clients with a rotating
X-Forwarded-For: only the gateway's address is believed (DS_TRUSTED_PROXIES), so the per-IP
limits hold. Each caller here connects from its own loopback address, as distinct hosts would."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def from_address(base_url: str, address: str) -> httpx.Client:
    return httpx.Client(base_url=base_url, timeout=10, transport=httpx.HTTPTransport(local_address=address))


def check_email(client: httpx.Client, forwarded_for: str) -> int:
    """One probe of a fresh address (the per-address limit stays out of the way)."""
    return client.post("/auth/check-email", json={"email": f"{uuid.uuid4().hex[:12]}@e2e.test"},
                       headers={"X-Forwarded-For": forwarded_for}).status_code


def test_a_rotating_forwarded_for_on_a_direct_port_does_not_escape_the_per_ip_limit(whole_system: Any) -> None:
    limit = 30  # auth's limit_check_email_per_ip
    with from_address(whole_system.service_urls["auth"], "127.0.0.1") as attacker:  # as the attack pass did
        statuses = [check_email(attacker, f"203.0.113.{i}") for i in range(limit + 1)]
    assert statuses == [200] * limit + [429]
    # Through the gateway each client is counted as itself (the gateway's X-Forwarded-For is
    # believed): one client using up its allowance leaves the next one theirs.
    with from_address(whole_system.gateway, "127.0.0.4") as client:
        assert [check_email(client, "127.0.0.9") for _ in range(limit + 1)] == [200] * limit + [429]
    with from_address(whole_system.gateway, "127.0.0.5") as client:
        assert check_email(client, "127.0.0.4") == 200
