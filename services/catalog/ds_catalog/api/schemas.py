"""The catalog's request and response models, in the legacy JSON shapes (snake_case for channels
and videos, the legacy camelCase for submissions, times in epoch milliseconds), and the
document → shape functions the routes and the cached lists use. Lists never carry transcripts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any

from ds_common.clock import to_ms
from ds_common.ids import YouTubeId
from ds_common.mongo import Document
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from ds_catalog.domain.uploads import SOURCE, UploadRequest, UploadResult
from ds_catalog.domain.values import (
    ChannelVisibility,
    ErrorType,
    Language,
    LongText,
    NonEmptyText,
    RecommendationDecision,
    ReportStatus,
    Text,
    VideoVisibility,
)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Message(BaseModel):
    message: str


# --- channels ---------------------------------------------------------------------------------
class ChannelIn(Strict):
    id: YouTubeId
    name: NonEmptyText
    image_url: NonEmptyText
    link: NonEmptyText
    language: Language = "en"
    visibility: ChannelVisibility = "public"


class ChannelBatch(Strict):
    channels: list[ChannelIn] = Field(min_length=1, max_length=200)


class ChannelUpdate(Strict):
    """Typed fields only (legacy W23 merged any key); null means "leave unchanged"."""

    name: NonEmptyText | None = None
    image_url: NonEmptyText | None = None
    link: NonEmptyText | None = None
    language: Language | None = None
    visibility: ChannelVisibility | None = None


class ChannelOut(BaseModel):
    id: str
    name: str
    image_url: str
    visibility: str
    link: str
    language: str
    videos: list[str]  # the channel's video ids, in upload order


def channel_view(doc: Document) -> dict[str, Any]:
    return {
        "id": doc["_id"], "name": doc.get("name", ""), "image_url": doc.get("image_url", ""),
        "visibility": doc.get("visibility", "public"), "link": doc.get("link", ""),
        "language": doc.get("language", "en"), "videos": list(doc.get("videos") or []),
    }


# --- videos -----------------------------------------------------------------------------------
class VideoUpdate(Strict):
    title: NonEmptyText | None = None
    visibility: VideoVisibility | None = None
    link: NonEmptyText | None = None


class BatchVisibility(Strict):
    visibility: VideoVisibility


class VideoItem(BaseModel):
    """One entry of a channel's video list: what the learner and admin screens show."""

    video_id: str
    link: str
    title: str
    visibility: str
    created_at: int | None
    is_refined: bool
    transcript_source: str
    transcript_status: str
    transcript_available: bool
    transcript_count: int
    updated_at: int | None = None  # only once edited
    refined_at: int | None = None  # only when refined


class VideoList(BaseModel):
    channel_id: str
    videos: list[VideoItem]


def ms(value: datetime | None) -> int | None:
    return to_ms(value) if value is not None else None


def video_item(doc: Document) -> dict[str, Any]:
    status = doc.get("transcript_status", "pending")
    item: dict[str, Any] = {
        "video_id": doc["video_id"], "link": doc.get("link", ""), "title": doc.get("title", ""),
        "visibility": doc.get("visibility", "hidden"), "created_at": ms(doc.get("created_at")),
        "is_refined": bool(doc.get("is_refined", False)),
        "transcript_source": doc.get("transcript_source", SOURCE),
        "transcript_status": status, "transcript_available": status == "ready",
        "transcript_count": int(doc.get("transcript_count", 0)),
    }
    if doc.get("updated_at") is not None:
        item["updated_at"] = ms(doc["updated_at"])
    if doc.get("is_refined") and doc.get("refined_at") is not None:
        item["refined_at"] = ms(doc["refined_at"])
    return item


class VisibilityResult(BaseModel):
    video_id: str
    success: bool
    message: str


class BatchVisibilityResult(BaseModel):
    message: str
    channel_id: str
    new_visibility: str
    total_videos: int
    success_count: int
    error_count: int
    results: list[VisibilityResult]


def batch_visibility_answer(channel_id: str, visibility: str, results: list[dict[str, Any]]) -> dict[str, Any]:
    success = sum(1 for r in results if r["success"])
    return {"message": f"Batch visibility update completed: {success} successful, {len(results) - success} failed",
            "channel_id": channel_id, "new_visibility": visibility, "total_videos": len(results),
            "success_count": success, "error_count": len(results) - success, "results": results}


class RandomPick(BaseModel):
    channel_id: str
    video_id: str
    video_title: str
    video_link: str
    channel_name: str
    channel_image_url: str
    language: str


class RandomVideo(BaseModel):
    video: RandomPick
    total_available_videos: int


# --- upload (multipart: a `data` field with a JSON array of these, and `{videoId}.srt` files) ---
class UploadItem(Strict):
    channel_id: str = Field(max_length=64)
    video_link: str = Field(max_length=500)
    title: Text | None = None
    visibility: VideoVisibility = "hidden"  # the legacy default when omitted

    def request(self) -> UploadRequest:
        return UploadRequest(self.channel_id, self.video_link, self.title, self.visibility)


class UploadResultOut(BaseModel):
    video_id: str | None
    success: bool
    message: str
    duplicate: bool | None = None  # only on duplicates
    transcript_source: str | None = None  # only on success
    transcript_count: int | None = None  # only on success


class UploadResponse(BaseModel):
    """Sent without the fields a result leaves out (`response_model_exclude_unset`)."""

    message: str
    results: list[UploadResultOut]
    total_videos: int
    success_count: int
    error_count: int
    duplicate_video_ids: list[str] | None = None  # only when there are duplicates


def upload_result(result: UploadResult) -> dict[str, Any]:
    out: dict[str, Any] = {"video_id": result.video_id, "success": result.success, "message": result.message}
    if result.duplicate:
        out["duplicate"] = True
    if result.success:
        out |= {"transcript_source": SOURCE, "transcript_count": result.transcript_count}
    return out


def upload_answer(results: Sequence[UploadResult], total: int) -> dict[str, Any]:
    duplicates = [r.video_id for r in results if r.duplicate]
    errors = sum(1 for r in results if not r.success and not r.duplicate)
    answer: dict[str, Any] = {
        "message": "success" if not errors and not duplicates else "partially success",
        "results": [upload_result(r) for r in results], "total_videos": total,
        "success_count": sum(1 for r in results if r.success), "error_count": errors,
    }
    if duplicates:
        answer["duplicate_video_ids"] = duplicates
    return answer


# --- channel recommendations ------------------------------------------------------------------
class RecommendationIn(Strict):
    link: NonEmptyText
    language: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=16)]
    name: NonEmptyText


class Decision(Strict):
    """The admin's answer. Approval creates the channel from these fields (or the recommendation's)."""

    status: RecommendationDecision
    name: NonEmptyText | None = None
    imageUrl: NonEmptyText | None = None  # legacy camelCase
    channelId: YouTubeId | None = None
    visibility: ChannelVisibility | None = None
    link: NonEmptyText | None = None
    language: Language | None = None
    reason: LongText | None = None


class RecommendationOut(BaseModel):
    """Sent with the fields the recommendation has (`response_model_exclude_unset`)."""

    id: str
    name: str
    link: str
    language: str
    submittedAt: int
    status: str
    userEmail: str | None = None  # admin lists only
    decidedAt: int | None = None
    channelId: str | None = None
    imageUrl: str | None = None
    visibility: str | None = None
    reason: str | None = None


class RecommendationAnswer(BaseModel):
    message: str
    recommendation: RecommendationOut


INTERNAL_FIELDS = frozenset({"_id", "user_id", "decidedBy", "handledBy"})


def submission_view(doc: Document) -> dict[str, Any]:
    """A recommendation or error report without its internal fields and empty values."""
    return {k: v for k, v in doc.items() if k not in INTERNAL_FIELDS and v is not None}


# --- video error reports ----------------------------------------------------------------------
class ReportIn(Strict):
    """All six keys are required (channelName may be empty), as in legacy."""

    channelId: YouTubeId  # legacy camelCase
    channelName: Text
    videoId: YouTubeId
    videoTitle: Text
    errorType: ErrorType
    description: LongText


class ReportUpdate(Strict):
    status: ReportStatus
    adminResponse: LongText | None = None


class ReportCreated(BaseModel):
    message: str
    reportId: str


class ReportOut(BaseModel):
    """Sent with the fields the report has (`response_model_exclude_unset`)."""

    id: str
    channelId: str
    channelName: str
    videoId: str
    videoTitle: str
    errorType: str
    description: str
    userEmail: str
    userName: str
    status: str
    timestamp: int
    updatedAt: int | None = None
    adminResponse: str | None = None
    resolvedAt: int | None = None


# --- admin analytics --------------------------------------------------------------------------
class AnalyticsSummary(BaseModel):
    total_videos: int
    public_videos: int
    private_videos: int
    refined_videos: int
    unrefined_videos: int
    total_starts: int


class ChannelCounts(BaseModel):
    channel_id: str
    channel_name: str
    total_videos: int
    public_videos: int
    private_videos: int
    refined_videos: int
    starts: int


class PopularVideo(BaseModel):
    channel_id: str
    video_id: str
    title: str
    starts: int


class VideoAnalytics(BaseModel):
    summary: AnalyticsSummary
    channels: list[ChannelCounts]
    popular_videos: list[PopularVideo]
    timestamp: str


class AdminStats(BaseModel):
    total_channels: int
    total_videos: int
    timestamp: str
