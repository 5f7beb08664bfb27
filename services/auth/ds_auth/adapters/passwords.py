"""argon2id password hashing, off the event loop, with the same cost whether or not a user exists."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()  # argon2id, RFC 9106 low-memory profile (t=3, m=64 MiB, p=4)
# Verified when the account does not exist or has no password, so timing does not reveal which.
_DUMMY_HASH = _hasher.hash("no account here: constant-time failure")

MIN_LENGTH = 8
MAX_LENGTH = 256


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(stored_hash: str | None, password: str) -> bool:
    """Constant-time check (argon2's own comparison); a missing hash costs the same as a real one."""

    def check() -> bool:
        try:
            return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(check)


def needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)


class Argon2Passwords:
    """The password functions above as one collaborator of the use cases (tests give a cheaper one)."""

    async def hash(self, password: str) -> str:
        return await hash_password(password)

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        return await verify_password(stored_hash, password)

    def needs_rehash(self, stored_hash: str) -> bool:
        return needs_rehash(stored_hash)
