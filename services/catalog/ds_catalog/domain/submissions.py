"""Learner submissions: a channel recommendation an admin approves (creating the channel) or
rejects, and a video error report an admin resolves."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, get_args

from ds_catalog.domain.errors import InvalidApproval
from ds_catalog.domain.values import Language

LANGUAGES: tuple[str, ...] = get_args(Language)
CLOSED = ("resolved", "rejected")


def approved_channel(decision: Mapping[str, Any], recommendation: Mapping[str, Any]) -> dict[str, Any]:
    """The channel an approval creates: the admin's fields, else the recommendation's."""
    language = decision.get("language") or recommendation.get("language")
    if not decision.get("channelId") or not decision.get("imageUrl"):
        raise InvalidApproval("channelId and imageUrl are required to approve a recommendation")
    if language not in LANGUAGES:
        raise InvalidApproval(f"language must be one of {', '.join(LANGUAGES)}")
    return {"id": decision["channelId"], "name": decision.get("name") or recommendation["name"],
            "image_url": decision["imageUrl"], "link": decision.get("link") or recommendation["link"],
            "language": language, "visibility": decision.get("visibility") or "public"}


def report_change(status: str, admin_response: str | None, admin_id: str, now_ms: int) -> dict[str, Any]:
    """The fields an admin's handling of an error report sets; closing it stamps `resolvedAt`."""
    fields: dict[str, Any] = {"status": status, "updatedAt": now_ms, "handledBy": admin_id}
    if admin_response is not None:
        fields["adminResponse"] = admin_response
    if status in CLOSED:
        fields["resolvedAt"] = now_ms
    return fields
