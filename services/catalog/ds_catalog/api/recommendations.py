"""Channel recommendations: learners recommend and read their own; admins list and decide, the
approval creating the channel (legacy always failed here, W22)."""

from __future__ import annotations

from typing import Any

from ds_common.auth import AdminUser, CurrentUser
from fastapi import APIRouter

from ds_catalog.api.deps import Ctx
from ds_catalog.api.schemas import Decision, RecommendationAnswer, RecommendationIn, RecommendationOut, submission_view

router = APIRouter(tags=["recommendations"])


@router.get("/user/channel-recommendations", response_model=list[RecommendationOut],
            response_model_exclude_unset=True)
async def my_recommendations(ctx: Ctx, user: CurrentUser) -> list[dict[str, Any]]:
    """The caller's recommendations, newest first."""
    return [submission_view(d) for d in await ctx.submissions.recommendations_of(user.user_id)]


@router.post("/user/channel-recommendations", response_model=RecommendationAnswer, response_model_exclude_unset=True)
async def recommend(body: RecommendationIn, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    doc = await ctx.submissions.recommend(user, name=body.name, link=body.link, language=body.language)
    return {"message": "Channel recommendation submitted successfully", "recommendation": submission_view(doc)}


@router.get("/user/channel-recommendations/admin", response_model=list[RecommendationOut],
            response_model_exclude_unset=True)
async def all_recommendations(ctx: Ctx, _: AdminUser) -> list[dict[str, Any]]:
    """Everyone's recommendations (with the recommender's e-mail), newest first."""
    return [submission_view(d) for d in await ctx.submissions.all_recommendations()]


@router.put("/user/channel-recommendations/{rec_id}", response_model=RecommendationAnswer,
            response_model_exclude_unset=True)
async def decide(rec_id: str, body: Decision, ctx: Ctx, admin: AdminUser) -> dict[str, Any]:
    approved, doc = await ctx.submissions.decide(rec_id, admin.user_id, body.model_dump())
    return {"message": f"Recommendation {'approved' if approved else 'rejected'} successfully",
            "recommendation": submission_view(doc)}
