"""Proof of identity at sign-in: Supabase access tokens and Google ID tokens (legacy W1).

The provider is chosen by the token's `iss`; then signature (algorithm from OUR allow-list for
that provider, never from the token alone), audience, issuer, expiry and a verified e-mail are
checked. Name, e-mail and avatar are taken from the verified claims only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jwt
from ds_common.auth import JwksCache
from ds_common.errors import Unauthorized

from ds_auth.domain.users import MAX_AVATAR, MAX_NAME, clean_profile_text, normalize_email
from ds_auth.settings import Settings

ASYMMETRIC = ["RS256", "ES256", "EdDSA"]


@dataclass(frozen=True, slots=True)
class Identity:
    provider: str
    subject: str
    email: str
    name: str
    avatar: str


@dataclass
class Provider:
    name: str
    issuers: list[str]
    audience: list[str]
    hs_secret: bytes | None = None
    jwks: JwksCache | None = None

    async def key_and_algorithms(self, header: dict[str, Any]) -> tuple[Any, list[str]]:
        alg = header.get("alg")
        if alg == "HS256" and self.hs_secret:
            return self.hs_secret, ["HS256"]
        if alg in ASYMMETRIC and self.jwks is not None and isinstance(header.get("kid"), str):
            return (await self.jwks.key_for(header["kid"])).key, [alg]
        raise Unauthorized("Invalid identity token")

    def identity(self, claims: dict[str, Any]) -> Identity:
        if self.name == "google":
            verified = claims.get("email_verified") in (True, "true")
            name, avatar = claims.get("name"), claims.get("picture")
        else:  # Supabase keeps the provider's profile in user_metadata
            found = claims.get("user_metadata")
            meta: dict[str, Any] = found if isinstance(found, dict) else {}
            verified = meta.get("email_verified") is True or claims.get("email_verified") is True
            if claims.get("is_anonymous") is True:
                verified = False
            name = meta.get("full_name") or meta.get("name")
            avatar = meta.get("avatar_url") or meta.get("picture")
        email = claims.get("email")
        if not verified or not isinstance(email, str):
            raise Unauthorized("Identity token has no verified email")
        return Identity(self.name, str(claims["sub"]), normalize_email(email),
                        clean_profile_text(name if isinstance(name, str) else "", MAX_NAME),
                        clean_profile_text(avatar if isinstance(avatar, str) else "", MAX_AVATAR))


class IdentityVerifier:
    def __init__(self, providers: list[Provider]) -> None:
        self.providers = providers

    @classmethod
    def from_settings(cls, settings: Settings) -> IdentityVerifier:
        providers = []
        secret = settings.supabase_jwt_secret.get_secret_value() if settings.supabase_jwt_secret else ""
        if settings.supabase_issuer and (secret or settings.supabase_jwks_url):
            providers.append(Provider(
                "supabase", [settings.supabase_issuer], [settings.supabase_audience],
                hs_secret=secret.encode() or None,
                jwks=JwksCache(settings.supabase_jwks_url) if settings.supabase_jwks_url else None))
        if settings.google_client_ids:
            providers.append(Provider("google", list(settings.google_issuers), list(settings.google_client_ids),
                                      jwks=JwksCache(settings.google_jwks_url)))
        return cls(providers)

    async def verify(self, token: str) -> Identity:
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.InvalidTokenError:
            raise Unauthorized("Invalid identity token") from None
        provider = next((p for p in self.providers if unverified.get("iss") in p.issuers), None)
        if provider is None:
            raise Unauthorized("Invalid identity token")
        key, algorithms = await provider.key_and_algorithms(header)
        try:
            claims = jwt.decode(token, key, algorithms=algorithms, audience=provider.audience,
                                issuer=provider.issuers, leeway=30,
                                options={"require": ["exp", "iat", "iss", "aud", "sub"]})
        except jwt.ExpiredSignatureError:
            raise Unauthorized("Identity token has expired") from None
        except jwt.InvalidTokenError:
            raise Unauthorized("Invalid identity token") from None
        return provider.identity(claims)

    async def aclose(self) -> None:
        for provider in self.providers:
            if provider.jwks is not None:
                await provider.jwks.aclose()
