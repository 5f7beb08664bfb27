"""Operator accounts: an address the operator vouches for, created with a password and marked as
proven, so a later identity-token sign-in of the same address keeps its password (a registration
through `/auth/register` is unproven until its owner signs in with an identity token).

    python -m ds_auth create-account EMAIL [--username NAME] [--role User|Admin]   # password on stdin

Run by whoever runs the service (the settings give the store), e.g. `make dev`'s demo accounts.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from ds_common.clock import SystemClock
from ds_common.errors import BadRequest
from ds_common.runtime import open_stores
from ds_common.service import outbox_nudge

from ds_auth.adapters.passwords import MAX_LENGTH, MIN_LENGTH, hash_password
from ds_auth.adapters.users import INDEXES, UserStore
from ds_auth.domain.users import MAX_NAME, clean_profile_text, normalize_email
from ds_auth.settings import Settings


async def create_account(settings: Settings, email: str, username: str, password: str, role: str) -> bool:
    """Create the proven account; False (and nothing changed) if the address has an account already."""
    async with open_stores(settings, indexes=INDEXES) as stores:
        users = UserStore(stores.db, stores.redis, SystemClock(), outbox_nudge(settings, stores))
        user_id, claimed = await users.claim_email(email)
        if not claimed:
            return False
        await users.set_password(user_id, await hash_password(password), email_verified=True)
        await users.ensure_document(user_id, email, clean_profile_text(username, MAX_NAME), "", email_verified=True,
                                    role=role)
        return True


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m ds_auth create-account", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("email")
    parser.add_argument("--username", default="")
    parser.add_argument("--role", choices=["User", "Admin"], default="User")
    args = parser.parse_args(argv)
    password = sys.stdin.readline().rstrip("\n")
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        parser.error(f"the password (stdin) must have {MIN_LENGTH} to {MAX_LENGTH} characters")
    try:
        email = normalize_email(args.email)
    except BadRequest as exc:
        parser.error(exc.message)
    created = asyncio.run(create_account(Settings(), email, args.username, password, args.role))
    print("created" if created else "exists")
    return 0
