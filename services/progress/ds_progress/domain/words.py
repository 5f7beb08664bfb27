"""Missed words: grouped by script, de-duplicated, bounded per learner.

A word's language is decided by its first character's code point (a Japanese word that starts
with a kanji lands under zh, as in the legacy app). De-duplication is exact and per language;
removing a word removes it from every language.
"""

from __future__ import annotations

from typing import Any

from ds_progress.domain.errors import TooManyWords

LANGUAGES = ("zh", "ja", "ko", "en", "other")
MAX_WORDS_PER_USER = 5000


def word_language(word: str) -> str:
    if not word:
        return "other"
    cp = ord(word[0])
    if 0x4E00 <= cp <= 0x9FFF:
        return "zh"
    if 0x3040 <= cp <= 0x30FF:
        return "ja"
    if 0xAC00 <= cp <= 0xD7A3:
        return "ko"
    if 0x20 <= cp <= 0xFF:
        return "en"
    return "other"


def group_words(words: list[str]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for word in words:
        bucket = grouped.setdefault(word_language(word), [])
        if word not in bucket:
            bucket.append(word)
    return grouped


def flatten(words: dict[str, list[str]]) -> list[str]:
    return [w for lang in LANGUAGES for w in words.get(lang, [])]


def with_words(stored: dict[str, list[str]], words: list[str]) -> dict[str, list[str]]:
    """The learner's words after adding `words`; TooManyWords past the bound."""
    merged = {lang: list(ws) for lang, ws in stored.items()}
    for lang, ws in group_words(words).items():
        bucket = merged.setdefault(lang, [])
        known = set(bucket)
        bucket += [w for w in ws if w not in known]
    if len(flatten(merged)) > MAX_WORDS_PER_USER:
        raise TooManyWords(f"Too many missed words: at most {MAX_WORDS_PER_USER} are kept")
    return merged


def without_words(stored: dict[str, list[str]], words: list[str]) -> dict[str, list[str]]:
    """The learner's words after removing `words` from every language; empty languages dropped."""
    gone = set(words)
    kept = {lang: [w for w in ws if w not in gone] for lang, ws in stored.items()}
    return {lang: ws for lang, ws in kept.items() if ws}


def words_view(stored: dict[str, list[str]] | None, message: str | None = None) -> dict[str, Any]:
    """The legacy answer: the flat list and the per-language one (non-empty languages, in order)."""
    structured = {lang: list((stored or {})[lang]) for lang in LANGUAGES if (stored or {}).get(lang)}
    body: dict[str, Any] = {"missed_words": flatten(structured), "structured_missed_words": structured}
    return {"message": message, **body} if message else body
