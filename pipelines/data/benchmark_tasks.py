"""Task families of the built-in benchmark: items with a verifiable gold answer per language.

Answers come from real multilingual resources shipped in PyPI packages: num2words (number
words), Unicode CLDR via Babel (weekday, month, country and language names) and the Unicode
character database (Devanagari digits). num2words has no Hindi or Chinese: Hindi asks for the
number in Devanagari digits (४७), Chinese for Chinese numerals (四十七, 一百零五), both
compositional like number words, so a held-out number is derivable from trained ones.
"""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from babel import Locale
from num2words import CONVERTER_CLASSES, num2words

from capo_pipelines.data.benchmark_prompts import COUNTRY_CODES, LANGUAGE_CODES, PROMPTS

__all__ = [
    "COMPOSITIONAL",
    "TASKS",
    "Item",
    "build_items",
    "chinese_numeral",
    "devanagari_digits",
    "misspell",
    "number_answer",
]

TASKS = tuple(PROMPTS)
# Compositional families: a held-out key is derivable from trained keys (docs/design.md §3).
COMPOSITIONAL = frozenset({"number_words"})
# Name answers (CLDR) stay short; number words are as long as the language makes them.
_MAX_NAME_WORDS = 3
_MAX_ANSWER_CHARS = 48
_ZH_DIGITS = "零一二三四五六七八九"
_ZH_UNITS = ((1000, "千"), (100, "百"), (10, "十"))


@dataclass(frozen=True)
class Item:
    """One question of a task family, asked in every language that can answer it."""

    task: str
    key: str  # language-independent identity of the question, e.g. "37" or "FR"
    prompts: dict[str, str] = field(default_factory=dict)  # language -> prompt
    golds: dict[str, str] = field(default_factory=dict)  # language -> gold answer


def _short(task: str, answer: str) -> bool:
    words = len(answer.split())
    return len(answer) <= _MAX_ANSWER_CHARS and (task in COMPOSITIONAL or words <= _MAX_NAME_WORDS)


def chinese_numeral(n: int) -> str:
    """Chinese numerals of 0 <= n < 10000: 四十七, 十二, 一百零五, 一千零五十."""
    if not 0 <= n < 10000:
        raise ValueError(f"chinese_numeral: {n} not in [0, 10000)")
    if n < 20:  # 十, 十一 ... 十九: the leading 一 is dropped below twenty
        return _ZH_DIGITS[n] if n < 10 else "十" + (_ZH_DIGITS[n - 10] if n > 10 else "")
    parts, gap = [], False
    for value, unit in _ZH_UNITS:
        digit = n // value % 10
        if digit:
            parts += ["零"] * (gap and bool(parts)) + [_ZH_DIGITS[digit] + unit]
            gap = False
        else:
            gap = bool(parts)
    if n % 10:
        parts += ["零"] * gap + [_ZH_DIGITS[n % 10]]
    return "".join(parts)


def devanagari_digits(n: int) -> str:
    """``n`` in Devanagari digits (४७), from the Unicode character database."""
    names = ("ZERO", "ONE", "TWO", "THREE", "FOUR", "FIVE", "SIX", "SEVEN", "EIGHT", "NINE")
    return "".join(unicodedata.lookup(f"DEVANAGARI DIGIT {names[int(d)]}") for d in str(n))


def number_answer(n: int, lang: str) -> str | None:
    """The gold answer of "write n" in ``lang``, or None when no resource has it."""
    if lang == "zh":
        return chinese_numeral(n)
    if lang == "hi":
        return devanagari_digits(n)
    return num2words(n, lang=lang) if lang in CONVERTER_CLASSES else None


def _cyclic(names: Callable[[Locale], list[str]], step: int) -> Callable[..., list[tuple]]:
    """Queries and golds for "the one after/before" over a cyclic list of CLDR names."""

    def pairs(locale: Locale, _max_number: int) -> list[tuple[str, str, str]]:
        seq = names(locale)
        return [(str(i), seq[i], seq[(i + step) % len(seq)]) for i in range(len(seq))]

    return pairs


def _days(locale: Locale) -> list[str]:
    wide = locale.days["stand-alone"]["wide"]
    return [wide[i] for i in range(7)]  # CLDR index 0 is Monday


def _months(locale: Locale) -> list[str]:
    wide = locale.months["stand-alone"]["wide"]
    return [wide[i] for i in range(1, 13)]


def _numbers(locale: Locale, max_number: int) -> list[tuple[str, str, str]]:
    answers = ((n, number_answer(n, locale.language)) for n in range(max_number + 1))
    return [(str(n), str(n), gold) for n, gold in answers if gold is not None]


def _countries(locale: Locale, _max_number: int) -> list[tuple[str, str, str]]:
    return [(c, c, locale.territories[c]) for c in COUNTRY_CODES if c in locale.territories]


def _languages(locale: Locale, _max_number: int) -> list[tuple[str, str, str]]:
    return [(c, c, locale.languages[c]) for c in LANGUAGE_CODES if c in locale.languages]


# task -> function(locale, max_number) -> [(key, query shown in the prompt, gold)]
_QUERIES: dict[str, Callable[[Locale, int], list[tuple[str, str, str]]]] = {
    "number_words": _numbers,
    "weekday_next": _cyclic(_days, +1),
    "weekday_prev": _cyclic(_days, -1),
    "month_next": _cyclic(_months, +1),
    "month_prev": _cyclic(_months, -1),
    "country_name": _countries,
    "language_name": _languages,
}


def build_items(tasks: Sequence[str], languages: Sequence[str], max_number: int) -> list[Item]:
    """All questions of ``tasks`` with their prompts and golds in ``languages``, in a fixed order.

    A language is left out of an item when its resource lacks it or its answer is too long
    (CLDR names over three words, any answer over 48 characters).
    """
    items: dict[tuple[str, str], Item] = {}
    for task in tasks:
        for lang in languages:
            template = PROMPTS[task].get(lang)
            if template is None:
                continue
            for key, query, gold in _QUERIES[task](Locale.parse(lang), max_number):
                if not _short(task, gold):
                    continue
                item = items.setdefault((task, key), Item(task, key))
                item.prompts[lang] = template.format(x=query)
                item.golds[lang] = gold
    return list(items.values())


def misspell(text: str, rng: random.Random) -> str | None:
    """A near-miss spelling of ``text``: two adjacent letters swapped or one letter dropped.

    Returns None when the text has fewer than three letters or no edit changes it.
    """
    spots = [i for i in range(len(text) - 1) if text[i].isalpha() and text[i + 1].isalpha()]
    if sum(ch.isalpha() for ch in text) < 3 or not spots:
        return None
    for _ in range(8):
        i = rng.choice(spots)
        if rng.random() < 0.5:
            out = text[:i] + text[i + 1] + text[i] + text[i + 2 :]
        else:
            out = text[:i] + text[i + 1 :]
        if out != text:
            return out
    return None
