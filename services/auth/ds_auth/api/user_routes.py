"""`/user/config` (preferences, allow-listed) and `/user/feedback*` (messages with image uploads)."""

from __future__ import annotations

from typing import Annotated, Any

from ds_common.auth import AdminUser, CurrentUser, Principal, current_principal
from ds_common.errors import BadRequest, Forbidden, NotFound, PayloadTooLarge, UnsupportedMediaType
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.datastructures import UploadFile

from ds_auth.api.context import AuthContext, Ctx, context_of, json_response
from ds_auth.domain.users import ConfigUpdate, normalize_email

router = APIRouter()

FORM_OVERHEAD = 64 * 1024  # room for the text fields and multipart boundaries


@router.get("/user/config")
async def get_config(request: Request) -> Response:
    # A hot path (every dictation page): principal read directly, see ds_common.web.query_parameters.
    principal = await current_principal(request)
    return json_response({"config": await context_of(request).users.user_object(principal.user_id)})


@router.post("/user/config")
async def save_config(ctx: Ctx, principal: CurrentUser, body: ConfigUpdate) -> Response:
    changes = body.mongo_set()
    if not changes:
        raise BadRequest("Nothing to update: send dictation_config and/or language")
    await ctx.users.update(principal.user_id, changes)
    return json_response({"message": "User configuration updated successfully",
                          "config": await ctx.users.user_object(principal.user_id)})


# --- feedback -------------------------------------------------------------------------------------
def sniff_image(data: bytes) -> str | None:
    """The image type from its magic bytes (the client's Content-Type is not trusted). No SVG."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


async def read_form(ctx: AuthContext, request: Request) -> tuple[dict[str, str], list[tuple[str, bytes]]]:
    """(text fields, images) from a multipart form, enforcing count, size and type limits."""
    s = ctx.settings
    limit = s.feedback_max_images * s.feedback_max_image_bytes + FORM_OVERHEAD
    length = request.headers.get("content-length")
    if length is None or not length.isdigit():
        raise BadRequest("Content-Length required")
    if int(length) > limit:
        raise PayloadTooLarge(f"Upload too large: at most {s.feedback_max_images} images of "
                              f"{s.feedback_max_image_bytes // (1024 * 1024)} MB each")
    form = await request.form(max_files=s.feedback_max_images, max_fields=10)
    try:
        fields = {k: v.strip() for k, v in form.multi_items() if isinstance(v, str)}
        files = [f for f in form.getlist("images") if isinstance(f, UploadFile)]
        images = []
        for upload in files:
            data = await upload.read(s.feedback_max_image_bytes + 1)
            if len(data) > s.feedback_max_image_bytes:
                raise PayloadTooLarge(f"Each image must be at most {s.feedback_max_image_bytes // (1024 * 1024)} MB")
            mime = sniff_image(data)
            if mime is None:
                raise UnsupportedMediaType("Only PNG, JPEG, GIF or WebP images are accepted")
            images.append((mime, data))
    finally:
        await form.close()
    return fields, images


def checked_message(ctx: AuthContext, text: str) -> str:
    if not text:
        raise BadRequest("Feedback message is required")
    if len(text) > ctx.settings.feedback_max_message_chars:
        raise BadRequest(f"Feedback message is too long (max {ctx.settings.feedback_max_message_chars} characters)")
    return text


def is_multipart(request: Request) -> bool:
    return request.headers.get("content-type", "").startswith("multipart/form-data")


@router.post("/user/feedback")
async def submit_feedback(ctx: Ctx, principal: CurrentUser, request: Request) -> Response:
    await ctx.limit(("feedback-user", principal.user_id, ctx.settings.limit_feedback_per_user))
    if not is_multipart(request):
        raise BadRequest("Feedback message is required")
    fields, images = await read_form(ctx, request)
    message = checked_message(ctx, fields.get("message", ""))
    me = await ctx.users.user_object(principal.user_id)
    image_ids = await ctx.feedback.store_images(principal.user_id, images)
    entry = await ctx.feedback.append(principal.user_id, me["email"], sender=me["username"], sender_type="user",
                                      message=message, image_ids=image_ids)
    return json_response({"message": "Feedback message submitted successfully", "feedback": entry})


async def thread_owner(ctx: AuthContext, principal: Principal, user_email: str | None) -> str:
    """Whose thread the caller may read: their own, or (admins only) anyone's (legacy W6)."""
    if not user_email:
        return principal.user_id
    email = normalize_email(user_email)
    if email == principal.email:
        return principal.user_id
    if not principal.is_admin:
        raise Forbidden("Access denied")
    user_id = await ctx.users.id_for_email(email)
    if user_id is None:
        raise NotFound("User not found")
    return user_id


@router.get("/user/feedback")
async def list_feedback(ctx: Ctx, principal: CurrentUser,
                        userEmail: Annotated[str | None, Query(max_length=320)] = None) -> Response:
    return json_response(await ctx.feedback.thread(await thread_owner(ctx, principal, userEmail)))


@router.get("/user/feedback/admin/list")
async def feedback_senders(ctx: Ctx, admin: AdminUser) -> Response:
    return json_response(await ctx.feedback.senders())


class AdminReply(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(max_length=320)
    response: str = Field(max_length=20_000)


@router.post("/user/feedback/admin")
async def reply_feedback(ctx: Ctx, admin: AdminUser, request: Request) -> Response:
    """Admin reply, multipart (`email`, `response`, `images`) or JSON (`email`, `response`)."""
    images: list[tuple[str, bytes]] = []
    if is_multipart(request):
        form_fields, images = await read_form(ctx, request)
        fields: Any = {"email": form_fields.get("email", ""), "response": form_fields.get("response", "")}
    else:
        try:
            fields = await request.json()
        except ValueError:
            raise BadRequest("Invalid JSON body") from None
    try:
        body = AdminReply.model_validate(fields)
    except ValidationError:
        raise BadRequest("email and response are required") from None
    message = checked_message(ctx, body.response.strip())
    target_id = await ctx.users.id_for_email(normalize_email(body.email))
    if target_id is None:
        raise NotFound("User not found")
    target = await ctx.users.user_object(target_id)
    me = await ctx.users.user_object(admin.user_id)
    image_ids = await ctx.feedback.store_images(target_id, images)
    entry = await ctx.feedback.append(target_id, target["email"], sender=me["username"], sender_type="admin",
                                      message=message, image_ids=image_ids)
    await ctx.users.audit(admin.user_id, "feedback.reply", target=target_id, message_id=entry["id"])
    return json_response({"message": "Feedback message sent successfully", "feedback": entry})
