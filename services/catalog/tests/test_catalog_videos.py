"""Videos on the real stores: the multipart upload and its bad inputs, lists, edits, random pick."""

import json

import httpx
import pytest
from catalog_helpers import (
    make_channel,
    new_channel_id,
    new_video_id,
    srt_text,
    upload,
    upload_videos,
    video_item,
)
from ds_catalog.settings import Settings
from pymongo import AsyncMongoClient

pytestmark = pytest.mark.integration


async def test_upload_reports_each_video_in_the_legacy_shape(client: httpx.AsyncClient, admin: dict) -> None:
    channel_id = await make_channel(client, admin)
    ok, dup, no_srt, no_title = (new_video_id() for _ in range(4))
    first = await upload(client, admin, [video_item(channel_id, dup)])
    assert first.json()["message"] == "success"

    items = [video_item(channel_id, ok), video_item(channel_id, dup), video_item(channel_id, no_srt),
             video_item(channel_id, no_title, title="  "), video_item(new_channel_id(), new_video_id()),
             video_item(channel_id, "x", video_link="https://example.com/not-youtube")]
    files = {f"{ok}.srt": srt_text(4), f"{dup}.srt": srt_text(), f"{no_title}.srt": srt_text(),
             "notes.txt": "ignored", "bad name.srt": "ignored"}
    r = await upload(client, admin, items, files)
    assert r.status_code == 200, r.text
    body = r.json()
    results = {res["video_id"]: res for res in body["results"]}
    assert results[ok] == {"video_id": ok, "success": True, "message": "Video uploaded successfully",
                           "transcript_source": "uploaded_srt", "transcript_count": 4}
    assert results[dup] == {"video_id": dup, "success": False, "message": "Video already exists", "duplicate": True}
    assert not results[no_srt]["success"] and "SRT" in results[no_srt]["message"]
    assert results[no_title]["message"] == "Title is required"
    assert results[None]["message"] == "Invalid YouTube link: no video id found"
    assert [res["video_id"] for res in body["results"]] == sorted(results, key=lambda v: v or "")
    assert (body["message"], body["total_videos"], body["success_count"], body["error_count"]) == (
        "partially success", 6, 1, 4)
    assert body["duplicate_video_ids"] == [dup]

    listed = (await client.get(f"/service/video-list/{channel_id}", headers=admin)).json()
    assert [v["video_id"] for v in listed["videos"]] == [dup, ok]


async def test_a_bad_srt_file_refuses_the_whole_upload_before_any_write(
        client: httpx.AsyncClient, admin: dict) -> None:
    channel_id = await make_channel(client, admin)
    good, bad = new_video_id(), new_video_id()
    items = [video_item(channel_id, good), video_item(channel_id, bad)]
    for content in ("1\nno timing\nText\n", b"\xff\xfe\x00garbage", ""):
        r = await upload(client, admin, items, {f"{good}.srt": srt_text(), f"{bad}.srt": content})
        assert r.status_code == 400 and r.json()["error"].startswith(f"Invalid SRT file {bad}.srt"), r.text
    listed = (await client.get(f"/service/video-list/{channel_id}", headers=admin)).json()
    assert listed == {"channel_id": channel_id, "videos": []}
    assert (await client.get(f"/service/channel/{channel_id}")).json()["videos"] == []


async def test_malformed_requests_and_unknown_fields_are_400(client: httpx.AsyncClient, admin: dict) -> None:
    channel_id = await make_channel(client, admin)
    vid = new_video_id()
    srt_part = [("transcript_files", (f"{vid}.srt", srt_text().encode(), "text/plain"))]

    async def post(**kwargs: object) -> httpx.Response:
        return await client.post("/service/video-list", headers={**admin, **kwargs.pop("headers", {})}, **kwargs)

    cases = [
        {"data": {"data": json.dumps([{**video_item(channel_id, vid), "transcript": []}])}, "files": srt_part},
        {"data": {"data": json.dumps([{**video_item(channel_id, vid), "visibility": "everyone"}])}, "files": srt_part},
        {"data": {"data": "{not json"}, "files": srt_part},
        {"data": {"data": "[" * 5_000 + "]" * 5_000}, "files": srt_part},  # too deep to be a video list
        {"data": {"data": json.dumps({"channel_id": channel_id})}, "files": srt_part},
        {"data": {"data": "[]"}, "files": srt_part},
        {"data": {}, "files": srt_part},
    ]
    for case in cases:
        r = await post(**case)
        assert r.status_code == 400 and set(r.json()) == {"error"}, (case, r.text)
    # A multipart body that does not parse: wrong boundary, truncated part.
    broken = b"--XYZ\r\nContent-Disposition: form-data; name=\"data\"\r\n\r\n[]\r\n--XYZ"
    r = await post(content=broken, headers={"Content-Type": "multipart/form-data; boundary=ABC"})
    assert r.status_code == 400 and "error" in r.json()
    r = await post(content=b"garbage", headers={"Content-Type": "multipart/form-data"})
    assert r.status_code == 400 and "error" in r.json()
    r = await post(json=[video_item(channel_id, vid)])
    assert r.status_code == 415 and r.json() == {"error": "Expected multipart/form-data"}
    assert (await client.get(f"/service/channel/{channel_id}")).json()["videos"] == []


async def test_oversize_files_and_bodies_are_413(settings: Settings, client: httpx.AsyncClient, admin: dict) -> None:
    channel_id = await make_channel(client, admin)
    vid = new_video_id()
    huge_srt = srt_text(1) + "x" * settings.max_srt_bytes
    r = await upload(client, admin, [video_item(channel_id, vid)], {f"{vid}.srt": huge_srt})
    assert r.status_code == 413 and "larger than" in r.json()["error"]
    r = await client.post("/service/video-list", headers={**admin, "Content-Type": "multipart/form-data; boundary=x",
                                                          "Content-Length": str(settings.max_upload_bytes + 1)},
                          content=b"x" * (settings.max_upload_bytes + 1))
    assert r.status_code == 413
    assert (await client.get(f"/service/channel/{channel_id}")).json()["videos"] == []


async def test_upload_is_admin_only(client: httpx.AsyncClient, admin: dict, learner: dict) -> None:
    channel_id = await make_channel(client, admin)
    vid = new_video_id()
    assert (await upload(client, {}, [video_item(channel_id, vid)])).status_code == 401
    assert (await upload(client, learner, [video_item(channel_id, vid)])).status_code == 403


async def test_video_list_filters_and_never_carries_transcripts(
        client: httpx.AsyncClient, admin: dict, learner: dict) -> None:
    channel_id = await make_channel(client, admin, language="ja")
    public = await upload_videos(client, admin, channel_id, 2)
    private = await upload_videos(client, admin, channel_id, 1, visibility="private")
    hidden = [new_video_id()]
    no_visibility = {k: v for k, v in video_item(channel_id, hidden[0]).items() if k != "visibility"}
    assert (await upload(client, admin, [no_visibility])).json()["success_count"] == 1

    async def ids(headers: dict, **params: str) -> list[str]:
        r = await client.get(f"/service/video-list/{channel_id}", params=params, headers=headers)
        assert r.status_code == 200, r.text
        assert r.json()["channel_id"] == channel_id
        return [v["video_id"] for v in r.json()["videos"]]

    assert await ids(admin) == public + private + hidden
    assert await ids(admin, visibility="private") == private
    assert await ids(admin, visibility="hidden") == hidden  # the legacy default when omitted
    assert await ids(admin, visibility="public", language="ja") == public
    assert await ids(admin, language="en") == []
    assert await ids(learner) == public  # learners only ever get public videos
    assert await ids(learner, visibility="private") == []

    item = (await client.get(f"/service/video-list/{channel_id}", headers=learner)).json()["videos"][0]
    assert set(item) == {"video_id", "link", "title", "visibility", "created_at", "is_refined", "transcript_source",
                         "transcript_status", "transcript_available", "transcript_count"}
    assert item["is_refined"] is False and item["transcript_count"] == 3 and isinstance(item["created_at"], int)
    assert item["transcript_status"] == "pending" and item["transcript_available"] is False

    assert (await client.get(f"/service/video-list/{channel_id}")).status_code == 401
    assert (await client.get(f"/service/video-list/{new_channel_id()}", headers=admin)).status_code == 404
    assert (await client.get("/service/video-list/bad:id", headers=admin)).status_code == 404
    assert (await client.get(f"/service/video-list/{channel_id}", params={"visibility": "x"},
                             headers=admin)).status_code == 400
    await client.put(f"/service/channel/{channel_id}", json={"visibility": "private"}, headers=admin)
    assert (await client.get(f"/service/video-list/{channel_id}", headers=learner)).status_code == 404
    assert len(await ids(admin)) == 4


async def test_update_and_delete_video(client: httpx.AsyncClient, admin: dict, learner: dict) -> None:
    channel_id = await make_channel(client, admin)
    vid, other = await upload_videos(client, admin, channel_id, 2)
    path = f"/service/video-list/{channel_id}/{vid}"
    r = await client.put(path, json={"title": "New title", "visibility": "private"}, headers=admin)
    assert r.json() == {"message": f"Video {vid} updated successfully"}
    videos = (await client.get(f"/service/video-list/{channel_id}", headers=admin)).json()["videos"]
    edited = next(v for v in videos if v["video_id"] == vid)
    assert (edited["title"], edited["visibility"]) == ("New title", "private") and "updated_at" in edited

    for body in ({"transcript": []}, {"visibility": "x"}, {"link": "https://youtu.be/someotherid"}):
        assert (await client.put(path, json=body, headers=admin)).status_code == 400
    assert (await client.put(path, json={}, headers=admin)).json() == {"error": "No update data provided"}
    assert (await client.put(path, json={"title": "x"}, headers=learner)).status_code == 403
    missing = f"/service/video-list/{channel_id}/{new_video_id()}"
    assert (await client.put(missing, json={"title": "x"}, headers=admin)).status_code == 404

    assert (await client.delete(path, headers=learner)).status_code == 403
    r = await client.delete(path, headers=admin)
    assert r.json() == {"message": f"Video {vid} deleted successfully from channel {channel_id}"}
    assert (await client.delete(path, headers=admin)).json() == {"error": "Video not found"}
    assert (await client.get(f"/service/channel/{channel_id}")).json()["videos"] == [other]
    videos = (await client.get(f"/service/video-list/{channel_id}", headers=admin)).json()["videos"]
    assert [v["video_id"] for v in videos] == [other]
    # The same video can be uploaded again after its deletion.
    again = await upload(client, admin, [video_item(channel_id, vid)])
    assert again.json()["success_count"] == 1


async def test_batch_visibility_update(client: httpx.AsyncClient, admin: dict, learner: dict) -> None:
    channel_id = await make_channel(client, admin)
    videos = await upload_videos(client, admin, channel_id, 3, visibility="private")
    path = f"/service/{channel_id}/batch-visibility-update"
    assert (await client.put(path, json={"visibility": "public"}, headers=learner)).status_code == 403
    assert (await client.put(path, json={}, headers=admin)).status_code == 400
    assert (await client.put(path, json={"visibility": "public", "x": 1}, headers=admin)).status_code == 400
    r = await client.put(path, json={"visibility": "public"}, headers=admin)
    body = r.json()
    assert (body["channel_id"], body["new_visibility"], body["total_videos"], body["success_count"],
            body["error_count"]) == (channel_id, "public", 3, 3, 0)
    assert {res["video_id"] for res in body["results"]} == set(videos)
    listed = (await client.get(f"/service/video-list/{channel_id}", headers=learner)).json()["videos"]
    assert [v["video_id"] for v in listed] == videos
    empty = await make_channel(client, admin)
    r = await client.put(f"/service/{empty}/batch-visibility-update", json={"visibility": "public"}, headers=admin)
    assert r.status_code == 404 and r.json() == {"error": f"No videos found in channel {empty}"}


async def test_random_video_picks_public_videos_of_public_channels(
        client: httpx.AsyncClient, admin: dict, learner: dict) -> None:
    r = await client.get("/service/random-video", headers=learner)
    assert r.status_code == 404 and r.json() == {"error": "No public videos available for random selection"}
    assert (await client.get("/service/random-video")).status_code == 401

    public_channel = await make_channel(client, admin, language="ko")
    private_channel = await make_channel(client, admin, visibility="private")
    eligible = await upload_videos(client, admin, public_channel, 2)
    await upload_videos(client, admin, public_channel, 1, visibility="private")
    await upload_videos(client, admin, private_channel, 2)
    seen = set()
    for _ in range(30):
        body = (await client.get("/service/random-video", headers=learner)).json()
        assert body["total_available_videos"] == 2
        video = body["video"]
        assert set(video) == {"channel_id", "video_id", "video_title", "video_link", "channel_name",
                              "channel_image_url", "language"}
        assert video["channel_id"] == public_channel and video["language"] == "ko"
        seen.add(video["video_id"])
    assert seen == set(eligible)
    await client.delete(f"/service/video-list/{public_channel}/{eligible[0]}", headers=admin)
    assert (await client.get("/service/random-video", headers=learner)).json()["total_available_videos"] == 1


async def test_video_ids_are_the_mongo_ids(settings: Settings, client: httpx.AsyncClient, admin: dict,
                                           mongo_client: AsyncMongoClient) -> None:
    """Hot paths are `_id` lookups: "{channel}:{video}" for videos, the channel id for channels."""
    channel_id = await make_channel(client, admin)
    (vid,) = await upload_videos(client, admin, channel_id, 1)
    db = mongo_client[settings.mongo_db]
    assert await db.videos.find_one({"_id": f"{channel_id}:{vid}"}, {"_id": 1}) is not None
    assert await db.channels.find_one({"_id": channel_id}, {"_id": 1}) is not None
