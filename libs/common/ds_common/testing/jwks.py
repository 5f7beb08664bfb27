"""A token issuer for tests: an Ed25519 key, its JWKS served on loopback, and minted tokens.

Services verify access tokens from auth's JWKS URL; tests of the other services point that URL
at this server and mint tokens for any user and role they need.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

from ds_common.testing.loopback import LoopbackServer, serving


class TestIssuer:
    __test__ = False  # not a pytest class

    def __init__(self, *, issuer: str = "dictation-studio", audience: str = "dictation-studio") -> None:
        self.issuer = issuer
        self.audience = audience
        self.private_key = Ed25519PrivateKey.generate()
        self.kid = uuid.uuid4().hex[:12]
        self._server: LoopbackServer | None = None
        self.url = ""

    def jwks(self) -> dict[str, Any]:
        public = json.loads(OKPAlgorithm.to_jwk(self.private_key.public_key()))
        return {"keys": [{**public, "kid": self.kid, "alg": "EdDSA", "use": "sig"}]}

    def token(self, user_id: str, *, role: str = "User", session_id: str | None = None,
              email: str | None = None, ttl_s: int = 3600, **overrides: Any) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer, "aud": self.audience, "sub": user_id, "role": role,
            "sid": session_id or uuid.uuid4().hex, "typ": "access", "iat": now, "exp": now + ttl_s,
        }
        if email:
            claims["email"] = email
        claims.update(overrides)
        return jwt.encode(claims, self.private_key, algorithm="EdDSA", headers={"kid": self.kid})

    def headers(self, user_id: str, **kwargs: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(user_id, **kwargs)}"}

    def serve(self) -> str:
        """Serve the JWKS on a free loopback port; returns its URL."""
        self._server = LoopbackServer(serving(self.jwks()), "/.well-known/jwks.json")
        self.url = self._server.url
        return self.url

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
