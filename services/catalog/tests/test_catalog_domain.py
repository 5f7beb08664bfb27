"""SRT parsing (the legacy rules, strict on unreadable input) and YouTube ids from links."""

import pytest
from ds_catalog.domain import srt
from ds_catalog.domain.youtube import video_id_from_link


def test_srt_times_text_and_short_blocks_follow_the_legacy_rules() -> None:
    text = ("\ufeff1\r\n00:00:01,234 --> 00:00:03,005\r\nHello   there,\r\n  world\r\n\r\n"
            "2\r\n00:00:04,000 --> 00:00:05,000\r\n\r\n\r\n"  # fewer than 3 lines: skipped
            "3\r\n01:02:03.5 --> 01:02:04,999\r\nLast line\r\n")
    cues = srt.parse(srt.decode(text.encode()))
    assert [c.as_dict() for c in cues] == [
        {"start": 1.23, "end": 3.0, "transcript": "Hello there, world"},
        {"start": 3723.5, "end": 3725.0, "transcript": "Last line"},
    ]


@pytest.mark.parametrize(("content", "message"), [
    ("1\nnot a timing line\nText\n", "block 1 has no valid timing line"),
    ("1\n00:00:05,000 --> 00:00:01,000\nBackwards\n", "block 1 ends before it starts"),
    ("", "no subtitle found"),
    ("just some words\nwithout structure", "no subtitle found"),
    ("1\n00:00:01,000 --> 00:00:02,000\nA\x00B\n", "the file is not text"),
])
def test_unreadable_srt_is_an_error(content: str, message: str) -> None:
    with pytest.raises(srt.SrtError, match=message):
        srt.parse(content)


def test_non_utf8_bytes_are_refused() -> None:
    with pytest.raises(srt.SrtError, match="UTF-8"):
        srt.decode(b"1\n00:00:01,000 --> 00:00:02,000\n\xff\xfe caf\xe9\n")


@pytest.mark.parametrize(("link", "expected"), [
    ("https://www.youtube.com/watch?v=dQw4w9WgXcQ", "dQw4w9WgXcQ"),
    ("https://youtube.com/watch?feature=share&v=dQw4w9WgXcQ&t=42", "dQw4w9WgXcQ"),
    ("https://m.youtube.com/watch?v=dQw4w9WgXcQ", "dQw4w9WgXcQ"),
    ("https://youtu.be/dQw4w9WgXcQ?si=abc", "dQw4w9WgXcQ"),
    ("https://www.youtube.com/embed/dQw4w9WgXcQ", "dQw4w9WgXcQ"),
    ("https://www.youtube.com/shorts/dQw4w9WgXcQ", "dQw4w9WgXcQ"),
    ("https://www.youtube.com/live/dQw4w9WgXcQ?feature=shared", "dQw4w9WgXcQ"),
    ("https://example.com/watch?v=dQw4w9WgXcQ", None),
    ("https://www.youtube.com/watch?v=bad:id", None),
    ("https://www.youtube.com/channel/UC123", None),
    ("not a link", None),
    ("http://[::1", None),
])
def test_video_ids_come_from_youtube_links_only(link: str, expected: str | None) -> None:
    assert video_id_from_link(link) == expected
