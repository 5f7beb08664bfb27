"""The front-end suite's fixtures: the whole system (tests/conftest.py), a catalogue uploaded by an
admin, and tabs of the front-end client signed in with identity tokens."""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

sys.path.insert(0, str(Path(__file__).resolve().parent))
from frontend import Tab, identity_token  # tests/frontend holds scripts, not a package

SEED = Path(__file__).resolve().parents[2] / "deploy" / "local" / "seed"
VIDEOS = 6


@pytest_asyncio.fixture(scope="module")
async def http(whole_system: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=whole_system.gateway, timeout=20) as client:
        yield client


@pytest.fixture
def tab(whole_system: Any, http: httpx.AsyncClient) -> Callable[..., Awaitable[Tab]]:
    async def open_tab(email: str | None = None, *, name: str = "Learner") -> Tab:
        email = email or f"fe-{uuid.uuid4().hex[:10]}@frontend.test"
        new = Tab(http, identity_token(whole_system, email, name), email, username=name)
        assert (await new.load_page()).status_code == 200
        return new

    return open_tab


@pytest_asyncio.fixture(scope="module")
async def admin(whole_system: Any, http: httpx.AsyncClient) -> Tab:
    tab = Tab(http, identity_token(whole_system, whole_system.admin_email, "Admin"), whole_system.admin_email)
    assert (await tab.load_page()).status_code == 200 and tab.user["role"] == "Admin"
    return tab


@pytest_asyncio.fixture(scope="module")
async def channel(admin: Tab) -> dict[str, Any]:
    """A public channel with six public videos, each with an uploaded transcript."""
    channel_id = f"fe-{uuid.uuid4().hex[:8]}"
    created = await admin.call("POST", "/service/channel", json={"channels": [
        {"id": channel_id, "name": "Front-end Channel", "image_url": "https://img.test/c.jpg",
         "link": "https://www.youtube.com/@fe", "language": "en", "visibility": "public"}]})
    assert created.status_code == 200, created.text
    srt = (SEED / "transcripts" / "aaaaaaaaaa1.srt").read_bytes()
    videos = [f"{uuid.uuid4().hex[:10]}{i}" for i in range(VIDEOS)]
    items = [{"channel_id": channel_id, "video_link": f"https://www.youtube.com/watch?v={v}",
              "title": f"Lesson {i}", "visibility": "public"} for i, v in enumerate(videos)]
    uploaded = await admin.call("POST", "/service/video-list", data={"data": json.dumps(items)},
                                files=[("transcript_files", (f"{v}.srt", srt, "application/x-subrip")) for v in videos])
    assert uploaded.status_code == 200 and uploaded.json()["success_count"] == VIDEOS, uploaded.text
    return {"id": channel_id, "name": "Front-end Channel", "videos": videos}
