"""The chaos harness: the whole system with two replicas of every process, a bounded learner load,
faults one at a time, and the invariants checked against what the clients saw.

Load (`Load`): free learners, each one sequential loop: register a video, then autosave it with
all of its inputs so far and one second of practice claimed after waiting at least a second (so
each answered save is credited exactly what it claims, W20), reading the progress back now and then.
A purchase (a signed Stripe webhook) and a code redemption happen once, before the faults.

Faults (`all_faults`): SIGKILL of one replica of each service's API, consumer and relay (then started
again), Kafka killed and restarted, Redis restarted empty, the store killed and restarted.

After each fault, the load paused (`check`): every save answered 200 is what a restore returns; practice totals
equal the seconds the answered saves claimed (a save that got no answer may or may not have
counted: the total must lie between); the purchase and the code each granted once, and billing,
auth and progress agree on the plan; each learner's quota count equals the videos registered
(within the unanswered ones); every outbox is published; no dead-letter topic received anything;
during the fault no request got an answer other than 200 or a 5xx "unavailable".
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import random
import signal
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from pymongo import MongoClient

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "deploy" / "local"))
import infra  # scripts, not packages
import system

CHANNEL = "demo-stories"
VIDEOS = ["aaaaaaaaaa1", "aaaaaaaaaa2", "aaaaaaaaaa3"]  # three of the demo channel's: within a free quota
UNAVAILABLE = {502, 503, 504}  # what a client may see while something is down (never a wrong answer)
PASSWORD = "chaos-password-1"


@dataclass
class Learner:
    email: str
    token: str = ""
    user_id: str = ""
    saves: dict[str, dict[str, Any]] = field(default_factory=dict)  # video -> the last answered save's body
    unanswered_saves: set[str] = field(default_factory=set)  # videos with a save that got no answer since
    claimed: int = 0  # seconds claimed by saves answered 200
    unanswered_claims: int = 0
    registered: set[str] = field(default_factory=set)
    unanswered_registrations: set[str] = field(default_factory=set)


@dataclass
class Tally:
    """Every answer the load got, by status, and the wrong ones (a restore older than a save)."""

    statuses: Counter[str] = field(default_factory=Counter)
    wrong: list[str] = field(default_factory=list)

    def record(self, status: int | str) -> None:
        self.statuses[str(status)] += 1


class Load:
    def __init__(self, gateway: str, learners: int) -> None:
        self.gateway = gateway
        self.learners = [Learner(f"chaos-{uuid.uuid4().hex[:8]}-{i}@chaos.test") for i in range(learners)]
        self.tally = Tally()
        self._stop = asyncio.Event()
        self._go = asyncio.Event()  # cleared: each learner parks before its next step
        self._parked = asyncio.Semaphore(0)
        self._tasks: list[asyncio.Task[None]] = []

    async def sign_up(self, client: httpx.AsyncClient) -> None:
        for learner in self.learners:
            r = await client.post("/auth/register", json={"username": learner.email.split("@")[0],
                                                          "email": learner.email, "password": PASSWORD})
            r.raise_for_status()
            learner.token, learner.user_id = r.headers["x-ds-access-token"], r.json()["user"]["user_id"]

    def start(self) -> None:
        self._go.set()
        self._tasks = [asyncio.create_task(self._run(learner)) for learner in self.learners]

    async def stop(self) -> None:
        self._stop.set()
        self._go.set()
        await asyncio.gather(*self._tasks)

    async def pause(self) -> None:
        """Until `resume`: every learner finishes its step in flight and waits, so the invariants
        are checked against answers, not against requests still on their way."""
        self._go.clear()
        for _ in self.learners:
            await self._parked.acquire()

    def resume(self) -> None:
        self._go.set()

    async def _step_allowed(self) -> None:
        if not self._go.is_set():
            self._parked.release()
            await self._go.wait()

    async def _run(self, learner: Learner) -> None:
        n = 0
        async with httpx.AsyncClient(base_url=self.gateway, timeout=10) as client:
            while not self._stop.is_set():
                await self._step_allowed()
                video = VIDEOS[n % len(VIDEOS)]
                n += 1
                if video not in learner.registered:
                    await self._register(client, learner, video)
                await asyncio.sleep(1.05)  # at least the one second of practice the save claims
                await self._save(client, learner, video, n)
                if n % 3 == 0:
                    await self._restore(client, learner, video)

    async def _call(self, client: httpx.AsyncClient, learner: Learner, method: str, path: str,
                    **kwargs: Any) -> httpx.Response | None:
        try:
            r = await client.request(method, path, headers={"Authorization": f"Bearer {learner.token}"}, **kwargs)
        except httpx.HTTPError:
            self.tally.record("no answer")
            return None
        self.tally.record(r.status_code)
        if r.status_code == 401:  # an access token past its hour: sign in again
            relogin = await client.post("/auth/login", json={"email": learner.email, "password": PASSWORD})
            if relogin.status_code == 200:
                learner.token = relogin.headers["x-ds-access-token"]
        return r

    async def _register(self, client: httpx.AsyncClient, learner: Learner, video: str) -> None:
        r = await self._call(client, learner, "POST", "/user/register_dictation",
                             json={"channelId": CHANNEL, "videoId": video})
        if r is not None and r.status_code == 200:
            learner.registered.add(video)
            learner.unanswered_registrations.discard(video)
        elif r is None or r.status_code in UNAVAILABLE:
            learner.unanswered_registrations.add(video)

    async def _save(self, client: httpx.AsyncClient, learner: Learner, video: str, n: int) -> None:
        previous = learner.saves.get(video, {}).get("userInput", {})
        body = {"channelId": CHANNEL, "videoId": video, "userInput": {**previous, str(len(previous)): f"words {n}"},
                "currentTime": int(time.time() * 1000), "overallCompletion": min(100.0, n * 1.0), "duration": 1}
        r = await self._call(client, learner, "POST", "/user/progress", json=body)
        if r is not None and r.status_code == 200:
            learner.saves[video] = body
            learner.unanswered_saves.discard(video)
            learner.claimed += 1
        elif r is None or r.status_code in UNAVAILABLE:
            learner.unanswered_saves.add(video)
            learner.unanswered_claims += 1

    async def _restore(self, client: httpx.AsyncClient, learner: Learner, video: str) -> None:
        r = await self._call(client, learner, "GET", "/user/progress", params={"channelId": CHANNEL, "videoId": video})
        expected = learner.saves.get(video)
        if r is None or r.status_code != 200 or expected is None or video in learner.unanswered_saves:
            return
        if r.json().get("userInput") != expected["userInput"]:
            self.tally.wrong.append(f"{learner.email} {video}: restore differs from the last answered save")


# --- faults ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Fault:
    name: str
    inject: Callable[[], None]  # breaks something and, where it is a kill, starts it again


def _process(name: str) -> system.ServiceProcess:
    found = next(p for p in system.processes("test") if p.name == name)
    assert isinstance(found, system.ServiceProcess)
    return found


def kill_and_restart(server: infra.Server, *, after_s: float = 0.0, empty_dir: Path | None = None) -> None:
    pid = server.pid()
    if pid is not None:
        with _suppress_gone():
            os.killpg(pid, signal.SIGKILL)
        # until the whole group is gone: a killed process's workers may hold its port a moment longer
        deadline = time.monotonic() + 10
        while (server.pid() is not None or any(infra.port_open(p) for p in server.ports())) \
                and time.monotonic() < deadline:
            time.sleep(0.05)
    server.pid_file.unlink(missing_ok=True)
    time.sleep(after_s)
    server.start()


class _suppress_gone:
    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, *_: object) -> bool:
        return kind is ProcessLookupError


def process_fault(name: str) -> Fault:
    return Fault(f"SIGKILL {name}", lambda: kill_and_restart(_process(name)))


def infra_fault(name: str, label: str, after_s: float) -> Fault:
    def inject() -> None:
        server = next(s for s in infra.servers("test") if s.name == name)
        kill_and_restart(server, after_s=after_s)
    return Fault(label, inject)


def all_faults() -> list[Fault]:
    """Every kind of fault: a replica of each process (the relay: the first, which holds the lease
    from the start), then each server."""
    kills = [process_fault(f"{service}-{role}{'' if role == 'relay' else '-2'}")
             for service in system.SERVICES for role in ("api", "consumer", "relay")]
    return [*kills, infra_fault("kafka", "Kafka killed and restarted", 2.0),
            infra_fault("redis", "Redis restarted (empty)", 1.0),
            infra_fault("mongo", "the store killed and restarted", 2.0)]


# --- purchase, code, and the checks -----------------------------------------------------------------
def stripe_purchase(client: httpx.Client, secret: str, user_id: str) -> str:
    session = f"cs_test_{uuid.uuid4().hex[:16]}"
    body = json.dumps({"id": f"evt_{uuid.uuid4().hex[:24]}", "object": "event", "api_version": "2025-09-30.clover",
                       "created": int(time.time()), "livemode": False, "type": "checkout.session.completed",
                       "data": {"object": {"id": session, "object": "checkout.session", "mode": "payment",
                                           "payment_status": "paid", "client_reference_id": user_id,
                                           "metadata": {"user_id": user_id, "plan": "Pro"}, "amount_total": 4900,
                                           "currency": "cny", "payment_intent": f"pi_{uuid.uuid4().hex[:16]}"}}})
    stamp = int(time.time())
    signature = hmac.new(secret.encode(), f"{stamp}.{body}".encode(), hashlib.sha256).hexdigest()
    r = client.post("/payment/webhook", content=body.encode(),
                    headers={"Stripe-Signature": f"t={stamp},v1={signature}", "Content-Type": "application/json"})
    r.raise_for_status()
    return session


def redeem_code(client: httpx.Client, admin_token: str, learner_token: str) -> None:
    code = client.post("/payment/generate-code", json={"duration": "30days"},
                       headers={"Authorization": f"Bearer {admin_token}"})
    code.raise_for_status()
    r = client.post("/payment/verify-code", json={"code": code.json()["code"]},
                    headers={"Authorization": f"Bearer {learner_token}"})
    r.raise_for_status()


@dataclass
class Buyers:
    """The learners of the purchase and of the code, and the plans they must have."""

    purchaser: Learner
    redeemer: Learner


async def wait_recovered(gateway: str, learner: Learner, within_s: float = 120) -> float:
    """Seconds until a save and a restore through the gateway both answer 200 again."""
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=gateway, timeout=5) as client:
        while time.monotonic() - started < within_s:
            try:
                headers = {"Authorization": f"Bearer {learner.token}"}
                r = await client.get("/user/progress", params={"channelId": CHANNEL, "videoId": VIDEOS[0]},
                                     headers=headers)
                if r.status_code == 200:
                    return round(time.monotonic() - started, 2)
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    return float("inf")


async def dead_letters(bootstrap: str) -> int:
    """Records in every dead-letter topic (end minus beginning offsets, summed)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        topics = [t for t in await admin.list_topics() if t.endswith(".dlt")]
    finally:
        await admin.close()
    if not topics:
        return 0
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        partitions = [TopicPartition(t, p) for t in topics for p in (consumer.partitions_for_topic(t) or {0})]
        ends, starts = await consumer.end_offsets(partitions), await consumer.beginning_offsets(partitions)
        return sum(ends[tp] - starts[tp] for tp in partitions)
    finally:
        await consumer.stop()


def outboxes_published(mongo: MongoClient[Any]) -> bool:
    """No document of any service still holds an unpublished event."""
    for service in system.SERVICES:
        db = mongo[f"e2e{service}"]
        for name in db.list_collection_names():
            if db[name].find_one({"_outbox_pending": True}, {"_id": 1}) is not None:
                return False
    return True


async def invariants(gateway: str, load: Load, buyers: Buyers, mongo: MongoClient[Any],
                     dlt_before: int, bootstrap: str, settle_s: float = 20) -> dict[str, bool]:
    """Each invariant, polled until it holds or `settle_s` passes (projections trail by seconds)."""
    checks: dict[str, Callable[[httpx.AsyncClient], Any]] = {
        "every answered save is what a restore returns": lambda c: _saves_restored(c, load),
        "practice totals equal the credited seconds": lambda c: _totals(c, load),
        "the purchase and the code granted once, one plan everywhere": lambda c: _plans(c, buyers, mongo),
        "free quota counts are exact": lambda c: _quotas(c, load),
        "every outbox event is published": lambda _: asyncio.to_thread(outboxes_published, mongo),
        "dead-letter topics stay empty": lambda _: _no_new_dead_letters(bootstrap, dlt_before),
        "no wrong answer": lambda _: _no_wrong(load),
    }
    results: dict[str, bool] = {}
    deadline = time.monotonic() + settle_s
    async with httpx.AsyncClient(base_url=gateway, timeout=10) as client:
        for name, check in checks.items():
            while True:
                try:
                    held = bool(await check(client))
                except (httpx.HTTPError, KeyError, ValueError):
                    held = False
                if held or time.monotonic() > deadline:
                    results[name] = held
                    break
                await asyncio.sleep(0.5)
    return results


async def _no_wrong(load: Load) -> bool:
    return not load.tally.wrong


async def _no_new_dead_letters(bootstrap: str, before: int) -> bool:
    return await dead_letters(bootstrap) == before


def _auth(learner: Learner) -> dict[str, str]:
    return {"Authorization": f"Bearer {learner.token}"}


async def _saves_restored(client: httpx.AsyncClient, load: Load) -> bool:
    for learner in load.learners:
        for video, body in learner.saves.items():
            if video in learner.unanswered_saves:
                continue  # a later save may or may not have been stored
            r = await client.get("/user/progress", params={"channelId": CHANNEL, "videoId": video},
                                 headers=_auth(learner))
            if r.status_code != 200 or r.json()["userInput"] != body["userInput"]:
                return False
    return True


async def _totals(client: httpx.AsyncClient, load: Load) -> bool:
    for learner in load.learners:
        r = await client.get("/user/duration", headers=_auth(learner))
        total = r.json()["totalDuration"]
        if not learner.claimed <= total <= learner.claimed + learner.unanswered_claims:
            return False
    return True


async def _quotas(client: httpx.AsyncClient, load: Load) -> bool:
    for learner in load.learners:
        r = await client.get("/user/dictation_quota", params={"channelId": CHANNEL, "videoId": VIDEOS[0]},
                             headers=_auth(learner))
        used = r.json()["used"]
        extra = learner.unanswered_registrations - learner.registered
        if not len(learner.registered) <= used <= len(learner.registered) + len(extra):
            return False
    return True


async def _plans(client: httpx.AsyncClient, buyers: Buyers, mongo: MongoClient[Any]) -> bool:
    for learner, plan in ((buyers.purchaser, "Pro"), (buyers.redeemer, "Basic")):
        info = await client.get(f"/auth/userinfo/{learner.email}", headers=_auth(learner))
        quota = await client.get("/user/dictation_quota", params={"channelId": CHANNEL, "videoId": VIDEOS[0]},
                                 headers=_auth(learner))
        stored = await asyncio.to_thread(mongo["e2ebilling"]["entitlements"].find_one, {"_id": learner.user_id})
        grants = (stored or {}).get("account", {}).get("grants", [])
        if info.json().get("plan", {}).get("name") != plan or quota.json()["limit"] != -1 or len(grants) != 1:
            return False
    return True


# --- the run ------------------------------------------------------------------------------------
async def run(gateway: str, *, webhook_secret: str, admin_token: str, faults: list[Fault], learners: int = 6,
              warmup_s: float = 8, during_s: float = 6, settle_s: float = 30) -> dict[str, Any]:
    """Load, then each fault in turn; returns `{"faults": [...]}` (the chaos.json shape)."""
    bootstrap = infra.endpoints("test")["DS_KAFKA_BOOTSTRAP"]
    mongo: MongoClient[Any] = MongoClient(infra.endpoints("test")["DS_MONGO_URL"])
    load = Load(gateway, learners)
    buyers_load = Load(gateway, 2)
    async with httpx.AsyncClient(base_url=gateway, timeout=30) as client:
        await load.sign_up(client)
        await buyers_load.sign_up(client)
    buyers = Buyers(*buyers_load.learners)
    with httpx.Client(base_url=gateway, timeout=30) as client:
        stripe_purchase(client, webhook_secret, buyers.purchaser.user_id)
        redeem_code(client, admin_token, buyers.redeemer.token)
    dlt_before = await dead_letters(bootstrap)
    results = []
    load.start()
    try:
        await asyncio.sleep(warmup_s)
        for fault in faults:
            await asyncio.sleep(random.uniform(0, 1.5))  # a random moment of the learners' steps
            before = Counter(load.tally.statuses)
            started = time.monotonic()
            await asyncio.to_thread(fault.inject)
            recovery = await wait_recovered(gateway, load.learners[0])
            await asyncio.sleep(max(0.0, during_s - (time.monotonic() - started)))
            window = load.tally.statuses - before
            await load.pause()
            held = await invariants(gateway, load, buyers, mongo, dlt_before, bootstrap, settle_s)
            load.resume()
            results.append({"fault": fault.name, "requests": sum(window.values()),
                            "errors": {k: v for k, v in window.items() if k != "200"},
                            "recovery_s": recovery, "invariants": held})
            print(f"[chaos] {fault.name}: {sum(window.values())} requests, errors {dict(results[-1]['errors'])}, "
                  f"recovered in {recovery} s, invariants {'held' if all(held.values()) else held}", flush=True)
    finally:
        await load.stop()
    final = await invariants(gateway, load, buyers, mongo, dlt_before, bootstrap, settle_s)
    mongo.close()
    return {"faults": results, "final": final, "statuses": dict(load.tally.statuses), "wrong_answers": load.tally.wrong}
