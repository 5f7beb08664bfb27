"""Outcomes of fetching a transcript from upstream, independent of the library that did it."""

from __future__ import annotations

from dataclasses import dataclass

from ds_transcripts.domain.lines import Line


@dataclass(frozen=True)
class Fetched:
    lines: list[Line]
    source: str  # "youtube" | "yt_dlp"
    language: str


class FetchFailed(Exception):
    """Base of the fetch failures; `reason` is a short machine-readable code."""

    retryable = False

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


class NoTranscript(FetchFailed):
    """The video has no usable transcript (disabled, none listed, unavailable, age restricted...)."""


class Blocked(FetchFailed):
    """YouTube refuses us for now (bot check, IP block, HTTP 429): back off and retry later."""

    retryable = True


class Temporary(FetchFailed):
    """A network or upstream error that may well pass (5xx, timeout, unparsable page)."""

    retryable = True


def worst(*failures: FetchFailed) -> FetchFailed:
    """The failure to report when every path failed: blocked > temporary > no transcript."""
    for kind in (Blocked, Temporary):
        for failure in failures:
            if isinstance(failure, kind):
                return failure
    return failures[0]
