"""The authoritative access question, asked of progress with the learner's own token.

`GET {progress_url}/internal/access/{channel_id}/{video_id}` → `{"allowed": bool, "reason": ...}`.
If progress cannot answer, we fail closed with a 503 and a retry hint (never a 500, never a
silent allow).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import quote

import httpx
from ds_common.errors import ServiceUnavailable, Unauthorized

logger = logging.getLogger("ds.transcripts.progress")


@dataclass(frozen=True)
class AccessAnswer:
    allowed: bool
    reason: str


class ProgressClient:
    def __init__(self, base_url: str, *, timeout_s: float = 2.0, http: httpx.AsyncClient | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = http or httpx.AsyncClient(timeout=timeout_s)

    async def access(self, token: str, channel_id: str, video_id: str) -> AccessAnswer:
        url = f"{self.base_url}/internal/access/{quote(channel_id, safe='')}/{quote(video_id, safe='')}"
        try:
            response = await self._http.get(url, headers={"Authorization": f"Bearer {token}"})
        except httpx.HTTPError as exc:
            logger.warning("progress unreachable for the access check: %s", type(exc).__name__)
            raise self._unavailable() from exc
        if response.status_code == 401:
            raise Unauthorized("Session is no longer valid")
        if response.status_code != 200:
            logger.warning("progress answered %s to the access check", response.status_code)
            raise self._unavailable()
        try:
            body = response.json()
            return AccessAnswer(body["allowed"] is True, str(body.get("reason", "")))
        except (ValueError, KeyError, TypeError) as exc:
            raise self._unavailable() from exc

    @staticmethod
    def _unavailable() -> ServiceUnavailable:
        return ServiceUnavailable("Access check temporarily unavailable; please retry",
                                  headers={"Retry-After": "2"}, retry_after=2)

    async def aclose(self) -> None:
        await self._http.aclose()
