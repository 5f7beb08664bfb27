"""The floor of the load benchmark: a constant-JSON FastAPI endpoint on the same scaffolding as the
services (ds_common.web: middleware, error handlers), served the same way, behind the same gateway.
Every journey endpoint's throughput is compared with this one's.

    python tests/load/floor_app.py --port 18199
"""

from __future__ import annotations

import argparse

from ds_common.runtime import serve
from ds_common.settings import ServiceSettings
from ds_common.web import create_app
from fastapi import APIRouter

CONSTANT = [{"id": "floor", "name": "Floor", "image_url": "", "language": "en", "visibility": "public"}]


def floor_app():  # type: ignore[no-untyped-def]
    router = APIRouter()

    @router.get("/{path:path}")
    async def constant(path: str) -> list[dict[str, str]]:
        return CONSTANT

    return create_app(ServiceSettings(service_name="floor", environment="test"), title="floor", routers=[router])


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    serve(floor_app(), host="127.0.0.1", port=args.port, service="floor")
