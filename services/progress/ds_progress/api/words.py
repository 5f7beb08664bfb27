"""Missed words (legacy §4.4, §5.6): grouped by script, de-duplicated, bounded."""

from __future__ import annotations

from typing import Any

from ds_common.auth import CurrentUser
from fastapi import APIRouter

from ds_progress.adapters.records import words_response
from ds_progress.api.context import Ctx
from ds_progress.api.models import Words

router = APIRouter()


@router.post("/user/missed-words")
async def add_missed_words(body: Words, user: CurrentUser, c: Ctx) -> dict[str, Any]:
    doc = await c.words.add(user.user_id, body.words)
    return words_response(doc, "Missed words updated successfully")


@router.get("/user/missed-words")
async def list_missed_words(user: CurrentUser, c: Ctx) -> dict[str, Any]:
    return words_response(await c.words.get(user.user_id))


@router.delete("/user/missed-words")
async def delete_missed_words(body: Words, user: CurrentUser, c: Ctx) -> dict[str, Any]:
    doc = await c.words.remove(user.user_id, body.words)
    return words_response(doc, "Words deleted successfully")
