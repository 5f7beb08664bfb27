"""Practice time and the admin usage statistics."""

from __future__ import annotations

from typing import Annotated

from ds_common.auth import AdminUser, CurrentUser
from ds_common.web import json_response
from fastapi import APIRouter, Query
from fastapi.responses import Response

from ds_progress.api.deps import Ctx
from ds_progress.api.schemas import Duration, UsageStats

router = APIRouter()


@router.get("/user/duration", response_model=Duration)
async def duration(user: CurrentUser, ctx: Ctx) -> Response:
    return json_response(await ctx.statistics.duration(user.user_id))


@router.get("/user/usage-stats", response_model=UsageStats)
async def usage_stats(_: AdminUser, ctx: Ctx, days: Annotated[int, Query(ge=1, le=366)] = 1) -> Response:
    return json_response(await ctx.statistics.usage(days))
