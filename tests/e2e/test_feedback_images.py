"""Feedback images as the browser shows them: the thread through the gateway carries links, and an
`<img>` loads each through the gateway without any token."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from e2e_helpers import bearer, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 512


def test_a_learners_feedback_image_loads_through_the_gateway_without_a_token(whole_system: Any) -> None:
    with httpx.Client(base_url=whole_system.gateway, timeout=15) as gateway:
        learner = sign_in(gateway, whole_system, "feedback-images@e2e.test", "Pictures")
        sent = gateway.post("/user/feedback", data={"message": "The subtitles drift"},
                            files=[("images", ("drift.png", PNG, "image/png"))], headers=bearer(learner["access"]))
        assert sent.status_code == 200, sent.text
        thread = gateway.get("/user/feedback", headers=bearer(learner["access"])).json()
    link = thread[-1]["images"][0].replace("//localhost:", "//127.0.0.1:")
    assert link.startswith(whole_system.gateway + "/user/feedback/images/")
    shown = httpx.get(link, timeout=10)  # no Authorization, as an <img>
    assert shown.status_code == 200 and shown.content == PNG and shown.headers["content-type"] == "image/png"
    assert shown.headers["x-content-type-options"] == "nosniff"
    assert httpx.get(link[:-4] + "0000", timeout=10).status_code == 403
