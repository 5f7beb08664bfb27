"""A channel's description is an aggregate: every change of it carries `channel.updated` with the
full description (progress and transcripts learn names and visibility from it), and a write that
changes nothing causes no event. The channel's video list is not part of its description."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from ds_common.events.contracts import ChannelUpdated
from ds_common.mongo import Document
from ds_common.versioned import Change, Decide

from ds_catalog.domain.errors import DuplicateChannelIds

CHANNEL_FIELDS = ("name", "image_url", "link", "language", "visibility")


def channel_updated(channel_id: str, description: Mapping[str, Any]) -> ChannelUpdated:
    return ChannelUpdated(channel_id=channel_id, **{f: description.get(f) or "" for f in CHANNEL_FIELDS})


def new_channel(now: datetime) -> dict[str, Any]:
    """The fields a channel starts with besides its description."""
    return {"videos": [], "created_at": now}


def unique_ids(ids: Sequence[str]) -> None:
    if len(set(ids)) != len(ids):
        raise DuplicateChannelIds


def upsert(channel_id: str, described: Mapping[str, Any], now: datetime) -> Decide:
    """Create the channel or overwrite its description (its video list is kept)."""
    def decide(current: Document | None) -> Change | None:
        if current is not None and all(current.get(k) == v for k, v in described.items()):
            return None
        return Change(set={**described, "updated_at": now},
                      events=[channel_updated(channel_id, {**(current or {}), **described})])
    return decide


def create_once(channel_id: str, described: Mapping[str, Any], now: datetime, *, source: str) -> Decide:
    """Create the channel unless one exists; `source` remembers who created it (a retry's check)."""
    def decide(current: Document | None) -> Change | None:
        if current is not None:
            return None
        return Change(set={**described, "updated_at": now, "source": source},
                      events=[channel_updated(channel_id, described)])
    return decide


def update(fields: Mapping[str, Any], now: datetime) -> Decide:
    """Change some descriptive fields of an existing channel (nothing when it does not exist)."""
    def decide(current: Document | None) -> Change | None:
        if current is None or all(current.get(k) == v for k, v in fields.items()):
            return None
        return Change(set={**fields, "updated_at": now},
                      events=[channel_updated(current["_id"], {**current, **fields})])
    return decide
