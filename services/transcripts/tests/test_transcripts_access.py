"""Server-side access control (legacy W12) with the progress stand-in on loopback."""

from datetime import UTC, datetime, timedelta

import pytest
from ds_common.events.contracts import Entitlement, PlanChanged, VideoStarted
from ds_common.testing.fixtures import unique
from ds_common.testing.jwks import TestIssuer
from ds_transcripts.settings import Settings
from transcripts_helpers import ProgressStandIn, envelope, harness, no_youtube

pytestmark = pytest.mark.integration
CH, VIDEO = "UCaccess", "accessVid01"
PATH = f"/service/video-transcript/{CH}/{VIDEO}"
LINES = [{"start": 0.0, "end": 1.5, "transcript": "hello"}]


def started(user: str, cycle_end: datetime):
    now = datetime.now(UTC)
    return envelope(VideoStarted(user_id=user, channel_id=CH, video_id=VIDEO, cycle_start=now - timedelta(days=1),
                                 cycle_end=cycle_end), key=user)


def plan(user: str, name: str, expires_at: datetime | None, sequence: int):
    return envelope(PlanChanged(user_id=user, entitlement=Entitlement(plan=name, expires_at=expires_at),  # type: ignore[arg-type]
                                source="admin"), key=user, sequence=sequence)


async def test_free_learner_over_quota_is_refused_and_just_registered_is_let_in(
        settings: Settings, issuer: TestIssuer, progress: ProgressStandIn) -> None:
    learner = unique("free")
    with no_youtube():
        async with harness(settings) as h:
            await h.publish(CH, VIDEO, lines=LINES, title="Access")
            refused = await h.client.get(PATH, headers=issuer.headers(learner))
            assert refused.status_code == 403
            assert refused.json()["reason"] == "quota_exceeded" and "quota" in refused.json()["error"]
            # the learner registers the video with progress; video.started has not reached us yet
            progress.registered.add((learner, CH, VIDEO))
            allowed = await h.client.get(PATH, headers=issuer.headers(learner))
            assert allowed.status_code == 200 and allowed.json()["transcript"] == LINES
            assert progress.calls.count((learner, CH, VIDEO)) == 2
            await h.client.get(PATH, headers=issuer.headers(learner))  # the decision is reused for a while
            assert progress.calls.count((learner, CH, VIDEO)) == 2


async def test_projections_answer_without_asking_progress(settings: Settings, issuer: TestIssuer,
                                                          progress: ProgressStandIn) -> None:
    registered, lapsed, paid, expired = (unique(n) for n in ("reg", "lapsed", "paid", "expired"))
    now = datetime.now(UTC)
    with no_youtube():
        async with harness(settings) as h:
            await h.publish(CH, VIDEO, lines=LINES)
            await h.handle("video.started", started(registered, now + timedelta(days=10)))
            await h.handle("video.started", started(registered, now + timedelta(days=5)))  # older cycle: kept max
            await h.handle("video.started", started(lapsed, now - timedelta(minutes=1)))
            await h.handle("plan.changed", plan(paid, "Pro", now + timedelta(days=90), 2))
            await h.handle("plan.changed", plan(paid, "Free", None, 1))  # an older version arrives late: ignored
            await h.handle("plan.changed", plan(expired, "Basic", now - timedelta(seconds=1), 1))
            assert (await h.db.access.find_one({"_id": f"{registered}:{CH}:{VIDEO}"}))["cycle_end"] > \
                now + timedelta(days=9)

            for user in (registered, paid):
                assert (await h.client.get(PATH, headers=issuer.headers(user))).status_code == 200
            admin = await h.client.get(PATH, headers=issuer.headers(unique("admin"), role="Admin"))
            assert admin.status_code == 200
            assert not [c for c in progress.calls if c[0] in (registered, paid)]

            # a lapsed cycle or an expired plan falls through to progress, which refuses
            for user in (lapsed, expired):
                assert (await h.client.get(PATH, headers=issuer.headers(user))).status_code == 403
                assert (user, CH, VIDEO) in progress.calls


async def test_progress_down_is_a_503_never_a_500_and_tokens_are_required(
        settings: Settings, issuer: TestIssuer, progress: ProgressStandIn) -> None:
    with no_youtube():
        async with harness(settings) as h:
            await h.publish(CH, VIDEO, lines=LINES)
            progress.fail = True
            try:
                r = await h.client.get(PATH, headers=issuer.headers(unique("free")))
            finally:
                progress.fail = False
            assert r.status_code == 503 and r.headers["Retry-After"] == "2"
            assert (await h.client.get(PATH)).status_code == 401
            bad = await h.client.get(PATH, headers={"Authorization": "Bearer not-a-jwt"})
            assert bad.status_code == 401 and bad.json() == {"error": "Invalid token"}
            odd = await h.client.get(f"/service/video-transcript/{CH}/bad%20id", headers=issuer.headers("u"))
            assert odd.status_code == 400 and odd.json() == {"error": "Invalid channel or video id"}


async def test_progress_unreachable_is_a_503(endpoints, issuer: TestIssuer, mongo_client) -> None:
    from transcripts_helpers import fresh_db_name, settings_for

    db = fresh_db_name()
    unreachable = settings_for(endpoints, issuer, "http://127.0.0.1:9", db)
    try:
        with no_youtube():
            async with harness(unreachable) as h:
                await h.publish(CH, VIDEO, lines=LINES)
                r = await h.client.get(PATH, headers=issuer.headers(unique("free")))
                assert r.status_code == 503 and "retry" in r.json()["error"]
    finally:
        await mongo_client.drop_database(db)


async def test_projection_misses_are_rate_limited_per_learner(endpoints, issuer: TestIssuer, progress,
                                                              mongo_client) -> None:
    from transcripts_helpers import fresh_db_name, settings_for

    db = fresh_db_name()
    limited = settings_for(endpoints, issuer, progress.url, db, access_checks_per_minute=3)
    learner = unique("looping")
    try:
        with no_youtube():
            async with harness(limited) as h:
                await h.publish(CH, VIDEO, lines=LINES)
                codes = [(await h.client.get(PATH, headers=issuer.headers(learner))).status_code for _ in range(4)]
                assert codes == [403, 403, 403, 429]
                assert progress.calls.count((learner, CH, VIDEO)) == 3
    finally:
        await mongo_client.drop_database(db)


async def test_learners_reach_only_what_the_catalog_shows_them(settings: Settings, issuer: TestIssuer,
                                                               progress: ProgressStandIn) -> None:
    """A hidden video or a private channel reads as no video at all for every learner (paid or
    registered alike), until the catalog shows it; admins read it throughout."""
    paid, registered = unique("paid"), unique("reg")
    hidden, private = "hiddenVid01", "UCprivate"
    now = datetime.now(UTC)
    with no_youtube():
        async with harness(settings) as h:
            await h.publish(CH, hidden, lines=LINES, visibility="private")
            await h.publish(private, VIDEO, lines=LINES)
            await h.describe_channel(private, "private", sequence=2)
            await h.handle("plan.changed", plan(paid, "Pro", now + timedelta(days=90), 1))
            for channel, video in ((CH, hidden), (private, VIDEO)):
                await h.handle("video.started", envelope(VideoStarted(
                    user_id=registered, channel_id=channel, video_id=video, cycle_start=now,
                    cycle_end=now + timedelta(days=10)), key=registered))
            admin, free = issuer.headers(unique("admin"), role="Admin"), unique("free")
            for channel, video in ((CH, hidden), (private, VIDEO), (CH, "madeUpVid01")):
                path = f"/service/video-transcript/{channel}/{video}"
                for user in (paid, registered, free):
                    answer = await h.client.get(path, headers=issuer.headers(user))
                    assert answer.status_code == 404 and answer.json() == {"error": "Video not found"}, path
                    refined = await h.client.get(f"/service/{channel}/{video}/mark-refined",
                                                 headers=issuer.headers(user))
                    assert refined.status_code == 404
                if video != "madeUpVid01":
                    assert (await h.client.get(path, headers=admin)).status_code == 200
            assert not [c for c in progress.calls if c[0] in (paid, registered, free)]  # nothing counted

            await h.describe_channel(private, "public", sequence=3)  # the catalog shows the channel now
            shown = await h.client.get(f"/service/video-transcript/{private}/{VIDEO}", headers=issuer.headers(paid))
            assert shown.status_code == 200 and shown.json()["transcript"] == LINES
