"""The learner-journey load scenario: virtual learners, each signed in with its own account,
walking channel list → videos → quota → register → transcript → progress restore →
autosave → missed words → config → all progress, concurrently. Bounded by iterations and a deadline.

Used by `tests/load/run.py` (figures per step) and by a smoke test (every step answers 2xx).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import defaultdict
from dataclasses import dataclass, field

import httpx


@dataclass(frozen=True)
class Learner:
    email: str
    access: str


@dataclass
class JourneyStats:
    latencies_ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    failures: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    journeys: int = 0

    def summary(self) -> dict[str, dict[str, float]]:
        out = {}
        for step, values in self.latencies_ms.items():
            ordered = sorted(values)
            out[step] = {"count": len(values), "p50_ms": round(statistics.median(ordered), 2),
                         "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 2),
                         "failures": len(self.failures.get(step, []))}
        return out


def auto_save_body(channel_id: str, video_id: str, inputs: int = 20) -> dict[str, object]:
    """What the front end autosaves: the typed sentences, and the practice seconds since its last
    save (30, its autosave interval). The server credits at most the wall-clock time since the
    learner's previous credit (W20), so a learner saving faster than that credits practice about
    once a second."""
    return {"channelId": channel_id, "videoId": video_id,
            "userInput": {str(i): f"typed words of sentence {i}" for i in range(inputs)},
            "currentTime": int(time.time() * 1000), "overallCompletion": 42.5, "duration": 30}


async def journey(client: httpx.AsyncClient, learner: Learner, channel_id: str, video_id: str,
                  stats: JourneyStats) -> None:
    auth = {"Authorization": f"Bearer {learner.access}"}
    key = {"channelId": channel_id, "videoId": video_id}
    steps: list[tuple[str, str, str, dict[str, object]]] = [
        ("channels", "GET", "/service/channel", {"params": {"visibility": "public", "language": "all"}}),
        ("video_list", "GET", f"/service/video-list/{channel_id}", {"params": {"visibility": "public"}}),
        ("progress_channel", "GET", "/user/progress/channel", {"params": {"channelId": channel_id}}),
        ("quota", "GET", "/user/dictation_quota", {"params": key}),
        ("register", "POST", "/user/register_dictation", {"json": key}),
        ("transcript", "GET", f"/service/video-transcript/{channel_id}/{video_id}", {}),
        ("progress_get", "GET", "/user/progress", {"params": key}),
        ("progress_save", "POST", "/user/progress", {"json": auto_save_body(channel_id, video_id)}),
        ("missed_words", "POST", "/user/missed-words", {"json": {"words": ["morning", "market"]}}),
        ("config", "POST", "/user/config", {"json": {"language": "en"}}),
        ("all_progress", "GET", "/user/all-progress", {}),
        ("userinfo", "GET", f"/auth/userinfo/{learner.email}", {}),
    ]
    for name, method, path, kwargs in steps:
        started = time.perf_counter()
        try:
            r = await client.request(method, path, headers=auth, **kwargs)  # type: ignore[arg-type]
            ok = 200 <= r.status_code < 300
            detail = f"{r.status_code} {r.text[:200]}"
        except httpx.HTTPError as exc:
            ok, detail = False, repr(exc)
        stats.latencies_ms[name].append((time.perf_counter() - started) * 1000)
        if not ok:
            stats.failures[name].append(detail)
    stats.journeys += 1


async def run_journeys(base_url: str, learners: list[Learner], channel_id: str, video_id: str, *,
                       iterations: int, deadline_s: float) -> JourneyStats:
    """Every learner walks the journey `iterations` times (all learners concurrently), or until the deadline."""
    stats = JourneyStats()
    stop_at = time.monotonic() + deadline_s
    limits = httpx.Limits(max_connections=len(learners), max_keepalive_connections=len(learners))
    async with httpx.AsyncClient(base_url=base_url, timeout=10, limits=limits) as client:
        async def walk(learner: Learner) -> None:
            for _ in range(iterations):
                if time.monotonic() > stop_at:
                    return
                await journey(client, learner, channel_id, video_id, stats)

        await asyncio.gather(*(walk(learner) for learner in learners))
    return stats


def create_learners(base_url: str, count: int, password: str = "load-test-password-1") -> list[Learner]:
    """Register and sign in `count` learners by e-mail and password (bounded, sequential)."""
    learners = []
    with httpx.Client(base_url=base_url, timeout=30) as client:
        for i in range(count):
            email = f"load-{i}-{int(time.time())}@load.test"
            r = client.post("/auth/register", json={"username": f"load{i}", "email": email, "password": password})
            r.raise_for_status()
            r = client.post("/auth/login", json={"email": email, "password": password})
            r.raise_for_status()
            learners.append(Learner(email, r.headers["x-ds-access-token"]))
    return learners
