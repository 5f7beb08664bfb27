"""Request bodies of the legacy routes, allow-listed and bounded."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints, model_validator

from ds_transcripts.domain.lines import Line, make_line

MAX_LINES = 5_000
MAX_BATCH = 50
VideoId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
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
    video_id: VideoId
    transcript: Items | None = None


class BatchUpdate(Strict):
    videos: Annotated[list[VideoTranscript], Field(max_length=MAX_BATCH)] | None = None


class VideoRef(Strict):
    video_id: VideoId


class BatchRestore(Strict):
    videos: Annotated[list[VideoRef], Field(max_length=MAX_BATCH)] | None = None


class FiltersBody(Strict):
    filters: Filters | None = None


class BatchFilters(Strict):
    video_ids: Annotated[list[VideoId], Field(max_length=MAX_BATCH)] | None = None
    filters: Filters | None = None


class RefinedBody(Strict):
    is_refined: StrictBool
