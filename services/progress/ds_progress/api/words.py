"""Missed words: grouped by script, de-duplicated, bounded."""

from __future__ import annotations

from ds_common.auth import CurrentUser, current_principal
from ds_common.web import json_response
from fastapi import APIRouter, Request
from fastapi.responses import Response

from ds_progress.api.deps import Context, Ctx
from ds_progress.api.schemas import MissedWords, Words

router = APIRouter()


@router.post("/user/missed-words", response_model=MissedWords)
async def add_missed_words(body: Words, user: CurrentUser, ctx: Ctx) -> Response:
    return json_response(await ctx.words.add(user.user_id, body.words))


@router.get("/user/missed-words", response_model=MissedWords)
async def list_missed_words(request: Request) -> Response:
    # A hot path (the review page): principal read directly.
    user = await current_principal(request)
    return json_response(await Context.of(request).words.list(user.user_id))


@router.delete("/user/missed-words", response_model=MissedWords)
async def delete_missed_words(body: Words, user: CurrentUser, ctx: Ctx) -> Response:
    return json_response(await ctx.words.remove(user.user_id, body.words))
