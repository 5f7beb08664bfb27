"""Documents → the legacy JSON shapes (snake_case, epoch milliseconds). Lists never carry transcripts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ds_common.clock import to_ms
from ds_common.mongo import Document


def ms(value: datetime | None) -> int | None:
    return to_ms(value) if value is not None else None


def channel_view(doc: Document) -> dict[str, Any]:
    return {
        "id": doc["_id"], "name": doc.get("name", ""), "image_url": doc.get("image_url", ""),
        "visibility": doc.get("visibility", "public"), "link": doc.get("link", ""),
        "language": doc.get("language", "en"), "videos": list(doc.get("videos") or []),
    }


def video_item(doc: Document) -> dict[str, Any]:
    """One entry of a channel's video list: what the learner and admin screens show."""
    status = doc.get("transcript_status", "pending")
    item: dict[str, Any] = {
        "video_id": doc["video_id"], "link": doc.get("link", ""), "title": doc.get("title", ""),
        "visibility": doc.get("visibility", "hidden"), "created_at": ms(doc.get("created_at")),
        "is_refined": bool(doc.get("is_refined", False)),
        "transcript_source": doc.get("transcript_source", "uploaded_srt"),
        "transcript_status": status, "transcript_available": status == "ready",
        "transcript_count": int(doc.get("transcript_count", 0)),
    }
    if doc.get("updated_at") is not None:
        item["updated_at"] = ms(doc["updated_at"])
    if doc.get("is_refined") and doc.get("refined_at") is not None:
        item["refined_at"] = ms(doc["refined_at"])
    return item


INTERNAL_FIELDS = frozenset({"_id", "user_id", "decidedBy", "handledBy"})


def recommendation_view(doc: Document) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k not in INTERNAL_FIELDS and v is not None}


report_view = recommendation_view
