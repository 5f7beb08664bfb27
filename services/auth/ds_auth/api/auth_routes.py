"""`/auth/*`: sign-in with a proof of identity, register, refresh, logout, user info, admin users.

Proof of identity (legacy W1): a Supabase access token or a Google ID token, sent in the
`X-Identity-Token` header (preferred) or the `id_token` body field; or an e-mail and password.
The body's e-mail is never trusted: when present it must equal the verified one.
"""

from __future__ import annotations

from typing import Annotated, Literal

from ds_common.auth import AdminUser, CurrentUser, bearer_token, current_principal
from ds_common.errors import BadRequest, Forbidden, NotFound, Unauthorized
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from ds_auth.adapters.passwords import MAX_LENGTH, MIN_LENGTH, hash_password, needs_rehash, verify_password
from ds_auth.api.context import Ctx, client_ip, context_of, json_response
from ds_auth.domain import tokens
from ds_auth.domain.users import MAX_AVATAR, MAX_NAME, clean_profile_text, normalize_email

router = APIRouter()

MAX_TOKEN = 16_384


class SignInBody(BaseModel):
    """Legacy `{email, username, avatar}` plus the proof: `id_token` or `password`."""

    model_config = ConfigDict(extra="forbid")

    email: str | None = Field(default=None, max_length=320)
    username: str | None = Field(default=None, max_length=4096)
    avatar: str | None = Field(default=None, max_length=8192)
    id_token: str | None = Field(default=None, max_length=MAX_TOKEN)
    password: str | None = Field(default=None, max_length=MAX_LENGTH)


class RegisterBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=MAX_NAME)
    email: str = Field(max_length=320)
    password: str = Field(min_length=MIN_LENGTH, max_length=MAX_LENGTH)
    avatar: str = Field(default="", max_length=MAX_AVATAR)


class EmailBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(max_length=320)


class RoleBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    emails: list[Annotated[str, Field(max_length=320)]] = Field(min_length=1, max_length=100)
    role: Literal["User", "Admin"]


def identity_token(request: Request, body: SignInBody | None) -> str | None:
    header = request.headers.get("x-identity-token", "").strip()
    if len(header) > MAX_TOKEN:
        raise BadRequest("Identity token too long")
    return header or (body.id_token.strip() if body and body.id_token else None)


async def sign_in_with_identity(ctx: Ctx, request: Request, body: SignInBody | None, token: str,
                                message: str) -> Response:
    await ctx.limit(("identity-ip", client_ip(request), ctx.settings.limit_identity_per_ip))
    identity = await ctx.identity.verify(token)
    if body and body.email and normalize_email(body.email) != identity.email:
        raise Forbidden("Email does not match the identity token")
    await ctx.limit(("identity-account", identity.email, ctx.settings.limit_identity_per_account))
    user_id, _ = await ctx.users.claim_email(identity.email)
    doc, created = await ctx.users.ensure_document(user_id, identity.email, identity.name, identity.avatar,
                                                   email_verified=True)
    if not created:
        changes = {f: v for f, v in (("username", identity.name), ("avatar", identity.avatar))
                   if v and v != doc.get(f)}
        if changes:
            await ctx.users.update(user_id, changes)
    if await ctx.users.drop_unverified_password(user_id):
        # Someone set a password on this address without proving it; end whatever they opened.
        for session_id in await ctx.sessions.active_sessions(user_id):
            await ctx.sessions.revoke(session_id, user_id, reason="admin")
    return await ctx.signed_in(user_id, message)


async def sign_in_with_password(ctx: Ctx, request: Request, email_raw: str, password: str) -> Response:
    await ctx.limit(("password-ip", client_ip(request), ctx.settings.limit_password_per_ip))
    email = normalize_email(email_raw)
    await ctx.refuse_if_failing("password-failures", email, ctx.settings.limit_password_failures_per_account)
    user_id = await ctx.users.id_for_email(email)
    credential = await ctx.users.password_hash(user_id) if user_id else None
    stored = credential["password_hash"] if credential else None
    if not await verify_password(stored, password) or user_id is None or stored is None:
        await ctx.failed("password-failures", email)
        raise Unauthorized("Invalid email or password")
    if needs_rehash(stored):
        await ctx.users.replace_hash(user_id, await hash_password(password))
    # Completes a registration interrupted between its two writes.
    await ctx.users.ensure_document(user_id, email, "", "", email_verified=False)
    return await ctx.signed_in(user_id, "Login successful")


@router.post("/auth/login")
async def login(ctx: Ctx, request: Request, body: SignInBody | None = None) -> Response:
    token = identity_token(request, body)
    if token:
        return await sign_in_with_identity(ctx, request, body, token, "Login successful")
    if body is not None and body.password is not None and body.email:
        return await sign_in_with_password(ctx, request, body.email, body.password)
    raise Unauthorized("Proof of identity required: an X-Identity-Token header or email and password")


@router.post("/auth/userinfo")
async def userinfo(ctx: Ctx, request: Request, body: SignInBody | None = None) -> Response:
    """The Google / session bootstrap path of the legacy front end: identity token required."""
    token = identity_token(request, body)
    if not token:
        raise Unauthorized("Proof of identity required: an X-Identity-Token header")
    return await sign_in_with_identity(ctx, request, body, token, "User information processed successfully")


@router.post("/auth/register")
async def register(ctx: Ctx, request: Request, body: RegisterBody) -> Response:
    await ctx.limit(("register-ip", client_ip(request), ctx.settings.limit_register_per_ip))
    email = normalize_email(body.email)
    password_hash = await hash_password(body.password)
    user_id, claimed = await ctx.users.claim_email(email)
    if not claimed:
        raise BadRequest("User with this email already exists")
    # Unverified until a provider sign-in proves the mailbox (then this password is dropped).
    await ctx.users.set_password(user_id, password_hash, email_verified=False)
    await ctx.users.ensure_document(user_id, email, clean_profile_text(body.username, MAX_NAME),
                                    clean_profile_text(body.avatar, MAX_AVATAR), email_verified=False)
    return await ctx.signed_in(user_id, "Registration successful")


@router.post("/auth/refresh-token")
async def refresh_token(ctx: Ctx, request: Request) -> Response:
    """Refresh token as Bearer → the bare User object, a new access token and the NEXT refresh token."""
    raw = bearer_token(request)
    token = tokens.parse(raw)
    subject = token.session_id if token else "invalid"
    await ctx.limit(("refresh-ip", client_ip(request), ctx.settings.limit_refresh_per_ip),
                    ("refresh-session", subject, ctx.settings.limit_refresh_per_session))
    if token is None:
        raise Unauthorized("Invalid refresh token")
    result = await ctx.sessions.refresh(token)
    if result.token is None or result.user_id is None:
        raise Unauthorized({
            "reuse": "Refresh token reuse detected; the session has been revoked",
            "revoked": "Session has been revoked",
            "expired": "Refresh token has expired",
        }.get(result.outcome, "Invalid refresh token"))
    try:
        user = await ctx.users.user_object(result.user_id, result.cached_user)
    except NotFound:
        raise Unauthorized("Invalid refresh token") from None
    return json_response(user, headers=ctx.token_headers(user, result.token))


@router.post("/auth/logout")
async def logout(ctx: Ctx, principal: CurrentUser) -> Response:
    await ctx.sessions.revoke(principal.session_id, principal.user_id, reason="logout")
    return json_response({"message": "Successfully logged out"})


@router.get("/auth/userinfo/{email}")
async def userinfo_by_email(email: str, request: Request) -> Response:
    """The caller's own User object (bare); admins may read anyone's."""
    # A hot path (every page load): principal read directly, see ds_common.web.query_parameters.
    ctx, principal = context_of(request), await current_principal(request)
    wanted = normalize_email(email)
    if principal.email is not None and wanted == principal.email:
        return json_response(await ctx.users.user_object(principal.user_id))
    if not principal.is_admin:
        raise Forbidden("Access denied")
    return json_response(await ctx.users.user_object_by_email(wanted))


@router.post("/auth/check-email")
async def check_email(ctx: Ctx, request: Request, body: EmailBody) -> Response:
    await ctx.limit(("check-email-ip", client_ip(request), ctx.settings.limit_check_email_per_ip))
    exists = await ctx.users.id_for_email(normalize_email(body.email)) is not None
    return json_response({"exists": exists, "message": "Email already exists" if exists else "Email is available"})


async def user_page(ctx: Ctx, admin: AdminUser, limit: int, cursor: str | None, route: str) -> Response:
    users = await ctx.users.page(after=cursor, limit=limit)
    await ctx.users.audit(admin.user_id, "users.list", route=route, count=len(users), cursor=cursor)
    next_cursor = users[-1]["user_id"] if len(users) == limit else None
    return json_response({"users": users, "next_cursor": next_cursor})


PageLimit = Annotated[int, Query(ge=1, le=500)]
Cursor = Annotated[str | None, Query(max_length=64, pattern=r"^[0-9a-f]+$")]


@router.get("/auth/users")
async def list_users(ctx: Ctx, admin: AdminUser, limit: PageLimit = 100, cursor: Cursor = None) -> Response:
    return await user_page(ctx, admin, limit, cursor, "/auth/users")


@router.get("/user/all")
async def all_users(ctx: Ctx, admin: AdminUser, limit: PageLimit = 100, cursor: Cursor = None) -> Response:
    return await user_page(ctx, admin, limit, cursor, "/user/all")


@router.put("/auth/user/role")
async def update_roles(ctx: Ctx, admin: AdminUser, body: RoleBody) -> Response:
    results = []
    for raw in body.emails:
        try:
            email = normalize_email(raw)
        except BadRequest:
            results.append({"email": raw, "success": False, "message": "Invalid email address"})
            continue
        user_id = await ctx.users.id_for_email(email)
        if user_id is None:
            results.append({"email": email, "success": False, "message": "User not found"})
            continue
        before = await ctx.users.user_object(user_id)
        await ctx.users.update(user_id, {"role": body.role})
        if before["role"] == "Admin" and body.role != "Admin":
            # Access tokens carry the role: end the demoted admin's sessions everywhere now.
            for session_id in await ctx.sessions.active_sessions(user_id):
                await ctx.sessions.revoke(session_id, user_id, reason="admin")
        await ctx.users.audit(admin.user_id, "user.role", target=user_id, email=email,
                              before=before["role"], after=body.role)
        results.append({"email": email, "success": True, "message": f"Role updated to {body.role}"})
    ok = sum(r["success"] for r in results)
    return json_response({"message": f"Role update completed. {ok} successful, {len(results) - ok} failed.",
                          "results": results})
