"""Channels on the real stores: public cached list with filters, admin batch create, typed update."""

import httpx
import pytest
from catalog_helpers import channel_body, make_channel, new_channel_id, upload_videos
from ds_catalog.main import api_app
from ds_catalog.settings import Settings
from ds_common.events.outbox import OUTBOX, PENDING
from ds_common.testing.jwks import TestIssuer
from ds_common.testing.kit import in_process
from pymongo import AsyncMongoClient

pytestmark = pytest.mark.integration


async def test_channel_list_filters_and_shows_learners_only_public_channels(
        client: httpx.AsyncClient, admin: dict, learner: dict) -> None:
    en_public = await make_channel(client, admin, language="en")
    ja_public = await make_channel(client, admin, language="ja")
    en_private = await make_channel(client, admin, language="en", visibility="private")
    videos = await upload_videos(client, admin, en_public, 2)

    everything = (await client.get("/service/channel", params={"visibility": "all"}, headers=admin)).json()
    assert isinstance(everything, list)  # a bare array, as legacy
    by_id = {c["id"]: c for c in everything}
    assert set(by_id) == {en_public, ja_public, en_private}
    assert by_id[en_public] == {**channel_body(en_public), "visibility": "public", "language": "en",
                                "videos": videos}

    async def ids(headers: dict | None = None, **params: str) -> set[str]:
        r = await client.get("/service/channel", params=params, headers=headers)
        assert r.status_code == 200, r.text
        return {c["id"] for c in r.json()}

    assert await ids(admin, visibility="private") == {en_private}
    assert await ids(admin, visibility="all", language="ja") == {ja_public}
    assert await ids(admin, visibility="public", language="en") == {en_public}
    # Learners and anonymous callers never see private channels, whatever they ask for.
    assert await ids(visibility="all", language="all") == {en_public, ja_public}
    assert await ids(learner, visibility="all") == {en_public, ja_public}
    assert await ids(learner, visibility="private") == set()
    # A stale or forged token on the public list is treated as no token, not as a 401.
    assert await ids({"Authorization": "Bearer not-a-token"}) == {en_public, ja_public}

    assert (await client.get(f"/service/channel/{en_public}")).json()["id"] == en_public
    assert (await client.get(f"/service/channel/{en_private}")).status_code == 404
    assert (await client.get(f"/service/channel/{en_private}", headers=admin)).status_code == 200


@pytest.mark.parametrize("params", [{"visibility": "secret"}, {"language": "fr"}])
async def test_unknown_filter_values_are_400(client: httpx.AsyncClient, params: dict) -> None:
    r = await client.get("/service/channel", params=params)
    assert r.status_code == 400 and "error" in r.json()


async def test_batch_create_validates_every_item_before_any_write(client: httpx.AsyncClient, admin: dict) -> None:
    good, bad = new_channel_id(), new_channel_id()
    no_link = {k: v for k, v in channel_body(bad).items() if k != "link"}
    r = await client.post("/service/channel", json={"channels": [channel_body(good), no_link]}, headers=admin)
    assert r.status_code == 400 and "link" in r.json()["error"]  # legacy: 500 after a partial write
    assert (await client.get(f"/service/channel/{good}")).status_code == 404

    for body in ({}, {"channels": []}, {"channels": [{**channel_body(good), "videos": ["x"]}]},
                 {"channels": [channel_body("bad:id")]}, {"channels": [channel_body(good, language="fr")]},
                 {"channels": [channel_body(good), channel_body(good)]}, {"channels": "nope"}):
        r = await client.post("/service/channel", json=body, headers=admin)
        assert r.status_code == 400, (body, r.text)
        assert set(r.json()) == {"error"}
    r = await client.post("/service/channel", content=b"{not json",
                          headers={**admin, "Content-Type": "application/json"})
    assert r.status_code == 400

    r = await client.post("/service/channel", json={"channels": [channel_body(good)]}, headers=admin)
    assert r.json() == {"message": "1 channel(s) information saved or updated successfully"}


async def test_upsert_keeps_the_channel_videos(client: httpx.AsyncClient, admin: dict) -> None:
    channel_id = await make_channel(client, admin)
    videos = await upload_videos(client, admin, channel_id, 1)
    await make_channel(client, admin, id=channel_id, name="Renamed")
    channel = (await client.get(f"/service/channel/{channel_id}")).json()
    assert channel["name"] == "Renamed" and channel["videos"] == videos


async def test_update_takes_typed_fields_only(client: httpx.AsyncClient, admin: dict) -> None:
    channel_id = await make_channel(client, admin)
    r = await client.put(f"/service/channel/{channel_id}", json={"visibility": "private", "language": "zh"},
                         headers=admin)
    assert r.json() == {"message": f"Channel {channel_id} updated successfully"}
    channel = (await client.get(f"/service/channel/{channel_id}", headers=admin)).json()
    assert (channel["visibility"], channel["language"]) == ("private", "zh")
    # The list reflects the write at once (the cache is invalidated).
    listed = (await client.get("/service/channel", params={"language": "zh"}, headers=admin)).json()
    assert [c["id"] for c in listed] == [channel_id]

    for body in ({"role": "Admin"}, {"videos": []}, {"visibility": "hidden"}, {"name": {"x": 1}}):
        assert (await client.put(f"/service/channel/{channel_id}", json=body, headers=admin)).status_code == 400
    r = await client.put(f"/service/channel/{channel_id}", json={"name": None}, headers=admin)
    assert r.status_code == 400 and r.json() == {"error": "No update data provided"}
    r = await client.put(f"/service/channel/{new_channel_id()}", json={"name": "x"}, headers=admin)
    assert r.status_code == 404 and r.json() == {"error": "Channel not found"}


async def test_channel_admin_routes_are_guarded(client: httpx.AsyncClient, learner: dict) -> None:
    channel_id = new_channel_id()
    body = {"channels": [channel_body(channel_id)]}
    assert (await client.post("/service/channel", json=body)).status_code == 401
    r = await client.post("/service/channel", json=body, headers=learner)
    assert r.status_code == 403 and r.json() == {"error": "Admin access required"}
    assert (await client.put(f"/service/channel/{channel_id}", json={"name": "x"}, headers=learner)).status_code == 403


async def test_a_write_in_one_worker_is_seen_by_another_at_once(
        settings: Settings, issuer: TestIssuer, admin: dict) -> None:
    """Two API workers (two app instances) share the Redis version keys of the read cache."""
    async with in_process(api_app(settings), base_url="http://a") as a, \
            in_process(api_app(settings), base_url="http://b") as b:
        channel_id = await make_channel(a, admin)
        assert channel_id in {c["id"] for c in (await b.get("/service/channel")).json()}  # b caches the list
        await a.put(f"/service/channel/{channel_id}", json={"name": "Fresh name"}, headers=admin)
        names = {c["id"]: c["name"] for c in (await b.get("/service/channel")).json()}
        assert names[channel_id] == "Fresh name"


async def test_every_channel_change_carries_channel_updated_in_the_same_write(
        client: httpx.AsyncClient, admin: dict, mongo_client: AsyncMongoClient, settings: Settings) -> None:
    """Progress and transcripts learn names and visibility from `channel.updated` (full state,
    sequence = the channel's version); a write that changes nothing records no event."""
    channel_id = await make_channel(client, admin, name="First")
    await make_channel(client, admin, id=channel_id, name="First")  # the same values again
    await client.put(f"/service/channel/{channel_id}", json={"visibility": "private"}, headers=admin)
    await upload_videos(client, admin, channel_id, 1)  # the video list is not the channel's description
    doc = await mongo_client[settings.mongo_db].channels.find_one({"_id": channel_id})
    events = [(e["type"], e["sequence"], e["data"]["name"], e["data"]["visibility"]) for e in doc[OUTBOX]]
    assert events == [("channel.updated", 1, "First", "public"), ("channel.updated", 2, "First", "private")]
    assert doc["version"] == 2 and doc[PENDING] is True
