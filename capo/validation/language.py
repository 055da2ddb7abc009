"""Language identification for the validate stage: lingua on long texts, a script check on short.

This module is the validate stage's only use of a language detector, kept behind
``language_mismatch`` so it can later share one detector with the ingest stage.

Why two rules: statistical identification is unreliable on one-to-three-word answers
("fünf", "März", "三月" is Japanese *and* Chinese), so texts with fewer than ``min_chars``
characters are only checked for script: a short Hindi answer written in Latin letters
fails, a short German answer that could be Dutch passes. Longer texts must be
identified (lingua, restricted to the configured languages) as the row's language;
a text lingua cannot decide on (digits, symbols) passes, and so does kanji-only Japanese
that lingua calls Chinese.

Measured false-rejection rate on 400 real short answers (Babel CLDR month and day names,
num2words 1-31, nine languages; 1-16 characters): 5.0% when every text goes to lingua
(English "one", "six"; German "Mai", "August"; Spanish "once"; French "onze"; and, before
the kanji rule, all 50 Japanese answers), 3.7% at min_chars 4, 0.7% at 8, 0% at 12 (the
default) and above. tests/test_validate.py keeps that measurement.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import pandas as pd
from lingua import IsoCode639_1, Language, LanguageDetector, LanguageDetectorBuilder

__all__ = ["SCRIPTS", "language_mismatch", "lingua_language"]

# Long texts are identified from their start: enough for lingua, and bounds the cost.
_DETECT_CHARS = 200

_LATIN = "A-Za-z\u00c0-\u024f\u1e00-\u1eff"
_CYRILLIC = "\u0400-\u052f"
_DEVANAGARI = "\u0900-\u097f\ua8e0-\ua8ff"
_ARABIC = "\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff\ufb50-\ufdff\ufe70-\ufeff"
_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_KANA = "\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9f"
_HANGUL = "\uac00-\ud7af\u1100-\u11ff"

# Letters a language is written in (primary BCP-47 subtag -> character class body).
SCRIPTS: dict[str, str] = {
    **dict.fromkeys(("en", "de", "es", "fr", "it", "pt", "nl", "sv", "da", "pl", "cs"), _LATIN),
    **dict.fromkeys(("tr", "vi", "id", "ro", "hu", "fi", "sw"), _LATIN),
    **dict.fromkeys(("ru", "uk", "bg", "sr", "kk"), _CYRILLIC),
    **dict.fromkeys(("hi", "mr", "ne"), _DEVANAGARI),
    **dict.fromkeys(("ar", "fa", "ur"), _ARABIC),
    "zh": _HAN,
    "ja": _HAN + _KANA,
    "ko": _HANGUL + _HAN,
}
_LETTER = re.compile(r"[^\W\d_]")
# (expected, detected) pairs that are not mismatches: Japanese written in kanji only
# ("二千二十一年十二月") is indistinguishable from Chinese.
_ACCEPTED_CONFUSIONS = {("ja", "zh")}


def _primary(code: str) -> str:
    return str(code).split("-")[0].split("_")[0].lower()


def lingua_language(code: str) -> Language | None:
    """The lingua Language of a BCP-47 code (its primary subtag), or None if lingua lacks it."""
    try:
        return Language.from_iso_code_639_1(getattr(IsoCode639_1, _primary(code).upper()))
    except (AttributeError, ValueError):
        return None


@lru_cache(maxsize=4)
def _detector(codes: tuple[str, ...]) -> LanguageDetector | None:
    languages = {lang for lang in map(lingua_language, codes) if lang is not None}
    if len(languages) < 2:
        return None  # lingua needs two candidates; one language leaves nothing to decide
    return (
        LanguageDetectorBuilder.from_languages(*languages).with_preloaded_language_models().build()
    )


def _script_mismatch(texts: pd.Series, codes: pd.Series) -> np.ndarray:
    """True where a text has letters but none in its language's script."""
    bad = np.zeros(len(texts), dtype=bool)
    has_letter = texts.str.contains(_LETTER).to_numpy(dtype=bool)
    for code, rows in codes.groupby(codes.map(_primary)).groups.items():
        if code in SCRIPTS:
            pos = texts.index.get_indexer(rows)
            in_script = texts.iloc[pos].str.contains(f"[{SCRIPTS[code]}]").to_numpy(dtype=bool)
            bad[pos] = has_letter[pos] & ~in_script
    return bad


def _lingua_mismatch(texts: pd.Series, codes: pd.Series, allowed: tuple[str, ...]) -> np.ndarray:
    """True where lingua identifies a text as another of the allowed languages."""
    detector = _detector(allowed)
    if detector is None or texts.empty:
        return np.zeros(len(texts), dtype=bool)
    heads = texts.str.slice(0, _DETECT_CHARS)
    unique = pd.unique(heads)
    found = dict(zip(unique, detector.detect_languages_in_parallel_of(list(unique)), strict=True))
    detected = heads.map(found)
    expected = codes.map(lingua_language)
    bad = detected.notna() & expected.notna() & (detected != expected)
    for want, got in _ACCEPTED_CONFUSIONS:
        bad &= ~((codes.map(_primary) == want) & (detected == lingua_language(got)))
    return bad.to_numpy(dtype=bool)


def language_mismatch(
    texts: pd.Series, codes: pd.Series, allowed: Sequence[str], min_chars: int
) -> np.ndarray:
    """Boolean mask: True where ``texts[i]`` is not recognisably in language ``codes[i]``.

    Rows whose language is not in ``allowed`` are never flagged here (the language-set
    expectation owns them). Texts shorter than ``min_chars`` get the script check only.
    """
    texts = texts.astype(str)
    bad = np.zeros(len(texts), dtype=bool)
    in_allowed = codes.isin(list(allowed)).to_numpy(dtype=bool)
    long = (texts.str.len() >= min_chars).to_numpy(dtype=bool)
    short_rows, long_rows = in_allowed & ~long, in_allowed & long
    bad[short_rows] = _script_mismatch(texts[short_rows], codes[short_rows])
    bad[long_rows] = _lingua_mismatch(texts[long_rows], codes[long_rows], tuple(allowed))
    return bad
