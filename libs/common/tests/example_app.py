"""A minimal service app for process-level tests: `python -c "...serve('example_app:app', workers=2)"`."""

from __future__ import annotations

from ds_common.settings import ServiceSettings
from ds_common.web import create_app
from fastapi import APIRouter, FastAPI


def app() -> FastAPI:
    router = APIRouter()

    @router.get("/hello")
    async def hello() -> dict[str, str]:
        return {"hello": "world"}

    return create_app(ServiceSettings(service_name="example", environment="test"), title="example", routers=[router])
