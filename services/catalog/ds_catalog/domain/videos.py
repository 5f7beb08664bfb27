"""A video is an aggregate (`seq` is its version): each change is stored with the event it causes.
A deleted video stays as a tombstone (`removed: true`) and is revived in place when the same
video is uploaded again, its `seq` continuing; a live video is never published twice."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ds_common.events.contracts import VideoPublished, VideoRemoved, VideoUpdated
from ds_common.mongo import Document
from ds_common.versioned import Change, Decide

from ds_catalog.domain.errors import LinkMismatch, NothingToUpdate
from ds_catalog.domain.youtube import video_id_from_link


def is_live(doc: Mapping[str, Any] | None) -> bool:
    return doc is not None and not doc.get("removed")


def video_updated(doc: Mapping[str, Any]) -> VideoUpdated:
    return VideoUpdated(channel_id=doc["channel_id"], video_id=doc["video_id"], title=doc.get("title", ""),
                        link=doc.get("link", ""), language=doc.get("language", "en"),
                        visibility=doc.get("visibility", "hidden"))


def publish(state: Mapping[str, Any], event: VideoPublished) -> Decide:
    """Store a new video (or revive a tombstone) with `video.published`; nothing if it is live."""
    def decide(current: Document | None) -> Change | None:
        if is_live(current):
            return None  # a duplicate
        return Change(set={**state, "removed": False}, events=[event])
    return decide


def change(fields: Mapping[str, Any]) -> Decide:
    """Apply an admin's `fields` to a live video with `video.updated` (its full metadata)."""
    def decide(current: Document | None) -> Change | None:
        if current is None or not is_live(current):
            return None
        return Change(set=fields, events=[video_updated({**current, **fields})])
    return decide


def remove(now: datetime) -> Decide:
    """Tombstone a live video with `video.removed`."""
    def decide(current: Document | None) -> Change | None:
        if current is None or not is_live(current):
            return None
        return Change(set={"removed": True, "removed_at": now},
                      events=[VideoRemoved(channel_id=current["channel_id"], video_id=current["video_id"])])
    return decide


def checked_update(video_id: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of an admin's edit: at least one, and a new link must name the same video."""
    if not fields:
        raise NothingToUpdate
    if "link" in fields and video_id_from_link(fields["link"]) != video_id:
        raise LinkMismatch
    return dict(fields)
