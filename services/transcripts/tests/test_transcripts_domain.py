"""Domain rules without I/O: SRT parsing, filters, track choice, subtitle parsing, URLs, access."""

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from ds_common.events.contracts import paid_until
from ds_transcripts.adapters.ytdlp import parse_json3, parse_vtt
from ds_transcripts.domain.access import registered_until
from ds_transcripts.domain.filters import apply_filters
from ds_transcripts.domain.language import choose_track, subtitle_preferences
from ds_transcripts.domain.srt import parse_srt
from ds_transcripts.domain.youtube_url import video_id_from_url
from transcripts_helpers import FIXTURES

SRT = """\ufeff1
00:00:01,000 --> 00:00:03,456
Hello   there,
second line

2
00:00:04,000 --> 00:00:05,5
only two lines

3
bad timing --> nope
text

4
01:02:03,004 --> 01:02:04,999
  last   one\t
"""


def test_srt_follows_the_legacy_rules() -> None:
    assert parse_srt(SRT) == [
        {"start": 1.0, "end": 3.46, "transcript": "Hello there, second line"},
        {"start": 4.0, "end": 5.5, "transcript": "only two lines"},
        {"start": 3723.0, "end": 3725.0, "transcript": "last one"},
    ]
    assert parse_srt("1\n00:00:01,000 --> 00:00:02,000\n") == []  # fewer than 3 lines: skipped
    assert parse_srt("") == []


def line(start: float, end: float, text: str) -> dict:
    return {"start": start, "end": end, "transcript": text}


def test_filters_remove_literals_case_insensitively_and_count() -> None:
    result = apply_filters([line(0, 1, "[Music] Hello [MUSIC] world"), line(1, 2, "a.b (laughs)")],
                           ["[music]", "(laughs)", "a.b", "(laughs)"])
    assert [x["transcript"] for x in result.lines] == ["Hello world"]
    assert result.stats == {"[music]": 2, "(laughs)": 1, "a.b": 1} and result.total_changes == 4


def test_emptied_lines_extend_the_previous_one_or_pull_the_next_one_earlier() -> None:
    lines = [line(0, 1, "[Music]"), line(1, 2, "[Music]"), line(2, 3, "one"), line(3, 4, "[Music]"),
             line(4, 5, "two"), line(5, 6.5, "[Music]")]
    result = apply_filters(lines, ["[Music]"])
    assert result.lines == [line(0, 4, "one"), line(4, 6.5, "two")]


def track(code: str, generated: bool) -> SimpleNamespace:
    return SimpleNamespace(language_code=code, is_generated=generated)


def test_track_choice_is_the_legacy_rule() -> None:
    manual_de, manual_en_gb, auto_en_gb, auto_en = (track("de", False), track("en-GB", False),
                                                     track("en-GB", True), track("en", True))
    # the first listed code starting with "en"; within it manual beats generated
    assert choose_track([manual_de, auto_en_gb, manual_en_gb, auto_en]) is manual_en_gb
    assert choose_track([manual_de, auto_en]) is auto_en
    assert choose_track([manual_de, track("fr", True)]) is manual_de  # no English: first track
    assert choose_track([]) is None
    assert choose_track([manual_de, auto_en], "de") is manual_de  # generalised to the video's language
    assert subtitle_preferences("en") == ["en", "en-.*"]
    assert subtitle_preferences("ja") == ["ja", "ja-.*", "en", "en-.*"]


def test_recorded_subtitle_files_parse() -> None:
    json3 = parse_json3((FIXTURES / "ytdlp" / "fallbackJs3.en.json3").read_bytes())
    assert [x["transcript"] for x in json3] == ["welcome back to the channel", "today we practise listening",
                                                "[Music]"]
    assert json3[0] == line(0.16, 4.24, "welcome back to the channel")
    vtt = parse_vtt((FIXTURES / "ytdlp" / "fallbackVtt.en.vtt").read_bytes())
    assert vtt == [line(0.16, 2.51, "good morning everyone"), line(2.52, 4.23, "let's start with numbers"),
                   line(4.24, 6.0, "one two three")]


def test_video_ids_from_urls() -> None:
    for url in ("https://www.youtube.com/watch?v=GJLlxj_dtq8&t=1", "https://youtu.be/GJLlxj_dtq8",
                "https://m.youtube.com/shorts/GJLlxj_dtq8", "https://www.youtube.com/embed/GJLlxj_dtq8"):
        assert video_id_from_url(url) == "GJLlxj_dtq8", url
    for url in ("https://evil.com/watch?v=GJLlxj_dtq8", "GJLlxj_dtq8", "https://www.youtube.com/watch?v=short",
                "javascript:alert(1)", "https://www.youtube.com/"):
        assert video_id_from_url(url) is None, url


def test_paid_and_registered_are_judged_at_read_time() -> None:
    now = datetime(2026, 3, 1, tzinfo=UTC)
    assert paid_until({"plan": "Pro", "status": "active", "expires_at": now + timedelta(days=1)}, now)
    assert paid_until({"plan": "Pro", "status": "cancelled", "expires_at": now + timedelta(days=1)}, now)
    assert paid_until({"plan": "Pro", "status": "active", "expires_at": now - timedelta(seconds=1)}, now) is None
    assert paid_until({"plan": "Premium", "status": "expired", "expires_at": None}, now) is None
    assert paid_until({"plan": "Free", "status": "active"}, now) is None
    assert paid_until({"plan": "Basic", "status": "active", "expires_at": None}, now) is not None
    assert paid_until(None, now) is None
    assert registered_until({"cycle_end": now + timedelta(days=3)}, now) == now + timedelta(days=3)
    assert registered_until({"cycle_end": now}, now) is None
    assert registered_until(None, now) is None
