import time
from collections.abc import AsyncIterator, Iterator

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from ds_common.auth import JwksCache, SessionRevocations, TokenVerifier
from ds_common.errors import ServiceUnavailable, Unauthorized
from ds_common.redis import KeySpace, make_redis
from ds_common.testing.jwks import TestIssuer
from redis.asyncio import Redis


@pytest.fixture
def local_issuer() -> Iterator[TestIssuer]:
    issuer = TestIssuer()
    issuer.serve()
    yield issuer
    issuer.close()


@pytest.fixture
async def verifier(local_issuer: TestIssuer) -> AsyncIterator[TokenVerifier]:
    jwks = JwksCache(local_issuer.url, cooldown_s=0)
    yield TokenVerifier(jwks, issuer=local_issuer.issuer, audience=local_issuer.audience)
    await jwks.aclose()


async def test_valid_token_gives_the_principal(verifier: TokenVerifier, local_issuer: TestIssuer) -> None:
    principal = await verifier.verify(local_issuer.token("u1", role="Admin", session_id="s1", email="a@b.c"))
    assert (principal.user_id, principal.role, principal.session_id, principal.email) == ("u1", "Admin", "s1", "a@b.c")
    assert principal.is_admin


@pytest.mark.parametrize("overrides,message", [
    ({"ttl_s": -120}, "Token has expired"),
    ({"aud": "someone-else"}, "Invalid token"),
    ({"iss": "https://evil.example"}, "Invalid token"),
    ({"typ": "refresh"}, "Invalid token"),
    ({"role": "Superuser"}, "Invalid token"),
])
async def test_bad_claims_are_refused(verifier: TokenVerifier, local_issuer: TestIssuer,
                                      overrides: dict[str, object], message: str) -> None:
    with pytest.raises(Unauthorized, match=message):
        await verifier.verify(local_issuer.token("u1", **overrides))  # type: ignore[arg-type]


async def test_alg_none_hs256_garbage_and_foreign_keys_are_refused(verifier: TokenVerifier,
                                                                  local_issuer: TestIssuer) -> None:
    claims = {"sub": "u1", "role": "Admin", "sid": "s", "typ": "access", "iss": local_issuer.issuer,
              "aud": local_issuer.audience, "iat": int(time.time()), "exp": int(time.time()) + 600}
    forged = [
        jwt.encode(claims, key=None, algorithm="none", headers={"kid": local_issuer.kid}),
        jwt.encode(claims, "x" * 32, algorithm="HS256", headers={"kid": local_issuer.kid}),
        jwt.encode(claims, Ed25519PrivateKey.generate(), algorithm="EdDSA", headers={"kid": local_issuer.kid}),
        jwt.encode(claims, Ed25519PrivateKey.generate(), algorithm="EdDSA", headers={"kid": "unknown"}),
        "not.a.token", "",
    ]
    for token in forged:
        with pytest.raises(Unauthorized):
            await verifier.verify(token)


async def test_key_rotation_picks_up_a_new_kid(local_issuer: TestIssuer) -> None:
    jwks = JwksCache(local_issuer.url, cooldown_s=0)
    verifier = TokenVerifier(jwks, issuer=local_issuer.issuer, audience=local_issuer.audience)
    await verifier.verify(local_issuer.token("u1"))
    rotated = TestIssuer()
    rotated.serve()
    try:
        jwks.url = rotated.url  # the JWKS now carries the new key
        principal = await verifier.verify(rotated.token("u2"))
        assert principal.user_id == "u2"
    finally:
        rotated.close()
        await jwks.aclose()


@pytest.mark.integration
async def test_revoked_session_is_refused(local_issuer: TestIssuer, redis: Redis) -> None:
    revocations = SessionRevocations(redis, KeySpace(f"test{time.time_ns()}"))
    jwks = JwksCache(local_issuer.url)
    verifier = TokenVerifier(jwks, issuer=local_issuer.issuer, audience=local_issuer.audience,
                             revocations=revocations)
    token = local_issuer.token("u1", session_id="session-to-end")
    await verifier.verify(token)
    from datetime import UTC, datetime, timedelta
    await revocations.revoke("session-to-end", datetime.now(UTC) + timedelta(hours=1))
    with pytest.raises(Unauthorized, match="revoked"):
        await verifier.verify(token)
    await verifier.verify(local_issuer.token("u1", session_id="another-session"))
    await jwks.aclose()


async def test_revocation_check_with_redis_down_is_a_503_not_a_500() -> None:
    revocations = SessionRevocations(make_redis("redis://127.0.0.1:1/0"), KeySpace("svc"))
    with pytest.raises(ServiceUnavailable):
        await revocations.is_revoked("sid")
    await revocations.redis.aclose()


@pytest.mark.integration
async def test_a_following_process_checks_revocations_without_a_redis_round_trip(redis: Redis) -> None:
    import asyncio
    from datetime import UTC, datetime, timedelta

    keys = KeySpace(f"test{time.time_ns()}")
    writer = SessionRevocations(redis, keys)  # e.g. the consumer applying session.revoked
    until = datetime.now(UTC) + timedelta(hours=1)
    await writer.revoke("revoked-before-start", until)
    follower = SessionRevocations(redis, keys, block_ms=100)
    lookups = 0
    exists = redis.exists

    async def counted_exists(*names: str) -> int:
        nonlocal lookups
        lookups += 1
        return await exists(*names)

    follower.redis = type("CountingRedis", (), {"exists": staticmethod(counted_exists),  # its blocking reads
                                                "connection_pool": redis.connection_pool})()  # use a pool of their own
    stop = asyncio.Event()
    task = asyncio.create_task(follower.follow(stop))
    try:
        assert await follower.is_revoked("revoked-before-start")  # not caught up yet: asks Redis
        await asyncio.sleep(0.3)
        lookups = 0
        assert await follower.is_revoked("revoked-before-start")  # the history was loaded
        assert not await follower.is_revoked("live-session")
        await writer.revoke("revoked-now", until)
        deadline = time.monotonic() + 1
        while not await follower.is_revoked("revoked-now"):
            assert time.monotonic() < deadline, "a revocation reached the follower within a second"
            await asyncio.sleep(0.01)
        assert lookups == 0
    finally:
        stop.set()
        await task
    # A follower that stopped reading (e.g. Redis unreachable for it) falls back to Redis.
    await asyncio.sleep(follower.fresh_s)
    await redis.set(keys("revoked-session", "revoked-after-stop"), "1", ex=60)
    assert await follower.is_revoked("revoked-after-stop")
    assert lookups == 1
