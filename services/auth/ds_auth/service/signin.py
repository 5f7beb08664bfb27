"""Sign-in and sessions: proof of identity (an identity token, or an e-mail and password),
registration, refresh-token rotation, logout.

Proof of identity (legacy W1): a Supabase access token or a Google ID token, or an e-mail and
password. The e-mail a client claims is never trusted: when present it must equal the verified one.

Rate limits, in this order (fixed windows of 60 s): identity-token sign-ins are counted apart
from password attempts, per IP then per verified account; password sign-ins per IP, and refused
once an account has too many FAILURES (a success costs nothing, and someone else's wrong guesses
never lock the owner out of an identity-token sign-in).

An address registered with a password is unproven until its owner signs in through an identity
provider; that first sign-in takes back whatever the registrant had (domain of `_reclaim`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ds_common.errors import BadRequest, Forbidden, NotFound, Unauthorized

from ds_auth.domain import tokens
from ds_auth.domain.tokens import RefreshToken
from ds_auth.domain.users import MAX_AVATAR, MAX_NAME, clean_profile_text, normalize_email, profile_refresh
from ds_auth.service.ports import AccessTokens, FeedbackThreads, IdentityProofs, Limits, Passwords, Sessions, Users
from ds_auth.settings import Settings


@dataclass(frozen=True)
class SignedIn:
    """A session's tokens and the legacy User object they were issued for."""

    user: dict[str, Any]
    access: str
    refresh: RefreshToken


async def end_sessions(sessions: Sessions, user_id: str) -> None:
    """Revoke every open session of a user: their access tokens are refused at once everywhere."""
    for session_id in await sessions.active_sessions(user_id):
        await sessions.revoke(session_id, user_id, reason="admin")


class SignIn:
    def __init__(self, settings: Settings, *, users: Users, sessions: Sessions, identity: IdentityProofs,
                 access_tokens: AccessTokens, passwords: Passwords, limits: Limits, feedback: FeedbackThreads) -> None:
        self.settings = settings
        self.users = users
        self.sessions = sessions
        self.identity = identity
        self.feedback = feedback
        self.access_tokens = access_tokens
        self.passwords = passwords
        self.limits = limits

    async def with_identity(self, token: str, *, client_ip: str, claimed_email: str | None = None) -> SignedIn:
        """Sign in (the user is created at the first one) with a verified identity token."""
        s = self.settings
        await self.limits.limit(("identity-ip", client_ip, s.limit_identity_per_ip))
        identity = await self.identity.verify(token)
        if claimed_email and normalize_email(claimed_email) != identity.email:
            raise Forbidden("Email does not match the identity token")
        await self.limits.limit(("identity-account", identity.email, s.limit_identity_per_account))
        user_id, _ = await self.users.claim_email(identity.email)
        doc, created = await self.users.ensure_document(user_id, identity.email, identity.name, identity.avatar,
                                                        email_verified=True)
        changes = {} if created else profile_refresh(doc, identity.name, identity.avatar)
        if not doc.get("email_verified"):  # once per account: its owner proves the address now
            await self._reclaim(user_id)
            changes["email_verified"] = True
        if changes:
            await self.users.update(user_id, changes)
        return await self._new_session(user_id)

    async def _reclaim(self, user_id: str) -> None:
        """Someone registered this address with a password and never proved it: they lose the
        password, every session they opened, and what they wrote to the team (their feedback
        thread is detached from the owner, kept for the admins' records)."""
        credential = await self.users.password_hash(user_id)
        if credential is None or credential.get("email_verified"):
            return
        await self.feedback.detach(user_id)
        if await self.users.drop_unverified_password(user_id):
            await end_sessions(self.sessions, user_id)

    async def with_password(self, email: str, password: str, *, client_ip: str) -> SignedIn:
        s = self.settings
        await self.limits.limit(("password-ip", client_ip, s.limit_password_per_ip))
        email = normalize_email(email)
        await self.limits.refuse_if_failing("password-failures", email, s.limit_password_failures_per_account)
        user_id = await self.users.id_for_email(email)
        credential = await self.users.password_hash(user_id) if user_id else None
        stored = credential["password_hash"] if credential else None
        # Verified even without an account or a password: the same cost either way.
        if not await self.passwords.verify(stored, password) or user_id is None or stored is None:
            await self.limits.failed("password-failures", email)
            raise Unauthorized("Invalid email or password")
        if self.passwords.needs_rehash(stored):
            await self.users.replace_hash(user_id, await self.passwords.hash(password))
        # Completes a registration interrupted between its two writes.
        await self.users.ensure_document(user_id, email, "", "", email_verified=False)
        return await self._new_session(user_id)

    async def register(self, *, username: str, email: str, password: str, avatar: str, client_ip: str) -> SignedIn:
        await self.limits.limit(("register-ip", client_ip, self.settings.limit_register_per_ip))
        email = normalize_email(email)
        # The answer says whether the address has an account (legacy contract): counted per address too.
        await self.limits.limit(("register-address", email, self.settings.limit_register_per_address))
        password_hash = await self.passwords.hash(password)
        user_id, claimed = await self.users.claim_email(email)
        if not claimed:
            raise BadRequest("User with this email already exists")
        # Unverified until a provider sign-in proves the mailbox (then this password is dropped).
        await self.users.set_password(user_id, password_hash, email_verified=False)
        await self.users.ensure_document(user_id, email, clean_profile_text(username, MAX_NAME),
                                         clean_profile_text(avatar, MAX_AVATAR), email_verified=False)
        return await self._new_session(user_id)

    async def refresh(self, raw_token: str, *, client_ip: str) -> SignedIn:
        """A new access token and the presented refresh token's successor (tokens are rotated)."""
        token = tokens.parse(raw_token)
        subject = token.session_id if token else "invalid"
        await self.limits.limit(("refresh-ip", client_ip, self.settings.limit_refresh_per_ip),
                                ("refresh-session", subject, self.settings.limit_refresh_per_session))
        if token is None:
            raise Unauthorized("Invalid refresh token")
        result = await self.sessions.refresh(token)
        if result.token is None or result.user_id is None:
            raise Unauthorized(tokens.refusal(result.outcome))
        try:
            user = await self.users.user_object(result.user_id, result.cached_user)
        except NotFound:
            raise Unauthorized("Invalid refresh token") from None
        return SignedIn(user, self._access_token(user, result.token), result.token)

    async def logout(self, session_id: str, user_id: str) -> None:
        await self.sessions.revoke(session_id, user_id, reason="logout")

    async def email_exists(self, email: str, *, client_ip: str) -> bool:
        await self.limits.limit(("check-email-ip", client_ip, self.settings.limit_check_email_per_ip))
        email = normalize_email(email)
        await self.limits.limit(("check-email-address", email, self.settings.limit_check_email_per_address))
        return await self.users.id_for_email(email) is not None

    async def _new_session(self, user_id: str) -> SignedIn:
        refresh = await self.sessions.create(user_id)
        user = await self.users.user_object(user_id)
        return SignedIn(user, self._access_token(user, refresh), refresh)

    def _access_token(self, user: dict[str, Any], refresh: RefreshToken) -> str:
        access, _ = self.access_tokens.access_token(user_id=user["user_id"], role=user["role"],
                                                    session_id=refresh.session_id, email=user["email"],
                                                    ttl_s=self.settings.access_token_ttl_s)
        return access
