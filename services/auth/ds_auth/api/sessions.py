"""`/auth/*` sign-in and sessions: sign in with a proof of identity, register, refresh, logout,
check an address.

The proof (legacy W1) is a Supabase access token or a Google ID token, sent in the
`X-Identity-Token` header (preferred) or the `id_token` body field; or an e-mail and password.
"""

from __future__ import annotations

from ds_common.auth import CurrentUser, bearer_token
from ds_common.errors import BadRequest, Unauthorized
from ds_common.web import json_response
from fastapi import APIRouter, Request
from fastapi.responses import Response

from ds_auth.api.deps import ACCESS_HEADER, REFRESH_HEADER, Ctx, client_ip
from ds_auth.api.schemas import (
    MAX_TOKEN,
    EmailBody,
    EmailCheck,
    Message,
    RegisterBody,
    SignedInAnswer,
    SignInBody,
    UserObject,
)
from ds_auth.service.signin import SignedIn

router = APIRouter()


def identity_token(request: Request, body: SignInBody | None) -> str | None:
    header = request.headers.get("x-identity-token", "").strip()
    if len(header) > MAX_TOKEN:
        raise BadRequest("Identity token too long")
    return header or (body.id_token.strip() if body and body.id_token else None)


def token_headers(signed: SignedIn) -> dict[str, str]:
    return {ACCESS_HEADER: signed.access, REFRESH_HEADER: str(signed.refresh)}


def signed_in(signed: SignedIn, message: str) -> Response:
    """The legacy `{message, user}` with the session's tokens in headers."""
    return json_response({"message": message, "user": signed.user}, headers=token_headers(signed))


@router.post("/auth/login", response_model=SignedInAnswer)
async def login(ctx: Ctx, request: Request, body: SignInBody | None = None) -> Response:
    token = identity_token(request, body)
    if token:
        signed = await ctx.signin.with_identity(token, client_ip=client_ip(request),
                                                claimed_email=body.email if body else None)
        return signed_in(signed, "Login successful")
    if body is not None and body.password is not None and body.email:
        signed = await ctx.signin.with_password(body.email, body.password, client_ip=client_ip(request))
        return signed_in(signed, "Login successful")
    raise Unauthorized("Proof of identity required: an X-Identity-Token header or email and password")


@router.post("/auth/userinfo", response_model=SignedInAnswer)
async def userinfo(ctx: Ctx, request: Request, body: SignInBody | None = None) -> Response:
    """The Google / session bootstrap path of the legacy front end: identity token required."""
    token = identity_token(request, body)
    if not token:
        raise Unauthorized("Proof of identity required: an X-Identity-Token header")
    signed = await ctx.signin.with_identity(token, client_ip=client_ip(request),
                                            claimed_email=body.email if body else None)
    return signed_in(signed, "User information processed successfully")


@router.post("/auth/register", response_model=SignedInAnswer)
async def register(ctx: Ctx, request: Request, body: RegisterBody) -> Response:
    signed = await ctx.signin.register(username=body.username, email=body.email, password=body.password,
                                       avatar=body.avatar, client_ip=client_ip(request))
    return signed_in(signed, "Registration successful")


@router.post("/auth/refresh-token", response_model=UserObject)
async def refresh_token(ctx: Ctx, request: Request) -> Response:
    """Refresh token as Bearer → the bare User object, a new access token and the NEXT refresh token."""
    signed = await ctx.signin.refresh(bearer_token(request), client_ip=client_ip(request))
    return json_response(signed.user, headers=token_headers(signed))


@router.post("/auth/logout", response_model=Message)
async def logout(ctx: Ctx, principal: CurrentUser) -> Response:
    await ctx.signin.logout(principal.session_id, principal.user_id)
    return json_response({"message": "Successfully logged out"})


@router.post("/auth/check-email", response_model=EmailCheck)
async def check_email(ctx: Ctx, request: Request, body: EmailBody) -> Response:
    exists = await ctx.signin.email_exists(body.email, client_ip=client_ip(request))
    return json_response({"exists": exists, "message": "Email already exists" if exists else "Email is available"})
