"""User accounts: a user's own User object and preferences, the admin's user list and roles, and
the operator's command that creates accounts (`python -m ds_auth create-account`, OPERATOR_HELP).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from typing import Any

from ds_common.auth import Principal
from ds_common.clock import SystemClock
from ds_common.errors import Forbidden
from ds_common.runtime import open_stores
from ds_common.service import outbox_nudge

from ds_auth.adapters.passwords import MAX_LENGTH, MIN_LENGTH, Argon2Passwords
from ds_auth.adapters.users import INDEXES, UserStore
from ds_auth.domain.users import MAX_NAME, ConfigUpdate, InvalidEmail, Role, clean_profile_text, normalize_email
from ds_auth.service.ports import Passwords, Sessions, Users
from ds_auth.service.signin import end_sessions
from ds_auth.settings import Settings

OPERATOR_HELP = """Operator accounts: an address the operator vouches for, created with a password and marked as
proven, so a later identity-token sign-in of the same address keeps its password (a registration
through `/auth/register` is unproven until its owner signs in with an identity token).

    python -m ds_auth create-account EMAIL [--username NAME] [--role User|Admin]   # password on stdin

Run by whoever runs the service (the settings give the store), e.g. `make dev`'s demo accounts.
"""


class Accounts:
    def __init__(self, *, users: Users, sessions: Sessions) -> None:
        self.users = users
        self.sessions = sessions

    async def user_info(self, caller: Principal, email: str) -> dict[str, Any]:
        """The User object of `email`: the caller's own; admins may read anyone's."""
        wanted = normalize_email(email)
        if caller.email is not None and wanted == caller.email:
            return await self.users.user_object(caller.user_id)
        if not caller.is_admin:
            raise Forbidden("Access denied")
        return await self.users.user_object_by_email(wanted)

    async def config(self, user_id: str) -> dict[str, Any]:
        return await self.users.user_object(user_id)

    async def save_config(self, user_id: str, update: ConfigUpdate) -> dict[str, Any]:
        """Change the allow-listed preferences only (legacy W2); the User object afterwards."""
        await self.users.update(user_id, update.mongo_set())
        return await self.users.user_object(user_id)

    async def page(self, admin: Principal, *, limit: int, cursor: str | None,
                   route: str) -> tuple[list[dict[str, Any]], str | None]:
        """Users in sign-up order after `cursor`, without secrets (legacy W5), audited; and the next cursor."""
        users = await self.users.page(after=cursor, limit=limit)
        await self.users.audit(admin.user_id, "users.list", route=route, count=len(users), cursor=cursor)
        return users, users[-1]["user_id"] if len(users) == limit else None

    async def update_roles(self, admin: Principal, emails: Sequence[str], role: Role) -> list[dict[str, Any]]:
        """Each address's result; unknown ones are refused (no ghost users, legacy W28)."""
        results: list[dict[str, Any]] = []
        for raw in emails:
            try:
                email = normalize_email(raw)
            except InvalidEmail as refused:
                results.append({"email": raw, "success": False, "message": refused.message})
                continue
            user_id = await self.users.id_for_email(email)
            if user_id is None:
                results.append({"email": email, "success": False, "message": "User not found"})
                continue
            before = await self.users.user_object(user_id)
            await self.users.update(user_id, {"role": role})
            if before["role"] == "Admin" and role != "Admin":
                # Access tokens carry the role: end the demoted admin's sessions everywhere now.
                await end_sessions(self.sessions, user_id)
            await self.users.audit(admin.user_id, "user.role", target=user_id, email=email,
                                   before=before["role"], after=role)
            results.append({"email": email, "success": True, "message": f"Role updated to {role}"})
        return results


async def create_account(users: Users, passwords: Passwords, *, email: str, username: str, password: str,
                         role: Role) -> bool:
    """Create a proven account; False (and nothing changed) if the address has an account already."""
    user_id, claimed = await users.claim_email(email)
    if not claimed:
        return False
    await users.set_password(user_id, await passwords.hash(password), email_verified=True)
    await users.ensure_document(user_id, email, clean_profile_text(username, MAX_NAME), "", email_verified=True,
                                role=role)
    return True


async def _create_in_store(settings: Settings, email: str, username: str, password: str, role: Role) -> bool:
    async with open_stores(settings, indexes=INDEXES) as stores:
        users = UserStore(stores.db, stores.redis, SystemClock(), outbox_nudge(settings, stores))
        return await create_account(users, Argon2Passwords(), email=email, username=username, password=password,
                                    role=role)


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m ds_auth create-account", description=OPERATOR_HELP,
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
    except InvalidEmail as exc:
        parser.error(exc.message)
    created = asyncio.run(_create_in_store(Settings(), email, args.username, password, args.role))
    print("created" if created else "exists")
    return 0
