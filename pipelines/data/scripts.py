"""Writing systems of languages: script checks and name-like texts, no statistics.

script_share("४७", "hi")          # 1.0: Devanagari digits are Devanagari
script_share("Paris", "hi")       # 0.0
in_script("CDプレーヤー", "ja")     # True: at least half of the letters
is_name_like("Edwin Hubble")      # True
"""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = ["SCRIPTS", "in_script", "is_name_like", "primary", "script_share"]

_DETECT_CHARS = 200  # a script is judged from a text's start, like lingua's identification

_LATIN = "A-Za-z\u00c0-\u024f\u1e00-\u1eff"
_CYRILLIC = "\u0400-\u052f"
_DEVANAGARI = "\u0900-\u097f\ua8e0-\ua8ff"
_ARABIC = "\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff\ufb50-\ufdff\ufe70-\ufeff"
_HAN = "\u3005-\u3007\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_KANA = "\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9f"
_HANGUL = "\uac00-\ud7af\u1100-\u11ff"
# Characters a language is written in (primary subtag -> character class body).
SCRIPTS: dict[str, str] = {
    **dict.fromkeys(("en", "de", "es", "fr", "it", "pt", "nl", "sv", "da", "pl", "cs"), _LATIN),
    **dict.fromkeys(("tr", "vi", "id", "ro", "hu", "fi", "sw"), _LATIN),
    **dict.fromkeys(("ru", "uk", "bg", "sr", "kk"), _CYRILLIC),
    **dict.fromkeys(("hi", "mr", "ne"), _DEVANAGARI),
    **dict.fromkeys(("ar", "fa", "ur"), _ARABIC),
    "el": "\u0370-\u03ff\u1f00-\u1fff",
    "he": "\u0590-\u05ff",
    "zh": _HAN,
    "ja": _HAN + _KANA,
    "ko": _HANGUL + _HAN,
}
# Letters and non-ASCII digits (४, ٤): what a script check counts; ASCII digits are neutral.
_LETTER = r"[^\W_0-9]"
_SCRIPT_CHAR = re.compile(_LETTER)
# Counted letters in the script (the lookahead leaves out punctuation such as ؟ and ।).
_IN_SCRIPT = {code: re.compile(f"(?={_LETTER})[{body}]") for code, body in SCRIPTS.items()}
# Lower-case words allowed inside a name ("Leonardo da Vinci", "Ludwig van Beethoven").
_PARTICLES = frozenset(
    {"al", "bin", "da", "de", "del", "der", "di", "dos", "du", "el", "ibn", "la", "le", "van"}
    | {"von", "y"}
)
_STRIP = "\"'“”«»()[]¿¡.,;:!?"


@lru_cache(maxsize=1024)
def primary(code: object) -> str:
    """The lower-case primary subtag of a language code ("zh-Hans" -> "zh"), never raising."""
    return re.split(r"[-_]", str(code).strip())[0].lower()


def script_share(text: str, code: str) -> float | None:
    """Share of the letters (and non-ASCII digits) of ``text`` in ``code``'s script.

    None when the text has none (digits, symbols) or the language has no entry in SCRIPTS.
    """
    pattern = _IN_SCRIPT.get(primary(code))
    letters = _SCRIPT_CHAR.findall(str(text)[:_DETECT_CHARS])
    if pattern is None or not letters:
        return None
    return len(pattern.findall(str(text)[:_DETECT_CHARS])) / len(letters)


def in_script(text: str, code: str) -> bool:
    """At least half of the letters of ``text`` are in ``code``'s script.

    A text without letters ("47", "?") is in no script; a language without a SCRIPTS entry
    is not checked (True for any text with letters).
    """
    share = script_share(text, code)
    if share is None:
        return primary(code) not in SCRIPTS and bool(_SCRIPT_CHAR.search(str(text)))
    return share >= 0.5


def is_name_like(text: str) -> bool:
    """One to four words, capitalised except name particles: ``Edwin Hubble``, ``Max.``."""
    words = [w.strip(_STRIP) for w in str(text).split()]
    words = [w for w in words if w]
    if not 1 <= len(words) <= 4 or not (words[0][:1].isupper() and words[-1][:1].isupper()):
        return False
    return all(w[:1].isupper() or w.lower() in _PARTICLES for w in words)
