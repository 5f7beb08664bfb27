"""Billing benchmark: Stripe webhook ingestion, and webhook → `plan.changed` latency.

    flock /tmp/ds-tests.lock python3 -m uv run python services/billing/bench/run.py

Starts billing's API (2 workers), relay and consumer as processes against the test
infrastructure with a fresh database and a fresh consumer group, then:
1. ingestion capacity: wrk at 32 connections for 10 s posting signed, distinct
   `checkout.session.completed` events (each a new paid purchase) to /payment/webhook as fast as
   they are answered, while the relay and the consumer fulfil them behind it;
2. ingestion at the target rate: the same, paced at a little over 500 events/s (70 connections, each
   waiting 100 ms between an answer and its next event): the latency at that rate, not at
   saturation;
3. latency: once the backlogs are drained, signed events sent at a steady rate, timed from the
   moment the webhook answered 2xx to the moment the user's `plan.changed` is read from Kafka.
Writes bench/results/billing.json. Targets (issue 5): ingestion >= 500 events/s accepted with
p99 <= 100 ms (judged on 2.); accepted checkout → plan.changed p99 <= 500 ms.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import statistics
import sys
import time
import uuid

import httpx
import stripe
from aiokafka import AIOKafkaConsumer, TopicPartition
from ds_common.mongo import make_mongo_client
from ds_common.testing.bench import Request, fresh_service_env, service_process, write_results, wrk
from ds_common.testing.infra import free_port, local_endpoints
from ds_common.testing.jwks import TestIssuer

SECRET = "whsec_bench_secret"
DURATION_S = int(os.environ.get("BENCH_DURATION_S", "10"))
INGEST_EVENTS = 20_000  # distinct events, more than wrk can send in DURATION_S
# Purchases spread over this many learners: a burst of payments comes from many customers, and
# a learner's account document grows with each purchase (stacked grants, applied operations).
INGEST_USERS = 10_000
LATENCY_EVENTS, LATENCY_RATE = 200, 10  # events, per second
PACED_CONNECTIONS, PACED_PAUSE_MS = 70, 100  # ~575 events/s offered at 22 ms latency
TARGET_RPS, TARGET_INGEST_P99_MS, TARGET_LATENCY_P99_MS = 500, 100, 500


def checkout_event(user_id: str) -> str:
    session = {"id": f"cs_bench_{uuid.uuid4().hex}", "object": "checkout.session", "mode": "payment",
               "payment_status": "paid", "client_reference_id": user_id,
               "metadata": {"user_id": user_id, "plan": "Pro"}, "payment_intent": f"pi_{uuid.uuid4().hex[:20]}",
               "amount_total": 4900, "currency": "usd"}
    return json.dumps({"id": f"evt_bench_{uuid.uuid4().hex}", "object": "event", "api_version": "2025-09-30.clover",
                       "created": int(time.time()), "livemode": False, "type": "checkout.session.completed",
                       "data": {"object": session}})


def signed_headers(body: str) -> dict[str, str]:
    return {"Stripe-Signature": stripe.WebhookSignature.generate_signature_header(body, SECRET),
            "Content-Type": "application/json"}


async def count(mongo_url: str, db_name: str, collection: str, query: dict) -> int:
    client = make_mongo_client(mongo_url)
    try:
        return await client[db_name][collection].count_documents(query)
    finally:
        await client.close()


async def fulfilled_so_far(mongo_url: str, db_name: str) -> int:
    """Benchmark events the consumer has fulfilled (each is recorded once in stripe_events)."""
    return await count(mongo_url, db_name, "stripe_events", {"_id": {"$regex": "^evt_bench_"}})


async def wait_drained(mongo_url: str, db_name: str, expected: int, timeout_s: float = 600) -> float:
    """Seconds until `expected` benchmark events are fulfilled (the consumer's backlog is gone)."""
    started = time.monotonic()
    while await fulfilled_so_far(mongo_url, db_name) < expected:
        if time.monotonic() - started > timeout_s:
            raise RuntimeError("backlog not drained")
        await asyncio.sleep(1)
    return time.monotonic() - started


async def measure_latency(base: str, bootstrap: str) -> dict[str, float]:
    """Accepted webhook → plan.changed for that user on Kafka, at a steady rate."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    accepted: dict[str, float] = {}
    seen: dict[str, float] = {}
    produced: dict[str, float] = {}  # the relay's produce time (record timestamp), for diagnosis
    try:
        await consumer._client.force_metadata_update()
        partitions = [TopicPartition("plan.changed", p) for p in consumer.partitions_for_topic("plan.changed") or ()]
        consumer.assign(partitions)
        await consumer.seek_to_end(*partitions)
        for tp in partitions:
            await consumer.position(tp)

        async def read() -> None:
            while len(seen) < LATENCY_EVENTS:
                for records in (await consumer.getmany(timeout_ms=100)).values():
                    for record in records:
                        key = (record.key or b"").decode()
                        if key in accepted and key not in seen:
                            seen[key] = time.time()
                            produced[key] = record.timestamp / 1000

        reader = asyncio.create_task(read())
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            t0 = time.monotonic()
            for i in range(LATENCY_EVENTS):
                user = f"bench-lat-{uuid.uuid4().hex[:12]}"
                body = checkout_event(user)
                r = await http.post("/payment/webhook", content=body, headers=signed_headers(body))
                r.raise_for_status()
                accepted[user] = time.time()
                await asyncio.sleep(max(0.0, t0 + (i + 1) / LATENCY_RATE - time.monotonic()))
        await asyncio.wait_for(reader, timeout=60)
    finally:
        await consumer.stop()
    latencies = sorted((seen[u] - accepted[u]) * 1000 for u in accepted)
    to_kafka = sorted((produced[u] - accepted[u]) * 1000 for u in accepted)
    return {"events": len(latencies), "rate_per_s": LATENCY_RATE,
            "produced_p50_ms": round(statistics.median(to_kafka), 1),
            "produced_p99_ms": round(to_kafka[int(len(to_kafka) * 0.99) - 1], 1),
            "p50_ms": round(statistics.median(latencies), 1),
            "p90_ms": round(latencies[int(len(latencies) * 0.9) - 1], 1),
            "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1], 1), "max_ms": round(latencies[-1], 1)}


def main() -> int:
    issuer = TestIssuer()
    issuer.serve()
    with contextlib.ExitStack() as stack:
        stack.callback(issuer.close)
        run = stack.enter_context(fresh_service_env(
            "billing", jwks_url=issuer.url, STRIPE_API_BASE=local_endpoints().stripe_api_base,
            STRIPE_WEBHOOK_SECRET=SECRET))
        endpoints, db_name, env = run.endpoints, run.database, run.vars
        with service_process("ds_billing", "relay", free_port(), env), \
                service_process("ds_billing", "consumer", free_port(), env), \
                service_process("ds_billing", "api", free_port(), env, workers=2) as base:
            # Warm-up: both API workers, the relay and the consumer on their first events.
            warm = [checkout_event(f"bench-warm-{i}") for i in range(200)]
            wrk(base, [Request("POST", "/payment/webhook", signed_headers(b), b) for b in warm], duration_s=2)
            asyncio.run(wait_drained(endpoints.mongo_url, db_name, len(warm)))  # wrk repeats them: 200 distinct

            def ingest(offset: int, **load: int) -> dict:
                """One wrk run of fresh events; then waits until the consumer has fulfilled every
                accepted one (counted in stripe_events, so each accepted event is checked stored)."""
                bodies = [checkout_event(f"bench-user-{(i + offset) % INGEST_USERS}") for i in range(INGEST_EVENTS)]
                before = asyncio.run(fulfilled_so_far(endpoints.mongo_url, db_name))
                stats = wrk(base, [Request("POST", "/payment/webhook", signed_headers(b), b) for b in bodies],
                            duration_s=DURATION_S, **load)
                accepted = stats["requests"] - stats["errors_status"]
                drained_in = asyncio.run(wait_drained(endpoints.mongo_url, db_name, before + accepted))
                stats["accepted_new_events"] = asyncio.run(fulfilled_so_far(endpoints.mongo_url, db_name)) - before
                stats["accepted_per_s"] = round(stats["accepted_new_events"] / (stats["duration_us"] / 1e6), 1)
                stats["backlog_drained_in_s"] = round(drained_in, 1)
                return stats

            capacity = ingest(0)
            paced = ingest(INGEST_USERS // 2, connections=PACED_CONNECTIONS, pause_ms=PACED_PAUSE_MS)
            latency = asyncio.run(measure_latency(base, endpoints.kafka_bootstrap))
    met = {"ingestion": paced["accepted_per_s"] >= TARGET_RPS and paced["p99_ms"] <= TARGET_INGEST_P99_MS
           and paced["errors_status"] == 0,
           "checkout_to_plan_changed": latency["p99_ms"] <= TARGET_LATENCY_P99_MS}
    results = {"setup": {"api_workers": 2, "relay": 1, "consumer": 1, "duration_s": DURATION_S,
                         "paced": f"{PACED_CONNECTIONS} connections, {PACED_PAUSE_MS} ms between answer and next"},
               "webhook_ingestion_capacity": capacity, "webhook_ingestion_at_target_rate": paced,
               "checkout_to_plan_changed": latency,
               "targets": {"ingestion_min_per_s": TARGET_RPS, "ingestion_max_p99_ms": TARGET_INGEST_P99_MS,
                           "latency_max_p99_ms": TARGET_LATENCY_P99_MS, "met": met}}
    write_results("billing", results)
    print(json.dumps(results["checkout_to_plan_changed"]), json.dumps(met))
    return 0 if all(met.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
