"""Language identification for every stage: lingua's confidence values plus a script check.

    from capo_pipelines.data.langid import faithful, language_mismatch, normalize_language

    normalize_language("en-US")                                   # "en"
    detect_language("Guten Tag", ("en", "de", "ru"))               # "de"
    language_mismatch(["Richard Nixon"], ["fr"], ("en", "fr"))     # [False]: a name, Latin
    faithful(["siebenundvierzig", ""], ["fr", "de"], ("de", "fr")) # [False, False]

One module owns language identification; ingest, translation, the validate gate and the
evaluation's language fidelity all call it. Two rules, both built on the same pieces:

- the script check: a text's letters (and non-ASCII digits, e.g. Devanagari ४७) against the
  script its language is written in (``SCRIPTS``);
- lingua's confidence values over the configured languages: a text is *confidently another
  language* when some configured language other than its own gets >= ``CONFIDENT`` (0.9).
  Kanji-only text is written alike in Chinese and Japanese, so zh and ja never count
  against each other for it.

``language_mismatch`` (the validate gate) flags a text only when none of its letters are in
its language's script, or when it is neither short (< ``min_chars``) nor name-like
(``Richard Nixon``) and is confidently another language. ``faithful`` (language fidelity)
accepts an answer when it is non-empty, at least half of its letters are in the language's
script, and it is not confidently another language. benchmarks/RESULTS.md ("One language
identifier") has the measured false-rejection and wrong-language rates behind ``CONFIDENT``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache

import numpy as np
import pandas as pd
from lingua import IsoCode639_1, Language, LanguageDetector, LanguageDetectorBuilder

from capo_pipelines.data.scripts import SCRIPTS, in_script, is_name_like, primary, script_share

__all__ = [
    "CONFIDENT",
    "SCRIPTS",
    "build_detector",
    "confidences",
    "detect_language",
    "detect_languages",
    "faithful",
    "in_script",
    "is_name_like",
    "is_supported",
    "language_mismatch",
    "matches_language",
    "normalize_language",
    "other_confidence",
    "script_share",
]

CONFIDENT = 0.9  # lingua confidence at which a text counts as another configured language
_DETECT_CHARS = 200  # texts are identified from their start: enough for lingua, bounds cost
_BCP47 = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*$")
_HAN_LANGUAGES = frozenset({"zh", "ja"})


def normalize_language(code: str) -> str:
    """Return the lower-case primary subtag of a BCP-47 code ("zh-Hans" -> "zh").

    Raises ValueError when the code is malformed or lingua does not know the language.
    """
    if not isinstance(code, str) or not _BCP47.match(code.strip()):
        raise ValueError(f"not a BCP-47 language code: {code!r}")
    subtag = primary(code)
    if not is_supported(subtag):
        raise ValueError(f"unknown language code: {code!r}")
    return subtag


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


def confidences(texts: Sequence[str], languages: Iterable[str]) -> pd.DataFrame:
    """lingua's confidence per text (rows, in order) and configured language (columns).

    Rows sum to 1 over the languages lingua considers, or are all 0 for a text it cannot
    judge (digits, symbols). Identical texts are identified once.
    """
    codes = _key(languages)
    heads = [str(t)[:_DETECT_CHARS] for t in texts]
    unique = list(dict.fromkeys(heads))
    values = build_detector(codes).compute_language_confidence_values_in_parallel(unique)
    column = {Language.from_iso_code_639_1(_iso(code)): j for j, code in enumerate(codes)}
    table = np.zeros((len(unique), len(codes)))
    for i, found in enumerate(values):
        for value in found:
            j = column.get(value.language)  # the padding language of a 1-set is dropped
            if j is not None:
                table[i, j] = value.value
    row = {text: i for i, text in enumerate(unique)}
    return pd.DataFrame(table[[row[h] for h in heads]], columns=list(codes))


def _han_only(text: str) -> bool:
    return script_share(text, "zh") == 1.0


def other_confidence(
    texts: Sequence[str], codes: Sequence[str], languages: Iterable[str]
) -> np.ndarray:
    """Per text: the highest confidence of a configured language other than its own.

    For kanji-only text (no kana) zh and ja are one language.
    """
    table = confidences(texts, languages)
    columns = table.columns.to_numpy()
    own = columns[None, :] == np.array([primary(c) for c in codes], dtype=object)[:, None]
    han = [
        i
        for i, (t, c) in enumerate(zip(texts, codes, strict=True))
        if primary(c) in _HAN_LANGUAGES and _han_only(str(t))
    ]
    if han:
        own[np.ix_(han, np.flatnonzero(np.isin(columns, list(_HAN_LANGUAGES))))] = True
    others = np.where(own, 0.0, table.to_numpy())
    return others.max(axis=1) if others.size else np.zeros(len(texts))


def _configured(codes: Sequence[str], languages: Iterable[str]) -> np.ndarray:
    allowed = {primary(c) for c in languages}
    return np.array([primary(c) in allowed for c in codes], dtype=bool)


def language_mismatch(
    texts: Sequence[str],
    codes: Sequence[str],
    languages: Sequence[str],
    *,
    min_chars: int = 12,
    confidence: float = CONFIDENT,
) -> np.ndarray:
    """The validate gate's rule, per text: True where ``texts[i]`` is not in ``codes[i]``.

    Flagged: letters none of which are in the language's script, or a text of at least
    ``min_chars`` characters that is not name-like and that lingua gives another configured
    language with >= ``confidence``. Rows whose language is not configured are never
    flagged here (the language-set expectation owns them).
    """
    texts, codes = [str(t) for t in texts], [str(c) for c in codes]
    bad = np.zeros(len(texts), dtype=bool)
    for i in np.flatnonzero(_configured(codes, languages)):
        bad[i] = script_share(texts[i], codes[i]) == 0.0
    judge = [
        i
        for i in np.flatnonzero(_configured(codes, languages) & ~bad)
        if len(texts[i]) >= min_chars and not is_name_like(texts[i])
    ]
    pool = sorted({primary(c) for c in languages if is_supported(primary(c))})
    if judge and len(pool) > 1:
        other = other_confidence([texts[i] for i in judge], [codes[i] for i in judge], pool)
        bad[judge] = other >= confidence
    return bad


def faithful(
    texts: Sequence[str],
    codes: Sequence[str],
    languages: Iterable[str],
    *,
    confidence: float = CONFIDENT,
) -> np.ndarray:
    """Language fidelity, per text: non-empty, at least half its letters in the script of
    ``codes[i]`` (a language without a SCRIPTS entry passes this part), and no other
    configured language at >= ``confidence``. Texts with no letters at all ("47", "?")
    are in no script and are not faithful; kanji-only text fits both zh and ja.
    """
    texts, codes = [str(t).strip() for t in texts], [str(c) for c in codes]
    pool = sorted({primary(c) for c in [*languages, *codes] if is_supported(primary(c))})
    ok = np.array(
        [bool(t) and in_script(t, c) for t, c in zip(texts, codes, strict=True)], dtype=bool
    )
    judge = np.flatnonzero(ok)
    if judge.size and len(pool) > 1:
        other = other_confidence([texts[i] for i in judge], [codes[i] for i in judge], pool)
        ok[judge] = other < confidence
    return ok


def matches_language(
    text: str, expected: str, languages: Iterable[str], detected: str | None = None
) -> bool:
    """``faithful`` for one text: ``text`` is in ``expected`` (among ``languages``).

    ``detected`` (a detect_languages result) short-cuts the common case: when lingua's top
    language already is ``expected`` no other language can reach CONFIDENT.
    """
    expected = normalize_language(expected)
    if detected == expected and text.strip() and in_script(text.strip(), expected):
        return True
    return bool(faithful([text], [expected], [*languages, expected])[0])
