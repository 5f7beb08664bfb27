"""Video error reports (legacy §4.8): learners report, read their own; admins list and resolve."""

from __future__ import annotations

import uuid
from typing import Any

from ds_common.auth import AdminUser, CurrentUser
from ds_common.clock import to_ms
from ds_common.errors import NotFound
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from ds_catalog.api.deps import CatalogCtx
from ds_catalog.api.views import report_view
from ds_catalog.domain.values import ChannelId, ErrorType, LongText, ReportStatus, Text, VideoId

router = APIRouter(tags=["error reports"])


class ReportIn(BaseModel):
    """All six keys are required (channelName may be empty), as in legacy."""

    model_config = ConfigDict(extra="forbid")

    channelId: ChannelId  # legacy camelCase
    channelName: Text
    videoId: VideoId
    videoTitle: Text
    errorType: ErrorType
    description: LongText


class ReportUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: ReportStatus
    adminResponse: LongText | None = None


@router.post("/user/video-error-reports")
async def report(body: ReportIn, ctx: CatalogCtx, user: CurrentUser) -> dict[str, str]:
    await ctx.limiter.hit("error-report", user.user_id, limit=ctx.settings.submissions_per_hour, window_s=3600)
    if await ctx.catalog.get_video(body.channelId, body.videoId) is None:
        raise NotFound("Video not found")
    email = user.email or ""
    name = await ctx.submissions.username_of(user.user_id) or email.split("@")[0]
    doc = {"id": str(uuid.uuid4()), **body.model_dump(), "userEmail": email, "userName": name,
           "status": "pending", "timestamp": to_ms(ctx.clock.now()), "user_id": user.user_id}
    await ctx.submissions.add_report(doc)
    return {"message": "Video error report submitted successfully", "reportId": doc["id"]}


@router.get("/user/video-error-reports")
async def my_reports(ctx: CatalogCtx, user: CurrentUser, channelId: str | None = None,
                     videoId: str | None = None) -> list[dict[str, Any]]:
    docs = await ctx.submissions.reports_of(user.user_id, channelId, videoId, ctx.settings.max_admin_list)
    return [report_view(d) for d in docs]


@router.get("/user/video-error-reports/admin")
async def all_reports(ctx: CatalogCtx, _: AdminUser) -> list[dict[str, Any]]:
    return [report_view(d) for d in await ctx.submissions.all_reports(ctx.settings.max_admin_list)]


@router.put("/user/video-error-reports/{report_id}")
async def update_report(report_id: str, body: ReportUpdate, ctx: CatalogCtx, admin: AdminUser) -> dict[str, str]:
    fields: dict[str, Any] = {"status": body.status, "updatedAt": to_ms(ctx.clock.now()), "handledBy": admin.user_id}
    if body.adminResponse is not None:
        fields["adminResponse"] = body.adminResponse
    if body.status in ("resolved", "rejected"):
        fields["resolvedAt"] = fields["updatedAt"]
    if not await ctx.submissions.update_report(report_id, fields):
        raise NotFound("Video error report not found")
    return {"message": f"Video error report updated successfully to {body.status}"}
