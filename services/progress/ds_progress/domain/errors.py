"""What progress's rules refuse (mapped to HTTP statuses in api/deps.py)."""

from __future__ import annotations

from ds_common.errors import DomainError


class InvalidInput(DomainError):
    """A value the rules cannot take (400)."""


class QuotaExceeded(DomainError):
    """A free learner's cycle has no room for another video (403)."""

    def __init__(self) -> None:
        super().__init__("Failed to register video, quota exceeded")


class TooManyWords(DomainError):
    """A learner's missed words would pass their bound (400)."""
