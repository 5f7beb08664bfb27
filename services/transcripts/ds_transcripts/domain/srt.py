"""SRT parsing with the legacy backend's rules.

Blocks are separated by blank lines; the second line of a block is `HH:MM:SS,mmm --> HH:MM:SS,mmm`;
text lines are joined with spaces; blocks with fewer than 3 lines are skipped.
"""

from __future__ import annotations

import re

from ds_transcripts.domain.lines import Line, make_line

_TIMING = re.compile(r"^\s*(\d{1,2}):(\d{2}):(\d{2})[,.](\d{1,3})\s*-->\s*(\d{1,2}):(\d{2}):(\d{2})[,.](\d{1,3})")
_BLANK = re.compile(r"\r?\n\s*\r?\n")


def _seconds(h: str, m: str, s: str, ms: str) -> float:
    return int(h) * 3600 + int(m) * 60 + int(s) + int(ms.ljust(3, "0")) / 1000


def parse_srt(text: str) -> list[Line]:
    lines: list[Line] = []
    for block in _BLANK.split(text.replace("\ufeff", "").strip()):
        rows = block.strip().splitlines()
        if len(rows) < 3:
            continue
        timing = _TIMING.match(rows[1])
        if timing is None:
            continue
        g = timing.groups()
        line = make_line(_seconds(*g[:4]), _seconds(*g[4:]), " ".join(rows[2:]))
        if line["transcript"]:
            lines.append(line)
    return lines
