"""`GET /.well-known/jwks.json`: the public keys every service verifies access tokens with."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from ds_auth.api.context import Ctx, json_response

router = APIRouter()


@router.get("/.well-known/jwks.json")
async def jwks(ctx: Ctx) -> Response:
    # Verifiers cache the set (ds_common.auth.JwksCache) and refetch on an unknown `kid`.
    return json_response(ctx.keyring.jwks(), headers={"Cache-Control": "public, max-age=300"})
