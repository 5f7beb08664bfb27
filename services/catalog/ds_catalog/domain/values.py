"""The closed value sets of the catalog (legacy §4.2, §4.7, §4.8) and id formats."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import StringConstraints

Language = Literal["en", "zh", "ja", "ko"]
ChannelVisibility = Literal["public", "private"]
# Legacy uploads default to "hidden" when the field is omitted; every non-public value is private.
VideoVisibility = Literal["public", "private", "hidden"]
LanguageFilter = Literal["all", "en", "zh", "ja", "ko"]
VisibilityFilter = Literal["all", "public", "private", "hidden"]

ErrorType = Literal["transcript_error", "timing_error", "missing_content", "other"]
ReportStatus = Literal["pending", "resolved", "rejected"]
RecommendationDecision = Literal["approved", "rejected"]

# Ids become parts of Mongo `_id`s ("{channel}:{video}") and Redis keys: no ':' and bounded.
ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
ID_RE = re.compile(ID_PATTERN)
ChannelId = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
VideoId = Annotated[str, StringConstraints(pattern=ID_PATTERN)]

Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]
NonEmptyText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=4000)]


def video_key(channel_id: str, video_id: str) -> str:
    """The `_id` of a video: lookups by channel and video are `_id` lookups."""
    return f"{channel_id}:{video_id}"
