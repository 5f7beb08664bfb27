"""Auth's rules and use cases without servers: the domain's pure rules, and the service layer run
on small in-memory fakes of its adapters (users, sessions, limits, identity proofs, keys)."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from ds_auth.adapters.identity import Identity
from ds_auth.api.deps import ERRORS
from ds_auth.api.schemas import AdminUser, UserObject
from ds_auth.domain import tokens
from ds_auth.domain.feedback import ImageLinks, InvalidFeedback, feedback_message, image_type
from ds_auth.domain.tokens import Refreshed, RefreshToken
from ds_auth.domain.users import (
    FREE_PLAN,
    ConfigUpdate,
    InvalidEmail,
    NothingToUpdate,
    dictation_progress,
    latest_typed_practice,
    new_user_document,
    new_user_id,
    normalize_email,
    plan_view,
    profile_fields,
    profile_refresh,
    user_object,
)
from ds_auth.service.accounts import Accounts, create_account
from ds_auth.service.feedback import Feedback
from ds_auth.service.signin import SignIn
from ds_auth.settings import Settings
from ds_common.auth import Principal
from ds_common.clock import FixedClock, to_ms
from ds_common.errors import BadRequest, Forbidden, NotFound, TooManyRequests, Unauthorized
from ds_common.events.contracts import Entitlement, PracticeRecorded
from ds_common.web import create_app
from fastapi import APIRouter
from pydantic import ValidationError

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
IP = "198.51.100.9"


# --- fakes of the adapters ----------------------------------------------------------------------
class FakeUsers:
    """adapters.users.UserStore in memory: e-mail claims, user documents, credentials, audit."""

    def __init__(self) -> None:
        self.emails: dict[str, str] = {}
        self.docs: dict[str, dict[str, Any]] = {}
        self.credentials: dict[str, dict[str, Any]] = {}
        self.audited: list[tuple[str, str, dict[str, Any]]] = []

    async def id_for_email(self, email: str) -> str | None:
        return self.emails.get(email)

    async def user_object(self, user_id: str, cached: bytes | None = None) -> dict[str, Any]:
        if user_id not in self.docs:
            raise NotFound("User not found")
        return user_object(profile_fields(self.docs[user_id]), None, NOW)

    async def user_object_by_email(self, email: str) -> dict[str, Any]:
        user_id = self.emails.get(email)
        if user_id is None:
            raise NotFound("User not found")
        return await self.user_object(user_id)

    async def page(self, *, after: str | None, limit: int) -> list[dict[str, Any]]:
        ids = sorted(i for i in self.docs if after is None or i > after)[:limit]
        return [await self.user_object(i) for i in ids]

    async def claim_email(self, email: str) -> tuple[str, bool]:
        if email in self.emails:
            return self.emails[email], False
        self.emails[email] = new_user_id()
        return self.emails[email], True

    async def ensure_document(self, user_id: str, email: str, username: str, avatar: str, *,
                              email_verified: bool, role: str | None = None) -> tuple[dict[str, Any], bool]:
        if user_id in self.docs:
            return self.docs[user_id], False
        self.docs[user_id] = new_user_document(user_id, email, username, avatar, NOW, role or "User",
                                               email_verified=email_verified)
        return self.docs[user_id], True

    async def update(self, user_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        self.docs[user_id].update(changes)
        return self.docs[user_id]

    async def password_hash(self, user_id: str) -> dict[str, Any] | None:
        return self.credentials.get(user_id)

    async def set_password(self, user_id: str, password_hash: str, *, email_verified: bool) -> bool:
        if user_id in self.credentials:
            return False
        self.credentials[user_id] = {"password_hash": password_hash, "email_verified": email_verified}
        return True

    async def replace_hash(self, user_id: str, password_hash: str) -> None:
        self.credentials[user_id]["password_hash"] = password_hash

    async def drop_unverified_password(self, user_id: str) -> bool:
        credential = self.credentials.get(user_id)
        if credential is None or credential["email_verified"]:
            return False
        del self.credentials[user_id]
        return True

    async def audit(self, actor: str, action: str, **details: Any) -> None:
        self.audited.append((actor, action, details))


class FakeThreads:
    """adapters.feedback.FeedbackStore in memory: threads, images, detached threads."""

    def __init__(self) -> None:
        self.threads: dict[str, list[dict[str, Any]]] = {}
        self.images: dict[str, dict[str, Any]] = {}
        self.detached: list[tuple[str, list[dict[str, Any]]]] = []

    async def store_images(self, owner_id: str, images: list[tuple[str, bytes]], *, capped: bool) -> list[str]:
        ids = [f"img-{len(self.images) + i}" for i in range(len(images))]
        self.images.update({i: {"mime": mime, "data": data} for i, (mime, data) in zip(ids, images, strict=True)})
        return ids

    async def image(self, image_id: str) -> dict[str, Any] | None:
        return self.images.get(image_id)

    async def append(self, thread_user_id: str, email: str, *, sender: str, sender_type: str, message: str,
                     image_ids: list[str], email_verified: bool) -> dict[str, Any]:
        entry = {"id": f"m{len(self.threads.get(thread_user_id, []))}", "sender": sender, "senderType": sender_type,
                 "message": message, "email": email, "timestamp": to_ms(NOW), "images": image_ids,
                 **({"emailVerified": email_verified} if sender_type == "user" else {})}
        self.threads.setdefault(thread_user_id, []).append(entry)
        return entry

    async def thread(self, user_id: str) -> list[dict[str, Any]]:
        return list(self.threads.get(user_id, []))

    async def senders(self) -> list[dict[str, Any]]:
        return []

    async def detach(self, user_id: str) -> None:
        if user_id in self.threads:
            self.detached.append((user_id, self.threads.pop(user_id)))


class FakeSessions:
    """adapters.sessions.SessionStore in memory: sessions, their revocations, a canned refresh."""

    def __init__(self) -> None:
        self.owner: dict[str, str] = {}
        self.revoked: dict[str, str] = {}  # session id -> reason
        self.next_refresh: Refreshed | None = None

    async def create(self, user_id: str) -> RefreshToken:
        token = tokens.first_token(tokens.new_session_id())
        self.owner[token.session_id] = user_id
        return token

    async def refresh(self, token: RefreshToken) -> Refreshed:
        assert self.next_refresh is not None
        return self.next_refresh

    async def revoke(self, session_id: str, user_id: str, *, reason: str) -> bool:
        if session_id in self.revoked:
            return False
        self.revoked[session_id] = reason
        return True

    async def active_sessions(self, user_id: str) -> list[str]:
        return [s for s, owner in self.owner.items() if owner == user_id and s not in self.revoked]


class FakeLimits:
    """Records every bucket in the order it is hit; `over` buckets answer 429."""

    def __init__(self, over: frozenset[str] = frozenset()) -> None:
        self.calls: list[tuple[str, str, str]] = []  # (what, bucket, subject)
        self.over = over

    async def limit(self, *buckets: tuple[str, str, int]) -> None:
        self.calls += [("hit", bucket, subject) for bucket, subject, _ in buckets]
        if any(bucket in self.over for bucket, _, _ in buckets):
            raise TooManyRequests()

    async def refuse_if_failing(self, bucket: str, subject: str, limit: int) -> None:
        self.calls.append(("check", bucket, subject))
        if bucket in self.over:
            raise TooManyRequests()

    async def failed(self, bucket: str, subject: str) -> None:
        self.calls.append(("failed", bucket, subject))


class FakeIdentity:
    """Verifies the tokens it was given, as the provider's verified claims."""

    def __init__(self, **proofs: Identity) -> None:
        self.proofs = proofs

    async def verify(self, token: str) -> Identity:
        if token not in self.proofs:
            raise Unauthorized("Invalid identity token")
        return self.proofs[token]


class FakeKeys:
    def access_token(self, *, user_id: str, role: str, session_id: str, email: str, ttl_s: int) -> tuple[str, int]:
        return f"access:{user_id}:{role}:{session_id}", ttl_s


class FakePasswords:
    async def hash(self, password: str) -> str:
        return "hashed:" + password

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        return stored_hash == "hashed:" + password

    def needs_rehash(self, stored_hash: str) -> bool:
        return False


def identity(email: str, name: str = "Ada", avatar: str = "https://a.example/ada.png") -> Identity:
    return Identity("supabase", "sub-1", email, name, avatar)


@pytest.fixture
def settings() -> Settings:
    return Settings(environment="test")


@pytest.fixture
def users() -> FakeUsers:
    return FakeUsers()


@pytest.fixture
def sessions() -> FakeSessions:
    return FakeSessions()


@pytest.fixture
def limits() -> FakeLimits:
    return FakeLimits()


def sign_in_service(settings: Settings, users: FakeUsers, sessions: FakeSessions, limits: FakeLimits,
                    threads: FakeThreads | None = None, **proofs: Identity) -> SignIn:
    return SignIn(settings, users=users, sessions=sessions, identity=FakeIdentity(**proofs),
                  access_tokens=FakeKeys(), passwords=FakePasswords(), limits=limits,
                  feedback=threads or FakeThreads())


LINKS = ImageLinks(ImageLinks.key_from(b"test secret"), "https://ds.example/dictation-studio", 3600)


def feedback_service(settings: Settings, users: FakeUsers, limits: FakeLimits, threads: FakeThreads) -> Feedback:
    return Feedback(settings, threads=threads, users=users, limits=limits, links=LINKS, clock=FixedClock(NOW))


# --- refresh tokens (domain/tokens.py) ----------------------------------------------------------
def test_a_refresh_tokens_successor_is_derived_from_its_secret_and_the_key() -> None:
    first = tokens.first_token(tokens.new_session_id())
    key = b"k" * 32
    successor = first.successor(key)
    assert successor == first.successor(key)  # concurrent refreshes with one token agree
    assert successor.session_id == first.session_id and successor.secret != first.secret
    assert successor != first.successor(b"another key")
    expected = hmac.new(key, first.secret.encode(), hashlib.sha256).digest()
    assert tokens.parse(str(successor)) == successor and len(successor.secret) == 43
    assert successor.secret == tokens._b64(expected)
    assert successor.successor(key) not in (first, successor)  # a chain, not a cycle
    assert first.hash == hashlib.sha256(first.secret.encode()).hexdigest()  # only hashes are stored


@pytest.mark.parametrize("raw", ["", "garbage", "rt1.abc.def", "rt2." + "a" * 32 + "." + "A" * 43,
                                 "rt1." + "g" * 32 + "." + "A" * 43, "rt1." + "a" * 32 + "." + "A" * 42,
                                 "rt1." + "a" * 32 + "." + "A" * 43 + ".x", "rt1." + "A" * 32 + "." + "A" * 43])
def test_malformed_refresh_tokens_do_not_parse(raw: str) -> None:
    assert tokens.parse(raw) is None


def test_a_refused_refresh_says_why() -> None:
    assert tokens.refusal("reuse") == "Refresh token reuse detected; the session has been revoked"
    assert tokens.refusal("revoked") == "Session has been revoked"
    assert tokens.refusal("expired") == "Refresh token has expired"
    assert tokens.refusal("invalid") == tokens.refusal("missing") == "Invalid refresh token"


# --- users (domain/users.py) --------------------------------------------------------------------
def test_emails_are_normalised_and_bad_ones_are_a_domain_error() -> None:
    assert normalize_email("  Ada.Lovelace@Example.COM ") == "ada.lovelace@example.com"
    for bad in ("nope", "a@b", "a b@example.com", "@example.com", "a@@example.com", "x" * 65 + "@example.com",
                "a@" + "b" * 250 + ".com"):
        with pytest.raises(InvalidEmail) as refused:
            normalize_email(bad)
        assert refused.value.message == "Invalid email address"


def test_the_config_allow_list_gives_dotted_partial_updates() -> None:
    update = ConfigUpdate.model_validate({"language": "ja", "dictation_config": {
        "playback_speed": 1.5, "shortcuts": {"prev": "ShiftLeft"}}})
    assert update.mongo_set() == {"language": "ja", "dictation_config.playback_speed": 1.5,
                                  "dictation_config.shortcuts.prev": "ShiftLeft"}
    assert ConfigUpdate.model_validate({"dictation_config": {"auto_repeat": 0}}).mongo_set() == {
        "dictation_config.auto_repeat": 0}


@pytest.mark.parametrize("attack", [{"role": "Admin"}, {"plan": {"name": "Premium"}}, {"email": "x@y.z"},
                                    {"language": "en", "role": "Admin"}, {"language": "klingon"},
                                    {"dictation_config": {"playback_speed": 1, "quota": 1}},
                                    {"dictation_config": {"playback_speed": 99}},
                                    {"dictation_config": {"shortcuts": {"next": "Key A; drop"}}}])
def test_the_config_allow_list_refuses_everything_else(attack: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ConfigUpdate.model_validate(attack)


def test_an_empty_config_update_is_refused() -> None:
    empties: list[dict[str, Any]] = [{}, {"dictation_config": {}}, {"dictation_config": {"shortcuts": {}}}]
    for empty in empties:
        with pytest.raises(NothingToUpdate):
            ConfigUpdate.model_validate(empty).mongo_set()


def paid(**fields: Any) -> dict[str, Any]:
    return Entitlement(**fields).model_dump(mode="json")  # as mirrored from plan.changed


def test_plan_view_is_free_unless_the_plan_is_paid_now() -> None:
    later, earlier = NOW + timedelta(days=3), NOW - timedelta(seconds=1)
    assert plan_view(None, NOW) == plan_view({}, NOW) == FREE_PLAN
    assert plan_view(paid(plan="Free"), NOW) == FREE_PLAN
    assert plan_view(paid(plan="Pro", status="expired", expires_at=later), NOW) == FREE_PLAN
    assert plan_view(paid(plan="Pro", expires_at=earlier), NOW) == FREE_PLAN
    assert plan_view(paid(plan="Pro", expires_at=NOW), NOW) == FREE_PLAN  # expiry is exclusive
    assert plan_view(paid(plan="Pro", expires_at=later), NOW) == {
        "name": "Pro", "expireTime": to_ms(later), "isRecurring": False, "status": "active"}
    assert plan_view(paid(plan="Premium"), NOW) == {  # a permanent grant
        "name": "Premium", "expireTime": None, "isRecurring": False, "status": "active"}
    assert plan_view(paid(plan="Basic", status="cancelled", expires_at=later), NOW)["status"] == "cancelled"
    assert plan_view(paid(plan="Basic", cancel_at_period_end=True, expires_at=later), NOW)["status"] == "cancelled"
    assert plan_view(paid(plan="Pro", expires_at=later, is_recurring=True, next_payment_at=later), NOW) == {
        "name": "Pro", "expireTime": to_ms(later), "isRecurring": True, "status": "active",
        "nextPaymentTime": to_ms(later)}
    plan = paid(plan="Pro", expires_at=later)
    assert plan_view(plan, later - timedelta(milliseconds=1))["name"] == "Pro"  # the shared rule decides
    assert plan_view(plan, later)["name"] == "Free" and not Entitlement.model_validate(plan).is_paid(later)


def test_the_admin_tables_activity_is_the_latest_typed_practice() -> None:
    at = NOW - timedelta(minutes=5)
    assert dictation_progress(None) == {}
    assert dictation_progress({"channel_id": "ch", "video_id": "v1", "index": 3, "input": "hello there",
                               "at": at, "completion": 42.5}) == {
        "ch:v1": {"userInput": {"3": "hello there"}, "currentTime": to_ms(at), "overallCompletion": 42.5}}

    def practice(user: str, seconds: int, text: str) -> PracticeRecorded:
        return PracticeRecorded(user_id=user, channel_id="ch", video_id=f"v{seconds}", duration_s=30,
                                recorded_at=at + timedelta(seconds=seconds), last_input=text)

    latest = latest_typed_practice([practice("a", 60, "newest"), practice("a", 30, "older"),
                                    practice("a", 90, ""), practice("b", 10, ""), practice("c", 5, "c's")])
    assert {u: p.last_input for u, p in latest.items()} == {"a": "newest", "c": "c's"}


def test_a_provider_sign_in_refreshes_name_and_avatar_only_when_given() -> None:
    doc = {"username": "Ada", "avatar": "a.png"}
    assert profile_refresh(doc, "Ada", "a.png") == {}
    assert profile_refresh(doc, "", "") == {}  # an empty claim never blanks the stored profile
    assert profile_refresh(doc, "Ada L.", "") == {"username": "Ada L."}
    assert profile_refresh(doc, "Ada", "b.png") == {"avatar": "b.png"}


def test_feedback_messages_and_images() -> None:
    assert feedback_message("  hello  ", 10) == "hello"
    with pytest.raises(InvalidFeedback, match="Feedback message is required"):
        feedback_message("   ", 10)
    with pytest.raises(InvalidFeedback, match=r"too long \(max 3 characters\)"):
        feedback_message("four", 3)
    assert image_type(b"\x89PNG\r\n\x1a\n....") == "image/png"
    assert image_type(b"\xff\xd8\xff\xe0") == "image/jpeg"
    assert image_type(b"GIF89a...") == "image/gif"
    assert image_type(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "image/webp"
    assert image_type(b"<svg onload=alert(1)>") is None


def test_image_links_are_signed_expire_and_stay_the_same_within_a_period() -> None:
    url = LINKS.url("img-1", NOW)
    path, _, query = url.partition("?")
    assert path == "https://ds.example/dictation-studio/user/feedback/images/img-1"
    params = dict(p.split("=") for p in query.split("&"))
    expires, signature = int(params["e"]), params["s"]
    assert 3600 <= expires - NOW.timestamp() <= 7200
    assert LINKS.url("img-1", NOW + timedelta(seconds=1)) == url  # the browser's cache keeps working
    assert LINKS.valid("img-1", expires, signature, NOW + timedelta(seconds=3599))
    assert not LINKS.valid("img-1", expires, signature, datetime.fromtimestamp(expires + 1, UTC))  # expired
    assert not LINKS.valid("img-2", expires, signature, NOW)  # another image
    assert not LINKS.valid("img-1", expires + 3600, signature, NOW)  # a longer life
    other = ImageLinks(ImageLinks.key_from(b"another secret"), LINKS.base_url, 3600)
    assert not other.valid("img-1", expires, signature, NOW)


async def test_domain_errors_answer_400_with_their_message(settings: Settings) -> None:
    router = APIRouter()

    @router.get("/email")
    async def email() -> None:
        normalize_email("not an address")

    @router.get("/config")
    async def config() -> None:
        ConfigUpdate().mongo_set()

    app = create_app(settings, title="errors", routers=[router], errors=ERRORS)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://auth") as client:
        bad_email, empty = await client.get("/email"), await client.get("/config")
    assert (bad_email.status_code, bad_email.json()) == (400, {"error": "Invalid email address"})
    assert (empty.status_code, empty.json()) == (400, {"error": "Nothing to update: send dictation_config and/or "
                                                                "language"})


# --- sign-in (service/signin.py) ------------------------------------------------------------------
async def test_identity_sign_in_drops_an_unproven_password_and_ends_its_sessions(
        settings: Settings, users: FakeUsers, sessions: FakeSessions, limits: FakeLimits) -> None:
    """Pre-account-takeover: someone registered the owner's address with a password first."""
    threads = FakeThreads()
    service = sign_in_service(settings, users, sessions, limits, threads, owner=identity("ada@example.com"))
    squatter = await service.register(username="squat", email="ADA@example.com", password="squatters-pass",
                                      avatar="", client_ip=IP)
    other_device = await service.with_password("ada@example.com", "squatters-pass", client_ip=IP)
    assert squatter.user["email_verified"] is False
    # What the squatter writes reaches the admins marked as coming from an address nobody proved.
    feedback = feedback_service(settings, users, limits, threads)
    await feedback.submit(squatter.user["user_id"], "Please refund me", [])
    admin = principal({"user_id": "an-admin", "email": "admin@example.com", "role": "Admin"})
    assert [m["sender"] for m in await feedback.thread(admin, "ada@example.com")] == ["squat (e-mail not verified)"]
    limits.calls.clear()

    signed = await service.with_identity("owner", client_ip=IP, claimed_email=" Ada@Example.com")

    user_id = signed.user["user_id"]
    assert user_id == squatter.user["user_id"] and signed.user["email_verified"] is True  # now proven
    assert users.credentials == {}  # the unproven password is gone
    assert await feedback.thread(principal(signed.user), None) == []  # the squatter's words are not the owner's
    assert [(who, [m["message"] for m in kept]) for who, kept in threads.detached] == [(user_id, ["Please refund me"])]
    assert sessions.revoked == {squatter.refresh.session_id: "admin", other_device.refresh.session_id: "admin"}
    assert await sessions.active_sessions(user_id) == [signed.refresh.session_id]
    assert signed.user["username"] == "Ada" and signed.user["avatar"] == "https://a.example/ada.png"
    assert signed.access == f"access:{user_id}:User:{signed.refresh.session_id}"
    # Identity sign-ins are counted apart from password attempts: per IP, then per verified account.
    assert limits.calls == [("hit", "identity-ip", IP), ("hit", "identity-account", "ada@example.com")]
    with pytest.raises(Unauthorized, match="Invalid email or password"):
        await service.with_password("ada@example.com", "squatters-pass", client_ip=IP)


async def test_identity_sign_in_keeps_a_proven_password_and_the_open_sessions(
        settings: Settings, users: FakeUsers, sessions: FakeSessions, limits: FakeLimits) -> None:
    service = sign_in_service(settings, users, sessions, limits, owner=identity("op@example.com"))
    assert await create_account(users, FakePasswords(), email="op@example.com", username="Op", password="op-pass-1",
                                role="Admin")
    assert not await create_account(users, FakePasswords(), email="op@example.com", username="Op",
                                    password="another", role="User")
    by_password = await service.with_password("op@example.com", "op-pass-1", client_ip=IP)
    assert by_password.user["role"] == "Admin" and by_password.user["username"] == "Op"
    await service.with_identity("owner", client_ip=IP)
    assert sessions.revoked == {} and "password_hash" in users.credentials[by_password.user["user_id"]]


async def test_a_token_for_another_address_is_refused_before_its_account_is_counted(
        settings: Settings, users: FakeUsers, sessions: FakeSessions, limits: FakeLimits) -> None:
    service = sign_in_service(settings, users, sessions, limits, attacker=identity("mallory@example.com"))
    with pytest.raises(Forbidden, match="Email does not match the identity token"):
        await service.with_identity("attacker", client_ip=IP, claimed_email="victim@example.com")
    with pytest.raises(Unauthorized):
        await service.with_identity("forged", client_ip=IP)
    assert limits.calls == [("hit", "identity-ip", IP)] * 2 and users.emails == {}


async def test_password_sign_in_counts_failures_per_account_and_successes_cost_nothing(
        settings: Settings, users: FakeUsers, sessions: FakeSessions, limits: FakeLimits) -> None:
    service = sign_in_service(settings, users, sessions, limits)
    await service.register(username="Pat", email="pat@example.com", password="right-one", avatar="", client_ip=IP)
    limits.calls.clear()
    with pytest.raises(Unauthorized, match="Invalid email or password"):
        await service.with_password("PAT@example.com", "wrong-one", client_ip=IP)
    with pytest.raises(Unauthorized, match="Invalid email or password"):  # no such account: the same answer
        await service.with_password("ghost@example.com", "wrong-one", client_ip=IP)
    signed = await service.with_password("pat@example.com", "right-one", client_ip=IP)
    assert signed.user["username"] == "Pat"
    assert limits.calls == [
        ("hit", "password-ip", IP), ("check", "password-failures", "pat@example.com"),
        ("failed", "password-failures", "pat@example.com"),
        ("hit", "password-ip", IP), ("check", "password-failures", "ghost@example.com"),
        ("failed", "password-failures", "ghost@example.com"),
        ("hit", "password-ip", IP), ("check", "password-failures", "pat@example.com")]

    locked = sign_in_service(settings, users, sessions, FakeLimits(over=frozenset({"password-failures"})),
                             owner=identity("pat@example.com"))
    with pytest.raises(TooManyRequests):  # under attack: even the right password waits
        await locked.with_password("pat@example.com", "right-one", client_ip=IP)
    assert (await locked.with_identity("owner", client_ip=IP)).user["email"] == "pat@example.com"


async def test_registering_a_taken_address_is_refused(settings: Settings, users: FakeUsers,
                                                      sessions: FakeSessions, limits: FakeLimits) -> None:
    service = sign_in_service(settings, users, sessions, limits)
    first = await service.register(username="  Pat  ", email="pat@example.com", password="pw-123456", avatar="",
                                   client_ip=IP)
    assert first.user["username"] == "Pat" and users.credentials[first.user["user_id"]]["email_verified"] is False
    with pytest.raises(BadRequest, match="User with this email already exists"):
        await service.register(username="P2", email=" PAT@example.com", password="pw-654321", avatar="",
                               client_ip=IP)
    with pytest.raises(InvalidEmail):
        await service.register(username="P3", email="nope", password="pw-654321", avatar="", client_ip=IP)
    # Every answer that tells whether an address has an account is counted per IP and per address.
    assert limits.calls == [("hit", "register-ip", IP), ("hit", "register-address", "pat@example.com")] * 2 + [
        ("hit", "register-ip", IP)]
    limits.calls.clear()
    assert await service.email_exists(" PAT@example.com", client_ip=IP)
    assert limits.calls == [("hit", "check-email-ip", IP), ("hit", "check-email-address", "pat@example.com")]
    probed = sign_in_service(settings, users, sessions, FakeLimits(over=frozenset({"register-address"})))
    with pytest.raises(TooManyRequests):
        await probed.register(username="P4", email="pat@example.com", password="pw-654321", avatar="", client_ip=IP)


async def test_refresh_hands_out_the_successor_or_says_why_not(settings: Settings, users: FakeUsers,
                                                               sessions: FakeSessions, limits: FakeLimits) -> None:
    service = sign_in_service(settings, users, sessions, limits)
    signed = await service.register(username="R", email="r@example.com", password="pw-123456", avatar="",
                                    client_ip=IP)
    limits.calls.clear()
    with pytest.raises(Unauthorized, match="Invalid refresh token"):
        await service.refresh("garbage", client_ip=IP)
    assert limits.calls == [("hit", "refresh-ip", IP), ("hit", "refresh-session", "invalid")]

    successor = signed.refresh.successor(b"key")
    sessions.next_refresh = Refreshed("current", signed.user["user_id"], successor)
    refreshed = await service.refresh(str(signed.refresh), client_ip=IP)
    assert refreshed.refresh == successor and refreshed.user == signed.user
    assert limits.calls[-1] == ("hit", "refresh-session", signed.refresh.session_id)

    sessions.next_refresh = Refreshed("reuse", signed.user["user_id"])
    with pytest.raises(Unauthorized, match="reuse detected"):
        await service.refresh(str(signed.refresh), client_ip=IP)
    sessions.next_refresh = Refreshed("current", "a-deleted-user", successor)
    with pytest.raises(Unauthorized, match="Invalid refresh token"):
        await service.refresh(str(signed.refresh), client_ip=IP)


# --- accounts and feedback (service/accounts.py, service/feedback.py) -----------------------------
def principal(user: dict[str, Any]) -> Principal:
    return Principal(user["user_id"], user["role"], "sid", user["email"])


async def test_role_updates_report_each_address_and_demotion_ends_sessions(
        settings: Settings, users: FakeUsers, sessions: FakeSessions, limits: FakeLimits) -> None:
    signin = sign_in_service(settings, users, sessions, limits)
    boss = (await signin.register(username="B", email="boss@example.com", password="pw-123456", avatar="",
                                  client_ip=IP)).user
    target = await signin.register(username="T", email="t@example.com", password="pw-123456", avatar="",
                                   client_ip=IP)
    accounts = Accounts(users=users, sessions=sessions)
    admin = principal({**boss, "role": "Admin"})
    results = await accounts.update_roles(admin, ["T@example.com", "ghost@example.com", "not-an-email"], "Admin")
    assert results == [{"email": "t@example.com", "success": True, "message": "Role updated to Admin"},
                       {"email": "ghost@example.com", "success": False, "message": "User not found"},
                       {"email": "not-an-email", "success": False, "message": "Invalid email address"}]
    assert "ghost@example.com" not in users.emails and sessions.revoked == {}  # no ghost users (legacy W28)
    await accounts.update_roles(admin, ["t@example.com"], "User")
    assert sessions.revoked == {target.refresh.session_id: "admin"}
    assert [(d["before"], d["after"]) for _, action, d in users.audited if action == "user.role"] == [
        ("User", "Admin"), ("Admin", "User")]


async def test_user_info_and_feedback_threads_are_the_callers_own_unless_admin(
        settings: Settings, users: FakeUsers, sessions: FakeSessions, limits: FakeLimits) -> None:
    signin = sign_in_service(settings, users, sessions, limits)
    alice = (await signin.register(username="A", email="alice@example.com", password="pw-123456", avatar="",
                                   client_ip=IP)).user
    bob = (await signin.register(username="B", email="bob@example.com", password="pw-123456", avatar="",
                                 client_ip=IP)).user
    accounts = Accounts(users=users, sessions=sessions)
    assert (await accounts.user_info(principal(alice), "ALICE@example.com"))["user_id"] == alice["user_id"]
    with pytest.raises(Forbidden, match="Access denied"):
        await accounts.user_info(principal(alice), "bob@example.com")
    admin = principal({**alice, "role": "Admin"})
    assert (await accounts.user_info(admin, "bob@example.com"))["user_id"] == bob["user_id"]
    with pytest.raises(NotFound):
        await accounts.user_info(admin, "ghost@example.com")

    class Threads:
        def __init__(self) -> None:
            self.read: list[str] = []

        async def thread(self, user_id: str) -> list[dict[str, Any]]:
            self.read.append(user_id)
            return []

    threads = Threads()
    feedback = feedback_service(settings, users, limits, threads)  # type: ignore[arg-type]
    await feedback.thread(principal(bob), None)
    await feedback.thread(principal(bob), "BOB@example.com")
    with pytest.raises(Forbidden):
        await feedback.thread(principal(bob), "alice@example.com")  # legacy W6
    await feedback.thread(admin, "bob@example.com")
    with pytest.raises(NotFound):
        await feedback.thread(admin, "ghost@example.com")
    assert threads.read == [bob["user_id"], bob["user_id"], bob["user_id"]]


async def test_the_answers_have_their_documented_shapes(settings: Settings, users: FakeUsers,
                                                        sessions: FakeSessions, limits: FakeLimits) -> None:
    signed = await sign_in_service(settings, users, sessions, limits).register(
        username="S", email="s@example.com", password="pw-123456", avatar="", client_ip=IP)
    user = UserObject.model_validate(signed.user)
    assert user.model_dump(exclude_unset=True) == signed.user  # every field documented, none invented
    paid_user = user_object(profile_fields(users.docs[user.user_id]),
                            paid(plan="Pro", expires_at=NOW + timedelta(days=1), next_payment_at=NOW), NOW)
    assert UserObject.model_validate(paid_user).model_dump(exclude_unset=True) == paid_user
    row = {**signed.user, "dictation_progress": dictation_progress({
        "channel_id": "ch", "video_id": "v", "index": 0, "input": "hi", "at": NOW, "completion": 10})}
    assert AdminUser.model_validate(row).model_dump(exclude_unset=True) == row
