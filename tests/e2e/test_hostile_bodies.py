"""Every route of every service that takes a body answers a hostile one with a JSON 4xx: each
service's own OpenAPI document lists the routes, and each gets a JSON document nested 5,000
levels deep (a RecursionError in a parser is a 500), as a learner and as an admin, straight to the
service's port as an attacker on the network would."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from e2e_helpers import bearer, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

DEEP = '{"email":' + "[" * 5_000 + "]" * 5_000 + "}"
WITH_BODY = ("post", "put", "patch", "delete")


def routes_with_bodies(base: str) -> list[tuple[str, str]]:
    spec = httpx.get(f"{base}/openapi.json", timeout=10).json()
    return [(method.upper(), re.sub(r"\{[^}]+\}", "x1", path))
            for path, operations in spec["paths"].items() for method, operation in operations.items()
            if method in WITH_BODY and "requestBody" in operation]


def test_every_body_parser_answers_a_deeply_nested_document_with_a_json_400(whole_system: Any) -> None:
    with httpx.Client(base_url=whole_system.gateway, timeout=15) as gateway:
        admin = sign_in(gateway, whole_system, whole_system.admin_email, "Admin")
        learner = sign_in(gateway, whole_system, "deep-json@e2e.test", "Deep")
    tried, answered = 0, []
    for service, base in whole_system.service_urls.items():
        routes = routes_with_bodies(base)
        assert routes, service
        with httpx.Client(base_url=base, timeout=15) as client:
            for method, path in routes:
                for who in (learner, admin):
                    r = client.request(method, path, content=DEEP,
                                       headers={**bearer(who["access"]), "Content-Type": "application/json"})
                    tried += 1
                    answered.append((service, method, path, r.status_code))
                    assert 400 <= r.status_code < 500, (service, method, path, r.status_code, r.text[:200])
                    assert "error" in r.json(), (service, method, path, r.text[:200])
    assert tried > 40
    assert sum(status == 400 for *_, status in answered) > tried // 2  # most refuse the body itself
