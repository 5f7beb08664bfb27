"""Quota routes (legacy §4.5, rules §5.1) and the access check transcripts asks on a projection miss."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ds_common.auth import CurrentUser, Principal, current_principal
from ds_common.clock import to_ms, utc_midnight
from ds_common.errors import BadRequest, Forbidden
from ds_common.web import query_parameters
from fastapi import APIRouter, Request

from ds_progress.adapters.records import Learner, Registration
from ds_progress.api.context import Context, Ctx, context_of
from ds_progress.api.models import VideoRef
from ds_progress.domain.rules import check_id, current_cycle, decide, video_key

QUOTA_EXCEEDED = "Failed to register video, quota exceeded"

router = APIRouter()


def _ids(channel_id: str | None, video_id: str | None) -> tuple[str, str]:
    if not channel_id or not video_id:
        raise BadRequest("Missing channelId or videoId")
    return check_id(channel_id, "channelId"), check_id(video_id, "videoId")


@router.get("/user/dictation_quota", openapi_extra=query_parameters("channelId", "videoId"))
async def dictation_quota(request: Request) -> dict[str, Any]:
    # A hot path (every video page): inputs read directly, see ds_common.web.query_parameters.
    user, c = await current_principal(request), context_of(request)
    channel_id, video_id = _ids(request.query_params.get("channelId"), request.query_params.get("videoId"))
    learner = await c.quota.learner(user.user_id)
    if c.unlimited(user, learner):
        return {"used": 0, "limit": -1, "canProceed": True, "notifyQuota": False}
    cycle = current_cycle(learner.quota, c.now(), c.settings.cycle_days)
    decision = decide(cycle, (learner.quota or {}).get("history", []), video_key(channel_id, video_id),
                      c.settings.free_videos_per_cycle)
    return {"used": len(cycle.videos), "limit": c.settings.free_videos_per_cycle,
            "canProceed": decision.can_proceed, "notifyQuota": decision.counts,
            "startDate": to_ms(cycle.start), "endDate": to_ms(cycle.end)}


@router.post("/user/register_dictation")
async def register_dictation(body: VideoRef, request: Request) -> dict[str, str]:
    # A hot path (repeated on every video opened): principal read directly, see ds_common.web.query_parameters.
    user, c = await current_principal(request), context_of(request)
    channel_id, video_id = _ids(body.channelId, body.videoId)
    now = c.now()
    if await start_video(c, user, await c.quota.learner(user.user_id), channel_id, video_id, now) == "new":
        await c.reader.start(user.user_id, channel_id, video_id, to_ms(now))
    return {"status": "success", "message": "Video registered and progress initialized"}


async def start_video(c: Context, user: Principal, learner: Learner, channel_id: str, video_id: str,
                      now: datetime) -> Registration:
    """Register the video for the learner (a registration or a progress save of it): counted against
    a free learner's quota while the cycle has room, refused with the quota message when it has none;
    re-opening a registered video writes nothing (the front end repeats the call)."""
    registration = await c.quota.register(user.user_id, channel_id, video_id, now,
                                          unlimited=c.unlimited(user, learner), known=learner)
    if registration == "refused":
        raise Forbidden(QUOTA_EXCEEDED)
    if registration == "new":
        await c.nudge_relay(user.user_id)
    return registration


@router.get("/internal/access/{channel_id}/{video_id}")
async def access(channel_id: str, video_id: str, user: CurrentUser, c: Ctx) -> dict[str, Any]:
    """May this learner read the video's transcript? The authoritative answer behind transcripts'
    projection of `video.started` and `plan.changed`: registered videos always; any other video
    while the free cycle has room, up to `preview_videos_per_day` distinct ones a day."""
    check_id(channel_id, "channelId")
    check_id(video_id, "videoId")
    if user.is_admin:
        return {"allowed": True, "reason": "admin"}
    learner = await c.quota.learner(user.user_id)
    if c.unlimited(user, learner):
        return {"allowed": True, "reason": "paid"}
    key = video_key(channel_id, video_id)
    history = (learner.quota or {}).get("history", [])
    decision = decide(current_cycle(learner.quota, c.now(), c.settings.cycle_days), history, key,
                      c.settings.free_videos_per_cycle)
    if not decision.counts:
        return {"allowed": True, "reason": "registered"}
    if not decision.can_proceed:
        return {"allowed": False, "reason": "quota_exceeded"}
    if await c.cache.preview(user.user_id, to_ms(utc_midnight(c.now())), key, c.settings.preview_videos_per_day):
        return {"allowed": True, "reason": "preview"}
    return {"allowed": False, "reason": "preview_limit"}
