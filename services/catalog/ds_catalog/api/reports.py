"""Video error reports: learners report and read their own; admins list and resolve them."""

from __future__ import annotations

from typing import Any

from ds_common.auth import AdminUser, CurrentUser
from fastapi import APIRouter

from ds_catalog.api.deps import Ctx
from ds_catalog.api.schemas import Message, ReportCreated, ReportIn, ReportOut, ReportUpdate, submission_view

router = APIRouter(tags=["error reports"])


@router.post("/user/video-error-reports", response_model=ReportCreated)
async def report(body: ReportIn, ctx: Ctx, user: CurrentUser) -> dict[str, str]:
    report_id = await ctx.submissions.report(user, body.model_dump())
    return {"message": "Video error report submitted successfully", "reportId": report_id}


@router.get("/user/video-error-reports", response_model=list[ReportOut], response_model_exclude_unset=True)
async def my_reports(ctx: Ctx, user: CurrentUser, channelId: str | None = None,
                     videoId: str | None = None) -> list[dict[str, Any]]:
    """The caller's reports (of one channel or video if asked), newest first."""
    return [submission_view(d) for d in await ctx.submissions.reports_of(user.user_id, channelId, videoId)]


@router.get("/user/video-error-reports/admin", response_model=list[ReportOut], response_model_exclude_unset=True)
async def all_reports(ctx: Ctx, _: AdminUser) -> list[dict[str, Any]]:
    return [submission_view(d) for d in await ctx.submissions.all_reports()]


@router.put("/user/video-error-reports/{report_id}", response_model=Message)
async def update_report(report_id: str, body: ReportUpdate, ctx: Ctx, admin: AdminUser) -> dict[str, str]:
    await ctx.submissions.handle_report(report_id, admin.user_id, body.status, body.adminResponse)
    return {"message": f"Video error report updated successfully to {body.status}"}
