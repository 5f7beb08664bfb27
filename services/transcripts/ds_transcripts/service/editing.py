"""Admin edits (the rules: domain/editing.py) and each channel's saved filters.

Each edit is one versioned write of the video's document (an edit made on a stale read is decided
again), then the cache is refreshed so readers see it at once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ds_common.clock import Clock, SystemClock
from ds_common.mongo import Document
from ds_common.versioned import Change

from ds_transcripts.adapters.store import FilterStore
from ds_transcripts.domain import editing
from ds_transcripts.domain.editing import live
from ds_transcripts.domain.filters import FilterResult
from ds_transcripts.domain.lines import Line
from ds_transcripts.service.transcripts import Transcripts


@dataclass
class FilterOutcome:
    doc: Document
    result: FilterResult


class Editor:
    def __init__(self, transcripts: Transcripts, filters: FilterStore, clock: Clock | None = None) -> None:
        self.transcripts = transcripts
        self.store = transcripts.store
        self.filters = filters
        self.clock = clock or SystemClock()

    async def _write(self, channel_id: str, video_id: str,
                     decide: Callable[[Document], Change | None]) -> Document:
        """`decide` on the live document (an unknown or removed video is refused)."""
        written = await self.store.mutate(channel_id, video_id, lambda doc: decide(live(doc, channel_id, video_id)))
        await self.transcripts.after_write(written.document)
        return live(written.document, channel_id, video_id)

    async def update_line(self, channel_id: str, video_id: str, index: int, line: Line) -> Document:
        return await self._write(channel_id, video_id,
                                 lambda doc: editing.line_replaced(doc, index, line, self.clock.now()))

    async def replace(self, channel_id: str, video_id: str, lines: list[Line]) -> Document:
        return await self._write(channel_id, video_id, lambda doc: editing.edited(doc, lines, self.clock.now()))

    async def restore(self, channel_id: str, video_id: str) -> Document:
        return await self._write(channel_id, video_id, lambda doc: editing.restored(doc, self.clock.now()))

    async def apply_filters(self, channel_id: str, video_id: str, filters: Sequence[str]) -> FilterOutcome:
        outcome: dict[str, FilterResult] = {}

        def decide(doc: Document) -> Change | None:
            change, outcome["result"] = editing.filtered(doc, filters, self.clock.now())
            return change

        doc = await self._write(channel_id, video_id, decide)
        return FilterOutcome(doc, outcome["result"])

    async def mark_refined(self, channel_id: str, video_id: str, is_refined: bool) -> Document:
        return await self._write(channel_id, video_id, lambda doc: editing.refined(doc, is_refined, self.clock.now()))

    # --- saved filters ---------------------------------------------------------------------------
    async def saved_filters(self, channel_id: str) -> list[str]:
        return await self.filters.get(channel_id)

    async def save_filters(self, channel_id: str, filters: Sequence[str]) -> list[str]:
        """Saves the channel's filters (each once, in order) and returns them."""
        unique = list(dict.fromkeys(filters))
        await self.filters.save(channel_id, unique)
        return unique
