"""The command line starts each process role against the real stores (what `make dev` will run)."""

import uuid

import httpx
import pytest
from ds_common.testing.bench import service_process
from ds_common.testing.infra import Endpoints, free_port

pytestmark = pytest.mark.integration


def test_relay_and_consumer_processes_start_and_report_ready(endpoints: Endpoints, mongo_client) -> None:
    db = "txproc" + "".join(c for c in uuid.uuid4().hex if c.isalpha())[:8]
    env = {"DS_TRANSCRIPTS_MONGO_URL": endpoints.mongo_url, "DS_TRANSCRIPTS_MONGO_DB": db,
           "DS_TRANSCRIPTS_REDIS_URL": endpoints.redis_url, "DS_TRANSCRIPTS_KAFKA_BOOTSTRAP": endpoints.kafka_bootstrap,
           "DS_TRANSCRIPTS_CONSUMER_GROUP": f"txproc-{uuid.uuid4().hex[:8]}", "DS_TRANSCRIPTS_LOG_LEVEL": "WARNING",
           "DS_TRANSCRIPTS_SERVICE_NAME": f"txproc{uuid.uuid4().hex[:6]}"}
    with service_process("ds_transcripts", "relay", free_port(), env) as relay, \
            service_process("ds_transcripts", "consumer", free_port(), env) as consumer:
        for base in (relay, consumer):
            ready = httpx.get(f"{base}/readyz", timeout=5).json()
            assert ready["status"] == "ready" and ready["checks"]["mongo"] == "ok"
            assert "outbox_events_published_total" in httpx.get(f"{base}/metrics", timeout=5).text or base == consumer
