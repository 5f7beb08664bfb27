"""`GET /.well-known/jwks.json`: the public keys every service verifies access tokens with."""

from __future__ import annotations

from ds_common.web import json_response
from fastapi import APIRouter
from fastapi.responses import Response

from ds_auth.api.deps import Ctx
from ds_auth.api.schemas import Jwks

router = APIRouter()


@router.get("/.well-known/jwks.json", response_model=Jwks)
async def jwks(ctx: Ctx) -> Response:
    # Verifiers cache the set (ds_common.auth.JwksCache) and refetch on an unknown `kid`.
    return json_response(ctx.keyring.jwks(), headers={"Cache-Control": "public, max-age=300"})
