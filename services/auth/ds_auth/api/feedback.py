"""`/user/feedback*`: a learner's messages with image uploads (limits on count, size and type),
owner-only reads, the images one at a time through signed links, and the admins' list and replies."""

from __future__ import annotations

from typing import Annotated, Any

from ds_common.auth import AdminUser, CurrentUser
from ds_common.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType
from ds_common.web import json_response, parse_json
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile

from ds_auth.api.deps import Ctx
from ds_auth.api.schemas import AdminReply, FeedbackEntry, FeedbackSender, FeedbackSent
from ds_auth.domain.feedback import image_type
from ds_auth.settings import Settings

router = APIRouter()

FORM_OVERHEAD = 64 * 1024  # room for the text fields and multipart boundaries


def form_body(*fields: str, json_model: type[BaseModel] | None = None) -> dict[str, Any]:
    """The OpenAPI request body of a route that reads its multipart form itself (and maybe JSON)."""
    images = {"type": "array", "items": {"type": "string", "format": "binary"}}
    form = {"type": "object", "required": list(fields),
            "properties": {**{f: {"type": "string"} for f in fields}, "images": images}}
    content: dict[str, Any] = {"multipart/form-data": {"schema": form}}
    if json_model is not None:
        content["application/json"] = {"schema": json_model.model_json_schema()}
    return {"requestBody": {"required": True, "content": content}}


async def read_form(settings: Settings, request: Request) -> tuple[dict[str, str], list[tuple[str, bytes]]]:
    """(text fields, images) from a multipart form, enforcing count, size and type limits."""
    s = settings
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
            mime = image_type(data)
            if mime is None:
                raise UnsupportedMediaType("Only PNG, JPEG, GIF or WebP images are accepted")
            images.append((mime, data))
    finally:
        await form.close()
    return fields, images


def is_multipart(request: Request) -> bool:
    return request.headers.get("content-type", "").startswith("multipart/form-data")


@router.post("/user/feedback", response_model=FeedbackSent, openapi_extra=form_body("message"))
async def submit_feedback(ctx: Ctx, principal: CurrentUser, request: Request) -> Response:
    """Multipart: `message` and up to `feedback_max_images` `images`."""
    await ctx.feedback.admit(principal.user_id)
    if not is_multipart(request):
        raise BadRequest("Feedback message is required")
    fields, images = await read_form(ctx.settings, request)
    entry = await ctx.feedback.submit(principal.user_id, fields.get("message", ""), images)
    return json_response({"message": "Feedback message submitted successfully", "feedback": entry})


@router.get("/user/feedback", response_model=list[FeedbackEntry])
async def list_feedback(ctx: Ctx, principal: CurrentUser,
                        userEmail: Annotated[str | None, Query(max_length=320)] = None) -> Response:
    return json_response(await ctx.feedback.thread(principal, userEmail))


@router.get("/user/feedback/images/{image_id}", response_class=Response,
            responses={200: {"content": {"image/*": {}}, "description": "The image"}})
async def feedback_image(ctx: Ctx, image_id: Annotated[str, Path(max_length=64)],
                         e: Annotated[int, Query(ge=0)], s: Annotated[str, Query(max_length=64)]) -> Response:
    """An image of a feedback thread, through the signed link the thread gave (no token: an
    `<img>` sends none). The link is the permission; it expires."""
    mime, data, valid_s = await ctx.feedback.image(image_id, e, s)
    return Response(data, media_type=mime, headers={
        "Cache-Control": f"private, max-age={valid_s}", "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox", "Content-Disposition": "inline"})


@router.get("/user/feedback/admin/list", response_model=list[FeedbackSender])
async def feedback_senders(ctx: Ctx, admin: AdminUser) -> Response:
    return json_response(await ctx.feedback.senders())


@router.post("/user/feedback/admin", response_model=FeedbackSent,
             openapi_extra=form_body("email", "response", json_model=AdminReply))
async def reply_feedback(ctx: Ctx, admin: AdminUser, request: Request) -> Response:
    """Admin reply, multipart (`email`, `response`, `images`) or JSON (`email`, `response`)."""
    images: list[tuple[str, bytes]] = []
    if is_multipart(request):
        form_fields, images = await read_form(ctx.settings, request)
        fields: Any = {"email": form_fields.get("email", ""), "response": form_fields.get("response", "")}
    else:
        try:
            fields = parse_json(await request.body())
        except ValueError:
            raise BadRequest("Invalid JSON body") from None
    try:
        body = AdminReply.model_validate(fields)
    except ValidationError:
        raise BadRequest("email and response are required") from None
    entry = await ctx.feedback.reply(admin, body.email, body.response, images)
    return json_response({"message": "Feedback message sent successfully", "feedback": entry})
