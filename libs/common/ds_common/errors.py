"""One error model: every failure leaves as JSON `{"error": "<message>"}` with a typed status.

API and service code raise `AppError` subclasses (HTTP statuses); domain code raises
`DomainError`s, which know nothing of HTTP and which each service's `api/` maps to a status
(`create_app(errors=...)`). Validation errors become 400 with a readable message; a store that
cannot be reached is a 503 (retry); anything unexpected is logged with its stack and answered with
a generic 500 that carries no internals.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pymongo.errors import ConnectionFailure
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

logger = logging.getLogger("ds.errors")


class AppError(Exception):
    status = 400
    default_message = "Bad request"

    def __init__(self, message: str | None = None, *, headers: dict[str, str] | None = None,
                 **extra: Any) -> None:
        self.message = message or self.default_message
        self.headers = headers
        self.extra = extra
        super().__init__(self.message)


class BadRequest(AppError):
    status, default_message = 400, "Bad request"


class Unauthorized(AppError):
    status, default_message = 401, "Authentication required"


class Forbidden(AppError):
    status, default_message = 403, "Forbidden"


class NotFound(AppError):
    status, default_message = 404, "Not found"


class Conflict(AppError):
    status, default_message = 409, "Conflict"


class PayloadTooLarge(AppError):
    status, default_message = 413, "Payload too large"


class UnsupportedMediaType(AppError):
    status, default_message = 415, "Unsupported media type"


class TooManyRequests(AppError):
    status, default_message = 429, "Too many requests"


class ServiceUnavailable(AppError):
    status, default_message = 503, "Service temporarily unavailable"


class DomainError(Exception):
    """A rule refused what was asked (domain code: no HTTP); `details` travel with the message."""

    def __init__(self, message: str, **details: Any) -> None:
        self.message = message
        self.details = details
        super().__init__(message)


def error_response(status: int, message: str, headers: dict[str, str] | None = None,
                   **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status, headers=headers)


def describe_validation_error(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        location = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path"))
        parts.append(f"{location}: {err.get('msg', 'invalid')}" if location else str(err.get("msg")))
    return "Invalid request: " + "; ".join(parts)


async def _app_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return error_response(exc.status, exc.message, exc.headers, **exc.extra)


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    message = exc.detail if isinstance(exc.detail, str) else "Request failed"
    if exc.status_code == 404 and message == "Not Found":
        message = "Not found"
    return error_response(exc.status_code, message, dict(exc.headers or {}))


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return error_response(400, describe_validation_error(exc))


async def _store_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """A store that cannot be reached (or a pool that stayed exhausted) is the client's cue to
    retry, not a server bug: 503 with Retry-After, and a warning without the stack."""
    logger.warning("store unavailable on %s %s: %s", request.method, request.url.path, exc.__class__.__name__)
    return error_response(503, "A data store is temporarily unavailable, please retry", {"Retry-After": "1"})


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(500, "Internal Server Error")


def _domain_error(status: int) -> Any:
    async def handle(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, DomainError)
        return error_response(status, exc.message, **exc.details)
    return handle


def install_error_handlers(app: FastAPI, domain: Mapping[type[DomainError], type[AppError]] | None = None) -> None:
    """`domain`: each domain error class and the status it answers with."""
    app.add_exception_handler(AppError, _app_error)
    for error, status in (domain or {}).items():
        app.add_exception_handler(error, _domain_error(status.status))
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    for unavailable in (RedisConnectionError, RedisTimeoutError, ConnectionFailure):
        app.add_exception_handler(unavailable, _store_unavailable)
    app.add_exception_handler(Exception, _unexpected)
