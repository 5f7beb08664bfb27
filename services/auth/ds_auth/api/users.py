"""Users: the caller's User object and preferences (`/user/config`, allow-listed), the admin's
user list and role changes."""

from __future__ import annotations

from typing import Annotated

from ds_common.auth import AdminUser, CurrentUser, current_principal
from ds_common.web import json_response
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from ds_auth.api.deps import Context, Ctx
from ds_auth.api.schemas import ConfigAnswer, ConfigSaved, ConfigUpdate, RoleBody, RoleUpdates, UserObject, UserPage

router = APIRouter()

PageLimit = Annotated[int, Query(ge=1, le=500)]
Cursor = Annotated[str | None, Query(max_length=64, pattern=r"^[0-9a-f]+$")]


@router.get("/auth/userinfo/{email}", response_model=UserObject)
async def userinfo_by_email(email: str, request: Request) -> Response:
    """The caller's own User object (bare); admins may read anyone's."""
    # A hot path (every page load): the principal is read directly (ds_common.auth.current_principal).
    ctx, principal = Context.of(request), await current_principal(request)
    return json_response(await ctx.accounts.user_info(principal, email))


@router.get("/user/config", response_model=ConfigAnswer)
async def get_config(request: Request) -> Response:
    # A hot path (every dictation page): the principal is read directly (ds_common.auth.current_principal).
    principal = await current_principal(request)
    return json_response({"config": await Context.of(request).accounts.config(principal.user_id)})


@router.post("/user/config", response_model=ConfigSaved)
async def save_config(ctx: Ctx, principal: CurrentUser, body: ConfigUpdate) -> Response:
    config = await ctx.accounts.save_config(principal.user_id, body)
    return json_response({"message": "User configuration updated successfully", "config": config})


async def user_page(ctx: Ctx, admin: AdminUser, limit: int, cursor: str | None, route: str) -> Response:
    users, next_cursor = await ctx.accounts.page(admin, limit=limit, cursor=cursor, route=route)
    return json_response({"users": users, "next_cursor": next_cursor})


@router.get("/auth/users", response_model=UserPage)
async def list_users(ctx: Ctx, admin: AdminUser, limit: PageLimit = 100, cursor: Cursor = None) -> Response:
    return await user_page(ctx, admin, limit, cursor, "/auth/users")


@router.get("/user/all", response_model=UserPage)
async def all_users(ctx: Ctx, admin: AdminUser, limit: PageLimit = 100, cursor: Cursor = None) -> Response:
    return await user_page(ctx, admin, limit, cursor, "/user/all")


@router.put("/auth/user/role", response_model=RoleUpdates)
async def update_roles(ctx: Ctx, admin: AdminUser, body: RoleBody) -> Response:
    results = await ctx.accounts.update_roles(admin, body.emails, body.role)
    ok = sum(r["success"] for r in results)
    return json_response({"message": f"Role update completed. {ok} successful, {len(results) - ok} failed.",
                          "results": results})
