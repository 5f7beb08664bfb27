"""Progress routes (legacy §4.4): autosave, restore, per-channel and per-learner views."""

from __future__ import annotations

import asyncio
from typing import Any

from ds_common.auth import CurrentUser, current_principal
from ds_common.clock import to_ms, utc_midnight
from ds_common.errors import BadRequest, Forbidden, NotFound, ServiceUnavailable
from ds_common.events.contracts import PracticeRecorded
from ds_common.events.envelope import new_event
from ds_common.mongo import Document
from ds_common.web import json_body, json_body_schema, query_parameters
from fastapi import APIRouter, Request
from pymongo.errors import PyMongoError

from ds_progress.api.context import Context, Ctx, context_of
from ds_progress.api.models import SaveProgress
from ds_progress.api.quota import start_video
from ds_progress.domain.rules import check_id, checked_duration, last_input, progress_key

router = APIRouter()
MAX_LISTED = 500


@router.post("/user/progress", openapi_extra=json_body_schema(SaveProgress))
async def save_progress(request: Request) -> dict[str, Any]:
    # The hottest path (autosave): principal and body read directly, see ds_common.web.json_body.
    user, c = await current_principal(request), context_of(request)
    body = await json_body(request, SaveProgress)
    channel_id, video_id = check_id(body.channelId, "channelId"), check_id(body.videoId, "videoId")
    claimed, now = checked_duration(float(body.duration)), c.now()
    # Both Redis reads at once: the learner's ledger (a save registers its video, as the front
    # end's sidebar switch never calls register_dictation) and the practice credit.
    learner, seconds = await asyncio.gather(c.quota.learner(user.user_id),
                                            c.cache.credit_practice(user.user_id, claimed, now.timestamp()))
    await start_video(c, user, learner, channel_id, video_id, now)
    hints = {k: v for k, v in (("channel_name", body.channelName), ("video_title", body.videoTitle),
                                ("video_link", body.videoLink)) if v is not None}
    key = progress_key(user.user_id, channel_id, video_id)
    save = {"k": key, "u": user.user_id, "c": channel_id, "v": video_id, "in": body.userInput,
            "t": int(body.currentTime), "p": round(float(body.overallCompletion), 2), "at": to_ms(now), "h": hints}
    event = None
    if seconds > 0:
        index, text = last_input(body.userInput)
        event = new_event(PracticeRecorded(user_id=user.user_id, channel_id=channel_id, video_id=video_id,
                                           duration_s=seconds, recorded_at=now, completion=save["p"],
                                           last_input_index=index, last_input=text),
                          key=user.user_id, sequence=to_ms(now), producer="progress", occurred_at=now)
    try:
        await c.journal.append(save, event)
    except PyMongoError as exc:  # not stored: the front end keeps its inputs and saves again
        raise ServiceUnavailable("Progress could not be saved, please retry") from exc
    totals = await practice_totals(c, user.user_id, channel_id, video_id, to_ms(utc_midnight(now)), seconds,
                                   saved=(key, {"input": body.userInput, "current_time": save["t"],
                                                "completion": save["p"], **hints}))
    return {"message": "Dictation progress and video duration updated successfully",
            "videoDuration": totals[3], "channelTotalDuration": totals[2],
            "totalDuration": totals[0], "dailyDuration": totals[1]}


async def practice_totals(c: Context, user_id: str, channel_id: str, video_id: str, day_ms: int,
                          seconds: int, saved: tuple[str, Document]) -> list[int]:
    """Totals shown after a save: a Redis copy of the statistics projection plus the saves since.

    The projection is authoritative (GET /user/duration reads it); this copy only feeds the save
    response and is rebuilt from the projection when it has expired.
    """
    fields = ["all", f"d:{day_ms}", f"c:{channel_id}", f"v:{channel_id}:{video_id}"]
    added = await c.cache.after_save(*saved, user_id, fields, seconds)  # one Redis round trip
    if added is not None:
        return added
    totals = await c.stats.totals(user_id)
    for field in fields:
        totals[field] = totals.get(field, 0) + seconds
    await c.cache.set_totals(user_id, totals)
    return [totals[f] for f in fields]


@router.get("/user/progress", openapi_extra=query_parameters("channelId", "videoId"))
async def get_progress(request: Request) -> dict[str, Any]:
    # A hot path (every video opened): inputs read directly, see ds_common.web.query_parameters.
    user, c = await current_principal(request), context_of(request)
    channelId, videoId = request.query_params.get("channelId"), request.query_params.get("videoId")
    if not channelId or not videoId:
        raise BadRequest("channelId and videoId are required")
    key = progress_key(user.user_id, check_id(channelId, "channelId"), check_id(videoId, "videoId"))
    state = await c.cache.get(key)
    if state is None:
        generation = await c.cache.generation(key)
        state = await c.reader.one(user.user_id, key)
        if state is not None:
            await c.cache.fill(key, generation, state)
    if state is None:  # legacy: an empty string, not {}, when nothing was saved
        return {"channelId": channelId, "videoId": videoId, "userInput": "", "currentTime": 0, "overallCompletion": 0}
    return {"channelId": channelId, "videoId": videoId, "userInput": state.get("input", {}),
            "currentTime": state.get("current_time", 0), "overallCompletion": state.get("completion", 0)}


@router.get("/user/progress/channel", openapi_extra=query_parameters("channelId"))
async def channel_progress(request: Request) -> dict[str, Any]:
    # A hot path (every channel page): inputs read directly, see ds_common.web.query_parameters.
    user, c = await current_principal(request), context_of(request)
    channelId = request.query_params.get("channelId")
    if not channelId:
        raise BadRequest("channelId is required")
    channel_id = check_id(channelId, "channelId")
    states, videos = await asyncio.gather(c.reader.listing(user.user_id, channel_id=channel_id),
                                          c.catalog.video_ids(channel_id))
    # Every video of the channel, 0 when not started (the legacy shape the badges read).
    progress: dict[str, float] = dict.fromkeys(videos, 0)
    progress.update((s["video_id"], s["completion"]) for s in states)
    return {"channelId": channelId, "progress": progress}


@router.get("/user/progress/{channel_id}")
async def channel_progress_list(channel_id: str, user: CurrentUser, c: Ctx) -> dict[str, Any]:
    states = await c.reader.listing(user.user_id, channel_id=check_id(channel_id, "channelId"))
    return {"channelId": channel_id,
            "progress": [{"videoId": s["video_id"], "overallCompletion": s["completion"]} for s in states]}


@router.get("/user/all-progress", openapi_extra=query_parameters("userEmail"))
async def all_progress(request: Request) -> dict[str, Any]:
    # A hot path (the profile page): inputs read directly, see ds_common.web.query_parameters.
    user, c = await current_principal(request), context_of(request)
    userEmail = request.query_params.get("userEmail")
    user_id = user.user_id
    if userEmail:
        if len(userEmail) > 320:
            raise BadRequest("Invalid userEmail")
        if not user.is_admin:
            raise Forbidden("Admin access required")
        found = await c.users.by_email(userEmail)
        if found is None:
            raise NotFound("User not found")
        user_id = found["_id"]
    states = [s for s in await c.reader.listing(user_id) if s["typed"]]
    # Names from the catalog, whatever the client sent; like the legacy list, nothing for videos
    # (or channels) the catalog has deleted since.
    catalog = await c.catalog.entries((s["channel_id"], s["video_id"]) for s in states)
    states = [s for s in states if not catalog[(s["channel_id"], s["video_id"])].removed]
    states.sort(key=lambda s: s["last_save_ms"], reverse=True)
    progress = []
    for s in states[:MAX_LISTED]:
        entry = catalog[(s["channel_id"], s["video_id"])]
        progress.append({
            "channelId": s["channel_id"], "channelName": entry.channel_name or s.get("channel_name", ""),
            "videoId": s["video_id"], "videoTitle": entry.video_title or s.get("video_title", ""),
            "videoLink": entry.video_link or s.get("video_link", ""), "overallCompletion": s["completion"]})
    return {"progress": progress}
