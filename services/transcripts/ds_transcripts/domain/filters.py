"""Transcript filters, as the legacy backend applied them.

Each filter string is removed from every line, matched case-insensitively as a literal, and each
removal is counted per filter; whitespace is then collapsed. A line left empty is dropped: its
time span extends the previous kept line, or, when there is none, the next kept line starts earlier.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ds_transcripts.domain.lines import Line, clean_text


@dataclass(frozen=True)
class FilterResult:
    lines: list[Line]
    stats: dict[str, int]

    @property
    def total_changes(self) -> int:
        return sum(self.stats.values())


def apply_filters(lines: Sequence[Line], filters: Sequence[str]) -> FilterResult:
    patterns = [(f, re.compile(re.escape(f), re.IGNORECASE)) for f in dict.fromkeys(filters) if f]
    stats = {f: 0 for f, _ in patterns}
    kept: list[Line] = []
    carry_start: float | None = None  # start of dropped lines before the first kept one
    for line in lines:
        text = line["transcript"]
        for name, pattern in patterns:
            text, count = pattern.subn("", text)
            stats[name] += count
        text = clean_text(text)
        if text:
            start = line["start"] if carry_start is None else min(carry_start, line["start"])
            kept.append({"start": start, "end": line["end"], "transcript": text})
            carry_start = None
        elif kept:
            kept[-1] = {**kept[-1], "end": max(kept[-1]["end"], line["end"])}
        elif carry_start is None:
            carry_start = line["start"]
    return FilterResult(kept, stats)
