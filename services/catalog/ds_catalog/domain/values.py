"""The closed value sets of the catalog (channels, videos, recommendations, error reports), the
bounded text fields, and the `_id` of a video. Channel and video ids are `ds_common.ids` ids."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import StringConstraints

Language = Literal["en", "zh", "ja", "ko"]
ChannelVisibility = Literal["public", "private"]
# Legacy uploads default to "hidden" when the field is omitted; every non-public value is private.
VideoVisibility = Literal["public", "private", "hidden"]
LanguageFilter = Literal["all", "en", "zh", "ja", "ko"]
ChannelFilter = Literal["all", "public", "private"]
VisibilityFilter = Literal["all", "public", "private", "hidden"]

ErrorType = Literal["transcript_error", "timing_error", "missing_content", "other"]
ReportStatus = Literal["pending", "resolved", "rejected"]
RecommendationDecision = Literal["approved", "rejected"]

Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]
NonEmptyText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=4000)]


def video_key(channel_id: str, video_id: str) -> str:
    """The `_id` of a video: lookups by channel and video are `_id` lookups. Ids are YouTube ids
    (no ':'), so the key is unambiguous."""
    return f"{channel_id}:{video_id}"
