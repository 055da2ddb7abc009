"""The built-in multilingual benchmark: sizes, scripts, where noise lands, held-out splits."""

from __future__ import annotations

import dataclasses
import unicodedata
from collections import Counter

import pytest

from capo.errors import CapoError
from capo_pipelines.data.benchmark import demonstrations, generate_benchmark
from capo_pipelines.data.benchmark_tasks import chinese_numeral, devanagari_digits, number_answer
from capo_pipelines.data.contract import pair_id
from capo_pipelines.data.langid import matches_language
from capo_pipelines.params import BenchmarkParams, Params, ParamsError, parse_section

LANGS = ("en", "de", "es", "fr", "ru", "hi", "ar", "zh", "ja")


@pytest.fixture(scope="module")
def rows():
    return generate_benchmark(BenchmarkParams(), seed=0, validation_pairs=450)


def _scripts(text: str) -> set[str]:
    names = (unicodedata.name(ch, "") for ch in text if ch.isalpha() or not ch.isascii())
    return {n.split()[0] for n in names if n and (n.split()[0] != "FULLWIDTH")}


def _number(row: dict) -> int:
    return int("".join(ch for ch in row["prompt"] if ch.isascii() and ch.isdigit()))


def test_default_size_languages_and_tasks(rows):
    splits = Counter(r["split"] for r in rows)
    assert splits == {"train": 1500, "validation": 450, "test": 900}
    assert {r["language"] for r in rows} == set(LANGS)
    assert {r["task"] for r in rows} == {"number_words"}
    per_lang = Counter((r["language"], r["split"]) for r in rows if r["split"] == "train")
    assert max(per_lang.values()) - min(per_lang.values()) <= 1
    assert len({r["id"] for r in rows}) == len(rows)
    assert all(
        r["id"] == pair_id(r["language"], r["prompt"], r["chosen"], r["rejected"]) for r in rows
    )


def test_covers_five_scripts_with_native_prompts(rows):
    scripts = set().union(*(_scripts(r["prompt"] + r["gold"]) for r in rows))
    assert {"LATIN", "CYRILLIC", "DEVANAGARI", "ARABIC", "CJK"} <= scripts
    assert {"HIRAGANA", "KATAKANA"} & scripts
    by_lang = Counter(
        r["language"] for r in rows if matches_language(r["prompt"], r["language"], LANGS)
    )
    total = Counter(r["language"] for r in rows)
    for lang in LANGS:  # prompts are written in their own language
        assert by_lang[lang] / total[lang] > 0.8, lang


def test_number_answers_in_every_language():
    assert [chinese_numeral(n) for n in (0, 10, 12, 47, 105, 110, 999, 1050)] == [
        "零", "十", "十二", "四十七", "一百零五", "一百一十", "九百九十九", "一千零五十",
    ]  # fmt: skip
    assert devanagari_digits(47) == "४७" and devanagari_digits(105) == "१०५"
    assert number_answer(47, "de") == "siebenundvierzig"
    assert number_answer(105, "ja") == "百五"
    assert all(number_answer(999, lang) for lang in LANGS)  # long answers are kept now


def test_held_out_numbers_are_never_trained_in_any_language(rows):
    by_split = {s: {_number(r) for r in rows if r["split"] == s} for s in ("train", "test")}
    by_split["validation"] = {_number(r) for r in rows if r["split"] == "validation"}
    assert by_split["test"] and by_split["validation"]
    assert not by_split["test"] & by_split["train"]
    assert not by_split["validation"] & (by_split["train"] | by_split["test"])
    demos = demonstrations(BenchmarkParams(), seed=0)
    assert {_number(d) for d in demos} >= by_split["train"]
    assert not {_number(d) for d in demos} & (by_split["test"] | by_split["validation"])
    assert Counter(d["language"] for d in demos).keys() == set(LANGS)
    assert all(d["completion"] == number_answer(_number(d), d["language"]) for d in demos)


def test_noise_hits_a_share_of_learnable_pairs_and_test_is_clean(rows):
    params = BenchmarkParams()
    for lang in LANGS:
        train = [r for r in rows if r["language"] == lang and r["split"] == "train"]
        eligible = [r for r in train if r["rejected_kind"] != "wrong_language"]
        noisy = [r for r in train if r["label_flipped"]]
        assert len(noisy) == round(params.noise_rate(lang) * len(eligible)), lang
        assert all(r["rejected_kind"] != "wrong_language" for r in noisy)
    assert not any(r["label_flipped"] for r in rows if r["language"] == "en")
    assert not any(r["label_flipped"] for r in rows if r["split"] != "train")
    for r in rows:
        if r["noise_kind"] == "flip":
            assert r["rejected"] == r["gold"] and r["chosen"] != r["gold"]
        elif r["noise_kind"] == "corrupted_chosen":  # a near miss replaces the gold answer
            assert r["gold"] not in (r["chosen"], r["rejected"])
            assert abs(_number_of(r["chosen"], r) - _number(r)) == 1
        else:
            assert r["chosen"] == r["gold"] and not r["label_flipped"]
    kinds = Counter(r["noise_kind"] for r in rows if r["label_flipped"])
    assert 0.1 < kinds["corrupted_chosen"] / sum(kinds.values()) < 0.4


def _number_of(answer: str, row: dict) -> int:
    return next(n for n in range(1000) if number_answer(n, row["language"]) == answer)


def test_noise_levels_share_their_pairs_and_nest():
    base = BenchmarkParams(train_pairs=450, test_pairs=90, noise_by_language={})
    levels = {
        x: generate_benchmark(dataclasses.replace(base, noise=x), seed=1) for x in (0, 0.2, 0.4)
    }
    keys = {x: [(r["prompt"], r["gold"], r["rejected_kind"]) for r in v] for x, v in levels.items()}
    assert keys[0] == keys[0.2] == keys[0.4]  # same questions and kinds at every level
    noisy = {x: {i for i, r in enumerate(v) if r["label_flipped"]} for x, v in levels.items()}
    assert not noisy[0] and noisy[0.2] < noisy[0.4]
    assert [r for r in levels[0.2] if r["split"] == "test"] == [
        r for r in levels[0.4] if r["split"] == "test"
    ]


def test_noise_is_kept_below_half():
    """At 0.5 the wrong answer would be the majority label: params.yaml refuses it."""
    for bad in ({"noise": 0.5}, {"noise_by_language": {"de": 0.6}}, {"noise": -0.1}):
        with pytest.raises(ParamsError, match=r"ingest\.benchmark\.noise.*must be in \[0, 0\.5\)"):
            parse_section(Params, {"ingest": {"benchmark": bad}}, "")


def test_graded_rejections_and_low_margin_scores(rows):
    scored = [r for r in rows if r["score_chosen"] is not None]
    assert 0 < len(rows) - len(scored) < 0.2 * len(rows)  # some pairs carry no scores
    margins = [r["score_chosen"] - r["score_rejected"] for r in scored]
    assert sum(abs(m) < 1.0 for m in margins) > 0.05 * len(scored)  # low-margin pairs
    assert sum(m > 4.0 for m in margins) > 0.1 * len(scored)  # clear pairs too
    assert all(1.0 <= r["score_rejected"] <= 10.0 for r in scored)
    assert Counter(r["rejected_kind"] for r in rows).keys() == {
        "wrong",
        "near_miss",
        "wrong_language",
    }


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
