"""Missed words: add (bounded, atomically), list, remove."""

from __future__ import annotations

from typing import Any

from ds_progress.adapters.words import MissedWordLists
from ds_progress.domain.words import with_words, without_words, words_view


class MissedWords:
    def __init__(self, lists: MissedWordLists) -> None:
        self.lists = lists

    async def add(self, user_id: str, words: list[str]) -> dict[str, Any]:
        stored = await self.lists.change(user_id, lambda current: with_words(current, words))
        return words_view(stored, "Missed words updated successfully")

    async def list(self, user_id: str) -> dict[str, Any]:
        return words_view(await self.lists.get(user_id))

    async def remove(self, user_id: str, words: list[str]) -> dict[str, Any]:
        stored = await self.lists.change(user_id, lambda current: without_words(current, words))
        return words_view(stored, "Words deleted successfully")
