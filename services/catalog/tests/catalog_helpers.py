"""Helpers for the catalog tests: SRT files, channels, multipart uploads (polling and Kafka tails:
ds_common.testing.kit)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx


def srt_text(lines: int = 3, *, start: int = 0) -> str:
    blocks = []
    for i in range(lines):
        s = start + i * 2
        blocks.append(f"{i + 1}\n00:00:{s:02d},000 --> 00:00:{s + 1:02d},500\nLine number {i + 1}\n")
    return "\n".join(blocks)


def new_video_id() -> str:
    return uuid.uuid4().hex[:11]


def new_channel_id() -> str:
    return "UC" + uuid.uuid4().hex[:16]


def channel_body(channel_id: str, **overrides: Any) -> dict[str, Any]:
    return {"id": channel_id, "name": f"Channel {channel_id}", "image_url": "https://img.example/c.png",
            "link": f"https://www.youtube.com/channel/{channel_id}", **overrides}


async def make_channel(client: httpx.AsyncClient, admin: dict[str, str], **overrides: Any) -> str:
    channel_id = overrides.pop("id", None) or new_channel_id()
    r = await client.post("/service/channel", json={"channels": [channel_body(channel_id, **overrides)]},
                          headers=admin)
    assert r.status_code == 200, r.text
    return channel_id


def video_item(channel_id: str, video_id: str, **overrides: Any) -> dict[str, Any]:
    return {"channel_id": channel_id, "video_link": f"https://www.youtube.com/watch?v={video_id}",
            "title": f"Video {video_id}", "visibility": "public", **overrides}


async def upload(client: httpx.AsyncClient, admin: dict[str, str], items: list[dict[str, Any]],
                 files: dict[str, str | bytes] | None = None) -> httpx.Response:
    """POST /service/video-list; `files` maps a file name to its content (default: one SRT per item)."""
    if files is None:
        files = {f"{i['video_link'].rsplit('=', 1)[-1]}.srt": srt_text() for i in items}
    parts = [("transcript_files", (name, body if isinstance(body, bytes) else body.encode(), "application/x-subrip"))
             for name, body in files.items()]
    return await client.post("/service/video-list", data={"data": json.dumps(items)}, files=parts, headers=admin)


async def upload_videos(client: httpx.AsyncClient, admin: dict[str, str], channel_id: str, count: int,
                        **overrides: Any) -> list[str]:
    ids = [new_video_id() for _ in range(count)]
    r = await upload(client, admin, [video_item(channel_id, v, **overrides) for v in ids])
    assert r.status_code == 200 and r.json()["success_count"] == count, r.text
    return ids
