"""Missed words (legacy §4.4, §5.6): grouped by script, de-duplicated, bounded."""

from __future__ import annotations

from typing import Any

from ds_common.auth import CurrentUser, current_principal
from fastapi import APIRouter, Request

from ds_progress.adapters.records import words_response
from ds_progress.api.context import Ctx, context_of
from ds_progress.api.models import Words

router = APIRouter()


@router.post("/user/missed-words")
async def add_missed_words(body: Words, user: CurrentUser, c: Ctx) -> dict[str, Any]:
    doc = await c.words.add(user.user_id, body.words)
    return words_response(doc, "Missed words updated successfully")


@router.get("/user/missed-words")
async def list_missed_words(request: Request) -> dict[str, Any]:
    # A hot path (the review page): principal read directly, see ds_common.web.query_parameters.
    user = await current_principal(request)
    return words_response(await context_of(request).words.get(user.user_id))


@router.delete("/user/missed-words")
async def delete_missed_words(body: Words, user: CurrentUser, c: Ctx) -> dict[str, Any]:
    doc = await c.words.remove(user.user_id, body.words)
    return words_response(doc, "Words deleted successfully")
