"""Request bodies of the legacy routes (allow-listed and bounded) and the responses, in the legacy shapes."""

from __future__ import annotations

from typing import Annotated

from ds_common.ids import YouTubeId
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints, model_validator

from ds_transcripts.domain.lines import Line, make_line

MAX_LINES = 5_000
MAX_BATCH = 50
FilterText = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Filters = Annotated[list[FilterText], Field(max_length=200)]


class Item(BaseModel):
    # The UI keeps a local `userInput` on items; unknown keys are dropped, never stored.
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    start: float = Field(ge=0, le=86_400)
    end: float = Field(ge=0, le=86_400)
    transcript: str = Field(max_length=2_000)

    @model_validator(mode="after")
    def _ordered(self) -> Item:
        if self.end < self.start:
            raise ValueError("end must not be before start")
        return self

    def line(self) -> Line:
        return make_line(self.start, self.end, self.transcript)


Items = Annotated[list[Item], Field(max_length=MAX_LINES)]


def to_lines(items: list[Item]) -> list[Line]:
    return [item.line() for item in items]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class FetchBody(Strict):
    url: str = Field(max_length=500)


class LineUpdate(Item):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    index: int


class FullTranscript(Strict):
    transcript: Items | None = None


class VideoTranscript(Strict):
    video_id: YouTubeId
    transcript: Items | None = None


class BatchUpdate(Strict):
    videos: Annotated[list[VideoTranscript], Field(max_length=MAX_BATCH)] | None = None


class VideoRef(Strict):
    video_id: YouTubeId


class BatchRestore(Strict):
    videos: Annotated[list[VideoRef], Field(max_length=MAX_BATCH)] | None = None


class FiltersBody(Strict):
    filters: Filters | None = None


class BatchFilters(Strict):
    video_ids: Annotated[list[YouTubeId], Field(max_length=MAX_BATCH)] | None = None
    filters: Filters | None = None


class RefinedBody(Strict):
    is_refined: StrictBool


# --- responses --------------------------------------------------------------------------------
class LineOut(BaseModel):
    start: float
    end: float
    transcript: str


class VideoTranscriptOut(BaseModel):
    """GET video-transcript (served as cached bytes; this documents them)."""

    channel_id: str
    video_id: str
    title: str
    transcript: list[LineOut]


class Message(BaseModel):
    message: str


class ChannelFilters(BaseModel):
    channel_id: str
    filters: list[str]


class SavedFilters(BaseModel):
    message: str
    filters: list[str]


class RefinedState(BaseModel):
    channel_id: str
    video_id: str
    is_refined: bool
    refined_at: int | None  # epoch milliseconds


class RefinedMarked(RefinedState):
    message: str


class Restored(BaseModel):
    channel_id: str
    video_id: str
    title: str
    transcript: list[LineOut]


class VideoSummary(BaseModel):
    video_id: str
    title: str
    transcript_count: int
    has_original: bool
    last_updated: int | None  # epoch milliseconds of the last edit
    is_refined: bool
    refined_at: int | None


class ChannelSummary(BaseModel):
    channel_id: str
    total_videos: int
    summaries: list[VideoSummary]


class FiltersApplied(BaseModel):
    message: str
    channel_id: str
    video_id: str
    filters_applied: int
    total_changes: int
    filter_stats: dict[str, int]
    transcript: list[LineOut]


class BatchResult(BaseModel):
    """One video's outcome in a batch: `status_code` is what the single route would have answered."""

    video_id: str
    success: bool
    status_code: int
    message: str


class BatchOutcome(BaseModel):
    message: str
    success_count: int
    error_count: int
    results: list[BatchResult]


class FilterBatchResult(BatchResult):
    """A failed video carries only the BatchResult fields (the route leaves the others out)."""

    filters_applied: int | None = None
    total_changes: int | None = None
    filter_stats: dict[str, int] | None = None
    transcript: list[LineOut] | None = None


class FilterBatchOutcome(BaseModel):
    message: str
    channel_id: str
    total_videos: int
    success_count: int
    error_count: int
    filters_applied: int
    results: list[FilterBatchResult]


class SpeechJob(BaseModel):
    channel_id: str
    video_id: str
    job_id: str
    status: str  # queued, running, done, failed, cancelled
    model: str
    audio: str  # upload or youtube
    progress_s: float
    duration_s: float | None
    progress: float | None  # 0..1, once the audio's length is known
    attempts: int
    reason: str | None
    line_count: int | None
    requested_at: int
    started_at: int | None
    finished_at: int | None
