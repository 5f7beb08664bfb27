"""Channel recommendations (legacy §4.7), including the admin approve/reject path legacy broke (W22)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, get_args

from ds_common.auth import AdminUser, CurrentUser
from ds_common.clock import to_ms
from ds_common.errors import BadRequest, NotFound
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, StringConstraints

from ds_catalog.adapters.cache import CHANNELS, POOL, videos_scope
from ds_catalog.api.deps import CatalogCtx
from ds_catalog.api.views import recommendation_view
from ds_catalog.domain.values import (
    ChannelId,
    ChannelVisibility,
    Language,
    LongText,
    NonEmptyText,
    RecommendationDecision,
)

router = APIRouter(tags=["recommendations"])
LANGUAGES = get_args(Language)


class RecommendationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    link: NonEmptyText
    language: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=16)]
    name: NonEmptyText


class Decision(BaseModel):
    """The admin's answer. Approval creates the channel from these fields (or the recommendation's)."""

    model_config = ConfigDict(extra="forbid")

    status: RecommendationDecision
    name: NonEmptyText | None = None
    imageUrl: NonEmptyText | None = None  # legacy camelCase
    channelId: ChannelId | None = None
    visibility: ChannelVisibility | None = None
    link: NonEmptyText | None = None
    language: Language | None = None
    reason: LongText | None = None


@router.get("/user/channel-recommendations")
async def my_recommendations(ctx: CatalogCtx, user: CurrentUser) -> list[dict[str, Any]]:
    docs = await ctx.submissions.recommendations_of(user.user_id, ctx.settings.max_admin_list)
    return [recommendation_view(d) for d in docs]


@router.post("/user/channel-recommendations")
async def recommend(body: RecommendationIn, ctx: CatalogCtx, user: CurrentUser) -> dict[str, Any]:
    await ctx.limiter.hit("recommendation", user.user_id, limit=ctx.settings.submissions_per_hour, window_s=3600)
    doc = {"id": str(uuid.uuid4()), "name": body.name, "link": body.link, "language": body.language,
           "submittedAt": to_ms(ctx.clock.now()), "status": "pending", "user_id": user.user_id,
           "userEmail": user.email or ""}
    await ctx.submissions.add_recommendation(doc)
    return {"message": "Channel recommendation submitted successfully",
            "recommendation": recommendation_view({k: v for k, v in doc.items() if k != "userEmail"})}


@router.get("/user/channel-recommendations/admin")
async def all_recommendations(ctx: CatalogCtx, _: AdminUser) -> list[dict[str, Any]]:
    docs = await ctx.submissions.all_recommendations(ctx.settings.max_admin_list)
    return [recommendation_view(d) for d in docs]


@router.put("/user/channel-recommendations/{rec_id}")
async def decide(rec_id: str, body: Decision, ctx: CatalogCtx, admin: AdminUser) -> dict[str, Any]:
    rec = await ctx.submissions.get_recommendation(rec_id)
    if rec is None:
        raise NotFound("Recommendation not found")
    now = ctx.clock.now()
    decided = {"decidedAt": to_ms(now), "decidedBy": admin.user_id}
    if body.status == "approved":
        channel = _channel_from(body, rec)
        if await ctx.catalog.create_channel_once(channel, now, source=f"recommendation:{rec_id}"):
            await ctx.cache.invalidate(CHANNELS, POOL, videos_scope(channel["id"]))
            updated = await ctx.submissions.decide_recommendation(rec_id, {
                **decided, "status": "approved", "channelId": channel["id"], "name": channel["name"],
                "imageUrl": channel["image_url"], "link": channel["link"], "language": channel["language"],
                "visibility": channel["visibility"]}, unset=("reason",))
            return {"message": "Recommendation approved successfully", "recommendation": _view(updated)}
        reason = "Channel already exists"
    else:
        reason = body.reason or "No reason provided"
    updated = await ctx.submissions.decide_recommendation(rec_id, {**decided, "status": "rejected",
                                                                   "reason": reason})
    return {"message": "Recommendation rejected successfully", "recommendation": _view(updated)}


def _channel_from(body: Decision, rec: dict[str, Any]) -> dict[str, Any]:
    language = body.language or rec.get("language")
    if not body.channelId or not body.imageUrl:
        raise BadRequest("channelId and imageUrl are required to approve a recommendation")
    if language not in LANGUAGES:
        raise BadRequest(f"language must be one of {', '.join(LANGUAGES)}")
    return {"id": body.channelId, "name": body.name or rec["name"], "image_url": body.imageUrl,
            "link": body.link or rec["link"], "language": language, "visibility": body.visibility or "public"}


def _view(doc: dict[str, Any] | None) -> dict[str, Any]:
    if doc is None:  # deleted between the read and the decision
        raise NotFound("Recommendation not found")
    return recommendation_view(doc)
