"""Admin editing routes, with the legacy backend's request and response shapes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from ds_common.auth import AdminUser
from ds_common.clock import to_ms
from ds_common.errors import AppError, BadRequest, DomainError
from ds_common.ids import IdPath
from fastapi import APIRouter

from ds_transcripts.api.deps import Ctx, status_of
from ds_transcripts.api.schemas import (
    BatchFilters,
    BatchOutcome,
    BatchRestore,
    BatchUpdate,
    ChannelSummary,
    FilterBatchOutcome,
    FiltersApplied,
    FiltersBody,
    FullTranscript,
    LineUpdate,
    Message,
    RefinedBody,
    RefinedMarked,
    Restored,
    SavedFilters,
    to_lines,
)
from ds_transcripts.service.editing import FilterOutcome

router = APIRouter()
BATCH_CONCURRENCY = 5


def _ms(value: Any) -> int | None:
    return to_ms(value) if value else None


def _filter_fields(outcome: FilterOutcome, filters: Sequence[str]) -> dict[str, Any]:
    return {"filters_applied": len(filters), "total_changes": outcome.result.total_changes,
            "filter_stats": outcome.result.stats, "transcript": outcome.doc.get("transcript") or []}


async def _batch(ids: Sequence[str], one: Callable[[str], Awaitable[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Run `one` per video with bounded concurrency; a refusal becomes that video's result."""
    gate = asyncio.Semaphore(BATCH_CONCURRENCY)

    async def guarded(video_id: str) -> dict[str, Any]:
        async with gate:
            try:
                return {"video_id": video_id, "success": True, "status_code": 200, **await one(video_id)}
            except (AppError, DomainError) as exc:
                return {"video_id": video_id, "success": False, "message": exc.message, "status_code": status_of(exc)}

    results = await asyncio.gather(*(guarded(v) for v in dict.fromkeys(ids)))
    return sorted(results, key=lambda r: r["video_id"])


def _counts(results: list[dict[str, Any]]) -> tuple[int, int]:
    ok = sum(1 for r in results if r["success"])
    return ok, len(results) - ok


@router.put("/service/{channel_id}/{video_id}/transcript", response_model=Message)
async def update_line(channel_id: IdPath, video_id: IdPath, body: LineUpdate, _: AdminUser,
                      ctx: Ctx) -> dict[str, Any]:
    await ctx.editor.update_line(channel_id, video_id, body.index, body.line())
    return {"message": "Transcript item updated successfully"}


@router.put("/service/{channel_id}/{video_id}/full-transcript", response_model=Message)
async def replace(channel_id: IdPath, video_id: IdPath, body: FullTranscript, _: AdminUser,
                  ctx: Ctx) -> dict[str, Any]:
    if not body.transcript:
        raise BadRequest("Transcript data is required")
    await ctx.editor.replace(channel_id, video_id, to_lines(body.transcript))
    return {"message": f"Transcript updated successfully for video {video_id}"}


@router.put("/service/{channel_id}/batch-transcript-update", response_model=BatchOutcome)
async def batch_update(channel_id: IdPath, body: BatchUpdate, _: AdminUser, ctx: Ctx) -> dict[str, Any]:
    if not body.videos:
        raise BadRequest("Videos data is required")
    by_id = {v.video_id: v.transcript for v in body.videos}

    async def one(video_id: str) -> dict[str, Any]:
        lines = by_id[video_id]
        if not lines:
            raise BadRequest("Transcript data is required")
        await ctx.editor.replace(channel_id, video_id, to_lines(lines))
        return {"message": f"Transcript updated successfully for video {video_id}"}

    results = await _batch(list(by_id), one)
    ok, failed = _counts(results)
    return {"message": f"Batch update completed: {ok} successful, {failed} failed", "success_count": ok,
            "error_count": failed, "results": results}


@router.post("/service/{channel_id}/{video_id}/restore-transcript", response_model=Restored)
async def restore(channel_id: IdPath, video_id: IdPath, _: AdminUser, ctx: Ctx) -> dict[str, Any]:
    doc = await ctx.editor.restore(channel_id, video_id)
    return {"channel_id": channel_id, "video_id": video_id, "title": doc.get("title", ""),
            "transcript": doc.get("transcript") or []}


@router.put("/service/{channel_id}/batch-restore-transcripts", response_model=BatchOutcome)
async def batch_restore(channel_id: IdPath, body: BatchRestore, _: AdminUser, ctx: Ctx) -> dict[str, Any]:
    if not body.videos:
        raise BadRequest("Videos data is required")

    async def one(video_id: str) -> dict[str, Any]:
        await ctx.editor.restore(channel_id, video_id)
        return {"message": f"Transcript restored successfully for video {video_id}"}

    results = await _batch([v.video_id for v in body.videos], one)
    ok, failed = _counts(results)
    return {"message": f"Batch restore completed: {ok} successful, {failed} failed", "success_count": ok,
            "error_count": failed, "results": results}


@router.get("/service/{channel_id}/transcript-summary", response_model=ChannelSummary)
async def summary(channel_id: IdPath, _: AdminUser, ctx: Ctx) -> dict[str, Any]:
    docs = await ctx.transcripts.summaries(channel_id)
    summaries = [{"video_id": d["video_id"], "title": d.get("title", ""), "transcript_count": d.get("line_count", 0),
                  "has_original": bool(d.get("has_original")), "last_updated": _ms(d.get("edited_at")),
                  "is_refined": bool(d.get("is_refined")), "refined_at": _ms(d.get("refined_at"))} for d in docs]
    return {"channel_id": channel_id, "total_videos": len(summaries), "summaries": summaries}


@router.post("/service/{channel_id}/transcript-filters", response_model=SavedFilters)
async def save_filters(channel_id: IdPath, body: FiltersBody, _: AdminUser, ctx: Ctx) -> dict[str, Any]:
    if not body.filters:
        raise BadRequest("Filters list is required")
    filters = await ctx.editor.save_filters(channel_id, body.filters)
    return {"message": f"Successfully saved {len(filters)} filters for channel {channel_id}", "filters": filters}


@router.post("/service/{channel_id}/{video_id}/apply-filters", response_model=FiltersApplied)
async def apply_filters(channel_id: IdPath, video_id: IdPath, body: FiltersBody, _: AdminUser,
                        ctx: Ctx) -> dict[str, Any]:
    if not body.filters:
        raise BadRequest("Filters list is required")
    try:
        outcome = await ctx.editor.apply_filters(channel_id, video_id, body.filters)
    except (AppError, DomainError) as exc:  # the legacy answer names the video
        raise type(exc)(exc.message, channel_id=channel_id, video_id=video_id) from None
    return {"message": f"Applied {len(body.filters)} filters to video {video_id}", "channel_id": channel_id,
            "video_id": video_id, **_filter_fields(outcome, body.filters)}


@router.post("/service/{channel_id}/batch-apply-filters", response_model=FilterBatchOutcome,
             response_model_exclude_unset=True)
async def batch_apply_filters(channel_id: IdPath, body: BatchFilters, _: AdminUser, ctx: Ctx) -> dict[str, Any]:
    if not body.video_ids:
        raise BadRequest("Video IDs list is required")
    if not body.filters:
        raise BadRequest("Filters list is required")
    filters = body.filters

    async def one(video_id: str) -> dict[str, Any]:
        outcome = await ctx.editor.apply_filters(channel_id, video_id, filters)
        return {"message": f"Applied {len(filters)} filters", **_filter_fields(outcome, filters)}

    results = await _batch(body.video_ids, one)
    ok, failed = _counts(results)
    return {"message": f"Batch filter application completed: {ok} successful, {failed} failed",
            "channel_id": channel_id, "total_videos": len(results), "success_count": ok, "error_count": failed,
            "filters_applied": len(filters), "results": results}


@router.post("/service/{channel_id}/{video_id}/mark-refined", response_model=RefinedMarked)
async def mark_refined(channel_id: IdPath, video_id: IdPath, body: RefinedBody, _: AdminUser,
                       ctx: Ctx) -> dict[str, Any]:
    doc = await ctx.editor.mark_refined(channel_id, video_id, body.is_refined)
    state = "refined" if body.is_refined else "not refined"
    return {"message": f"Video {video_id} marked as {state}", "channel_id": channel_id, "video_id": video_id,
            "is_refined": body.is_refined, "refined_at": _ms(doc.get("refined_at"))}
