"""Membership code format: `<16 hex random>-<8 hex HMAC tag>` (the legacy shape, W10 fixed).

The random part (64 bits) names the stored code; the tag is an HMAC-SHA256 of it under a server
key, checked in constant time before any lookup, so guessed or forged codes never reach the store.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ds_common.errors import DomainError

_CODE = re.compile(r"^([0-9a-f]{16})-([0-9a-f]{8})$")


class InvalidFormat(DomainError):
    def __init__(self) -> None:
        super().__init__("Invalid verification code format")


class InvalidTag(DomainError):
    def __init__(self) -> None:
        super().__init__("Invalid verification code")


class CodeNotFound(DomainError):
    def __init__(self) -> None:
        super().__init__("Verification code not found or expired")


class CodeUsed(DomainError):
    def __init__(self) -> None:
        super().__init__("Verification code has already been used")


def tag(key: bytes, random_part: str) -> str:
    return hmac.new(key, f"membership-code:{random_part}".encode(), hashlib.sha256).hexdigest()[:8]


def new_code(key: bytes) -> tuple[str, str]:
    """A fresh (random part, full code)."""
    random_part = secrets.token_hex(8)
    return random_part, f"{random_part}-{tag(key, random_part)}"


def full_code(key: bytes, random_part: str) -> str:
    return f"{random_part}-{tag(key, random_part)}"


def check(key: bytes, code: str) -> str:
    """The random part of a well-formed, authentic code; raises InvalidFormat or InvalidTag."""
    match = _CODE.match(code.strip().lower())
    if match is None:
        raise InvalidFormat
    random_part, given = match.groups()
    if not hmac.compare_digest(tag(key, random_part), given):
        raise InvalidTag
    return random_part


def after_lost_claim(code: Mapping[str, Any] | None, user_id: str, now: datetime) -> Mapping[str, Any]:
    """A stored code whose atomic claim by `user_id` matched nothing: this user's own earlier claim
    that stopped half-way (the redemption is finished), or a refusal (unknown, expired, or used)."""
    if code is None or (code["state"] == "active" and code["expires_at"] <= now):
        raise CodeNotFound
    if code["state"] == "claimed" and code.get("claimed_by") == user_id:
        return code
    raise CodeUsed
