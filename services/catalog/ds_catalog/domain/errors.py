"""What the catalog's rules refuse; api/deps.py maps each to its status (all are 400s)."""

from __future__ import annotations

from ds_common.errors import DomainError


class NothingToUpdate(DomainError):
    """An update whose fields are all absent."""

    def __init__(self) -> None:
        super().__init__("No update data provided")


class DuplicateChannelIds(DomainError):
    """A batch of channels naming one channel twice."""

    def __init__(self) -> None:
        super().__init__("Invalid input. Channel ids must be unique within a batch.")


class LinkMismatch(DomainError):
    """A video's new link pointing to another video."""

    def __init__(self) -> None:
        super().__init__("The link must point to the same YouTube video")


class InvalidApproval(DomainError):
    """An approval that does not say enough to create the channel."""


class InvalidTranscriptFile(DomainError):
    """An uploaded SRT file that cannot be read: the whole upload is refused before any write."""
