"""Request bodies of the legacy contract, allow-listed and typed (wrong types → 400)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr, field_validator

Number = StrictInt | StrictFloat
Hint = Annotated[StrictStr, Field(max_length=500)] | None
MAX_INPUTS = 2000


class SaveProgress(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channelId: StrictStr
    videoId: StrictStr
    userInput: dict[StrictStr, Annotated[StrictStr, Field(max_length=2000)]]
    currentTime: Annotated[Number, Field(ge=0, le=10**13)]
    overallCompletion: Annotated[Number, Field(ge=0, le=100)]
    duration: Number
    # Sent by the front end's type; kept as display names for the learner's progress list.
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


class UpdateDuration(BaseModel):
    model_config = ConfigDict(extra="forbid")

    emails: Annotated[list[Annotated[StrictStr, Field(max_length=320)]], Field(max_length=500)]
    duration: Annotated[StrictInt, Field(ge=-1, le=36500)] | None = None
