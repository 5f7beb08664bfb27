"""Small ASGI pieces shared by the middlewares (web.py, tracing.py)."""

from __future__ import annotations

from starlette.types import Message, Send


class StatusRecorder:
    """An ASGI `send` that notes the response's status on its way out (500 until one is sent: a
    request that raised)."""

    def __init__(self, send: Send) -> None:
        self.send = send
        self.status = 500

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        await self.send(message)
