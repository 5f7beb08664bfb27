"""Feedback messages: what a message and an attachment must be (pure rules, no I/O)."""

from __future__ import annotations

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
