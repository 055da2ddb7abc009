"""Task families of the built-in benchmark: items with a verifiable gold answer per language.

Answers come from real multilingual resources shipped in PyPI packages: Unicode CLDR via
Babel (weekday, month, country and language names) and num2words (number words).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from babel import Locale
from num2words import CONVERTER_CLASSES, num2words

from capo.data.benchmark_prompts import COUNTRY_CODES, LANGUAGE_CODES, PROMPTS

__all__ = ["TASKS", "Item", "build_items", "misspell"]

TASKS = tuple(PROMPTS)
_MAX_ANSWER_WORDS = 3
_MAX_ANSWER_CHARS = 24


@dataclass(frozen=True)
class Item:
    """One question of a task family, asked in every language that can answer it."""

    task: str
    key: str  # language-independent identity of the question, e.g. "37" or "FR"
    prompts: dict[str, str] = field(default_factory=dict)  # language -> prompt
    golds: dict[str, str] = field(default_factory=dict)  # language -> gold answer


def _short(answer: str) -> bool:
    return len(answer.split()) <= _MAX_ANSWER_WORDS and len(answer) <= _MAX_ANSWER_CHARS


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
    lang = locale.language
    if lang not in CONVERTER_CLASSES:
        return []
    return [(str(n), str(n), num2words(n, lang=lang)) for n in range(max_number + 1)]


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

    A language is left out of an item when its resource lacks it (num2words has no Hindi or
    Chinese) or its answer is longer than three words.
    """
    items: dict[tuple[str, str], Item] = {}
    for task in tasks:
        for lang in languages:
            template = PROMPTS[task].get(lang)
            if template is None:
                continue
            for key, query, gold in _QUERIES[task](Locale.parse(lang), max_number):
                if not _short(gold):
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
