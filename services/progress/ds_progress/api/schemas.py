"""Request and response models of progress's routes (the legacy contract, allow-listed and typed:
wrong types answer 400)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr, field_validator

Number = StrictInt | StrictFloat
Hint = Annotated[StrictStr, Field(max_length=500)] | None
MAX_INPUTS = 2000


# --- requests -----------------------------------------------------------------------------------
class SaveProgress(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channelId: StrictStr
    videoId: StrictStr
    userInput: dict[StrictStr, Annotated[StrictStr, Field(max_length=2000)]]
    currentTime: Annotated[Number, Field(ge=0, le=10**13)]
    overallCompletion: Annotated[Number, Field(ge=0, le=100)]
    duration: Number
    # Sent by the front end's type; kept as display names when the catalog has none.
    channelName: Hint = None
    videoTitle: Hint = None
    videoLink: Hint = None

    @field_validator("userInput")
    @classmethod
    def _sentence_indexes(cls, value: dict[str, str]) -> dict[str, str]:
        if len(value) > MAX_INPUTS:
            raise ValueError(f"at most {MAX_INPUTS} sentences")
        if not all(k.isdigit() and len(k) <= 6 for k in value):
            raise ValueError("keys must be sentence indexes")
        return value


class VideoRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channelId: StrictStr
    videoId: StrictStr


class Words(BaseModel):
    model_config = ConfigDict(extra="forbid")

    words: Annotated[list[Annotated[StrictStr, Field(max_length=100)]], Field(max_length=500)]


# --- responses ----------------------------------------------------------------------------------
class Saved(BaseModel):
    message: str
    videoDuration: int
    channelTotalDuration: int
    totalDuration: int
    dailyDuration: int


class ProgressState(BaseModel):
    channelId: str
    videoId: str
    userInput: dict[str, str] | str  # "" when nothing was saved (legacy)
    currentTime: int
    overallCompletion: float


class ChannelBadges(BaseModel):
    channelId: str
    progress: dict[str, float]  # every video of the channel, 0 when not started


class StartedVideo(BaseModel):
    videoId: str
    overallCompletion: float


class ChannelStarted(BaseModel):
    channelId: str
    progress: list[StartedVideo]


class ProgressEntry(BaseModel):
    channelId: str
    channelName: str
    videoId: str
    videoTitle: str
    videoLink: str
    overallCompletion: float


class AllProgress(BaseModel):
    progress: list[ProgressEntry]


class QuotaAnswer(BaseModel):
    used: int
    limit: int  # -1: unlimited
    canProceed: bool
    notifyQuota: bool
    startDate: int | None = None  # free learners only (epoch ms)
    endDate: int | None = None


class Registered(BaseModel):
    status: str
    message: str


class Access(BaseModel):
    allowed: bool
    reason: str


class Duration(BaseModel):
    totalDuration: int
    dailyDurations: dict[str, int]


class DailyActive(BaseModel):
    date: str
    activeUsers: int


class DailyDuration(BaseModel):
    date: str
    duration: int


class DailyNew(BaseModel):
    date: str
    newUsers: int


class UsageSummary(BaseModel):
    totalActiveUsers: int
    totalDuration: int
    avgDailyDuration: float
    totalNewUsers: int
    period: str


class UsageStats(BaseModel):
    summary: UsageSummary
    dailyActiveUsers: list[DailyActive]
    dailyDuration: list[DailyDuration]
    dailyNewUsers: list[DailyNew]


class MissedWords(BaseModel):
    message: str | None = None  # after a change
    missed_words: list[str]
    structured_missed_words: dict[str, list[str]]
