"""Language identification with lingua, restricted to the configured languages.

    from capo.data.langid import detect_language, matches_language, normalize_language

    normalize_language("en-US")                      # "en"
    detect_language("Guten Tag", ("en", "de", "ru"))  # "de"
    matches_language("火曜日", "ja", ("zh", "ja"))     # True: Han-only text fits zh and ja

A detector is built once per language set (lru-cached) and holds only those languages'
models, so it stays small and fast. Codes are BCP-47; only the primary subtag is used.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from functools import lru_cache

from lingua import IsoCode639_1, Language, LanguageDetector, LanguageDetectorBuilder

__all__ = [
    "build_detector",
    "detect_language",
    "detect_languages",
    "is_supported",
    "matches_language",
    "normalize_language",
]

_BCP47 = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*$")
# Kanji-only text (no kana) is written the same way in Chinese and Japanese.
_HAN_LANGUAGES = frozenset({"zh", "ja"})


def normalize_language(code: str) -> str:
    """Return the lower-case primary subtag of a BCP-47 code ("zh-Hans" -> "zh").

    Raises ValueError when the code is malformed or lingua does not know the language.
    """
    if not isinstance(code, str) or not _BCP47.match(code.strip()):
        raise ValueError(f"not a BCP-47 language code: {code!r}")
    primary = re.split(r"[-_]", code.strip())[0].lower()
    if not is_supported(primary):
        raise ValueError(f"unknown language code: {code!r}")
    return primary


def is_supported(code: str) -> bool:
    """True when ``code`` is a two-letter ISO 639-1 code that lingua can identify."""
    return _iso(code) is not None


def _iso(code: str) -> IsoCode639_1 | None:
    try:
        return IsoCode639_1.from_str(code.lower())
    except (ValueError, AttributeError):
        return None


@lru_cache(maxsize=16)
def build_detector(languages: tuple[str, ...]) -> LanguageDetector:
    """A lingua detector for exactly these languages (cached per sorted, normalised tuple)."""
    codes = sorted({normalize_language(c) for c in languages})
    if not codes:
        raise ValueError("build_detector: no languages given")
    if len(codes) == 1:  # lingua needs two candidates; English is the neutral second
        codes.append("en" if codes[0] != "en" else "de")
    isos = [_iso(c) for c in codes]
    return LanguageDetectorBuilder.from_iso_codes_639_1(*isos).build()


def _key(languages: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted({normalize_language(c) for c in languages}))


def _code(language: Language | None) -> str | None:
    return None if language is None else language.iso_code_639_1.name.lower()


def detect_language(text: str, languages: Iterable[str]) -> str | None:
    """The most likely language of ``text`` among ``languages``, or None when unclear."""
    return _code(build_detector(_key(languages)).detect_language_of(text))


def detect_languages(texts: Sequence[str], languages: Iterable[str]) -> list[str | None]:
    """Batch form of detect_language (lingua runs it in parallel)."""
    if not texts:
        return []
    found = build_detector(_key(languages)).detect_languages_in_parallel_of(list(texts))
    return [_code(lang) for lang in found]


def _han_only(text: str) -> bool:
    letters = [ch for ch in text if ch.isalpha()]
    return bool(letters) and all("CJK" in unicodedata.name(ch, "") for ch in letters)


def matches_language(
    text: str, expected: str, languages: Iterable[str], detected: str | None = None
) -> bool:
    """True when ``text`` is identified as ``expected`` (among ``languages``).

    Kanji-only text counts as both Chinese and Japanese, because lingua tells them apart
    only by kana. Pass ``detected`` to reuse a batch result from detect_languages.
    """
    expected = normalize_language(expected)
    pool = set(_key(languages)) | {expected}
    found = detect_language(text, pool) if detected is None else detected
    if found == expected:
        return True
    return expected in _HAN_LANGUAGES and found in _HAN_LANGUAGES and _han_only(text)
