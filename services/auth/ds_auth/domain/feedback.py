"""Feedback messages: what a message and an attachment must be, and the links that show an
attachment (pure rules, no I/O)."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime

from ds_common.errors import DomainError


class InvalidFeedback(DomainError):
    """A feedback message that is empty or too long (answered 400)."""


def feedback_message(text: str, max_chars: int) -> str:
    """The message as stored: trimmed, not empty, at most `max_chars` characters."""
    text = text.strip()
    if not text:
        raise InvalidFeedback("Feedback message is required")
    if len(text) > max_chars:
        raise InvalidFeedback(f"Feedback message is too long (max {max_chars} characters)")
    return text


def image_type(data: bytes) -> str | None:
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


class TooManyImages(DomainError):
    """A learner's stored feedback images are at their cap (answered 400)."""


@dataclass(frozen=True)
class ImageLinks:
    """Signed, expiring links to feedback images. The front end shows an image with `<img src>`,
    which sends no token, so the link itself is the permission: an HMAC of the image id and the
    expiry. A link expires at the end of the next whole `ttl_s` period, so a thread read again
    within one period gets the same links (and the browser its cached images)."""

    key: bytes
    base_url: str  # where browsers reach auth (through the gateway), e.g. https://host/dictation-studio
    ttl_s: int

    def url(self, image_id: str, now: datetime) -> str:
        expires = (int(now.timestamp()) // self.ttl_s + 2) * self.ttl_s
        return f"{self.base_url}/user/feedback/images/{image_id}?e={expires}&s={self._sign(image_id, expires)}"

    def valid(self, image_id: str, expires: int, signature: str, now: datetime) -> bool:
        return expires >= now.timestamp() and hmac.compare_digest(self._sign(image_id, expires), signature)

    def _sign(self, image_id: str, expires: int) -> str:
        return hmac.new(self.key, f"{image_id}:{expires}".encode(), hashlib.sha256).hexdigest()[:32]

    @staticmethod
    def key_from(secret: bytes) -> bytes:
        """The links' own key, derived from another secret of the service (one key, one purpose)."""
        return hmac.new(secret, b"feedback image links", hashlib.sha256).digest()
