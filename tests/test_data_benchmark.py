"""The built-in multilingual benchmark: sizes, scripts, noise, clean test split, determinism."""

from __future__ import annotations

import unicodedata
from collections import Counter

import pytest

from capo.data.benchmark import generate_benchmark
from capo.data.benchmark_tasks import TASKS
from capo.data.langid import matches_language
from capo.data.schema import pair_id
from capo.errors import CapoError
from capo.params import BenchmarkParams

LANGS = ("en", "de", "es", "fr", "ru", "hi", "ar", "zh", "ja")


@pytest.fixture(scope="module")
def rows():
    return generate_benchmark(BenchmarkParams(), seed=0)


def _scripts(text: str) -> set[str]:
    names = (unicodedata.name(ch, "") for ch in text if ch.isalpha())
    return {n.split()[0] for n in names if n}


def test_default_size_languages_and_tasks(rows):
    splits = Counter(r["split"] for r in rows)
    assert splits == {"train": 1500, "test": 400}
    assert {r["language"] for r in rows} == set(LANGS)
    assert {r["task"] for r in rows} == set(TASKS)
    per_lang = Counter((r["language"], r["split"]) for r in rows)
    assert max(per_lang.values()) - min(v for (_, s), v in per_lang.items() if s == "train") <= 1
    assert len({r["id"] for r in rows}) == len(rows)
    assert all(
        r["id"] == pair_id(r["language"], r["prompt"], r["chosen"], r["rejected"]) for r in rows
    )


def test_covers_the_required_scripts_with_native_prompts(rows):
    scripts = set().union(*(_scripts(r["prompt"] + r["gold"]) for r in rows))
    assert {"LATIN", "CYRILLIC", "DEVANAGARI", "ARABIC", "CJK"} <= scripts
    assert {"HIRAGANA", "KATAKANA"} & scripts
    by_lang = Counter(
        r["language"] for r in rows if matches_language(r["prompt"], r["language"], LANGS)
    )
    total = Counter(r["language"] for r in rows)
    for lang in LANGS:  # prompts are written in their own language
        assert by_lang[lang] / total[lang] > 0.8, lang


def test_answers_are_short_and_gold_is_kept(rows):
    assert all(len(r["gold"].split()) <= 3 and len(r["gold"]) <= 24 for r in rows)
    for r in rows:
        assert (r["chosen"] == r["gold"]) != r["label_flipped"]
        assert r["rejected"] != r["chosen"]
        if r["label_flipped"]:
            assert r["rejected"] == r["gold"]


def test_flip_rates_follow_params_and_test_split_is_clean(rows):
    rates = BenchmarkParams().flip_rates
    for lang in LANGS:
        train = [r for r in rows if r["language"] == lang and r["split"] == "train"]
        flipped = sum(r["label_flipped"] for r in train)
        assert flipped == round(rates[lang] * len(train)), lang
    assert not any(r["label_flipped"] for r in rows if r["language"] == "en")
    assert not any(r["label_flipped"] for r in rows if r["split"] == "test")
    assert rates["de"] >= 0.2 and max(rates.values()) <= 0.4


def test_test_questions_never_appear_in_training(rows):
    train = {(r["language"], r["prompt"]) for r in rows if r["split"] == "train"}
    test = {(r["language"], r["prompt"]) for r in rows if r["split"] == "test"}
    assert test and not train & test


def test_graded_rejections_and_low_margin_scores(rows):
    scored = [r for r in rows if r["score_chosen"] is not None]
    assert 0 < len(rows) - len(scored) < 0.2 * len(rows)  # some pairs carry no scores
    margins = [r["score_chosen"] - r["score_rejected"] for r in scored]
    assert sum(abs(m) < 1.0 for m in margins) > 0.05 * len(scored)  # low-margin pairs
    assert sum(m > 4.0 for m in margins) > 0.1 * len(scored)  # clear pairs too
    assert all(1.0 <= r["score_rejected"] <= 10.0 for r in scored)
    # right answer in the wrong language: the rejected text is another language's gold
    wrong_script = [r for r in rows if _scripts(r["rejected"]) - _scripts(r["gold"] + r["prompt"])]
    assert len(wrong_script) > 0.1 * len(rows)


def test_deterministic_by_seed_and_scales_with_params():
    small = BenchmarkParams(train_pairs=90, test_pairs=27)
    a, b = generate_benchmark(small, seed=3), generate_benchmark(small, seed=3)
    assert a == b
    assert a != generate_benchmark(small, seed=4)
    big = generate_benchmark(BenchmarkParams(train_pairs=900, test_pairs=270), seed=3)
    assert Counter(r["split"] for r in big) == {"train": 900, "test": 270}


def test_unknown_task_or_language_is_a_clear_error():
    with pytest.raises(CapoError, match="unknown task 'spelling'"):
        generate_benchmark(BenchmarkParams(tasks=("spelling",)), seed=0)
    with pytest.raises(CapoError, match="no prompts for 'sw'"):
        generate_benchmark(BenchmarkParams(languages=("en", "sw")), seed=0)
