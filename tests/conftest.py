"""Cross-service fixtures: the whole system started once per session by the same runner as
`make dev`, in its `test` profile, on the test infra: two replicas of every process of every
service (30 processes: APIs behind the gateway, consumers sharing their groups, relays with one
active by lease) and the nginx gateway."""

from __future__ import annotations

import secrets
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from otlp_receiver import OtlpReceiver
from pymongo import MongoClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "deploy" / "local"))
import infra  # deploy/local holds scripts, not a package
import seed
import system

REPLICAS = 2


@dataclass(frozen=True)
class WholeSystem:
    gateway: str  # e.g. http://127.0.0.1:14001/dictation-studio
    service_urls: dict[str, str]  # service → its API's base URL
    supabase_issuer: str
    supabase_secret: str
    webhook_secret: str
    admin_email: str
    env: dict[str, str]  # the settings the run gave every process
    traces: OtlpReceiver | None = None  # every span the processes exported


@pytest.fixture(scope="session")
def whole_system() -> Iterator[WholeSystem]:
    for server in infra.servers("test"):
        server.start()
    mongo = MongoClient(infra.endpoints("test")["DS_MONGO_URL"])
    system.down("test")
    for name in system.SERVICES:  # a clean slate for this run's services
        mongo.drop_database(f"e2e{name}")
    mongo.close()
    traces = OtlpReceiver().start()
    run = WholeSystem(gateway="", service_urls={}, supabase_issuer="https://e2e.supabase.test/auth/v1",
                      supabase_secret=secrets.token_urlsafe(32), webhook_secret="whsec_" + secrets.token_hex(16),
                      admin_email="admin@e2e.test", env={})
    env = {
        "DS_AUTH_SUPABASE_ISSUER": run.supabase_issuer,
        "DS_AUTH_SUPABASE_JWT_SECRET": run.supabase_secret,
        "DS_AUTH_ADMIN_EMAILS": f'["{run.admin_email}", "{seed.ADMIN_EMAIL}"]',
        "DS_BILLING_STRIPE_WEBHOOK_SECRET": run.webhook_secret,
        "DS_LOG_LEVEL": "WARNING",
        "DS_BILLING_LOG_LEVEL": "INFO",  # billing's grants are logged (the tracing test reads them)
        # A short grace after a refresh, so a test can present an old refresh token past it quickly.
        "DS_AUTH_REFRESH_GRACE_S": "1",
        # Every request traced, spans exported within a fraction of a second.
        "DS_OTEL_ENDPOINT": traces.endpoint, "DS_TRACE_SAMPLE_RATIO": "1", "OTEL_BSP_SCHEDULE_DELAY": "200",
    }
    system.up("test", env, replicas=REPLICAS)
    procs = system.processes("test")
    apis: dict[str, str] = {}  # the first replica of each API
    for p in procs:
        if isinstance(p, system.ServiceProcess) and p.role == "api":
            apis.setdefault(p.service, f"http://127.0.0.1:{p.port}")
    yield WholeSystem(**{**run.__dict__, "gateway": f"http://127.0.0.1:{procs[-1].port}/dictation-studio",
                         "service_urls": apis, "env": env, "traces": traces})
    system.down("test")
    traces.stop()
